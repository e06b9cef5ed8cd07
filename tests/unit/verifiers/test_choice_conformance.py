"""Conformance of the ``choice`` verifier: option letters and texts (``docs/verifiers.md``, Benchmark rules)."""

from __future__ import annotations

import pytest

from rewards.choice import choice, resolve_options
from tests.unit.verifiers.conftest import make_example

CHOICES = ("40°", "140°", "quarter past", "2\\sqrt{3}")  # gold: option B, "140°"

ACCEPT = [
    ("B", "MC rule letter forms"),
    ("(B)", "MC rule (WeMath's parser misses it)"),
    ("B.", "MC rule"),
    ("B:", "MC rule"),
    ("B)", "letter forms"),
    ("**B**", "MC rule"),
    ("Answer: B", "MC rule"),
    ("The correct option is (B).", "anchor + letter"),
    ("\\boxed{B}", "boxed letter"),
    ("\\boxed{\\text{B}}", "checker failure mode MC letters: \\text{B}"),
    ("The answer is 140°", "MC rule: option text"),
    ("\\boxed{140^\\circ}", "option text with another degree spelling"),
    ("B. 140°", "checker failure mode MC letters: 'D. 140°' form"),
    ("B) 140 degrees", "letter with consistent text"),
    ("Option B", "'Option B'"),
    ("<think>A looks tempting but no.</think> **B**", "only the final region counts"),
    (
        "Let me think about each option carefully.\nThe angle is obtuse.\n\n**B**",
        "a final line that is a lone letter",
    ),
    ("b", "a lone lower-case letter"),
]

REJECT = [
    ("A", "a different letter"),
    ("B or C", "checker failure mode MC letters: 'B or C'"),
    ("A, B", "two letters for a single-answer item"),
    ("\\boxed{B} or \\boxed{C}", "hedge rule two boxed answers"),
    ("\\boxed{A}, final: \\boxed{B}", "MC rule a letter and a contradicting box"),
    ("A triangle with an obtuse angle.", "checker failure mode: a letter 'A' used as a word"),
    ("40°", "checker failure mode substring trap: 40° is inside 140°"),
    ("\\sqrt{3}", "checker failure mode substring trap: \\sqrt3 is inside 2\\sqrt3"),
    ("quarter", "checker failure mode substring trap: quarter vs quarter past"),
    ("B. 40°", "letter B contradicted by the text of option A"),
    ("E", "a letter outside the options"),
    ("<think>The answer is B</think>", "answer only inside <think>"),
    ("", "empty response"),
]


@pytest.mark.parametrize("response,rule", ACCEPT, ids=[c[1] for c in ACCEPT])
def test_choice_accepts(response, rule):
    for gold in ("B", "140°"):  # a letter gold, or the option text (MathVista)
        result = choice(response, make_example("choice", gold, choices=CHOICES))
        assert result.correct is True, f"{response!r} with gold {gold!r} ({rule}): {result}"


@pytest.mark.parametrize("response,rule", REJECT, ids=[c[1] for c in REJECT])
def test_choice_rejects(response, rule):
    result = choice(response, make_example("choice", "B", choices=CHOICES))
    assert result.correct is False and result.reward == 0.0, f"{response!r} ({rule}): {result}"


def test_value_equal_option_text():
    ex = make_example("choice", "C", choices=("\\frac{1}{4}", "\\frac{1}{3}", "\\frac{1}{2}"))
    assert choice("\\boxed{0.5}", ex).correct is True
    assert choice("\\boxed{0.25}", ex).correct is False


def test_mathvista_letter_options():
    # benchmark card MathVista: "Some items have the choices ['A','B','C','D','E'] with answer 'E'".
    ex = make_example("choice", "E", choices=("A", "B", "C", "D", "E"))
    assert choice("(E)", ex).correct is True
    assert choice("D", ex).correct is False


def test_inline_options_need_letters():
    # benchmark card MathVerse: the options are inline in the question; the gold is a letter.
    ex = make_example("choice", "C")
    assert choice("The answer is C.", ex).correct is True
    assert choice("The answer is D.", ex).correct is False
    assert choice("The answer is 60°.", ex).status == "unparsable_pred"


@pytest.mark.parametrize(
    "response,expected",
    [("B, D", True), ("\\boxed{D, B}", True), ("B and D", True), ("B", False), ("B, C, D", False)],
)
def test_multi_select_is_a_set(response, expected):
    # MC rule: multi-select golds (LogicVista "B, D") are compared as sets.
    ex = make_example("choice", "B, D", choices=("1", "2", "3", "4"))
    assert choice(response, ex).correct is expected
    flagged = make_example("choice", "B", choices=("1", "2", "3", "4"), multi_select=True)
    assert choice("B", flagged).correct is True
    assert choice("B, C", flagged).correct is False


@pytest.mark.parametrize(
    "gold,choices",
    [("F", ("1", "2")), ("banana", ("1", "2")), ("", ("1", "2")), ("12", None), ("2", ("2", "2"))],
)
def test_unreadable_gold_is_none(gold, choices):
    result = choice("A", make_example("choice", gold, choices=choices))
    assert result.status == "unparsable_gold" and result.reward is None


def test_resolve_options_reports_why():
    assert resolve_options("B. 40°", CHOICES) == (None, "the letter B contradicts its text '40°' (option A)")
    indices, problem = resolve_options("quarter", CHOICES)
    assert indices is None and "neither" in problem
