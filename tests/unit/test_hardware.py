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


def _tiny_trainer_config(tmp_path, *overrides: str):
    from mmrl.config import load_config
    from mmrl.testing import save_tiny_text_model

    model = save_tiny_text_model(tmp_path / "m", seed=0)
    return load_config(
        None,
        [
            f"model.path={model}",
            "data.recipe=synthetic_arithmetic",
            "data.options={num_examples: 8}",
            "rollout.engine=hf",
            f"trainer.output_dir={tmp_path / 'run'}",
            *overrides,
            "logging.tensorboard=false",
        ],
    )


def test_the_trainer_logs_and_uses_the_resolved_micro_batch(tmp_path, caplog):
    import logging

    from mmrl.train import Trainer

    cfg = _tiny_trainer_config(tmp_path, "trainer.mixed_precision='no'")
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


_FAULTS = """
import resource, sys, torch
from mmrl.hardware import retain_freed_memory
if sys.argv[1] == "on":
    applied, why = retain_freed_memory()
    assert applied, why
def step():  # a step's buffers: 64 MiB in 1 MiB blocks and one of 528 MiB, freed newest first
    xs = [torch.ones(1 << 20, dtype=torch.uint8) for _ in range(64)]
    xs.append(torch.ones(528 << 20, dtype=torch.uint8))  # larger than the top pad and any mmap threshold
    xs.reverse()
    del xs
for _ in range(10):  # warm-up: the heap's free chunks settle (a lone 48 MiB block: from the 7th step)
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print((after - before) * resource.getpagesize() / 5 / 2**20)
"""


@pytest.mark.skipif(
    __import__("platform").libc_ver()[0] != "glibc", reason="retain_freed_memory acts on glibc only"
)
def test_retained_memory_is_not_faulted_back_in_every_step():
    import subprocess
    import sys

    def faulted_mib(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
        )
        return float(out.stdout.strip())

    default, retained = faulted_mib("off"), faulted_mib("on")
    # Retained: every block is reused in place (measured 0 MiB faulted per step). glibc's defaults
    # trim the heap and map the 528 MiB block afresh, so it faults in again every step (measured
    # 528-592 MiB); so did the earlier settings (a 32 MiB mmap threshold and a 512 MiB top pad, but
    # mapping allowed: 528 MiB), which is what M_MMAP_MAX 0 changed.
    assert retained < 2
    assert default > 256


def test_retained_memory_is_a_no_op_off_glibc(monkeypatch):
    import platform

    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("", ""))
    hardware.retain_freed_memory.cache_clear()
    try:
        applied, why = hardware.retain_freed_memory()
    finally:
        hardware.retain_freed_memory.cache_clear()
    assert not applied and "not glibc" in why


@pytest.mark.parametrize("retain", [True, False])
def test_the_trainer_retains_cpu_memory_unless_told_not_to(tmp_path, monkeypatch, caplog, retain):
    import logging

    import mmrl.train.trainer as trainer_module
    from mmrl.train import Trainer

    calls = []
    monkeypatch.setattr(trainer_module, "retain_freed_memory", lambda: calls.append(1) or (True, "kept"))
    cfg = _tiny_trainer_config(tmp_path, f"trainer.retain_cpu_memory={str(retain).lower()}")
    with caplog.at_level(logging.INFO, logger="mmrl.train.trainer"):
        Trainer(cfg).close()
    assert calls == ([1] if retain else [])
    assert ("CPU memory: kept" in caplog.text) == retain
