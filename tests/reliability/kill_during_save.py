"""A process that saves checkpoints 1-3, then is killed with SIGKILL at one point of saving step 4.

``python -m tests.reliability.kill_during_save ROOT POINT KEEP_LAST``. Each step's weights are also
written to ``ROOT/../weights_step_N.safetensors``, so the test can tell which state a resume loads.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import mmrl.train.checkpoint as checkpoint
from mmrl.checkpoints import COMPLETE_MARKER
from mmrl.train.checkpoint import CheckpointManager

#: Where step 4's save is killed, in the order a save passes them.
POINTS = (
    "writing_weights",  # accelerate has written part of model.safetensors
    "before_manifest",  # every state file written, the manifest not yet
    "before_rename",  # .tmp-step_4 complete with its manifest, not yet renamed
    "before_marker",  # renamed to step_4, no COMPLETE marker yet
    "before_prune",  # step_4 complete, older checkpoints not yet deleted
    "during_prune",  # half of an old checkpoint deleted
)


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    """Patch the save path so that the next save of step 4 dies at ``point``."""
    from accelerate import Accelerator

    real_save_state, real_replace, real_fsync, real_rmtree = (
        Accelerator.save_state,
        os.replace,
        checkpoint._fsync_dir,
        shutil.rmtree,
    )
    fsyncs = []

    def save_state(self, output_dir=None, **kwargs):
        out = real_save_state(self, output_dir, **kwargs)
        if point == "writing_weights":
            weights = Path(output_dir) / "model.safetensors"
            with open(weights, "r+b") as f:
                f.truncate(weights.stat().st_size // 2)
            die()
        return out

    def write_manifest(directory, known=None):
        if point == "before_manifest":
            die()
        real_write_manifest(directory, known)

    def replace(src, dst):
        if point == "before_rename" and str(dst).endswith("step_4"):
            die()
        return real_replace(src, dst)

    def fsync_dir(path):
        real_fsync(path)
        fsyncs.append(path)
        if point == "before_marker" and len(fsyncs) == 2:  # the root, right after the rename
            die()
        if point == "before_prune" and len(fsyncs) == 3:  # the new directory, right after its marker
            die()

    def rmtree(path, ignore_errors=False):
        if point == "during_prune" and Path(path).name.startswith("step_"):
            # Files in any order the file system lists them: here the marker last.
            files = sorted(p for p in Path(path).rglob("*") if p.is_file() and p.name != COMPLETE_MARKER)
            for p in files[: len(files) // 2]:
                p.unlink()
            die()
        return real_rmtree(path, ignore_errors=ignore_errors)

    real_write_manifest = checkpoint.write_manifest
    Accelerator.save_state = save_state
    checkpoint.write_manifest = write_manifest
    checkpoint.os.replace = replace
    checkpoint._fsync_dir = fsync_dir
    checkpoint.shutil.rmtree = rmtree


def build(root: Path, keep_last: int, features: tuple[int, int] = (64, 32)):
    """A ``Linear(*features)`` with its optimizer, schedule and checkpoint manager under ``root``
    (the killed process and the tests that resume after it build the same)."""
    from mmrl.train.trainer import _accelerator

    torch.manual_seed(0)
    acc = _accelerator("no")
    model = torch.nn.Linear(*features)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    model, opt = acc.prepare(model, opt)
    return CheckpointManager(root, acc, keep_last=keep_last, scheduler=sched), model, opt, sched


def train_a_bit(model, opt, sched) -> None:
    model(torch.ones(2, 64)).pow(2).sum().backward()
    opt.step()
    opt.zero_grad()
    sched.step()


def main(root: str, point: str, keep_last: str) -> None:
    manager, model, opt, sched = build(Path(root), int(keep_last))
    for step in (1, 2, 3, 4):
        train_a_bit(model, opt, sched)
        save_file(
            {k: v.detach().clone() for k, v in model.state_dict().items()},
            str(Path(root).parent / f"weights_step_{step}.safetensors"),
        )
        if step == 4:
            arm(point)
        manager.save(step, {"step": step})
    print("the save of step 4 was not killed", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
