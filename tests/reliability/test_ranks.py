"""Two data-parallel processes (``torch.distributed.run``, gloo) with a fault on rank 1 only: ranks agree
on every skip and neither hangs; a stalled rank ends the run on every rank with an error naming the
stage, the step and the rank, in bounded time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmrl.testing import save_tiny_text_model
from tests.integration.train.helpers import (
    read_metrics,
    read_rollouts,
    run_two_processes,
    tiny_text_overrides,
)

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="needs torch.distributed with gloo",
)

ROOT = Path(__file__).resolve().parents[2]
#: Longer than any healthy 2-process run of these tests takes: a hang fails, it never blocks CI.
BOUND_S = 240


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("tiny"))


def _launch(tmp_path, scenario, overrides):
    script = str(ROOT / "tests" / "reliability" / "two_ranks.py")
    return run_two_processes([script, scenario, *overrides], tmp_path / f"{scenario}.log", timeout=BOUND_S)


def _rows(path):
    rows = [{"id": f"q{i}", "question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(10)]
    # Index 1: in rank 1's share when the prompt lengths are checked (each rank checks every other row).
    rows.insert(1, {"id": "long1", "question": "Add: " + " + ".join(["1"] * 60), "answer": "60"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.reliability(17)
def test_a_bad_prompt_and_bad_samples_on_one_rank_are_skipped_by_both_and_neither_hangs(model_dir, tmp_path):
    run = tmp_path / "run"
    overrides = tiny_text_overrides(
        model_dir,
        run,
        "trainer.max_steps=2",
        "trainer.prompts_per_step=4",
        "data.recipe=jsonl",
        f"data.path={_rows(tmp_path / 'rows.jsonl')}",
        "data.options={}",
        "data.max_prompt_length=48",
        "reward.verifier=tests.reliability.two_ranks:rank_one_differs",
        "reward.score_truncated=true",
        "trainer.save_final=false",
    )
    returncode, log = _launch(tmp_path, "divergent", overrides)
    assert returncode == 0, log[-6000:]
    assert "1 of 11 training prompts are longer than data.max_prompt_length=48" in log
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    for step in (1, 2):
        rows = read_rollouts(run, step)
        assert {r["rank"] for r in rows} == {0, 1} and len(rows) == 16
        assert not any("long1" in r["example_id"] for r in rows)  # found by rank 1, skipped by both
        # rank 1 rewarded every response alike: zero advantages there, trained on rank 0's only
        assert all(r["advantage"] == 0 for r in rows if r["rank"] == 1)
    assert all(0 < m["update/skipped_zero_advantage_frac"] < 1 for m in metrics)


@pytest.mark.reliability(17)
def test_a_stalled_rank_ends_every_rank_with_an_error_naming_the_stage_and_the_rank(model_dir, tmp_path):
    overrides = tiny_text_overrides(
        model_dir,
        tmp_path / "run",
        "trainer.max_steps=3",
        "trainer.prompts_per_step=4",
        "trainer.stall_timeout_s=8",
    )
    returncode, log = _launch(tmp_path, "stall", overrides)
    assert returncode != 0, log[-6000:]
    assert "stage 'generate' of step 2 on rank 1 has made no progress" in log, log[-6000:]
    assert "pending examples: synthetic_arithmetic/train/" in log
    assert "trainer.stall_timeout_s=8 reached" in log
    # rank 0 ends too: with an error naming the collective it was waiting in, unless the launcher
    # stopped it first (it sends SIGTERM to the other workers when one fails)
    assert (
        "rank 0: the all-reduce of" in log or "waiting for the other ranks in" in log or "SIGTERM" in log
    ), log[-6000:]
