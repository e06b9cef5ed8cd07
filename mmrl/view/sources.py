"""What ``mmrl view`` reads: a training run or an evaluation directory, as groups of samples.

A **run directory** (``trainer.output_dir``) holds ``metrics.jsonl``, ``config.yaml``,
``rollouts/step_N.jsonl`` (``mmrl.train.metrics.rollout_records``), ``validation/step_N/`` (one
evaluation per validation) and, when ``mmrl eval`` wrote its default output there, ``eval/``. An
**evaluation directory** holds ``results.json`` and ``samples.jsonl`` (``mmrl.eval.write_outputs``).

Both come out as ``Group``s: one prompt with its ``n`` samples, the verdict of each, and the
group's success rate ``p``. For rollouts ``p`` is ``mmrl.algos.success_rate`` (the ``p`` A-GRAE
uses); for an evaluation problem it is ``c / n`` over the scored samples. The numbers of an
evaluation are those of ``mmrl.eval.EvalResult`` rebuilt from ``samples.jsonl``, so the viewer
shows what ``mmrl eval`` reported.

Reading is lenient where a live run makes it necessary and loud elsewhere: a line cut by a
crash (or still being written) is skipped, counted and logged; a line that is JSON but not a
record raises ``UserError`` naming the file, the line and the missing field.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmrl.errors import UserError

log = logging.getLogger(__name__)

__all__ = [
    "VERDICTS",
    "EvalSource",
    "Group",
    "ImageRef",
    "RunSource",
    "Sample",
    "StepFile",
    "load_source",
    "read_jsonl",
    "read_metrics",
    "read_step",
]

#: What a sample's verdict can be, in the order filters list them.
VERDICTS: tuple[str, ...] = ("correct", "wrong", "unknown", "unscored")

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
_STEP_FILE = re.compile(r"step_(\d+)\.jsonl$")
_STEP_DIR = re.compile(r"step_(\d+)$")


def _number(value: Any) -> float | None:
    """A JSON value as a float: numbers as they are, the strings ``nan``/``inf`` the logger writes
    for non-finite values, ``None`` for anything else."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "-inf", "+inf"):
        return float(value)
    return None


@dataclass(frozen=True)
class ImageRef:
    """One image of a prompt: the reference written in the record, and the file when it exists."""

    ref: str
    path: Path | None


@dataclass(frozen=True)
class Sample:
    """One response with its verdict (a rollout, or one of an evaluation problem's samples).

    Attributes:
        index: The sample's index within its group.
        response: The decoded response.
        finish_reason: ``stop`` or ``length``.
        tokens: Response tokens.
        status: The verifier's status (``ok``, ``unparsable_pred``, ...).
        correct: The verifier's ``correct`` (``None``: unknown or unscored).
        reward: The reward the estimator saw (``None``: unscored), shaped for rollouts.
        extracted: The answer the verifier read, if any.
        message: The verifier's reason, if any.
        advantage: The advantage the update used (rollouts only).
        verifier_reward: The verifier's own reward before shaping (rollouts only).
    """

    index: int
    response: str
    finish_reason: str
    tokens: int
    status: str
    correct: bool | None
    reward: float | None
    extracted: str | None = None
    message: str | None = None
    advantage: float | None = None
    verifier_reward: float | None = None

    @property
    def verdict(self) -> str:
        """``correct``, ``wrong``, ``unknown`` (scored, but the verifier gave no ``correct``) or ``unscored``."""
        if self.reward is None or math.isnan(self.reward):
            return "unscored"
        if self.correct is None:
            return "unknown"
        return "correct" if self.correct else "wrong"

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    @property
    def advantage_sign(self) -> str | None:
        """``pos``, ``neg``, ``zero`` or ``nan``; ``None`` for samples without an advantage."""
        a = self.advantage
        if a is None:
            return None
        if math.isnan(a):
            return "nan"
        return "pos" if a > 0 else "neg" if a < 0 else "zero"


