"""A stage that never returns: warned about at half of trainer.stall_timeout_s, ended at all of it,
with the stage, the step and the pending example ids named; never a silent hang."""

from __future__ import annotations

import logging
import threading

import pytest

from mmrl.train.watchdog import StallError, Watchdog


@pytest.mark.reliability(18)
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


@pytest.mark.reliability(18)
def test_no_stage_no_alarm_and_zero_disables_it():
    dog = Watchdog(10.0)
    assert dog.check(1e9) is None
    off = Watchdog(0)
    off.start()
    with off.stage("generate"):
        assert off._stage is None and off._thread is None
    off.close()


@pytest.mark.reliability(18)
def test_many_pending_ids_are_shortened():
    dog = Watchdog(10.0)
    with dog.stage("score", [f"id{i}" for i in range(20)]):
        dog.check(dog._stage.last_progress + 10)
    assert "id0, id1" in dog.fired and "id8" not in dog.fired and "and 12 more" in dog.fired


@pytest.mark.reliability(18)
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


@pytest.mark.reliability(18)
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


# -- a rank waiting for a stalled one (17) ------------------------------------------------------


class _TwoRanks:
    """Stands for rank 1 of 2 whose peer has exited: every collective raises like gloo does."""

    num_processes, process_index, device = 2, 1, "cpu"

    def reduce(self, tensor, reduction):
        raise RuntimeError("[gloo] Connection closed by peer [127.0.0.1]:29500")

    gather = reduce


@pytest.mark.reliability(17)
def test_a_rank_stalled_in_a_collective_says_it_waits_for_the_others_in_that_op(caplog):
    from mmrl.train.watchdog import collective

    dog = Watchdog(100.0, rank=0, world_size=2)
    dog.step = 3
    dog.start()
    try:
        with caplog.at_level(logging.WARNING), dog.stage("score"), collective("the all-reduce of reward_sum"):
            assert dog.check(dog._stage.last_progress + 100) == "stall"
    finally:
        dog.close()
    assert "stage 'score' of step 3 on rank 0 has made no progress" in dog.fired
    assert "waiting for the other ranks in the all-reduce of reward_sum" in dog.fired
    assert dog.waiting is None  # cleared when the collective ends


@pytest.mark.reliability(17)
def test_a_collective_whose_peer_exited_is_an_error_naming_the_rank_and_the_op():
    from mmrl.train.stages import reduce_over_ranks
    from mmrl.train.watchdog import CollectiveError

    with pytest.raises(
        CollectiveError, match=r"rank 1: the all-reduce of reward_sum, n failed \(RuntimeError"
    ):
        reduce_over_ranks(_TwoRanks(), {"reward_sum": 1.0, "n": 2.0})
    with pytest.raises(CollectiveError, match=r"rank 1: the all-gather of passes failed"):
        reduce_over_ranks(
            type("Sums", (_TwoRanks,), {"reduce": lambda self, t, reduction: t})(),
            {"passes": 1.0},
            ("passes",),
        )
