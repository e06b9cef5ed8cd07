"""Checkpoint directories as written by ``mmrl train``, and how to find a usable one.

Both the trainer (``trainer.resume``) and the evaluator (``mmrl eval --model RUN``) read this
layout, so it lives below both. Under ``<output_dir>/checkpoints/``::

    step_4/
      model.safetensors, optimizer.bin    model and optimizer state (accelerate's; optimizer.bin is
                                          read back with torch.load(weights_only=True))
      scheduler.json                      the learning-rate schedule
      rng_state_<rank>.json               each process's Python, NumPy and torch RNG states
      trainer_state.json                  step, data position, counters (non-finite steps, ...)
      config.json, tokenizer files, config.yaml   so that the directory loads with from_pretrained
      manifest.json                       every file above with its size and sha256
      COMPLETE                            written last: the checkpoint is whole

No file of a checkpoint is ever unpickled with code: a pickle placed in a checkpoint directory
cannot run anything on resume (``mmrl.train.checkpoint``).

A directory without ``COMPLETE`` was still being written when its run stopped; a complete one whose
files do not match its manifest is broken. ``newest_complete_checkpoint`` skips the first kind and
refuses the second: nothing ever falls back silently to an older state. Sizes are checked whenever a
checkpoint is looked at; the contents (sha256) when it is resumed from (``verify_checkpoint(path,
contents=True)``), which reads every file once. Manifests written before content hashes list
sizes only; those checkpoints are checked by size. The manifest guards against corruption (a disk,
a copy, a stray write); it is not a signature: whoever can write the directory can rewrite it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mmrl.errors import UserError

__all__ = [
    "COMPLETE_MARKER",
    "MANIFEST",
    "CheckpointError",
    "CheckpointInfo",
    "file_sha256",
    "list_checkpoints",
    "manifest_files",
    "newest_complete_checkpoint",
    "verify_checkpoint",
    "write_manifest",
]

log = logging.getLogger(__name__)

COMPLETE_MARKER = "COMPLETE"
MANIFEST = "manifest.json"
#: 2: every file with ``{"bytes": size, "sha256": hex}``; 1 (no ``format`` key): ``name: size``.
MANIFEST_FORMAT = 2
_STEP_RE = re.compile(r"^step_(\d+)$")
_CHUNK = 8 << 20


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


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, as hex, read in 8 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_all(paths: Iterable[Path]) -> list[str]:
    """``file_sha256`` of each path, a few files at a time (hashlib releases the GIL)."""
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=min(4, max(1, len(paths)))) as pool:
        return list(pool.map(file_sha256, paths))


def write_manifest(directory: Path, known: dict[str, str] | None = None) -> None:
    """Record every file of ``directory`` (recursively) with its size and sha256 in ``manifest.json``.

    ``known`` maps file names to the sha256 of the bytes their writer just wrote (hashed in memory,
    so they are not read again); every other file is hashed now, right after it was written.
    """
    known = known or {}
    files = [
        p for p in sorted(directory.rglob("*")) if p.is_file() and p.name not in (MANIFEST, COMPLETE_MARKER)
    ]
    names = [str(p.relative_to(directory)) for p in files]
    to_hash = [p for p, name in zip(files, names, strict=True) if name not in known]
    hashed = dict(zip((str(p.relative_to(directory)) for p in to_hash), _hash_all(to_hash), strict=True))
    entries = {
        name: {"bytes": p.stat().st_size, "sha256": known.get(name) or hashed[name]}
        for p, name in zip(files, names, strict=True)
    }
    (directory / MANIFEST).write_text(json.dumps({"format": MANIFEST_FORMAT, "files": entries}, indent=1))


def manifest_files(path: str | Path) -> dict[str, dict[str, int | str | None]]:
    """The files ``manifest.json`` of checkpoint ``path`` lists: ``{name: {"bytes", "sha256"}}``
    (``sha256`` is ``None`` in manifests written before content hashes)."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        files = manifest["files"]
        if manifest.get("format", 1) == 1:
            out = {name: {"bytes": int(size), "sha256": None} for name, size in files.items()}
        else:
            out = {name: {"bytes": int(e["bytes"]), "sha256": str(e["sha256"])} for name, e in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"checkpoint {path}: {MANIFEST} is missing or unreadable ({type(exc).__name__}: {exc})"
        ) from None
    outside = [name for name in out if Path(name).is_absolute() or ".." in Path(name).parts]
    if outside:
        raise CheckpointError(
            f"checkpoint {path}: {MANIFEST} lists {outside[0]!r}, a path outside the checkpoint; mmrl never "
            "writes such a manifest, so the directory was edited. Use a checkpoint mmrl wrote"
        )
    return out


def verify_checkpoint(path: str | Path, *, contents: bool = False) -> None:
    """Raise ``CheckpointError`` unless ``path`` is complete and every file matches the manifest:
    its size, and with ``contents=True`` its sha256 (every file is read once)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not (path / COMPLETE_MARKER).is_file():
        raise CheckpointError(
            f"checkpoint {path} has no {COMPLETE_MARKER} marker: it was still being written when its run "
            "stopped. Resume from an older one (trainer.resume=DIR) or delete it"
        )
    files = manifest_files(path)
    for name, entry in files.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"checkpoint {path} is broken: {name} is missing (listed in {MANIFEST})")
        actual = file.stat().st_size
        if actual != entry["bytes"]:
            raise CheckpointError(
                f"checkpoint {path} is broken: {name} has {actual} bytes, {MANIFEST} says {entry['bytes']} "
                "(truncated or overwritten)"
            )
    if not contents:
        return
    hashed = {name: entry["sha256"] for name, entry in files.items() if entry["sha256"] is not None}
    if len(hashed) < len(files):
        log.warning(
            "checkpoint %s was written before checkpoints carried content hashes: only file sizes are checked",
            path,
        )
    for (name, expected), actual in zip(hashed.items(), _hash_all(path / n for n in hashed), strict=True):
        if actual != expected:
            raise CheckpointError(
                f"checkpoint {path} is broken: the contents of {name} changed after it was saved (sha256 "
                f"{actual[:12]}..., {MANIFEST} says {expected[:12]}...; the size is the same: a corrupted "
                "disk or copy, or an edit)"
            )


def newest_complete_checkpoint(
    root: str | Path, *, contents: bool = False
) -> tuple[CheckpointInfo | None, list[CheckpointInfo]]:
    """The newest ``step_N`` under ``root`` with a ``COMPLETE`` marker, verified against its manifest
    (``verify_checkpoint``; ``None`` if there is none), and the newer directories skipped for having
    no marker.

    Raises ``CheckpointError`` when that newest complete checkpoint is broken: the caller says what
    to do (an older one is never taken in its place).
    """
    skipped = []
    for info in reversed(list_checkpoints(root)):
        if not info.complete:
            skipped.append(info)
            continue
        verify_checkpoint(info.path, contents=contents)
        return info, skipped
    return None, skipped
