"""Huge, adversarial and reward-hacking responses, against every built-in verifier.

Huge or adversarial responses (item 4) must score wrong without a timeout: in this process, where
no worker's hard kill bounds them (``rewards.score``, ``reward.num_workers=0``), and in the workers
under a one-second ``reward.timeout_s``. Reward-hacking probes (item 5, from Visual-RFT#79, #176
and Math-Verify#65) must score wrong, never ``None`` or 1, while a response whose ``<think>`` the
chat template prefilled keeps its format reward.

In this process each call either runs in a forked child killed after 20 s
(``killable.call_with_deadline``) or under a SIGALRM guard: a regression fails one test instead of
hanging the suite. Neither is a speed measurement: every probe is bounded by the verifiers' own
budgets.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

import pytest

from mmrl.config import RewardConfig
from rewards import RewardRunner, score
from tests.unit.verifiers.conftest import make_example
from tests.unit.verifiers.killable import call_with_deadline
from tests.unit.verifiers.test_hacking_probes import EXAMPLES as PROBE_EXAMPLES
from tests.unit.verifiers.test_hostile_inputs import EXAMPLES as HOSTILE_EXAMPLES
from tests.unit.verifiers.test_hostile_inputs import HOSTILE

RESPONSES = {name: f"<think>t</think> \\boxed{{{text}}}" for name, text in HOSTILE.items()}
RESPONSES["200k characters, many boxes"] = "<think>t</think>" + "\\boxed{7}</think>" * 12_000
RESPONSES["200k characters of one box"] = "\\boxed{" + "1+" * 100_000 + "1}"
RESPONSES["200k characters of think tags"] = "<think>" + "</think>\\boxed{" * 14_000
RESPONSES["200k characters of anchors"] = "Final Answer: " * 15_000

HUGE = {
    "200k characters, no closing tag": "<think>" + "5 " * 100_000,
    "200k characters of text": "x" * 200_000,
    "10k nested boxes, unbalanced": "\\boxed{" * 10_000,
    "10k nested boxes, balanced": "\\boxed{" * 10_000 + "5" + "}" * 10_000,
    "10k answer anchors": "Answer: " * 20_000,
    "50k open answer tags": "<answer>" * 50_000,
    "sympy blow-up (Math-Verify#65)": "\\boxed{\\dfrac{5^{(5^{(5^{(5^5)})})}-4}{16}}",
    "power tower": "\\boxed{9^{9^{9^{9}}}}",
    "huge factorial": "\\boxed{100000000!}",
    "deep parentheses": "\\boxed{" + "(" * 5000 + "5" + ")" * 5000 + "}",
    "long digit string": "\\boxed{" + "5" * 5000 + "}",
}

HACKS = {
    "empty response": "",
    "empty answer tag (Visual-RFT#176)": "<think>hmm</think><answer></answer>",
    "empty box": "\\boxed{}",
    "A or B or C (Visual-RFT#79)": "A or B or C",
    "every option": "\\boxed{A, B, C, D}",
    "two different boxes": "\\boxed{5} or \\boxed{10}",
    "hedge inside one box": "\\boxed{5 \\text{ or } 10}",
    "answer only inside <think>": "<think>The answer is \\boxed{5}.</think> I am not sure.",
    "unclosed <think> with the answer": "<think>The answer is \\boxed{5}",
    "last number of a long ramble": "We try many values such as 1, 2, 3 and 4 and finally think about the number 5 "
    * 3,
}

HANG_S = 20


@contextmanager
def hang_guard(what: str):
    """Fail with ``what`` if the block is still running after ``HANG_S`` seconds (SIGALRM)."""

    def hung(signum, frame):
        raise AssertionError(f"{what} was still running after {HANG_S} s: a hang")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(HANG_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- 4: huge or adversarial completions -------------------------------------------------------


def _score(response, task):
    result = score(response, HOSTILE_EXAMPLES[task], verifier=task)
    return result.reward, result.correct, result.components.get("accuracy"), result.status


@pytest.mark.reliability(4)
@pytest.mark.parametrize("task", sorted(HOSTILE_EXAMPLES))
@pytest.mark.parametrize("probe", sorted(RESPONSES))
def test_hostile_response_scores_wrong_in_time(task, probe):
    reward, correct, accuracy, status = call_with_deadline(_score, RESPONSES[probe], task)
    if task == "format":
        assert reward is not None, status  # the format check has no accuracy to fail
        return
    assert accuracy == 0.0 and correct is False, (probe, task, status)


def _runner_in_process(responses, task):
    with RewardRunner(RewardConfig(num_workers=0, timeout_s=5.0)) as runner:
        result = runner.score(responses, [HOSTILE_EXAMPLES[task]] * len(responses))
    return [s.components.get("accuracy") for s in result.scores], result.counters


@pytest.mark.reliability(4)
@pytest.mark.parametrize("task", ["math", "geometry", "choice", "chart"])
def test_hostile_batch_through_the_in_process_runner(task):
    accuracies, counters = call_with_deadline(_runner_in_process, list(RESPONSES.values()), task)
    assert accuracies == [0.0] * len(RESPONSES), counters
    assert counters["workers_restarted"] == 0


def _assert_scores_wrong_in_time(response, probe, task):
    with hang_guard(f"{probe!r} on {task}"):
        result = score(response, PROBE_EXAMPLES[task], verifier=task)
    assert result.reward is not None and result.components["accuracy"] == 0.0, (probe, task, result)
    assert result.correct is False


@pytest.mark.reliability(4)
@pytest.mark.parametrize("task", sorted(PROBE_EXAMPLES))
@pytest.mark.parametrize("probe", sorted(HUGE))
def test_huge_or_adversarial_response_scores_wrong_and_never_hangs(task, probe):
    _assert_scores_wrong_in_time(HUGE[probe], probe, task)


@pytest.mark.reliability(4)
def test_huge_responses_score_in_the_workers_within_a_one_second_timeout():
    # The worker's kill at reward.timeout_s is the clock: a verifier past one second on any of these
    # would give a "timeout" status. mathruler (sympy, no time bound of its own) is in the list.
    examples = {
        **PROBE_EXAMPLES,
        "mathruler": make_example("mathruler", "5"),
        "format": make_example("format", "5"),
    }
    probes = ["200k characters, no closing tag", "10k nested boxes, unbalanced", "10k nested boxes, balanced"]
    probes.append("sympy blow-up (Math-Verify#65)")
    cases = [(task, probe) for task in sorted(examples) for probe in probes]
    with RewardRunner(RewardConfig(num_workers=1, timeout_s=1.0, max_error_rate=1.0)) as runner:
        warm = runner.score(["\\boxed{5}"] * len(examples), list(examples.values()))  # the first calls import
        assert warm.counters["timeout"] == 0, warm.counters
        result = runner.score([HUGE[probe] for _, probe in cases], [examples[task] for task, _ in cases])
    slow = [case for case, s in zip(cases, result.scores, strict=True) if s.status == "timeout"]
    assert not slow, slow
    assert result.counters["error"] == 0 and result.counters["workers_restarted"] == 0


# --- 5: reward-hacking probes -----------------------------------------------------------------


@pytest.mark.reliability(5)
@pytest.mark.parametrize("task", sorted(PROBE_EXAMPLES))
@pytest.mark.parametrize("probe", sorted(HACKS))
def test_reward_hacking_probe_scores_wrong(task, probe):
    _assert_scores_wrong_in_time(HACKS[probe], probe, task)


@pytest.mark.reliability(5)
@pytest.mark.parametrize("task", sorted(PROBE_EXAMPLES))
def test_a_template_that_prefills_think_keeps_the_format_reward_in_training(task):
    # The chat template ended the prompt with "<think>": the response starts inside the thought.
    answer = "A" if task == "choice" else "5"
    prefilled = f"Adding them, 2 + 3 = 5.</think> \\boxed{{{answer}}}"
    only_in_thought = f"The answer is \\boxed{{{answer}}}, I think.</think>"
    example = PROBE_EXAMPLES[task]
    blend = RewardConfig(num_workers=0)  # each verifier's 0.9 x accuracy + 0.1 x format
    weighted = RewardConfig(
        num_workers=0, functions=[{"fn": task, "weight": 0.9}, {"fn": "format", "weight": 0.1}]
    )
    for cfg in (blend, weighted):
        with RewardRunner(cfg) as runner:
            right, hack = runner.score([prefilled, only_in_thought], [example] * 2).scores
        assert right.reward == pytest.approx(1.0) and right.correct is True, right
        assert hack.reward == 0.0 and hack.correct is not True, hack
