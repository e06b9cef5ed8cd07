"""The format check (issue 3 item 6): a format reward must not be won without an answer."""

from __future__ import annotations

import pytest

from rewards import format_score, score
from tests.unit.verifiers.conftest import make_example


@pytest.mark.parametrize(
    "response,expected",
    [
        ("<think>2+2=4</think>\\boxed{4}", 1.0),
        ("  <think>\n2+2=4\n</think>\n\nThe answer is 4.", 1.0),
        ("<think>2+2=4</think><answer>4</answer>", 1.0),
        ("2+2=4</think> \\boxed{4}", 1.0),  # <think> prefilled by the chat template (TRL#6966)
        ("\\boxed{4}", 0.0),  # no thought
        ("<think></think>\\boxed{4}", 0.0),  # empty thought
        ("<think>2+2=4</think>", 0.0),  # no final answer
        ("<think>2+2=4</think>\\boxed{3} or \\boxed{4}", 0.0),  # two final answers
        ("<think>a</think><think>b</think>\\boxed{4}", 0.0),  # repeated blocks (open-r1#359)
        ("<think>a</think>\\boxed{4}</think>", 0.0),
        ("Sure! <think>a</think>\\boxed{4}", 0.0),  # text before <think>
        ("<think>2+2=4", 0.0),  # unclosed
    ],
)
def test_format_score(response, expected):
    assert format_score(response) == expected


def test_format_verifier_and_prefill_probe():
    ex = make_example("math", "4")
    # B2 test 5: a template that prefills <think> still earns its format score.
    prefilled = score("2+2=4</think> \\boxed{4}", ex)
    assert prefilled.components == {"accuracy": 1.0, "format": 1.0}
    only_format = score("<think>x</think>\\boxed{5}", ex, verifier="format")
    assert only_format.reward == pytest.approx(1.0) and only_format.correct is True
