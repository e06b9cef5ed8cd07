"""Reward-hacking and robustness probes, run against every built-in verifier.

Reward-hacking reports (Visual-RFT#79, #176; Math-Verify#65) and hang probes: each probe must
score *wrong* (accuracy 0, never ``None`` or 1) in this process, without the worker pool's timeout
machinery. A probe still running after HANG_S seconds fails as a hang (a guard against runaway
work, not a speed measurement: every probe is bounded by the verifiers' own budgets).
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

import pytest

from rewards import score
from tests.unit.verifiers.conftest import make_example

EXAMPLES = {
    "math": make_example("math", "5"),
    "geometry": make_example("geometry", "5", choices=("5", "10", "15", "20")),
    "chart": make_example("chart", "5"),
    "chart_official": make_example("chart_official", "5"),
    "choice": make_example("choice", "A", choices=("5", "10", "15", "20")),
}

PROBES = {
    "empty response": "",
    "empty answer tag (Visual-RFT#176)": "<think>hmm</think><answer></answer>",
    "empty box": "\\boxed{}",
    "A or B or C (Visual-RFT#79)": "A or B or C",
    "every option": "\\boxed{A, B, C, D}",
    "two different boxes": "\\boxed{5} or \\boxed{10}",
    "hedge inside one box": "\\boxed{5 \\text{ or } 10}",
    "answer only inside <think>": "<think>The answer is \\boxed{5}.</think> I am not sure.",
    "unclosed <think> with the answer": "<think>The answer is \\boxed{5}",
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


@pytest.mark.parametrize("task", sorted(EXAMPLES))
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_probe_scores_wrong_and_never_hangs(task, probe):
    with hang_guard(f"{probe!r} on {task}"):
        result = score(PROBES[probe], EXAMPLES[task], verifier=task)
    assert result.reward is not None and result.components["accuracy"] == 0.0, (probe, task, result)
    assert result.correct is False


@pytest.mark.parametrize("task", sorted(EXAMPLES))
def test_truncated_response_has_no_answer(task):
    # Issue 3 item 1: a truncated response scores as "no answer",
    # even when its text holds the right final answer.
    right = "<think>ok</think>\\boxed{5}" if task != "choice" else "<think>ok</think>\\boxed{A}"
    assert score(right, EXAMPLES[task], verifier=task).correct is True
    cut = score(right, EXAMPLES[task], verifier=task, truncated=True)
    assert cut.correct is False and cut.reward == 0.0 and cut.status == "unparsable_pred"
    assert cut.message == "truncated response: no final answer"
