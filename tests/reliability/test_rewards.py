"""Verifiers that hang, raise or run off the main thread: the step still ends, with every failure
counted and nothing trained on a reward that was never computed.

The runner tests use real worker processes and the verifiers registered by
``tests/integration/test_reward_runner.py`` (``test_runner_sleep_forever`` hangs on ``"hang"``,
``test_runner_raise`` raises on ``"value"``, ``"base"``, ``"exit"`` and kills its worker on ``"die"``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from mmrl.config import RewardConfig, load_config
from mmrl.types import Example, Score
from rewards import RewardError, RewardRunner, register_verifier, score
from tests.integration.test_reward_runner import MIXED, CustomAbort, cfg, ex, gone

ROOT = Path(__file__).resolve().parents[2]


class TimingOutRunner:
    """Every response times out (reward None), as a hung verifier killed at reward.timeout_s."""

    def score(self, responses, examples, truncated, lengths=None):
        from rewards import RunnerResult

        scores = [Score(None, status="timeout") for _ in responses]
        return RunnerResult(scores, {"total": len(scores), "timeout": len(scores)})


class HalfScoredRunner:
    def score(self, responses, examples, truncated, lengths=None):
        from rewards import RunnerResult

        scores = [Score(None, status="timeout") if i % 2 else Score(1.0, True) for i in range(len(responses))]
        return RunnerResult(scores, {"total": len(scores)})


def always_gives_up(response, example):
    """Raises a ``BaseException`` subclass on every response, as Math-Verify's timeout does."""
    raise CustomAbort("the verifier gave up")


@register_verifier("test_reliability_own_event_loop")
def own_event_loop(response, example):
    """A verifier that awaits something (an async judge client): it runs an event loop of its own."""

    async def judge():
        await asyncio.sleep(0)
        return float(response.strip() == example.answer)

    return asyncio.run(judge())


@register_verifier("test_reliability_mark_then_hang")
def mark_then_hang(response, example):
    """Leaves a file named after its process in ``example.meta["dir"]``, then never returns."""
    (Path(example.meta["dir"]) / str(os.getpid())).touch()
    while True:
        time.sleep(60)


@pytest.fixture(scope="module")
def shared():
    """One runner (two workers, 0.5 s timeout) for the tests that do not need their own."""
    with RewardRunner(cfg()) as runner:
        yield runner


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _collect(runner):
    # Imported here: the scoring workers import this module for its verifiers, and need no model.
    from mmrl.algos import resolve_algorithm
    from mmrl.policy import TextPolicy
    from mmrl.rollout import HFEngine, Sampling
    from mmrl.testing import tiny_text_model
    from mmrl.train.stages import StepContext, collect_batch
    from mmrl.train.trainer import _accelerator

    cfg = load_config(None, ["rollout.max_new_tokens=4"])
    settings = resolve_algorithm(cfg.algorithm, cfg.rollout)
    model, tok = tiny_text_model(0)
    policy = TextPolicy(model, tok)
    ctx = StepContext(policy, HFEngine(policy), runner, settings, _accelerator("no"))
    examples = [Example(f"q{i}", "math", f"What is {i} plus {i}?", str(2 * i)) for i in range(2)]
    return collect_batch(ctx, lambda: examples, 2, lambda r: Sampling(max_new_tokens=4, seed=r))


# --- 1: a verifier that hangs -----------------------------------------------------------------


@pytest.mark.reliability(1)
def test_a_hang_costs_one_timeout_and_leaves_no_process():
    before = children()
    runner = RewardRunner(cfg())
    runner.wait_until_ready()
    first_pids = set(runner.worker_pids)
    responses = ["ok"] * 10 + ["hang"] + ["ok"] * 10
    result = runner.score(responses, [ex("test_runner_sleep_forever")] * len(responses))
    statuses = [s.status for s in result.scores]
    assert statuses[10] == "timeout" and result.scores[10].reward is None
    assert statuses.count("ok") == 20
    assert result.counters["timeout"] == 1 and result.counters["workers_restarted"] == 1
    killed = first_pids - set(runner.worker_pids)
    assert len(killed) == 1 and gone(killed)  # the hung worker was killed ...
    assert len(runner.worker_pids) == 2  # ... and replaced: the pool is back to full size
    again = runner.score(["ok"] * 4, [ex("test_runner_sleep_forever")] * 4)
    assert [s.status for s in again.scores] == ["ok"] * 4
    pids = runner.worker_pids
    runner.close()
    assert gone(pids)
    assert children() <= before


