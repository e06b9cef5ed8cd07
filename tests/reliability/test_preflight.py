"""The memory pre-flight (16 runs it on CUDA, tests/gpu): here its CPU-checkable parts, a forced
run on a tiny model that leaves the parameters as they were, and the error an out-of-memory becomes."""

from __future__ import annotations

import pytest
import torch

from mmrl.testing import save_tiny_text_model
from mmrl.train import Trainer
from mmrl.train.preflight import PreflightError, worst_case
from tests.integration.train.helpers import tiny_text_config


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    model_dir = save_tiny_text_model(tmp_path_factory.mktemp("tiny"))
    run = tmp_path_factory.mktemp("run")
    return Trainer(tiny_text_config(model_dir, run, "trainer.max_tokens_per_micro_batch=40"))


def test_the_worst_case_is_the_largest_micro_batch_under_the_token_cap():
    assert worst_case(16, None, 100, 28).rows == 16
    assert worst_case(16, 1024, 100, 28).rows == 8
    assert worst_case(16, 50, 100, 28).rows == 1  # one row is never split
    assert worst_case(4, 1024, 100, 28).tokens == 4 * 128


def test_a_forced_preflight_runs_forward_and_backward_and_leaves_no_trace(trainer, monkeypatch):
    seen = []
    real = trainer.policy.logprobs

    def logprobs(batch, **kwargs):
        seen.append((batch.num_rows, batch.prompt_length, batch.response_ids.shape[1]))
        return real(batch, **kwargs)

    monkeypatch.setattr(trainer.policy, "logprobs", logprobs)
    before = {k: v.clone() for k, v in trainer.policy.model.state_dict().items()}
    assert trainer.preflight(force=True) is None  # no peak to report off CUDA
    # micro_batch_size 4, capped at 40 tokens: rows of max_prompt_length + max_new_tokens each
    width = trainer.policy.max_prompt_length + trainer.cfg.rollout.max_new_tokens
    assert seen == [(max(1, min(4, 40 // width)), trainer.policy.max_prompt_length, 6)]
    assert all(p.grad is None for p in trainer.policy.model.parameters())
    after = trainer.policy.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert trainer.preflight() is None  # off CUDA: skipped


def test_an_out_of_memory_in_the_preflight_names_the_settings_that_lower_the_peak(trainer, monkeypatch):
    def logprobs(batch, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer.policy, "logprobs", logprobs)
    with pytest.raises(PreflightError) as err:
        trainer.preflight(force=True)
    message = str(err.value)
    for knob in (
        "trainer.micro_batch_size=",
        "trainer.max_tokens_per_micro_batch=",
        "model.gradient_checkpointing=true",
        "model.logprob_chunk_size",
        "rollout.max_new_tokens",
        "trainer.preflight=false",
    ):
        assert knob in message, knob
    assert "CUDA out of memory" in message
