"""What ``auto`` resolves to: engine, mixed precision, inference dtype and micro-batch size."""

from __future__ import annotations

import pytest

from mmrl import hardware
from mmrl.hardware import (
    resolve_engine,
    resolve_inference_dtype,
    resolve_micro_batch_size,
    resolve_mixed_precision,
)


@pytest.fixture
def cpu_bf16(monkeypatch):
    def set_fast(value: bool) -> None:
        monkeypatch.setattr(hardware, "cpu_has_fast_bf16", lambda: value)

    return set_fast


def test_engine_auto_is_vllm_exactly_when_it_is_installed(monkeypatch):
    monkeypatch.setattr(hardware, "vllm_installed", lambda: True)
    assert resolve_engine("auto")[0] == "vllm"
    monkeypatch.setattr(hardware, "vllm_installed", lambda: False)
    engine, why = resolve_engine("auto")
    assert engine == "hf" and "mmrl[vllm]" in why
    assert resolve_engine("vllm") == ("vllm", "set in the config")
    assert resolve_engine("hf") == ("hf", "set in the config")


def test_mixed_precision_auto_follows_the_cpus_bf16_instructions(cpu_bf16):
    cpu_bf16(True)
    precision, why = resolve_mixed_precision("auto", "cpu")
    assert precision == "bf16" and "float32 master weights" in why
    assert resolve_inference_dtype("auto", "cpu")[0] == "bfloat16"
    cpu_bf16(False)
    assert resolve_mixed_precision("auto", "cpu")[0] == "no"
    assert resolve_inference_dtype("auto", "cpu")[0] == "float32"
    # an explicit choice is never second-guessed
    assert resolve_mixed_precision("bf16", "cpu") == ("bf16", "set in the config")
    assert resolve_inference_dtype("float16", "cpu") == ("float16", "set in the config")


def test_unknown_devices_never_get_bf16(cpu_bf16):
    cpu_bf16(True)
    assert hardware.fast_bf16("meta") is False
    assert resolve_mixed_precision("auto", "meta")[0] == "no"


def test_micro_batch_auto_by_device():
    assert resolve_micro_batch_size("auto", "cpu")[0] == 16
    assert resolve_micro_batch_size("auto", "cuda")[0] == 4
    assert resolve_micro_batch_size(7, "cpu") == (7, "set in the config")


def test_the_trainer_logs_and_uses_the_resolved_micro_batch(tmp_path, caplog):
    import logging

    from mmrl.config import load_config
    from mmrl.testing import save_tiny_text_model
    from mmrl.train import Trainer

    model = save_tiny_text_model(tmp_path / "m", seed=0)
    cfg = load_config(
        None,
        [
            f"model.path={model}",
            "data.recipe=synthetic_arithmetic",
            "data.options={num_examples: 8}",
            "rollout.engine=hf",
            f"trainer.output_dir={tmp_path / 'run'}",
            "trainer.mixed_precision='no'",
            "logging.tensorboard=false",
        ],
    )
    with caplog.at_level(logging.INFO, logger="mmrl.train.trainer"):
        trainer = Trainer(cfg)
    try:
        assert trainer.micro_batch_size == 16
        assert "micro-batch size 16 (auto: 16 sequences per pass on cpu)" in caplog.text
    finally:
        trainer.close()


def test_a_bare_no_on_the_command_line_is_the_word_no():
    from mmrl.config import load_config

    assert load_config(None, ["trainer.mixed_precision=no"]).trainer.mixed_precision == "no"
    assert load_config(None, ["trainer.mixed_precision='no'"]).trainer.mixed_precision == "no"
