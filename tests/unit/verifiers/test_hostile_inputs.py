"""Hostile inputs return quickly *in this process*, for every built-in verifier.

The paths without a worker's hard timeout: ``rewards.score`` called directly, the runner with
``reward.num_workers=0``, and ``check_gold`` on a hostile gold at dataset load. Each call runs in
a forked child killed after 20 s (``killable.call_with_deadline``), so a regression fails one test
instead of hanging the suite; every probe must score wrong (accuracy 0) or, as a gold, be refused.
"""

from __future__ import annotations

import pytest

from mmrl.config import RewardConfig
from rewards import RewardRunner, check_gold, score
from tests.unit.verifiers.conftest import make_example
from tests.unit.verifiers.killable import call_with_deadline

HOSTILE = {
    "huge exponent 1e999999999": "1e999999999",
    "huge exponent 1e9999999": "1e9999999",
    "power tower": "9^{9^{9^{9}}}",
    "power tower of twos": "2^{2^{2^{2^{2^{2}}}}}",
    "python power tower": "9**9**9**9",
    "huge factorial": "100000000!",
    "nested factorial": "((20)!)!",
    "factorial of a factorial": "(2000!)!",
    "repeated decimal": "0." + "3" * 390,
    "long integer": "9" * 399,
    "deep parentheses": "(" * 400 + "5" + ")" * 400,
    "deep fractions": "\\frac{1}{" * 100 + "2" + "}" * 100,
    "huge cancellation": "10^{100000}+1-10^{100000}",
    "sine of a giant": "\\sin(10^{90000})",
    "binomial of giants": "\\binom{10^{9}}{10^{8}}",
}
RESPONSES = {name: f"<think>t</think> \\boxed{{{text}}}" for name, text in HOSTILE.items()}
RESPONSES["200k characters, many boxes"] = "<think>t</think>" + "\\boxed{7}</think>" * 12_000
RESPONSES["200k characters of one box"] = "\\boxed{" + "1+" * 100_000 + "1}"
RESPONSES["200k characters of think tags"] = "<think>" + "</think>\\boxed{" * 14_000
RESPONSES["200k characters of anchors"] = "Final Answer: " * 15_000

# Non-integer golds: mathruler only reaches sympy when the gold is not an integer.
EXAMPLES = {
    "math": make_example("math", "2\\sqrt{3}"),
    "geometry": make_example("geometry", "2\\sqrt{3}", choices=("2\\sqrt{3}", "4", "6", "8")),
    "choice": make_example("choice", "A", choices=("2\\sqrt{3}", "4", "6", "8")),
    "chart": make_example("chart", "3.5"),
    "chart_official": make_example("chart_official", "3.5"),
    "mathruler": make_example("geometry", "2\\sqrt{3}"),
    "format": make_example("format", "1"),
}


def _score(response, task):
    result = score(response, EXAMPLES[task], verifier=task)
    return result.reward, result.correct, result.components.get("accuracy"), result.status


@pytest.mark.parametrize("task", sorted(EXAMPLES))
@pytest.mark.parametrize("probe", sorted(RESPONSES))
def test_hostile_response_scores_wrong_in_time(task, probe):
    reward, correct, accuracy, status = call_with_deadline(_score, RESPONSES[probe], task)
    if task == "format":
        assert reward is not None, status  # the format check has no accuracy to fail
        return
    assert accuracy == 0.0 and correct is False, (probe, task, status)


def _runner_in_process(responses, task):
    with RewardRunner(RewardConfig(num_workers=0, timeout_s=5.0)) as runner:
        result = runner.score(responses, [EXAMPLES[task]] * len(responses))
    return [s.components.get("accuracy") for s in result.scores], result.counters


@pytest.mark.parametrize("task", ["math", "geometry", "choice", "chart"])
def test_hostile_batch_through_the_in_process_runner(task):
    accuracies, counters = call_with_deadline(_runner_in_process, list(RESPONSES.values()), task)
    assert accuracies == [0.0] * len(RESPONSES), counters
    assert counters["workers_restarted"] == 0


def _check(gold, task):
    return check_gold(make_example(task, gold, choices=EXAMPLES[task].choices))


@pytest.mark.parametrize("task", ["math", "geometry", "mathruler"])
@pytest.mark.parametrize("probe", sorted(HOSTILE))
def test_hostile_gold_is_refused_in_time(task, probe):
    example_task = "geometry" if task == "mathruler" else task
    reason = call_with_deadline(_check_with, HOSTILE[probe], example_task, task)
    if reason is None:
        # A huge but well-defined value may be a readable gold; it must then verify against itself.
        assert probe in ("repeated decimal", "long integer", "deep fractions", "deep parentheses"), (
            probe,
            task,
        )


def _check_with(gold, example_task, verifier):
    return check_gold(make_example(example_task, gold), verifier=verifier)
