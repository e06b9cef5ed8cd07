"""Resuming with another configuration: what may change, what stops the run, and the config history.

A checkpoint keeps the configuration it was trained with (``checkpoints/step_N/config.yaml``). On
``trainer.resume=auto`` the new configuration is compared with it (``config_changes``):

* the **budget, logging, evaluation and speed settings** may change freely (``FREE``): more steps,
  another eval schedule or tracker, more scoring workers, smaller micro-batches. A changed
  ``trainer.max_steps`` under a decaying learning-rate schedule stretches what is left of it (a
  warning says so);
* **anything else changes the training trajectory** (the algorithm and its parameters, the learning
  rate and its schedule, the data, the model, the shape of the rollouts, the reward, the seed): the
  run stops before anything loads, with the differences and the two ways forward, a new
  ``trainer.output_dir`` or ``trainer.resume=force`` (continue the checkpoint's weights and
  optimizer under the new settings).

A field that only one of the two configurations has (a config written by another mmrl version)
is compared at its default; a field that has no default here counts as changed. ``trainer.resume=DIR`` (a checkpoint named on purpose) and ``force`` only log the
differences. Every start of a run leaves ``config.step_N.yaml`` (N: the step it started from, 0 for
a fresh run) next to ``config.yaml`` (the latest), so each configuration a run was trained with is kept.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from mmrl.config import Config, config_to_dict, save_config
from mmrl.errors import UserError

__all__ = ["FREE", "ResumeConfigError", "check_resume_config", "config_changes", "save_start_config"]

log = logging.getLogger(__name__)

#: Fields (or whole sections, ending in ``.``) a resumed run may change without changing what it
#: trains on: the budget, checkpointing, logging, evaluation, and settings of speed and memory.
FREE: tuple[str, ...] = (
    "trainer.max_steps",
    "trainer.output_dir",
    "trainer.resume",
    "trainer.save_every",
    "trainer.keep_last",
    "trainer.save_final",
    "trainer.merge_lora",
    "trainer.max_consecutive_nonfinite",
    "trainer.micro_batch_size",
    "trainer.max_tokens_per_micro_batch",
    "logging.",
    "eval.",
    "reward.num_workers",
    "reward.timeout_s",
    "reward.max_error_rate",
    "rollout.batch_size",
    "rollout.hf_cache",
    "rollout.sync_probe_threshold",
    "rollout.vllm.gpu_memory_utilization",
    "rollout.vllm.enable_sleep_mode",
    "rollout.vllm.enforce_eager",
    "rollout.vllm.weight_sync",
    "rollout.vllm.tensor_parallel_size",
    "model.gradient_checkpointing",
    "model.logprob_chunk_size",
)

_ABSENT = "(absent)"


class ResumeConfigError(UserError):
    """``trainer.resume=auto`` found a checkpoint trained with a trajectory-changing other config."""


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _is_free(path: str, old: Any, new: Any) -> bool:
    if path.startswith("algorithm.") and path.count(".") >= 2 and _ABSENT in (old, new):
        return True  # a parameter section of an estimator registered in only one of the processes
    return any(path == f or (f.endswith(".") and path.startswith(f)) for f in FREE)


def _as_today(flat: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A flattened config as this version reads it: a field it lacks (written before the field
    existed) has the field's default, and the reward blend written as numbers equals ``None``
    when those are the built-in verifiers' own (``rewards.scoring.BUILTIN_BLEND``, the default
    before ``None`` was)."""
    out = {**{k: v for k, v in defaults.items() if k not in flat}, **flat}
    verifier = out.get("reward.verifier")
    if not out.get("reward.functions") and _builtin(verifier):
        from rewards.scoring import BUILTIN_BLEND

        for key, value in zip(("reward.accuracy_weight", "reward.format_weight"), BUILTIN_BLEND, strict=True):
            if out.get(key) == value:
                out[key] = None
    return out


def _builtin(verifier: Any) -> bool:
    """``reward.verifier`` is unset (each example's task: the built-ins, for the shipped recipes) or
    names a built-in verifier."""
    if verifier is None:
        return True
    from rewards.registry import VERIFIERS, is_builtin

    entry = VERIFIERS.registered().get(verifier) if isinstance(verifier, str) else None
    return entry is not None and is_builtin(entry)


