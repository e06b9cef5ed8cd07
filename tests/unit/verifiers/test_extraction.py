"""Answer extraction and hedging (issue 3 item 1; ``docs/verifiers.md``, Benchmark rules)."""

from __future__ import annotations

import pytest

from rewards.extraction import extract_answer


@pytest.mark.parametrize(
    "response,answer,source",
    [
        ("so \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}", "boxed"),  # balanced braces
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}", "boxed"),  # escaped braces do not count
        ("\\boxed {7}", "7", "boxed"),
        ("\\fbox{7}", "7", "boxed"),
        ("\\boxed{\\boxed{7}}", "\\boxed{7}", "boxed"),  # the top-level box; normalisation unwraps it
        ("first <answer>3</answer>", "3", "answer_tag"),
        ("<answer>\\boxed{4}</answer>", "4", "boxed"),
        ("The answer is 12 cm.", "12 cm", "anchor"),
        ("**Final Answer:** 7", "7", "anchor"),
        ("Final Answer: The final answer is $5$. I hope it is correct.", "$5$", "anchor"),
        ("The correct option is (C).", "(C)", "anchor"),
        ("The answer is 5.5 cm. Done", "5.5 cm", "anchor"),  # a decimal point is not a sentence end
        ("42", "42", "bare"),
        ("  (B)  ", "(B)", "bare"),
        ("<think>long thought</think>\n\n42", "42", "bare"),
    ],
)
def test_finds_the_final_answer(response, answer, source):
    found = extract_answer(response)
    assert (found.answer, found.source) == (answer, source)


def test_order_box_before_tag_before_anchor():
    found = extract_answer("The answer is 1. <answer>2</answer> \\boxed{2}")
    assert found.source == "boxed" and found.candidates == ("2",)


def test_box_and_contradicting_tag_are_both_candidates():
    assert extract_answer("<answer>3</answer> \\boxed{4}").candidates == ("4", "3")


def test_same_answer_twice_is_one_candidate():
    assert extract_answer("\\boxed{5} ... \\boxed{ 5 }").candidates == ("5",)


@pytest.mark.parametrize(
    "response,problem",
    [
        ("<think>\\boxed{5}</think>", "no final answer found (an answer inside <think> does not count)"),
        ("<think>the answer is \\boxed{5}", "unclosed <think>: no final answer after the thought"),
        ("<answer>  </answer>", "empty final answer"),
        ("\\boxed{" + "1" * 2000 + "}", "final answer too long"),
        (
            "We compute 2 + 3 = 5 and then check it twice more, to be sure of 5 and 5 and 5.",
            "no final answer found",
        ),
    ],
)
def test_no_answer(response, problem):
    found = extract_answer(response)
    assert found.answer is None and found.problem == problem


def test_truncated_has_no_answer():
    assert extract_answer("\\boxed{5}", truncated=True).problem == "truncated response: no final answer"


def test_choice_letter_line_only_for_choice_tasks():
    text = "Considering all the options carefully, one of them fits.\n**B**"
    assert extract_answer(text, choice=True).answer == "B"
    assert extract_answer(text).answer is None
