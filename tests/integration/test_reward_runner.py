"""``RewardRunner`` with real worker processes: order, counters, policies, routing, cleanup.

The failures of ``docs/verifiers.md`` ("Why scoring runs in worker processes"), a verifier that
hangs, one that raises (``BaseException`` too), one called off the main thread, are items 1-3 of
the reliability plan: ``tests/reliability/test_rewards.py``, with the verifiers below. They are
module-level functions registered by name, so the workers receive them by reference (pickle) and
import this module.
"""

from __future__ import annotations

import os
import time

import psutil
import pytest

from mmrl.config import RewardConfig
from mmrl.errors import UserError
from mmrl.types import Example
from rewards import RewardError, RewardRunner, register_verifier, score

TIMEOUT = 0.5


def ex(task: str, answer: str = "1", choices=None, id_: str = "x") -> Example:
    return Example(id=id_, task=task, prompt="?", answer=answer, choices=choices)


class CustomAbort(BaseException):
    """Like Math-Verify's TimeoutException, which subclasses BaseException."""


@register_verifier("test_runner_sleep_forever")
def sleep_forever(response, example):
    if response == "hang":
        while True:
            time.sleep(60)
    return 1.0


@register_verifier("test_runner_raise")
def raise_on_request(response, example):
    if response == "value":
        raise ValueError("verifier bug")
    if response == "base":
        raise CustomAbort("verifier gave up")
    if response == "exit":
        raise SystemExit(3)
    if response == "die":
        os._exit(7)
    if response == "none":
        return None
    return 1.0


@register_verifier("test_runner_pid")
def report_pid(response, example):
    return float(os.getpid() % 1000)


def cfg(**overrides) -> RewardConfig:
    base = {"timeout_s": TIMEOUT, "num_workers": 2, "max_error_rate": 1.0}
    base.update(overrides)
    return RewardConfig(**base)


@pytest.fixture(scope="module")
def shared():
    """One runner (default test config) for the tests that do not need their own."""
    with RewardRunner(cfg()) as runner:
        yield runner


