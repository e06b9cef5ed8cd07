"""Checkpoints that survive crashes, and ``final/``, a plain Hugging Face checkpoint.

The layout, and how a usable checkpoint is found, are ``mmrl.checkpoints`` (the evaluator reads
them too). How one is written (``CheckpointManager.save``): every file goes into ``.tmp-step_N``,
the manifest is written, the directory is renamed to ``step_N``, and only then the ``COMPLETE``
marker appears. Old checkpoints beyond ``trainer.keep_last`` are deleted only after that, so a crash
at any moment leaves the previous complete checkpoint in place.

How one is chosen (``trainer.resume``):

* ``auto``: the newest ``step_N`` with a marker. Newer directories without one (a save killed
  half-way) are skipped with a warning naming them. A marked checkpoint whose files do not match its
  manifest, or that fails to load, is an error naming the directory, the file and what to do: the
  run never falls back to an older state, and never starts from scratch silently. When
  checkpoints exist but none is complete, that is an error too.
* ``force``: as ``auto``, also when the run's configuration changed (``mmrl.train.resume``).
* ``never``: start from scratch; existing checkpoints are moved aside to ``checkpoints.old-<time>``.
* a directory: exactly that checkpoint (it must be complete).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmrl.checkpoints import (
    COMPLETE_MARKER,
    CheckpointError,
    list_checkpoints,
    newest_complete_checkpoint,
    verify_checkpoint,
    write_manifest,
)

log = logging.getLogger(__name__)

__all__ = ["CheckpointManager", "find_resume_checkpoint", "save_final_model"]

TRAINER_STATE = "trainer_state.json"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def find_resume_checkpoint(root: str | Path, resume: str) -> Path | None:
    """The checkpoint directory ``trainer.resume`` selects, or ``None`` to start from scratch.

    See the module docstring for the rules. Only looks and verifies; nothing is moved or deleted.
    """
    if resume == "never":
        return None
    if resume not in ("auto", "force"):  # force: as auto, without comparing configs (mmrl.train.resume)
        path = Path(resume).expanduser()
        verify_checkpoint(path)
        return path
    found = list_checkpoints(root)
    try:
        info, skipped = newest_complete_checkpoint(root)
    except CheckpointError as exc:
        broken = next(c for c in reversed(found) if c.complete)
        older = [c.path.name for c in found if c.complete and c.step < broken.step]
        hint = (
            f"delete {broken.path} to resume from {older[-1]}, or set trainer.resume={broken.path.parent / older[-1]}"
            if older
            else "delete it, or set trainer.resume=never to start from scratch"
        )
        raise CheckpointError(
            f"{exc}. trainer.resume=auto will not skip a broken checkpoint: {hint}"
        ) from None
    for s in skipped:
        log.warning(
            "skipping checkpoint %s: no %s marker (a save interrupted by a crash or kill)",
            s.path,
            COMPLETE_MARKER,
        )
    if info is not None:
        return info.path
    if not found:
        return None
    raise CheckpointError(
        f"{root} holds checkpoints ({', '.join(s.path.name for s in skipped)}) but none is complete (no "
        f"{COMPLETE_MARKER} marker): every save was interrupted. Set trainer.resume=never to start from "
        "scratch (they are moved aside), or trainer.resume=DIR to name one"
    )


class CheckpointManager:
    """Writes and prunes checkpoints of a run with ``accelerator.save_state`` (see the module doc).

    Args:
        root: ``<output_dir>/checkpoints``.
        accelerator: The run's ``accelerate.Accelerator`` (every process calls ``save``).
        keep_last: Complete checkpoints to keep (``trainer.keep_last``).
    """

    def __init__(self, root: str | Path, accelerator: Any, keep_last: int):
        if keep_last < 1:
            raise ValueError(f"keep_last={keep_last} must be >= 1")
        self.root = Path(root)
        self.accelerator = accelerator
        self.keep_last = keep_last

    @property
    def _main(self) -> bool:
        return bool(self.accelerator.is_main_process)

    def move_aside(self) -> Path | None:
        """Rename an existing checkpoints directory to ``checkpoints.old-<time>`` (fresh starts)."""
        moved = None
        if self._main and list_checkpoints(self.root):
            moved = self.root.with_name(f"{self.root.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
            self.root.rename(moved)
            log.warning("trainer.resume=never: moved the existing checkpoints to %s", moved)
        self.accelerator.wait_for_everyone()
        return moved

    def save(
        self, step: int, trainer_state: dict[str, Any], write_extra: Callable[[Path], None] | None = None
    ) -> Path:
        """Write ``step_<step>`` atomically (temp dir, manifest, rename, marker), then prune.

        ``write_extra(directory)`` adds files on the main process before the manifest is written
        (the trainer adds the model config and tokenizer, so the checkpoint also loads with
        ``from_pretrained``).
        """
        final = self.root / f"step_{step}"
        tmp = self.root / f".tmp-step_{step}"
        if self._main:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(tmp))
        self.accelerator.wait_for_everyone()
        if self._main:
            (tmp / TRAINER_STATE).write_text(json.dumps(trainer_state, indent=1, sort_keys=True))
            if write_extra is not None:
                write_extra(tmp)
            write_manifest(tmp)
            _fsync_dir(tmp)
            if final.exists():  # left incomplete by a crashed run at the same step
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync_dir(self.root)
            (final / COMPLETE_MARKER).write_text(f"step {step} saved {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            _fsync_dir(final)
            self.prune()
        self.accelerator.wait_for_everyone()
        return final

    def prune(self) -> list[Path]:
        """Delete complete checkpoints beyond ``keep_last`` and incomplete ones older than the newest
        complete one; called only after a new checkpoint is complete."""
        found = list_checkpoints(self.root)
        complete = [c for c in found if c.complete]
        if not complete:
            return []
        newest = complete[-1].step
        doomed = [c.path for c in complete[: -self.keep_last]]
        doomed += [c.path for c in found if not c.complete and c.step < newest]
        doomed += [p for p in self.root.glob(".tmp-step_*") if p.is_dir()]
        for path in doomed:
            shutil.rmtree(path, ignore_errors=True)
        return doomed

    def load(self, path: str | Path) -> dict[str, Any]:
        """Restore model, optimizer, scheduler and RNG states from ``path``; return its trainer state."""
        path = Path(path)
        verify_checkpoint(path)
        try:
            self.accelerator.load_state(str(path))
            state = json.loads((path / TRAINER_STATE).read_text())
        except Exception as exc:  # any failure to read it is reported with the checkpoint's name
            raise CheckpointError(
                f"checkpoint {path} could not be loaded: {type(exc).__name__}: {exc}. Delete it to resume "
                "from an older one, or set trainer.resume=never to start from scratch"
            ) from exc
        return state


def save_final_model(policy: Any, accelerator: Any, directory: str | Path, merge_lora: bool) -> Path | None:
    """Write ``directory`` as a plain Hugging Face checkpoint (model, tokenizer/processor).

    With LoRA, ``merge_lora`` merges the adapters into the weights (the policy's model is merged in
    place: call this last) and otherwise saves the adapter alone (``adapter_model.safetensors``).
    The model is written to a temporary sibling and renamed into place. Returns the directory on the
    main process, ``None`` elsewhere.
    """
    directory = Path(directory)
    state_dict = accelerator.get_state_dict(policy.model)  # gathers sharded (FSDP) weights
    model = accelerator.unwrap_model(policy.model)
    if not accelerator.is_main_process:
        accelerator.wait_for_everyone()
        return None
    tmp = directory.with_name(f".tmp-{directory.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    is_peft = hasattr(model, "merge_and_unload") and hasattr(model, "get_base_model")
    if is_peft and merge_lora:
        model = model.merge_and_unload()
        model.save_pretrained(tmp)
    else:
        model.save_pretrained(tmp, state_dict=state_dict)
    getattr(policy, "processor", policy.tokenizer).save_pretrained(tmp)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(tmp, directory)
    accelerator.wait_for_everyone()
    return directory
