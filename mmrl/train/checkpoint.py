"""Checkpoints that survive crashes, and ``final/``, a plain Hugging Face checkpoint.

The layout, and how a usable checkpoint is found, are ``mmrl.checkpoints`` (the evaluator reads
them too). How one is written (``CheckpointManager.save``): every file goes into ``.tmp-step_N``,
the manifest (size and sha256 of every file, the large ones hashed while they were written:
``mmrl.train.hashed_save``) is written, the directory is renamed to ``step_N``,
and only then the ``COMPLETE`` marker appears. Old checkpoints beyond ``trainer.keep_last`` are
deleted only after that, so a crash at any moment leaves the previous complete checkpoint in place.

Nothing in a checkpoint can run code on resume. accelerate writes the model (safetensors) and the
optimizer state (read back with ``torch.load(weights_only=True)``, which builds tensors and plain
containers only); mmrl writes the learning-rate schedule, each process's RNG states and its own
counters as JSON. accelerate reads from a view of the checkpoint that holds only the files of the
manifest, none of them a pickle, so a ``custom_checkpoint_0.pkl`` or ``random_states_0.pkl``
dropped into a directory is never unpickled by it. Checkpoints of earlier mmrl versions kept the
schedule and RNG states in those two pickles; they are read with ``weights_only=True`` too, and a
file that is not plain data is an error naming it. One exception is out of mmrl's hands:
``torch.distributed.checkpoint`` (FSDP's sharded state) unpickles parts of what it reads, so a sharded
checkpoint is resumed only from the run's own ``checkpoints/``, never from a directory elsewhere.

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

import base64
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmrl.checkpoints import (
    COMPLETE_MARKER,
    CheckpointError,
    list_checkpoints,
    manifest_files,
    newest_complete_checkpoint,
    verify_checkpoint,
    write_manifest,
)
from mmrl.train.hashed_save import hashing_saves

log = logging.getLogger(__name__)

__all__ = ["CheckpointManager", "find_resume_checkpoint", "save_final_model"]

TRAINER_STATE = "trainer_state.json"
SCHEDULER_STATE = "scheduler.json"
RNG_STATE = "rng_state_{rank}.json"
#: What checkpoints of earlier mmrl versions held instead (accelerate's pickles).
LEGACY_SCHEDULER_STATE = "custom_checkpoint_0.pkl"
LEGACY_RNG_STATE = "random_states_{rank}.pkl"

_START_OVER = "resume from another checkpoint (trainer.resume=DIR) or start fresh (trainer.resume=never)"


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

    See the module docstring for the rules. The chosen checkpoint is verified against its manifest,
    contents included (every file is read once). Only looks and verifies; nothing is moved or deleted.
    """
    if resume == "never":
        return None
    if resume not in ("auto", "force"):  # force: as auto, without comparing configs (mmrl.train.resume)
        path = Path(resume).expanduser()
        try:
            verify_checkpoint(path, contents=True)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc}. trainer.resume={resume}: {_START_OVER}") from None
        _refuse_foreign_sharded(path, Path(root))
        return path
    found = list_checkpoints(root)
    try:
        info, skipped = newest_complete_checkpoint(root, contents=True)
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


def _refuse_foreign_sharded(path: Path, root: Path) -> None:
    """A sharded (FSDP ``SHARDED_STATE_DICT``) checkpoint from outside this run is refused.

    ``torch.distributed.checkpoint`` reads such a checkpoint's ``.metadata`` and its non-tensor
    entries with plain ``pickle``, which can run code; mmrl cannot read them otherwise. The run's own
    ``checkpoints/`` are what it wrote itself.
    """
    if not any(path.rglob("*.distcp")):
        return
    if path.resolve().parent == root.resolve():
        return
    raise CheckpointError(
        f"trainer.resume={path}: a sharded (FSDP) checkpoint from outside this run's {root}. "
        "torch.distributed.checkpoint unpickles parts of sharded checkpoints, which can run code, so mmrl "
        f"resumes them only from the run's own checkpoints. If you trust {path}, copy it into {root}"
    )


class CheckpointManager:
    """Writes and prunes checkpoints of a run with ``accelerator.save_state`` (see the module doc).

    Args:
        root: ``<output_dir>/checkpoints``.
        accelerator: The run's ``accelerate.Accelerator`` (every process calls ``save``).
        keep_last: Complete checkpoints to keep (``trainer.keep_last``).
        scheduler: The learning-rate scheduler, saved as ``scheduler.json`` (not registered with
            accelerate, which would pickle it).
    """

    def __init__(self, root: str | Path, accelerator: Any, keep_last: int, scheduler: Any = None):
        if keep_last < 1:
            raise ValueError(f"keep_last={keep_last} must be >= 1")
        self.root = Path(root)
        self.accelerator = accelerator
        self.keep_last = keep_last
        self.scheduler = scheduler

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
        with hashing_saves(tmp) as hashed:  # the weights and optimizer state, hashed as written
            self.accelerator.save_state(str(tmp))
        rank = self.accelerator.process_index
        (tmp / LEGACY_RNG_STATE.format(rank=rank)).unlink(missing_ok=True)  # kept as JSON instead
        _write_json(tmp / RNG_STATE.format(rank=rank), rng_state())
        self.accelerator.wait_for_everyone()
        if self._main:
            known = {**hashed, TRAINER_STATE: _write_json(tmp / TRAINER_STATE, trainer_state)}
            if self.scheduler is not None:
                known[SCHEDULER_STATE] = _write_json(tmp / SCHEDULER_STATE, self.scheduler.state_dict())
            if write_extra is not None:
                write_extra(tmp)
            write_manifest(tmp, known)
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
            # The marker goes first: a kill half-way through leaves a directory that is no longer
            # "complete", never a complete-looking one with files missing.
            (path / COMPLETE_MARKER).unlink(missing_ok=True)
            shutil.rmtree(path, ignore_errors=True)
        return doomed

    def load(self, path: str | Path, *, verified: bool = False) -> dict[str, Any]:
        """Restore model, optimizer, scheduler and RNG states from ``path``; return its trainer state.

        The checkpoint is first verified against its manifest, contents included, unless the caller
        just did (``verified=True``: ``find_resume_checkpoint`` verifies what it selects).
        """
        path = Path(path)
        if verified:
            verify_checkpoint(path)  # sizes only: the contents were checked moments ago
        else:
            verify_checkpoint(path, contents=True)
        files = manifest_files(path)
        try:
            with tempfile.TemporaryDirectory(prefix="mmrl-resume-") as view:
                _link_view(path, files, Path(view))
                self.accelerator.load_state(view)
            state = json.loads((path / TRAINER_STATE).read_text())
        except Exception as exc:  # any failure to read it is reported with the checkpoint's name
            raise CheckpointError(
                f"checkpoint {path} could not be loaded: {type(exc).__name__}: {exc}. Delete it to resume "
                "from an older one, or set trainer.resume=never to start from scratch"
            ) from exc
        if self.scheduler is not None:
            self.scheduler.load_state_dict(_scheduler_state(path, files))
        _restore_rng(path, files, self.accelerator.process_index)
        return state