def config_changes(
    saved: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any] | None = None
) -> list[tuple[str, Any, Any, bool]]:
    """``(field, saved value, new value, free)`` for every field that differs, in field order.
    ``defaults`` (nested, like the configs) stand for the fields one of them lacks.

    >>> changes = config_changes({"trainer": {"max_steps": 10, "seed": 0}}, {"trainer": {"max_steps": 20, "seed": 1}})
    >>> [(path, old, new, free) for path, old, new, free in changes]
    [('trainer.max_steps', 10, 20, True), ('trainer.seed', 0, 1, False)]
    """
    flat_defaults = _flatten(defaults) if defaults else {}
    a, b = _as_today(_flatten(saved), flat_defaults), _as_today(_flatten(new), flat_defaults)
    keys = list(a) + [k for k in b if k not in a]
    return [
        (
            key,
            a.get(key, _ABSENT),
            b.get(key, _ABSENT),
            _is_free(key, a.get(key, _ABSENT), b.get(key, _ABSENT)),
        )
        for key in keys
        if a.get(key, _ABSENT) != b.get(key, _ABSENT)
    ]


def _show(value: Any) -> str:
    return (
        value
        if value == _ABSENT
        else yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...")
    )


def _saved_config(checkpoint: Path, run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    for path in (checkpoint / "config.yaml", run_dir / "config.yaml"):
        if path.is_file():
            data = yaml.safe_load(path.read_text()) or {}
            return path, data if isinstance(data, dict) else {}
    return None


def check_resume_config(checkpoint: Path | None, cfg: Config, resume: str) -> None:
    """Compare ``cfg`` with the configuration ``checkpoint`` was trained with (module docstring);
    raises ``ResumeConfigError`` with the differences and the two ways forward."""
    if checkpoint is None:
        return
    run_dir = Path(cfg.trainer.output_dir)
    found = _saved_config(checkpoint, run_dir)
    if found is None:
        log.warning(
            "checkpoint %s has no config.yaml: its settings cannot be compared with this run's", checkpoint
        )
        return
    path, saved = found
    changes = config_changes(saved, config_to_dict(cfg), config_to_dict(Config()))
    lines = [f"  {key}: {_show(old)} -> {_show(new)}" for key, old, new, _ in changes]
    trajectory = [line for line, (_, _, _, free) in zip(lines, changes, strict=True) if not free]
    free = [line for line, (_, _, _, is_free) in zip(lines, changes, strict=True) if is_free]
    if free:
        log.info("resuming with changed settings:\n%s", "\n".join(free))
    steps = next((c for c in changes if c[0] == "trainer.max_steps"), None)
    if steps is not None and cfg.trainer.lr_scheduler != "constant":
        log.warning(
            "trainer.max_steps %s -> %s with lr_scheduler=%s: the learning rate now decays to 0 at step %s",
            steps[1],
            steps[2],
            cfg.trainer.lr_scheduler,
            steps[2],
        )
    if not trajectory:
        return
    if resume != "auto":
        log.warning(
            "resuming from %s (trainer.resume=%s) with settings that change the training trajectory:\n%s",
            checkpoint,
            resume,
            "\n".join(trajectory),
        )
        return
    raise ResumeConfigError(
        f"{run_dir} was trained with another configuration ({path}), and resuming it with this one "
        f"would change what it trains on:\n" + "\n".join(trajectory) + "\n"
        f"Either write this run somewhere else (trainer.output_dir={run_dir}-2), or continue the "
        f"checkpoint's weights and optimizer under the new settings (trainer.resume=force)"
    )


def save_start_config(cfg: Config, run_dir: Path, step: int) -> None:
    """``config.yaml`` (the latest) and ``config.step_<step>.yaml`` (this start's) in ``run_dir``."""
    save_config(cfg, run_dir / f"config.step_{step}.yaml")
    save_config(cfg, run_dir / "config.yaml")
