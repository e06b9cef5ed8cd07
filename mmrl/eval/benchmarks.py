"""What ``mmrl eval`` evaluates: benchmark specs, the model to load, and the model's identity.

Benchmarks are data recipes (``mmrl data list``). ``--benchmarks`` takes ``NAME`` or
``NAME:SPLIT``; without a split the recipe's evaluation split is used (``eval_split``). Each
benchmark reads its rows from, in order: ``--path NAME=PATH``; ``--data-dir DIR`` when
``DIR/NAME`` (a directory, or ``NAME.jsonl`` / ``NAME.parquet``) exists; the Hugging Face Hub.
Synthetic recipes generate their rows and take no path.

``--model`` is resolved by ``resolve_model``: an offline alias (``smollm2-135m-instruct``), a model
directory (it has ``config.json``), or a training run directory, whose ``final/`` is used, or else
its newest complete checkpoint under ``checkpoints/`` (``mmrl.checkpoints``' layout and
marker). The result says which.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmrl.errors import UserError

__all__ = [
    "BenchmarkSpec",
    "ResolvedModel",
    "eval_split",
    "model_identity",
    "parse_benchmarks",
    "resolve_model",
]

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_FINGERPRINT_BYTES = 1 << 20


def eval_split(recipe: Any) -> str:
    """The split a benchmark is evaluated on when none is named.

    The recipe's default split when it is a test split (``testmini`` for MathVista and MathVerse,
    ``test`` for MATH-500 and AIME 2025), else ``test`` when the recipe has one (Geometry3K, GSM8K,
    MATH, the synthetic recipes), else the default split (AIME 2024 has only ``train``).
    """
    default = recipe.default_split
    if default.startswith("test"):
        return default
    if "test" in recipe.splits:
        return "test"
    return default


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark to evaluate.

    Attributes:
        label: The name in reports and the cache file name (``NAME`` or ``NAME:SPLIT`` as typed).
        recipe: The data recipe name.
        split: The split (``None``: ``eval_split`` of the recipe).
        path: Local data (``None``: the Hub, or generated).
    """

    label: str
    recipe: str
    split: str | None = None
    path: str | None = None

    @property
    def slug(self) -> str:
        """``label`` made safe for a file name."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.label)


def parse_benchmarks(
    text: str | Sequence[str],
    *,
    paths: Mapping[str, str] | None = None,
    data_dir: str | None = None,
) -> list[BenchmarkSpec]:
    """``"geometry3k,mathverse:testmini"`` -> specs, with local paths from ``paths`` or ``data_dir``.

    ``paths`` maps a benchmark name (or ``NAME:SPLIT`` label) to a file or directory. Raises
    ``UserError`` for an empty list, a repeated benchmark, or a ``paths`` key naming no benchmark.
    """
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if not items:
        raise UserError("--benchmarks is empty; name at least one recipe, e.g. --benchmarks gsm8k")
    paths = dict(paths or {})
    specs: list[BenchmarkSpec] = []
    for item in items:
        recipe, _, split = item.partition(":")
        if not recipe:
            raise UserError(f"--benchmarks entry {item!r} has no recipe name; write NAME or NAME:SPLIT")
        path = paths.get(item, paths.get(recipe))
        if path is None and data_dir is not None:
            path = _find_in_data_dir(Path(data_dir).expanduser(), recipe)
        specs.append(BenchmarkSpec(label=item, recipe=recipe, split=split or None, path=path))
    labels = [s.label for s in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise UserError(f"--benchmarks names {repeated} more than once")
    unknown = sorted(set(paths) - set(labels) - {s.recipe for s in specs})
    if unknown:
        raise UserError(f"--path names {unknown}, which --benchmarks does not list ({', '.join(labels)})")
    return specs


def _find_in_data_dir(root: Path, name: str) -> str | None:
    if not root.is_dir():
        raise UserError(f"--data-dir {str(root)!r} is not a directory")
    for candidate in (root / name, root / f"{name}.jsonl", root / f"{name}.parquet", root / f"{name}.json"):
        if candidate.exists():
            return str(candidate)
    return None


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedModel:
    """The model directory to load, what ``--model`` said, and how one led to the other."""

    path: str
    spec: str
    source: str
    label: str


def _is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def resolve_model(spec: str, label: str | None = None) -> ResolvedModel:
    """The model directory ``--model`` stands for (rules in the module docstring).

    A run directory without ``final/`` uses its newest checkpoint with the trainer's completion
    marker (``mmrl.checkpoints``); newer ones without it (a save cut by a crash) are skipped
    and named in ``source``. A marked checkpoint whose files do not match its manifest is an
    error, not a silent fall-back to an older one: name the older checkpoint directory instead.
    """
    from mmrl.checkpoints import COMPLETE_MARKER, CheckpointError, newest_complete_checkpoint
    from mmrl.models import MODEL_ALIASES, resolve_model_path

    if spec.lower() in MODEL_ALIASES:
        path = resolve_model_path(spec)
        return ResolvedModel(path, spec, f"offline alias {spec!r}", label or spec)
    root = Path(spec).expanduser()
    if not root.exists():
        raise UserError(
            f"--model {spec!r}: no such directory; give a model directory, a training run directory, or "
            f"an offline alias ({', '.join(MODEL_ALIASES)})"
        )
    if _is_model_dir(root):
        return ResolvedModel(str(root), spec, "model directory", label or _default_label(root))
    final = root / "final"
    if _is_model_dir(final):
        return ResolvedModel(str(final), spec, "the run's final/ model", label or f"{root.name}/final")
    try:
        ckpt, incomplete = newest_complete_checkpoint(root / "checkpoints")
    except CheckpointError as exc:
        raise UserError(f"--model {spec!r}: the newest complete checkpoint is broken: {exc}") from None
    skipped = [c.path.name for c in incomplete]
    if ckpt is not None:
        if not _is_model_dir(ckpt.path):
            raise UserError(
                f"--model {spec!r}: checkpoint {ckpt.path} has no config.json, so it does not load as a Hugging "
                "Face model; evaluate the run's final/ instead"
            )
        note = f"the run has no final/; newest complete checkpoint {ckpt.path.name}"
        if skipped:
            note += f" (skipped {', '.join(skipped)}: no {COMPLETE_MARKER} marker, written incompletely)"
        return ResolvedModel(str(ckpt.path), spec, note, label or f"{root.name}/{ckpt.path.name}")
    detail = f"; checkpoints without a {COMPLETE_MARKER} marker: {', '.join(skipped)}" if skipped else ""
    raise UserError(
        f"--model {spec!r} is neither a model directory (no config.json) nor a training run with final/ or a "
        f"complete checkpoint under checkpoints/{detail}"
    )


def _default_label(path: Path) -> str:
    path = path.resolve()
    if path.name == "final":
        return f"{path.parent.name}/final"
    if path.parent.name == "checkpoints":
        return f"{path.parent.parent.name}/{path.name}"
    return path.name


def model_identity(resolved: ResolvedModel) -> dict[str, Any]:
    """What identifies the evaluated weights, for ``results.json`` and the sample cache.

    ``fingerprint`` is the sha256 of ``config.json`` and of each weight file's name, size, first
    MiB and last MiB: cheap on multi-GB checkpoints, and any retrained weights change it (it is
    not a full content hash). ``weights_mtime`` is the newest weight file's modification time.
    """
    root = Path(resolved.path)
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    digest = hashlib.sha256()
    config = root / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    total = 0
    for f in files:
        size = f.stat().st_size
        total += size
        digest.update(f"{f.name}\0{size}\0".encode())
        with f.open("rb") as handle:
            digest.update(handle.read(_FINGERPRINT_BYTES))
            if size > _FINGERPRINT_BYTES:
                handle.seek(max(_FINGERPRINT_BYTES, size - _FINGERPRINT_BYTES))
                digest.update(handle.read())
    newest = max((f.stat().st_mtime for f in files), default=None)
    return {
        "label": resolved.label,
        "path": str(root.resolve()),
        "spec": resolved.spec,
        "source": resolved.source,
        "weight_files": [f.name for f in files],
        "weights_bytes": total,
        "weights_mtime": None
        if newest is None
        else _dt.datetime.fromtimestamp(newest, tz=_dt.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": digest.hexdigest(),
    }
