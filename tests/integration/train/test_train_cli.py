"""``mmrl train`` on a tiny model: the plan, the time estimate after the first step, and quiet
libraries unless ``--verbose``."""

from __future__ import annotations

import logging

import pytest

from mmrl.cli import main
from mmrl.config import save_config
from mmrl.testing import save_tiny_text_model

from .helpers import tiny_text_config


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("tiny-text"))


def _train(model, tmp_path, caplog, *flags):
    run = tmp_path / "run"
    cfg = tiny_text_config(
        model, run, "trainer.max_steps=2", "trainer.save_every=1", "trainer.save_final=false"
    )
    config = save_config(cfg, tmp_path / "c.yaml")
    with caplog.at_level(logging.DEBUG):
        assert main(["train", *flags, str(config)]) == 0
    return run, caplog.records


def test_train_logs_the_plan_and_the_time_the_rest_will_take(model, tmp_path, caplog, capfd):
    run, records = _train(model, tmp_path, caplog)
    messages = [r.getMessage() for r in records]
    plan = next(m for m in messages if m.startswith("plan: "))
    assert f"plan: grpo+a_grae on {model}" in plan
    assert "data: synthetic_arithmetic [train], 16 prompts" in plan
    assert "  2 steps\n" in plan
    assert "per step: 2 prompts x 4 samples = 8 responses of up to 6 tokens" in plan
    assert f"writes to: {run}" in plan
    assert any(m.startswith("step 1 took ") and "more for the last step at this pace" in m for m in messages)
    # quiet: no accelerate INFO lines, no tied-weights notice on save, no loading bars
    assert not [r for r in records if r.name.startswith("accelerate") and r.levelno < logging.WARNING]
    assert not any("Removed shared tensor" in m for m in messages)
    assert "Loading weights" not in capfd.readouterr().err


def test_verbose_shows_the_libraries_notices(model, tmp_path, caplog, capfd):
    _, records = _train(model, tmp_path, caplog, "--verbose")
    assert [r for r in records if r.name.startswith("accelerate") and r.levelno == logging.INFO]
    assert any("Removed shared tensor" in r.getMessage() for r in records)
    assert "Loading weights" in capfd.readouterr().err


def test_vllm_logs_warnings_only_unless_verbose(monkeypatch):
    import os

    from mmrl.commands.train import quiet_libraries

    monkeypatch.delenv("VLLM_LOGGING_LEVEL", raising=False)
    quiet_libraries(verbose=False)
    assert os.environ["VLLM_LOGGING_LEVEL"] == "WARNING"
    quiet_libraries(verbose=True)
    assert os.environ["VLLM_LOGGING_LEVEL"] == "INFO"
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "DEBUG")  # the user's choice wins when not verbose
    quiet_libraries(verbose=False)
    assert os.environ["VLLM_LOGGING_LEVEL"] == "DEBUG"
