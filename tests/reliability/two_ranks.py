"""``mmrl train`` on rank 0 and rank 1 with a fault on rank 1 only (run under ``torch.distributed.run``).

``python -m torch.distributed.run --nproc_per_node 2 tests/reliability/two_ranks.py SCENARIO OVERRIDE...``

* ``divergent``: ``rank_one_differs`` (below) is the verifier: on rank 1 it raises for one response and
  rewards every other one alike, so rank 1 has no sample to train on while rank 0 has some.
* ``stall``: rank 1's generation never returns at step 2.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from mmrl.types import Example, Score


def rank_one_differs(response: str, example: Example) -> Score:
    """A coin flip by response length on rank 0; on rank 1 every response right, one raising."""
    if os.environ.get("RANK") == "1":
        if example.id.endswith("/q3") and len(response) % 3 == 0:
            raise ValueError("a verifier that fails on one response of rank 1")
        return Score(1.0, correct=True, components={"accuracy": 1.0})
    hit = len(response) % 2 == 0
    return Score(float(hit), correct=hit, components={"accuracy": float(hit)})


def _stall_rank_one_at_step_2() -> None:
    from mmrl.rollout.hf_engine import HFEngine
    from mmrl.train import Trainer

    if os.environ.get("RANK") != "1":
        return
    real_generate, real_step = HFEngine.generate, Trainer.train_step
    state = {"step": 0}

    def generate(self, examples, n, sampling):
        if state["step"] == 2:
            threading.Event().wait()  # never returns
        return real_generate(self, examples, n, sampling)

    def train_step(self):
        state["step"] = self.step + 1
        return real_step(self)

    HFEngine.generate = generate
    Trainer.train_step = train_step


def main(scenario: str, *overrides: str) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from mmrl.cli import main as cli

    if scenario == "stall":
        _stall_rank_one_at_step_2()
    return cli(["train", *overrides])


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