@dataclass
class Group:
    """One prompt with its samples.

    Attributes:
        key: Unique within its listing (``g<index>``), the HTML anchor of the group.
        example_id: The example id.
        task: The verifier name.
        category: ``meta["category"]`` for evaluation problems, else ``None``.
        answer: The gold answer.
        prompt: ``Example.prompt`` (text or chat messages), ``None`` when the file has none.
        images: The prompt's images.
        samples: The samples, in index order.
        success_rate: ``p`` (see the module doc); ``NaN`` when no sample was scored.
        stats: Further numbers shown with the group, by label (e.g. ``Σ|A|``).
    """

    key: str
    example_id: str
    task: str
    category: str | None
    answer: str
    prompt: Any
    images: tuple[ImageRef, ...]
    samples: list[Sample]
    success_rate: float = math.nan
    stats: dict[str, float] = field(default_factory=dict)


def resolve_images(refs: Sequence[Any], base: Path) -> tuple[ImageRef, ...]:
    """Image references of a record, with the file each names (relative to ``base``) when it is one.

    Only image files are taken (by suffix): a record cannot make the viewer copy another file.
    """
    out = []
    for ref in refs:
        ref = str(ref)
        path = (base / ref) if not Path(ref).is_absolute() else Path(ref)
        ok = path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file()
        out.append(ImageRef(ref, path.resolve() if ok else None))
    return tuple(out)


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each JSON line; unreadable lines are skipped, counted and logged."""
    bad: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                bad.append(number)
                continue
            if isinstance(value, dict):
                yield number, value
            else:
                bad.append(number)
    if bad:
        log.warning(
            "%s: skipped %d line(s) that are not JSON objects (line %s%s); a line cut by a crash or "
            "still being written looks like this",
            path,
            len(bad),
            ", ".join(map(str, bad[:5])),
            ", ..." if len(bad) > 5 else "",
        )


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """``metrics.jsonl`` as one dict of numbers per step, sorted by step (a repeated step: the last
    line wins). Non-numeric values are left out; ``"nan"``/``"inf"`` become floats."""
    by_step: dict[int, dict[str, float]] = {}
    for number, row in read_jsonl(path):
        step = row.get("step")
        if not isinstance(step, int):
            raise UserError(f"{path} line {number} has no integer 'step'; is this an mmrl metrics.jsonl?")
        values = {k: v for k, v in ((k, _number(v)) for k, v in row.items()) if v is not None}
        values.pop("time", None)
        values["step"] = step
        by_step[step] = values
    return [by_step[s] for s in sorted(by_step)]


# -- rollouts ---------------------------------------------------------------------------------


def _field(row: Mapping[str, Any], name: str, path: Path, number: int) -> Any:
    try:
        return row[name]
    except KeyError:
        raise UserError(
            f"{path} line {number} has no {name!r}; it is not a rollout record of mmrl.train "
            "(rollouts/step_N.jsonl)"
        ) from None


def _rollout_sample(row: Mapping[str, Any], path: Path, number: int) -> Sample:
    return Sample(
        index=int(_field(row, "sample_index", path, number)),
        response=str(_field(row, "response", path, number)),
        finish_reason=str(row.get("finish_reason") or "stop"),
        tokens=int(row.get("response_tokens") or 0),
        status=str(_field(row, "status", path, number)),
        correct=row.get("correct"),
        reward=_number(_field(row, "reward", path, number)),
        extracted=row.get("extracted"),
        message=row.get("score_message"),
        advantage=_number(_field(row, "advantage", path, number)),
        verifier_reward=_number(row.get("verifier_reward")),
    )


@dataclass(frozen=True)
class StepFile:
    """One ``rollouts/step_N.jsonl`` of a run."""

    step: int
    path: Path


def read_step(path: Path) -> list[Group]:
    """A rollouts file as groups: each run of consecutive records of one example (and one rank)
    is one group, as the trainer grouped them. ``success_rate`` is ``mmrl.algos.success_rate``
    over the reward and ``correct`` of the records."""
    groups: list[Group] = []
    last: tuple[Any, str] | None = None
    for number, row in read_jsonl(path):
        example_id = str(_field(row, "example_id", path, number))
        owner = (row.get("rank"), example_id)
        if owner != last:
            last = owner
            groups.append(
                Group(
                    key=f"g{len(groups)}",
                    example_id=example_id,
                    task=str(row.get("task") or ""),
                    category=None,
                    answer="" if row.get("answer") is None else str(row["answer"]),
                    prompt=row.get("prompt"),
                    images=resolve_images(row.get("images") or (), path.parent),
                    samples=[],
                )
            )
        groups[-1].samples.append(_rollout_sample(row, path, number))
    _add_success_rates(groups)
    return groups


def _add_success_rates(groups: list[Group]) -> None:
    """``Group.success_rate`` and ``Σ|A|`` (the group's weight in the update) of rollout groups."""
    if not groups:
        return
    import torch

    from mmrl.algos.groups import success_rate

    samples = [s for g in groups for s in g.samples]
    rewards = torch.tensor([math.nan if s.reward is None else s.reward for s in samples], dtype=torch.float64)
    correct = torch.tensor([math.nan if s.correct is None else float(s.correct) for s in samples])
    group_ids = torch.tensor([i for i, g in enumerate(groups) for _ in g.samples])
    p = success_rate(rewards, group_ids, correct)
    start = 0
    for g in groups:
        g.success_rate = float(p[start])
        start += len(g.samples)
        g.stats["Σ|A|"] = sum(abs(s.advantage) for s in g.samples if s.advantage is not None)


def add_a_grae_factors(groups: Sequence[Group], omega: float, alpha: float, easy_divisor: str) -> None:
    """A-GRAE's two factors for each group, as ``mmrl.algos.a_grae`` applies them: the difficulty
    reweight of step 2 at the group's ``p`` (``×`` on every base advantage) and the attenuation
    ``min(1, ω/α)`` of step 3 (``×`` on the positive ones)."""
    import torch

    from mmrl.algos.a_grae import attenuation_factor, difficulty_reweight

    if not groups or not math.isfinite(omega):
        return
    p = torch.tensor([g.success_rate for g in groups], dtype=torch.float64)
    scale = difficulty_reweight(torch.ones_like(p), p, omega, easy_divisor)  # type: ignore[arg-type]
    attenuation = attenuation_factor(omega, alpha)
    for g, s in zip(groups, scale.tolist(), strict=True):
        g.stats["A-GRAE difficulty ×"] = s
        g.stats["A-GRAE positives ×"] = attenuation


# -- evaluations ------------------------------------------------------------------------------


@dataclass
class EvalSource:
    """An evaluation directory: its header (model, sampling, ...) and each benchmark's result.

    Attributes:
        label: How pages name it (the model label, or ``validation step N``).
        path: The directory.
        header: ``results.json`` without its ``benchmarks``.
        results: ``{benchmark: EvalResult}`` rebuilt from ``samples.jsonl``.
        step: The training step of a run's validation, else ``None``.
    """

    label: str
    path: Path
    header: dict[str, Any]
    results: dict[str, Any]
    step: int | None = None

    def groups(self, benchmark: str) -> list[Group]:
        """One group per problem of ``benchmark``, in the result's order."""
        result = self.results[benchmark]
        out = []
        for i, problem in enumerate(result.problems):
            samples = [
                Sample(
                    index=j,
                    response=s.response,
                    finish_reason=s.finish_reason,
                    tokens=s.tokens,
                    status=s.status,
                    correct=s.correct,
                    reward=s.reward,
                    extracted=s.extracted,
                    message=s.message,
                )
                for j, s in enumerate(problem.samples)
            ]
            out.append(
                Group(
                    key=f"g{i}",
                    example_id=problem.id,
                    task=problem.task,
                    category=problem.category,
                    answer=problem.answer,
                    prompt=problem.prompt,
                    images=resolve_images(problem.images, self.path),
                    samples=samples,
                    success_rate=problem.c / problem.n if problem.n else math.nan,
                )
            )
        return out


def is_eval_dir(path: Path) -> bool:
    return (path / "results.json").is_file() and (path / "samples.jsonl").is_file()


def is_run_dir(path: Path) -> bool:
    return (path / "metrics.jsonl").is_file() or (path / "rollouts").is_dir()


def read_eval(path: Path, label: str | None = None, step: int | None = None) -> EvalSource:
    """An evaluation directory; raises ``UserError`` naming the file when it is not one."""
    from mmrl.eval import EvalResult, read_samples

    try:
        doc = json.loads((path / "results.json").read_text(encoding="utf-8"))
        benchmarks = doc.pop("benchmarks")
    except (OSError, json.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
        raise UserError(f"{path / 'results.json'} is not an mmrl eval results file ({exc})") from None
    try:
        problems = read_samples(path / "samples.jsonl")
    except ValueError as exc:
        raise UserError(str(exc)) from None
    results = {}
    for name, info in benchmarks.items():
        if name not in problems:
            log.warning("%s: benchmark %r has no sample in samples.jsonl; it is left out", path, name)
            continue
        results[name] = EvalResult(
            name=name,
            n=int(info["n"]),
            ks=tuple(int(k) for k in info["ks"]),
            problems=problems[name],
            dropped=list(info.get("dropped") or []),
            info=dict(info.get("info") or {}),
        )
    model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
    name = label or str(model.get("label") or path.name)
    return EvalSource(name, path, doc, results, step)


@dataclass
class RunSource:
    """A training run directory.

    Attributes:
        path: The directory.
        config: The run's resolved config (``config.yaml``), or ``None`` when it cannot be read
            by this version of mmrl.
        config_text: ``config.yaml`` as written.
        metrics: ``metrics.jsonl`` (``read_metrics``).
        steps: The rollouts files, by step.
        evaluations: The run's validations (by step) and its ``eval/`` directory, if any.
    """

    path: Path
    config: Any
    config_text: str
    metrics: list[dict[str, float]]
    steps: list[StepFile]
    evaluations: list[EvalSource]

    def metrics_at(self, step: int) -> dict[str, float]:
        for row in self.metrics:
            if row.get("step") == step:
                return row
        return {}

    def a_grae(self) -> tuple[float, str] | None:
        """``(alpha, easy_divisor)`` when the run's estimator is A-GRAE's (it logs the attenuation)."""
        if self.config is None or not any("advantages/attenuation" in m for m in self.metrics):
            return None
        return self.config.algorithm.a_grae.alpha, self.config.algorithm.a_grae.easy_divisor


def read_run(path: Path) -> RunSource:
    from mmrl.config import ConfigError, load_config

    config, text = None, ""
    if (path / "config.yaml").is_file():
        text = (path / "config.yaml").read_text(encoding="utf-8")
        try:
            config = load_config(path / "config.yaml")
        except (ConfigError, UserError, ValueError) as exc:
            log.warning("%s: config.yaml is not readable by this mmrl (%s); shown as text only", path, exc)
    metrics = read_metrics(path / "metrics.jsonl") if (path / "metrics.jsonl").is_file() else []
    steps = sorted(
        (
            StepFile(int(m.group(1)), p)
            for p in (path / "rollouts").glob("step_*.jsonl")
            if (m := _STEP_FILE.search(p.name))
        ),
        key=lambda s: s.step,
    )
    evaluations = []
    validation = path / "validation"
    if validation.is_dir():
        found = [(int(m.group(1)), d) for d in validation.iterdir() if (m := _STEP_DIR.match(d.name))]
        for step, d in sorted(found):
            if is_eval_dir(d):
                evaluations.append(read_eval(d, label=f"validation step {step}", step=step))
    if is_eval_dir(path / "eval"):
        evaluations.append(read_eval(path / "eval"))
    return RunSource(path, config, text, metrics, steps, evaluations)


def load_source(path: str | Path) -> RunSource | EvalSource:
    """A run or an evaluation directory; ``UserError`` saying what was expected otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a directory; give a run directory or an `mmrl eval` output directory")
    if is_eval_dir(path):
        return read_eval(path)
    if is_run_dir(path):
        return read_run(path)
    raise UserError(
        f"{path} is neither a training run (metrics.jsonl, rollouts/) nor an evaluation "
        "(results.json, samples.jsonl); give the run's trainer.output_dir or an `mmrl eval --output` directory"
    )
