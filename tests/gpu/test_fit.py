"""The trainer on a CUDA device (skipped without one): bf16 autocast, the sync probe, bench_step."""

from __future__ import annotations

import math

import pytest

from mmrl.testing import save_tiny_text_model
from mmrl.train import fit
from tests.integration.train.helpers import load_weights, read_metrics, tiny_text_config
from tests.integration.train.test_scripts import _bench_step

pytestmark = pytest.mark.gpu


def test_fit_on_cuda_with_bf16(tmp_path):
    import torch

    model_dir = save_tiny_text_model(tmp_path / "model")
    run = tmp_path / "run"
    fit(tiny_text_config(model_dir, run, "trainer.mixed_precision=bf16", "rollout.hf_cache=dynamic"))
    metrics = read_metrics(run)
    assert all(math.isfinite(m["loss"]) for m in metrics)
    # the engine samples from the training model itself: its log-probs must match the trainer's
    assert all(m["rollout/logprob_diff"] < 0.05 for m in metrics)
    before, after = load_weights(model_dir), load_weights(run / "final")
    assert any(not torch.equal(before[k], after[k].to(before[k].dtype)) for k in before)


def test_bench_step_qwen2_0_5b_sized_model(capsys):
    argv = ["--model", "qwen2-0.5b-random", "--prompts", "64", "--n", "1", "--max-new-tokens", "256"]
    assert _bench_step([*argv, "--dtype", "bfloat16", "--algorithm", "w_reinforce"]) == 0
    assert "| **step** |" in capsys.readouterr().out