@pytest.mark.reliability(1)
def test_every_response_hanging_costs_one_timeout_per_worker(shared):
    shared.score(["ok"] * 4, [ex("test_runner_sleep_forever")] * 4)  # both workers have loaded the verifier
    shared.wait_until_ready()
    result = shared.score(["hang", "hang"], [ex("test_runner_sleep_forever")] * 2)
    assert [s.status for s in result.scores] == ["timeout", "timeout"]
    # each worker held one hang and was replaced once: the two timeouts ran side by side
    assert result.counters["timeout"] == 2 and result.counters["workers_restarted"] == 2


@pytest.mark.reliability(1)
@pytest.mark.reliability(2)
def test_too_many_failures_stop_the_batch_early_and_loudly():
    # A verifier that hangs on everything: the two workers time out together, 2 of 12 failures
    # already exceed max_error_rate=0.1, so the batch stops after one timeout instead of six.
    with RewardRunner(cfg(max_error_rate=0.1)) as runner:
        runner.wait_until_ready()
        with pytest.raises(RewardError) as info:
            runner.score(["hang"] * 12, [ex("test_runner_sleep_forever", id_="ex-7")] * 12)
        # stopped at the first round of timeouts (one per worker), not after all twelve
        failed = int(re.search(r"(\d+) of 12 responses could not be scored", str(info.value)).group(1))
        assert failed <= 2, str(info.value)
        assert (
            "max_error_rate=0.1" in str(info.value)
            and "timeout" in str(info.value)
            and "'ex-7'" in str(info.value)
        )
        # The runner is still usable afterwards.
        assert runner.score(["ok"], [ex("test_runner_sleep_forever")]).scores[0].status == "ok"


@pytest.mark.reliability(1)
def test_a_runner_dropped_without_close_leaves_no_process():
    runner = RewardRunner(cfg())
    runner.wait_until_ready()
    pids = runner.worker_pids
    assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
    del runner
    gc.collect()
    assert gone(pids)


@pytest.mark.reliability(1)
def test_workers_hung_in_a_verifier_exit_when_their_trainer_is_killed(tmp_path):
    # kill -9 of the training process runs no cleanup, and a worker inside a hung verifier reads
    # nothing from its socket: each one must see its parent gone and exit on its own.
    script = tmp_path / "killed.py"
    script.write_text(
        "import json, os, signal, sys, threading, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from mmrl.config import RewardConfig\n"
        "from mmrl.types import Example\n"
        "from rewards import RewardRunner\n"
        "import tests.reliability.test_rewards\n"
        "runner = RewardRunner(RewardConfig(num_workers=2, timeout_s=120))\n"
        "runner.wait_until_ready()\n"
        f"example = Example('x', 'test_reliability_mark_then_hang', '?', '1', meta={{'dir': {str(tmp_path)!r}}})\n"
        "threading.Thread(target=runner.score, args=(['a', 'b'], [example] * 2), daemon=True).start()\n"
        "deadline = time.monotonic() + 60\n"
        "while len([p for p in os.listdir(sys.argv[1]) if p.isdigit()]) < 2 and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(json.dumps(runner.worker_pids), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -9, done.stderr
    pids = json.loads(done.stdout)
    assert sorted(pids) == sorted(int(p.name) for p in tmp_path.iterdir() if p.name.isdigit())  # both hung
    assert gone(pids)


# --- 2: a verifier that raises ----------------------------------------------------------------


@pytest.mark.reliability(2)
@pytest.mark.parametrize(
    "kind,needle", [("value", "ValueError"), ("base", "CustomAbort"), ("exit", "SystemExit")]
)
def test_raising_verifiers_are_counted_not_fatal(shared, kind, needle):
    responses = ["fine", kind, "fine", "none"]
    result = shared.score(responses, [ex("test_runner_raise")] * 4)
    assert [s.status for s in result.scores] == ["ok", "error", "ok", "unparsable_gold"]
    assert needle in result.scores[1].message and result.scores[1].reward is None
    assert result.counters["error"] == 1 and result.counters["unparsable_gold"] == 1


@pytest.mark.reliability(2)
def test_a_worker_that_dies_is_an_error_and_is_replaced(shared):
    result = shared.score(["fine", "die", "fine", "fine"], [ex("test_runner_raise")] * 4)
    assert [s.status for s in result.scores] == ["ok", "error", "ok", "ok"]
    assert "exit code 7" in result.scores[1].message
    assert result.counters["workers_restarted"] == 1 and len(shared.worker_pids) == 2


@pytest.mark.reliability(2)
def test_error_rate_above_threshold_raises_with_the_first_traceback():
    with RewardRunner(cfg(max_error_rate=0.2)) as runner, pytest.raises(RewardError) as info:
        runner.score(["value"] * 5, [ex("test_runner_raise", id_="row-3")] * 5)
    message = str(info.value)
    assert "Traceback" in message and "ValueError: verifier bug" in message and "'row-3'" in message


@pytest.mark.reliability(2)
def test_a_base_exception_from_a_verifier_run_in_this_process_is_an_error_not_a_zero():
    # A local function cannot be sent to a worker: it runs here, in a helper thread.
    def gives_up(response, example):
        if response == "base":
            raise CustomAbort("gave up")
        return 1.0

    with RewardRunner(cfg(num_workers=0, max_error_rate=1.0), [gives_up]) as runner:
        result = runner.score(["fine", "base"], [ex("math")] * 2)
    assert [s.status for s in result.scores] == ["ok", "error"]
    assert result.scores[1].reward is None and "CustomAbort: gave up" in result.scores[1].message
    assert result.counters["error"] == 1


@pytest.mark.reliability(2)
def test_a_step_whose_verifier_raises_on_every_response_fails_loudly():
    # CustomAbort is a BaseException: the step must still end in a RewardError, never zeros.
    spec = "tests.reliability.test_rewards:always_gives_up"
    expected = r"max_error_rate=0.2 of the batch.*CustomAbort: the verifier gave up"
    with (
        RewardRunner(RewardConfig(verifier=spec, num_workers=1)) as runner,
        pytest.raises(RewardError, match=expected),
    ):
        _collect(runner)


@pytest.mark.reliability(2)
def test_a_step_where_no_sample_could_be_scored_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="mmrl.train.stages"):
        batch = _collect(TimingOutRunner())
    assert batch.metrics["reward/unscorable_frac"] == 1.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "none of the 4 responses of this step could be scored (timeouts 4" in warnings[0]
    assert "reward.verifier" in warnings[0]


