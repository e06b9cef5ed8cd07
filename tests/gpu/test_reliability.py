"""Reliability plan items that need CUDA (``tests/reliability/plan.py``): the memory pre-flight."""

from __future__ import annotations

import pytest

from mmrl.testing import save_tiny_text_model
from mmrl.train import Trainer
from mmrl.train.preflight import PreflightError
from tests.integration.train.helpers import tiny_text_config

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    model_dir = save_tiny_text_model(tmp_path_factory.mktemp("tiny"))
    cfg = tiny_text_config(model_dir, tmp_path_factory.mktemp("run"), "trainer.mixed_precision=bf16")
    return Trainer(cfg)


@pytest.mark.reliability(16)
def test_the_preflight_measures_the_worst_case_peak_and_leaves_no_gradients(trainer):
    import torch

    peak = trainer.preflight()
    assert peak is not None and 0 < peak < torch.cuda.get_device_properties(0).total_memory
    assert all(p.grad is None for p in trainer.policy.model.parameters())


@pytest.mark.reliability(16)
def test_an_out_of_memory_in_the_preflight_is_an_error_naming_the_knobs(trainer):
    import torch

    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(1e-7)  # a few KiB: the forward cannot allocate
    try:
        with pytest.raises(
            PreflightError, match=r"trainer.micro_batch_size=.*model.gradient_checkpointing=true"
        ):
            trainer.preflight()
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    assert trainer.preflight() is not None  # fits again with the memory back
