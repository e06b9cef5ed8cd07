"""What a run writes for people to read: metrics, per-phase timings, rollouts, a progress bar.

* ``metrics.jsonl``: one JSON object per step (``{"step": N, "time": ..., "<name>": value, ...}``),
  always written; TensorBoard event files under ``tensorboard/`` (``logging.tensorboard``); wandb
  when ``logging.wandb`` is on.
* ``rollouts/step_N.jsonl``: every trajectory of step N: example id, prompt, images, response,
  finish reason, verdict (status, correct, extracted answer, the reward's components), reward and
  advantage. Images are files in ``rollouts/images/`` named by their content
  (``mmrl.data.image_store``), written once however many steps and samples show them, and
  referenced as ``images/<digest>.png``.
* A progress bar with reward, accuracy and step time on a terminal; one log line per step
  otherwise.

Only the main process writes (``enabled=False`` elsewhere). On resume, lines of steps after the
checkpoint (written by the run that crashed) are dropped so that each step appears once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mmrl.data.image_store import IMAGES_DIR, ImageStore, image_reference
from mmrl.errors import UserError
from mmrl.types import Rollout, Score

log = logging.getLogger(__name__)

__all__ = [
    "MetricsLogger",
    "PhaseTimer",
    "ProgressReporter",
    "image_reference",
    "rollout_images",
    "rollout_records",
    "write_rollouts",
]

METRICS_FILE = "metrics.jsonl"
ROLLOUTS_DIR = "rollouts"


class PhaseTimer:
    """Wall time per named phase of a step, reported as ``time/<phase>`` seconds; with a
    ``watchdog`` (``mmrl.train.watchdog.Watchdog``) every phase is also a watched stage.

    >>> timer = PhaseTimer()
    >>> with timer("generate"):
    ...     pass
    >>> sorted(timer.metrics())
    ['time/generate']
    """

    def __init__(self, watchdog: Any = None) -> None:
        self.seconds: dict[str, float] = {}
        self.watchdog = watchdog

    @contextlib.contextmanager
    def __call__(self, phase: str, pending: Sequence[str] = ()) -> Iterator[None]:
        """Time ``phase``; ``pending`` names the examples it works on (for the watchdog's messages)."""
        start = time.perf_counter()
        watched = (
            self.watchdog.stage(phase, pending) if self.watchdog is not None else contextlib.nullcontext()
        )
        try:
            with watched:
                yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start

    def beat(self) -> None:
        """The current phase made progress (the watchdog's clock restarts)."""
        if self.watchdog is not None:
            self.watchdog.beat()

    def metrics(self) -> dict[str, float]:
        return {f"time/{k}": v for k, v in self.seconds.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan"/"inf": JSON has no literal for them, and they must stay visible
    return value


class MetricsLogger:
    """Appends each step's metrics to ``metrics.jsonl`` and the configured trackers.

    Args:
        run_dir: The run directory (``trainer.output_dir``).
        logging_cfg: ``cfg.logging``.
        config: The resolved config as a dict (sent to wandb).
        enabled: False on non-main processes (nothing is written).
        resume_step: Keep only lines with ``step <= resume_step`` of an existing file; ``None`` starts
            a new file (an old one is moved to ``metrics.jsonl.prev``).
    """

    def __init__(
        self,
        run_dir: str | Path,
        logging_cfg: Any,
        config: dict[str, Any] | None = None,
        *,
        enabled: bool = True,
        resume_step: int | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.path = self.run_dir / METRICS_FILE
        self._tb: Any = None
        self._wandb: Any = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_file(resume_step)
        if logging_cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = (
                None if resume_step is None else resume_step + 1
            )  # drop events of the crashed run's later steps
            self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=purge)
        if logging_cfg.wandb:
            try:
                import wandb
            except ImportError as exc:
                raise UserError(
                    "logging.wandb=true needs wandb: pip install 'mmrl[wandb]' (or set logging.wandb=false)"
                ) from exc
            self._wandb = wandb.init(
                project=logging_cfg.wandb_project,
                name=logging_cfg.run_name or self.run_dir.name,
                config=config,
                resume="allow",
            )

    def _prepare_file(self, resume_step: int | None) -> None:
        if not self.path.exists():
            return
        if resume_step is None:
            self.path.replace(self.path.with_suffix(".jsonl.prev"))
            log.warning("started fresh: the previous %s was moved to %s.prev", self.path, self.path.name)
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= resume_step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue  # a line cut by the crash
        self.path.write_text("".join(f"{line}\n" for line in kept))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Write one step's metrics (NaN and inf are kept, as strings in JSON)."""
        if not self.enabled:
            return
        record = {"step": step, "time": round(time.time(), 3)}
        record.update({k: _json_value(v) for k, v in sorted(metrics.items())})
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, step)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log(dict(metrics), step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def rollout_images(run_dir: str | Path) -> ImageStore:
    """The image store of a run's rollouts: ``rollouts/images/``, referenced from ``rollouts/``."""
    return ImageStore(Path(run_dir) / ROLLOUTS_DIR / IMAGES_DIR)


def rollout_records(
    rollouts: Sequence[Rollout],
    scores: Sequence[Score],
    rewards: Sequence[float],
    advantages: Sequence[float],
    step: int,
    *,
    images: ImageStore | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready record per trajectory (what ``rollouts/step_N.jsonl`` holds).

    With ``images`` (``rollout_images(run_dir)``), each example's images are stored there once and
    referenced by relative path; without, they are named by ``image_reference`` (a path or a tag).
    """
    if not len(rollouts) == len(scores) == len(rewards) == len(advantages):
        raise ValueError(
            f"{len(rollouts)} rollouts, {len(scores)} scores, {len(rewards)} rewards and "
            f"{len(advantages)} advantages must be as many"
        )
    records = []
    stored: dict[int, list[str]] = {}  # id(example) -> references: one store call per example
    for r, s, reward, advantage in zip(rollouts, scores, rewards, advantages, strict=True):
        ex = r.example
        if id(ex) not in stored:
            stored[id(ex)] = [
                image_reference(img, ex.id, i) if images is None else images.reference(img)
                for i, img in enumerate(ex.images)
            ]
        records.append(
            {
                "step": step,
                "example_id": ex.id,
                "sample_index": r.sample_index,
                "task": ex.task,
                "prompt": ex.prompt,
                "images": list(stored[id(ex)]),
                "answer": ex.answer,
                "response": r.response_text,
                "response_tokens": len(r.response_ids),
                "finish_reason": r.finish_reason,
                "status": s.status,
                "correct": s.correct,
                "extracted": s.extracted,
                "score_message": s.message,
                "verifier_reward": s.reward,
                "reward_components": {k: _json_value(float(v)) for k, v in s.components.items()},
                "reward": _json_value(float(reward)),
                "advantage": _json_value(float(advantage)),
            }
        )
    return records


def write_rollouts(run_dir: str | Path, step: int, records: Sequence[dict[str, Any]]) -> Path:
    """Write ``rollouts/step_N.jsonl`` (replacing a file left by a crashed run)."""
    path = Path(run_dir) / ROLLOUTS_DIR / f"step_{step}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    tmp.replace(path)
    return path


class ProgressReporter:
    """A tqdm bar over the steps on a terminal (reward, accuracy, step time), else one line per step."""

    def __init__(self, total: int, initial: int, enabled: bool, desc: str = "train"):
        self._bar: Any = None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True)

    def update(self, step: int, total: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        summary = {
            "reward": metrics.get("reward/mean", math.nan),
            "acc": metrics.get("reward/accuracy", math.nan),
            "s/step": metrics.get("time/step", math.nan),
        }
        if self._bar is not None:
            self._bar.set_postfix(
                {k: f"{v:.3f}" if k != "s/step" else f"{v:.1f}" for k, v in summary.items()}
            )
            self._bar.update(1)
        else:
            log.info(
                "step %d/%d  reward %.3f  accuracy %.3f  loss %.4f  %.1f s",
                step,
                total,
                summary["reward"],
                summary["acc"],
                metrics.get("loss", math.nan),
                summary["s/step"],
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
