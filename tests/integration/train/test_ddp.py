"""Two data-parallel processes on CPU (``torchrun``, gloo): the same ``mmrl train`` command a GPU
node runs with ``accelerate launch``. Every rank samples its share of the prompts, the rollouts of
both ranks reach ``rollouts/step_N.jsonl``, validation and checkpoints are collective (a mismatch
deadlocks, which the timeout turns into a failure), and a second launch resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmrl.testing import save_tiny_text_model

from .helpers import load_weights, read_metrics, read_rollouts, run_two_processes, tiny_text_overrides

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="needs torch.distributed with gloo",
)

ROOT = Path(__file__).resolve().parents[3]


def _launch(model_dir, run, max_steps):
    overrides = tiny_text_overrides(
        model_dir,
        run,
        f"trainer.max_steps={max_steps}",
        "trainer.prompts_per_step=4",
        "trainer.save_every=1",
        "eval.every=2",
        "eval.limit=4",
        "eval.n=2",
        "eval.k=[1,2]",
    )
    returncode, output = run_two_processes(
        ["-m", "mmrl", "train", *overrides], run.parent / f"launch-{max_steps}.log", timeout=300
    )
    assert returncode == 0, output[-6000:]


def test_two_processes_train_validate_checkpoint_and_resume(tmp_path):
    model_dir = save_tiny_text_model(tmp_path / "model")
    run = tmp_path / "run"
    _launch(model_dir, run, max_steps=2)

    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["optimizer/skipped_steps"] == 0 for m in metrics)
    assert metrics[-1]["val/problems"] == 4  # validated once at step 2, both ranks took part
    for step in (1, 2):
        rows = read_rollouts(run, step)
        assert len(rows) == 4 * 4, "prompts_per_step x rollout.n trajectories from both ranks"
        assert {row["rank"] for row in rows} == {0, 1}
    step_2 = run / "checkpoints" / "step_2"
    assert {"rng_state_0.json", "rng_state_1.json", "COMPLETE"} <= {p.name for p in step_2.iterdir()}
    after_2 = load_weights(run / "final")
    assert any(
        not torch.equal(a, b) for a, b in zip(load_weights(model_dir).values(), after_2.values(), strict=True)
    )

    _launch(model_dir, run, max_steps=3)  # the same command with more steps: resumes at step 2
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2, 3, 3]  # step 3, then the closing validation
    assert metrics[-1]["val/problems"] == 4
    assert len(read_rollouts(run, 3)) == 16
