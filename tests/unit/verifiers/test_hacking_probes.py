"""The examples the reward-hacking probes score against, and a truncated response's score.

The probes themselves, reward hacks (Visual-RFT#79, #176) and huge or adversarial responses
(Math-Verify#65), are items 4 and 5 of the reliability plan: ``tests/reliability/test_verifiers.py``.
"""

from __future__ import annotations

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


@pytest.mark.parametrize("task", sorted(EXAMPLES))
def test_truncated_response_has_no_answer(task):
    # Issue 3 item 1: a truncated response scores as "no answer",
    # even when its text holds the right final answer.
    right = "<think>ok</think>\\boxed{5}" if task != "choice" else "<think>ok</think>\\boxed{A}"
    assert score(right, EXAMPLES[task], verifier=task).correct is True
    cut = score(right, EXAMPLES[task], verifier=task, truncated=True)
    assert cut.correct is False and cut.reward == 0.0 and cut.status == "unparsable_pred"
    assert cut.message == "truncated response: no final answer"