# --------------------------------------------------------------------------------------------
# State files without pickle
# --------------------------------------------------------------------------------------------


def _write_json(path: Path, obj: Any) -> str:
    """Write ``obj`` as JSON; return the sha256 of the bytes written (for the manifest)."""
    data = json.dumps(obj, indent=1, sort_keys=True, allow_nan=True).encode()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _bytes_tensor(text: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(text, validate=True)), dtype=torch.uint8)


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch (and CUDA) RNG states as JSON-ready data."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned (CUDA states only where CUDA is in use)."""
    version, internal, gauss = state["python"]
    kind, keys, pos, has_gauss, cached = state["numpy"]
    python = (int(version), tuple(int(k) for k in internal), None if gauss is None else float(gauss))
    numpy = (str(kind), np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached))
    torch_state = _bytes_tensor(state["torch"])
    random.setstate(python)
    np.random.set_state(numpy)
    torch.set_rng_state(torch_state)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_bytes_tensor(s) for s in state["cuda"]])


def _link_view(path: Path, files: dict[str, Any], view: Path) -> None:
    """Symlinks in ``view`` to the manifest's files of ``path``, pickles excepted: what accelerate reads."""
    for name in files:
        if name.endswith(".pkl"):
            continue
        target = view / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to((path / name).resolve())


def _weights_only(path: Path, file: str, what: str) -> Any:
    """A legacy pickle of ``path`` read as plain data (``torch.load(weights_only=True)``), or an error."""
    from accelerate.utils import load

    try:
        return load(path / file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path}: {file} (the {what} of an older mmrl checkpoint) is not plain data, and mmrl "
            f"never unpickles code from a checkpoint ({type(exc).__name__}: {str(exc)[:300]}). "
            f"Use a checkpoint written by mmrl: {_START_OVER}"
        ) from None


def _read_json(path: Path, file: str, what: str) -> Any:
    try:
        return json.loads((path / file).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path}: {file} (the {what}) is unreadable: {exc}. {_START_OVER}"
        ) from None


def _scheduler_state(path: Path, files: dict[str, Any]) -> dict[str, Any]:
    """The scheduler's state: ``scheduler.json``, or an older checkpoint's pickle read as data."""
    if SCHEDULER_STATE in files:
        for stray in sorted(p.name for p in path.glob("custom_checkpoint_*.pkl")):
            log.warning(
                "checkpoint %s: ignoring %s; the schedule is read from %s", path, stray, SCHEDULER_STATE
            )
        state = _read_json(path, SCHEDULER_STATE, "learning-rate schedule")
    elif LEGACY_SCHEDULER_STATE in files:
        state = _weights_only(path, LEGACY_SCHEDULER_STATE, "learning-rate schedule")
    else:
        raise CheckpointError(
            f"checkpoint {path} has no {SCHEDULER_STATE} (the learning-rate schedule) in its manifest. "
            f"{_START_OVER}"
        )
    if not isinstance(state, dict):
        raise CheckpointError(
            f"checkpoint {path}: the learning-rate schedule is a {type(state).__name__}, not a mapping. {_START_OVER}"
        )
    return state


def _restore_rng(path: Path, files: dict[str, Any], rank: int) -> None:
    """Set this process's RNG states from the checkpoint (JSON, or an older checkpoint's pickle)."""
    name, legacy = RNG_STATE.format(rank=rank), LEGACY_RNG_STATE.format(rank=rank)
    try:
        if name in files:
            set_rng_state(_read_json(path, name, "RNG states"))
        elif legacy in files:
            old = _weights_only(path, legacy, "RNG states")
            set_rng_state(
                {
                    "python": list(old["random_state"]),
                    "numpy": list(old["numpy_random_seed"]),
                    "torch": _b64(old["torch_manual_seed"]),
                    **(
                        {"cuda": [_b64(s) for s in old["torch_cuda_manual_seed"]]}
                        if "torch_cuda_manual_seed" in old
                        else {}
                    ),
                }
            )
            name = legacy
        else:
            log.warning(
                "checkpoint %s has no RNG states for process %d (it was written by fewer processes): its random "
                "draws differ from the original run's",
                path,
                rank,
            )
    except CheckpointError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"checkpoint {path}: {name} does not hold valid RNG states ({type(exc).__name__}: {exc}). {_START_OVER}"
        ) from None


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
