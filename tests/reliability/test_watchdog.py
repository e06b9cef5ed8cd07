"""A stage that never returns: warned about at half of trainer.stall_timeout_s, ended at all of it,
with the stage, the step and the pending example ids named; never a silent hang."""

from __future__ import annotations

import logging
import threading

import pytest

from mmrl.train.watchdog import StallError, Watchdog


def test_a_stage_without_progress_warns_at_half_the_timeout_then_stalls(caplog):
    dog = Watchdog(100.0, rank=1)
    dog.step = 7
    with caplog.at_level(logging.WARNING, logger="mmrl.train.watchdog"), dog.stage("generate", ["q1", "q2"]):
        start = dog._stage.last_progress
        assert dog.check(start + 49) is None
        assert dog.check(start + 50) == "warn"
        assert dog.check(start + 60) is None  # warned once
        dog.beat()
        assert dog.check(dog._stage.last_progress + 99) is None  # progress restarts the clock
        assert dog.check(dog._stage.last_progress + 100) == "stall"
    warning, error = caplog.records
    assert warning.levelno == logging.WARNING and error.levelno == logging.ERROR
    assert "stage 'generate' of step 7 on rank 1 has made no progress for 50 s" in warning.getMessage()
    assert "pending examples: q1, q2" in warning.getMessage()
    assert "trainer.stall_timeout_s=100 reached" in dog.fired and "q1, q2" in dog.fired


def test_no_stage_no_alarm_and_zero_disables_it():
    dog = Watchdog(10.0)
    assert dog.check(1e9) is None
    off = Watchdog(0)
    off.start()
    with off.stage("generate"):
        assert off._stage is None and off._thread is None
    off.close()


def test_many_pending_ids_are_shortened():
    dog = Watchdog(10.0)
    with dog.stage("score", [f"id{i}" for i in range(20)]):
        dog.check(dog._stage.last_progress + 10)
    assert "id0, id1" in dog.fired and "id8" not in dog.fired and "and 12 more" in dog.fired


def test_a_blocked_stage_is_interrupted_with_a_stall_error(caplog):
    dog = Watchdog(0.6, grace_s=30)
    dog.start()
    try:
        with (
            caplog.at_level(logging.WARNING, logger="mmrl.train.watchdog"),
            pytest.raises(StallError, match=r"stage 'sync' of step 0"),
            dog.stage("sync"),
        ):
            threading.Event().wait()  # never set: only the watchdog ends this
    finally:
        dog.close()
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.ERROR]


def test_a_generate_that_never_returns_ends_the_run_with_an_error_naming_it(
    tmp_path, caplog, monkeypatch, capsys
):
    from mmrl.cli import main
    from mmrl.config import save_config
    from mmrl.rollout.hf_engine import HFEngine
    from mmrl.testing import save_tiny_text_model
    from tests.integration.train.helpers import tiny_text_config

    monkeypatch.setattr(HFEngine, "generate", lambda self, examples, n, sampling: threading.Event().wait())
    model_dir = save_tiny_text_model(tmp_path / "model")
    cfg = tiny_text_config(model_dir, tmp_path / "run", "trainer.stall_timeout_s=1")
    config = save_config(cfg, tmp_path / "config.yaml")
    with caplog.at_level(logging.WARNING, logger="mmrl.train.watchdog"):
        assert main(["train", str(config)]) == 1
    err = capsys.readouterr().err
    assert "stage 'generate' of step 1 has made no progress" in err
    assert (
        "pending examples: synthetic_arithmetic/train/" in err and "trainer.stall_timeout_s=1 reached" in err
    )
    assert "no progress" in caplog.records[0].getMessage() and caplog.records[0].levelno == logging.WARNING
