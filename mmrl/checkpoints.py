"""Checkpoint directories as written by ``mmrl train``, and how to find a usable one.

Both the trainer (``trainer.resume``) and the evaluator (``mmrl eval --model RUN``) read this
layout, so it lives below both. Under ``<output_dir>/checkpoints/``::

    step_4/
      model.safetensors, optimizer.bin, scheduler.bin, random_states_<rank>.pkl   (accelerate's state)
      trainer_state.json    step, data position, counters (non-finite steps, DAPO short steps, ...)
      manifest.json         every file above with its size
      COMPLETE              written last: the checkpoint is whole

A directory without ``COMPLETE`` was still being written when its run stopped; a complete one whose
files do not match its manifest is broken. ``newest_complete_checkpoint`` skips the first kind and
refuses the second: nothing ever falls back silently to an older state.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mmrl.errors import UserError

__all__ = [
    "COMPLETE_MARKER",
    "MANIFEST",
    "CheckpointError",
    "CheckpointInfo",
    "list_checkpoints",
    "newest_complete_checkpoint",
    "verify_checkpoint",
    "write_manifest",
]

COMPLETE_MARKER = "COMPLETE"
MANIFEST = "manifest.json"
_STEP_RE = re.compile(r"^step_(\d+)$")


class CheckpointError(UserError):
    """A checkpoint cannot be used; the message names it, the problem and the fix."""


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    step: int
    complete: bool


def list_checkpoints(root: str | Path) -> list[CheckpointInfo]:
    """``step_N`` directories under ``root``, oldest first (temporary ``.tmp-*`` ones excluded)."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for child in root.iterdir():
        match = _STEP_RE.match(child.name)
        if match and child.is_dir():
            out.append(CheckpointInfo(child, int(match.group(1)), (child / COMPLETE_MARKER).is_file()))
    return sorted(out, key=lambda c: c.step)


def write_manifest(directory: Path) -> None:
    """Record every file of ``directory`` (recursively) with its size in ``manifest.json``."""
    files = {
        str(p.relative_to(directory)): p.stat().st_size
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name not in (MANIFEST, COMPLETE_MARKER)
    }
    (directory / MANIFEST).write_text(json.dumps({"files": files}, indent=1))


def verify_checkpoint(path: str | Path) -> None:
    """Raise ``CheckpointError`` unless ``path`` is complete and every file matches the manifest."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not (path / COMPLETE_MARKER).is_file():
        raise CheckpointError(
            f"checkpoint {path} has no {COMPLETE_MARKER} marker: it was still being written when its run "
            "stopped. Resume from an older one (trainer.resume=DIR) or delete it"
        )
    try:
        files = json.loads((path / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path}: {MANIFEST} is missing or unreadable ({exc})") from None
    for name, size in files.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint {path} is broken: {name} is missing (listed in {MANIFEST})")
        actual = file.stat().st_size
        if actual != size:
            raise CheckpointError(
                f"checkpoint {path} is broken: {name} has {actual} bytes, {MANIFEST} says {size} "
                "(truncated or overwritten)"
            )


def newest_complete_checkpoint(root: str | Path) -> tuple[CheckpointInfo | None, list[CheckpointInfo]]:
    """The newest ``step_N`` under ``root`` with a ``COMPLETE`` marker, verified against its manifest
    (``None`` if there is none), and the newer directories skipped for having no marker.

    Raises ``CheckpointError`` when that newest complete checkpoint is broken: the caller says what
    to do (an older one is never taken in its place).
    """
    skipped = []
    for info in reversed(list_checkpoints(root)):
        if not info.complete:
            skipped.append(info)
            continue
        verify_checkpoint(info.path)
        return info, skipped
    return None, skipped