@pytest.mark.reliability(2)
def test_a_step_with_some_scored_samples_does_not_warn(caplog):
    with caplog.at_level(logging.WARNING, logger="mmrl.train.stages"):
        batch = _collect(HalfScoredRunner())
    assert batch.metrics["reward/unscorable_frac"] == pytest.approx(0.5)
    assert not [r for r in caplog.records if "could be scored" in r.getMessage()]


# --- 3: off the main thread, inside an event loop ---------------------------------------------


@pytest.mark.reliability(3)
def test_scores_from_a_thread_equal_the_main_thread(shared):
    responses = [r for r, _ in MIXED]
    examples = [e for _, e in MIXED]
    main = shared.score(responses, examples).scores
    box = []
    thread = threading.Thread(target=lambda: box.append(shared.score(responses, examples).scores))
    thread.start()
    thread.join(30)
    assert box == [main]
    # A runner created and used entirely inside a thread works the same.
    box.clear()

    def own_runner():
        with RewardRunner(cfg()) as inner:
            box.append(inner.score(responses, examples).scores)

    thread = threading.Thread(target=own_runner)
    thread.start()
    thread.join(30)
    assert box == [main]


def _run_loop(coroutine_fn):
    """``asyncio.run`` in a thread of its own: another test (Playwright's sync API) may have left a
    loop running in this one."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine_fn())).result()


@pytest.mark.reliability(3)
def test_scores_inside_an_event_loop_equal_the_main_thread(shared):
    responses = [r for r, _ in MIXED]
    examples = [e for _, e in MIXED]
    main = shared.score(responses, examples).scores
    in_process = [score(r, e) for r, e in MIXED]

    async def from_a_coroutine():
        blocking = shared.score(responses, examples).scores  # called straight from the loop's thread
        offloaded = await asyncio.to_thread(shared.score, responses, examples)
        here = [score(r, e) for r, e in MIXED]
        return blocking, offloaded.scores, here

    blocking, offloaded, here = _run_loop(from_a_coroutine)
    assert blocking == offloaded == main
    assert here == in_process == main


@pytest.mark.reliability(3)
def test_a_verifier_with_its_own_event_loop_scores_when_called_from_inside_one(shared):
    # In the caller's thread its asyncio.run would fail ("cannot be called from a running event
    # loop"); the runner calls it in a worker's main thread.
    examples = [ex("test_reliability_own_event_loop", "4")] * 2

    async def from_a_coroutine():
        return shared.score(["4", "5"], examples)

    result = _run_loop(from_a_coroutine)
    assert [s.status for s in result.scores] == ["ok", "ok"]
    assert [s.reward for s in result.scores] == [1.0, 0.0]