def gone(pids) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [
            p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        if not alive:
            return True
        time.sleep(0.05)
    return False


MIXED = [
    ("<think>t</think>\\boxed{\\frac{1}{2}}", ex("math", "0.5")),
    ("\\boxed{8√3}", ex("geometry", "8\\sqrt{3}")),
    ("(B)", ex("choice", "B", ("1", "2"))),
    ("45%", ex("chart", "45")),
    ("\\boxed{3} or \\boxed{5}", ex("math", "5")),
    ("\\boxed{4.47}", ex("math", "2\\sqrt5")),
    ("", ex("math", "")),
    ("\\boxed{(x+1)^2}", ex("math", "x^2+2x+1")),
]


def test_order_counters_and_equality_with_in_process_scores(shared):
    responses = [r for r, _ in MIXED] * 25
    examples = [e for _, e in MIXED] * 25
    truncated = [i % 7 == 0 for i in range(len(responses))]
    expected = [score(r, e, truncated=t) for r, e, t in zip(responses, examples, truncated, strict=True)]
    result = shared.score(responses, examples, truncated)
    assert result.scores == expected
    counters = result.counters
    assert counters["total"] == len(responses)
    assert sum(counters[s] for s in ("ok", "unparsable_pred", "unparsable_gold", "timeout", "error")) == len(
        responses
    )
    assert counters["unparsable_gold"] == sum(s.status == "unparsable_gold" for s in expected) > 0
    assert counters["correct"] == sum(s.correct is True for s in expected)
    assert counters["timeout"] == counters["error"] == counters["workers_restarted"] == 0


def test_policy_zero_scores_failures_as_wrong_answers():
    with RewardRunner(cfg(on_failure="zero")) as runner:
        result = runner.score(
            ["fine", "value", "hang"], [ex("test_runner_raise")] * 2 + [ex("test_runner_sleep_forever")]
        )
    zeroed = result.scores[1]
    assert (zeroed.reward, zeroed.correct, zeroed.status) == (0.0, False, "error")
    assert zeroed.message.startswith("ValueError") and "on_failure=zero" in zeroed.message
    assert (result.scores[2].reward, result.scores[2].status) == (0.0, "timeout")
    assert result.counters["error"] == 1 and result.counters["timeout"] == 1  # the real statuses are counted


def test_policy_raise():
    with (
        RewardRunner(cfg(on_failure="raise")) as runner,
        pytest.raises(RewardError, match="on_failure=raise"),
    ):
        runner.score(["fine", "value", "fine"], [ex("test_runner_raise")] * 3)


def test_no_workers_scores_builtins_in_process_and_customs_under_a_timeout():
    with RewardRunner(cfg(num_workers=0)) as runner:
        assert runner.worker_pids == []
        result = runner.score([r for r, _ in MIXED], [e for _, e in MIXED])
        assert result.scores == [score(r, e) for r, e in MIXED]
        assert runner.worker_pids == []  # built-ins ran here
        hung = runner.score(["hang", "ok"], [ex("test_runner_sleep_forever")] * 2)
        assert [s.status for s in hung.scores] == ["timeout", "ok"]


def test_file_spec_and_config_verifier_reach_the_workers(tmp_path):
    path = tmp_path / "checks.py"
    path.write_text(
        "import os\ndef pid_parity(response, example):\n    return float(response == example.answer)\n"
    )
    with RewardRunner(cfg(verifier=f"{path}:pid_parity", format_weight=0.0, accuracy_weight=1.0)) as runner:
        result = runner.score(["a", "b"], [ex("math", "a"), ex("chart", "a")])
    assert [s.reward for s in result.scores] == [1.0, 0.0]


def test_work_is_spread_over_the_workers(shared):
    shared.wait_until_ready()
    result = shared.score(["x"] * 200, [ex("test_runner_pid")] * 200)
    rewards = {s.components["accuracy"] for s in result.scores}
    assert rewards == {float(p % 1000) for p in shared.worker_pids}


def test_a_verifier_the_workers_cannot_import_scores_here_under_the_timeout(shared, caplog):
    # A lambda (or a function of __main__ or a notebook) would fail in a worker with "Can't get
    # attribute": it runs in this process instead, each call bounded by the timeout.
    register_verifier("test_runner_lambda")(lambda response, example: 1.0 if response == "x" else _hang())
    with caplog.at_level("WARNING", logger="rewards.runner"):
        result = shared.score(["x", "hang", "x"], [ex("test_runner_lambda")] * 3)
    assert [s.status for s in result.scores] == ["ok", "timeout", "ok"]
    assert result.scores[0].reward == 1.0
    assert "runs in this process" in caplog.text and "path/to/file.py" in caplog.text


def _hang():
    time.sleep(TIMEOUT * 20)


def test_mismatched_lengths_and_unknown_names_fail_before_work():
    with RewardRunner(cfg()) as runner:
        with pytest.raises(ValueError, match="as many examples"):
            runner.score(["a", "b"], [ex("math")])
        with pytest.raises(UserError, match="did you mean 'chart'"):
            runner.score(["a"], [ex("chrat")])
    with pytest.raises(RuntimeError, match="after close"):
        runner.score(["a"], [ex("math")])


def test_importing_a_slow_verifier_module_is_not_timed_as_scoring(tmp_path):
    # The timeout bounds scoring; a module that takes longer than timeout_s to import is not a hang.
    path = tmp_path / "slow_import.py"
    path.write_text(
        f"import time\ntime.sleep({TIMEOUT * 2})\ndef check(response, example):\n    return 1.0\n"
    )
    with RewardRunner(cfg(verifier=f"{path}:check")) as runner:
        runner.wait_until_ready()
        result = runner.score(["a", "b", "c"], [ex("math")] * 3)
    assert [s.status for s in result.scores] == ["ok"] * 3


def test_bench_script_smoke(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "bench_verifiers.py"
    spec = importlib.util.spec_from_file_location("bench_verifiers", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    assert bench.main(["--n", "96", "--batch", "32", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["runner"]["counters"]["total"] == 96 and report["runner"]["counters"]["error"] == 0
    assert report["runner"]["scores_per_s"] > 0 and report["ratio_runner_to_mathruler"] > 0
    agreement = report["agreement"]["checkers"]
    assert (
        agreement["mmrl"]["false_positives"] == 0
        and agreement["mmrl"]["agree"] == report["agreement"]["cases"]
    )
    assert agreement["mathruler"]["false_positives"] > 0  # its known false positives, in the table
    assert bench.main(["--n", "32", "--batch", "16", "--quick", "--verifier", "mathruler"]) == 0


def test_a_worker_killed_between_batches_is_replaced(shared):
    shared.wait_until_ready()
    victim = shared.worker_pids[0]
    os.kill(victim, 9)
    assert gone([victim])
    # The leader shows as a zombie while its other thread still exits; a chunk sent in that instant
    # is lost with the worker (and charged as an error). Let the exit finish.
    time.sleep(0.3)
    result = shared.score(["x"] * 20, [ex("math", "1")] * 20)
    assert [s.status for s in result.scores] == ["ok"] * 20, [s.message for s in result.scores]
    assert victim not in shared.worker_pids and len(shared.worker_pids) == 2


def test_workers_that_cannot_start_fail_loudly(monkeypatch):
    import rewards.runner as runner_module

    monkeypatch.setattr(runner_module, "_BOOT", "import sys; sys.exit(3)")
    with RewardRunner(cfg()) as runner, pytest.raises(RewardError, match="died while starting"):
        runner.score(["x"], [ex("math", "1")])  # an error, not a hang


def test_score_truncated_scores_a_cut_off_response_like_any_other():
    import dataclasses

    from mmrl.config import RewardConfig
    from mmrl.types import Example

    example = Example("t", "math", "What is 2 + 2?", "4")
    for flag, reward in ((False, 0.0), (True, 1.0)):
        cfg = dataclasses.replace(
            RewardConfig(), num_workers=0, format_weight=0.0, accuracy_weight=1.0, score_truncated=flag
        )
        with RewardRunner(cfg) as runner:
            (score,) = runner.score(["The answer is \\boxed{4}"], [example], [True]).scores
        assert score.reward == reward, (flag, score)


# --- reward functions (reward.functions) in the workers -------------------------------------------


def test_batched_reward_functions_run_in_the_workers_and_hangs_are_killed(tmp_path):
    path = tmp_path / "batch_rewards.py"
    path.write_text(
        "import os, time\n"
        "def pid(completions, **kwargs):\n"
        "    if 'hang' in completions:\n"
        "        time.sleep(60)\n"
        "    return [float(os.getpid())] * len(completions)\n"
    )
    functions = [{"fn": f"{path}:pid", "weight": 1.0}]
    with RewardRunner(cfg(num_workers=1), functions) as runner:
        runner.wait_until_ready()
        result = runner.score(["a", "b"], [ex("math")] * 2)
        assert [s.reward for s in result.scores] == [float(runner.worker_pids[0])] * 2
        start = time.monotonic()
        hung = runner.score(["hang", "b"], [ex("math")] * 2)
        assert (
            time.monotonic() - start < 2 * TIMEOUT + 10.0
        )  # timeout_s per response of the batch, then killed
        assert [s.status for s in hung.scores] == ["timeout", "timeout"]
        after = runner.score(["a"], [ex("math")])  # a fresh worker scores the next batch
    assert after.scores[0].status == "ok" and after.scores[0].reward != result.scores[0].reward


def test_a_verifier_defined_in_the_script_being_run_scores_without_cant_get_attribute(tmp_path):
    # A function of __main__ cannot be imported by a worker ("Can't get attribute"): it runs here.
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "from mmrl.config import RewardConfig\n"
        "from mmrl.types import Example\n"
        "from rewards import RewardRunner, register_verifier\n"
        "@register_verifier('my_exact')\n"
        "def my_exact(response, example):\n"
        "    return float(response == example.answer)\n"
        "def length_reward(completions, **kwargs):\n"
        "    return [len(c) / 10 for c in completions]\n"
        "if __name__ == '__main__':\n"
        "    exs = [Example(id='1', task='my_exact', prompt='?', answer='1')] * 2\n"
        "    with RewardRunner(RewardConfig(num_workers=1, timeout_s=5)) as r:\n"
        "        print([s.reward for s in r.score(['1', '22'], exs).scores])\n"
        "    with RewardRunner(RewardConfig(num_workers=1, timeout_s=5), ['my_exact', length_reward]) as r:\n"
        "        print([s.reward for s in r.score(['1', '22'], exs).scores])\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[1.0, 0.0]", "[1.1, 0.2]"]
    assert "runs in this process" in done.stderr
