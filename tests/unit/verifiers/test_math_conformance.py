"""Conformance of the ``math`` verifier: what it must accept and the near-misses it must reject.

Every case names the rule it follows. The responses box
the answer (the EasyR1 prompt asks for ``\\boxed{}``) unless the case is about extraction.
"""

from __future__ import annotations

import pytest

from rewards import score
from rewards.math_verifier import math as math_verifier
from tests.unit.verifiers.conftest import make_example

# (prediction inside \boxed{}, gold, rule)
ACCEPT = [
    ("0.5", "\\frac{1}{2}", "checker failure mode fractions and decimals: 0.5 = 1/2"),
    (
        "1/2",
        "\\dfrac12",
        "Hendrycks MATH _strip_string step 2 and 10: \\dfrac -> \\frac, \\frac12 -> \\frac{1}{2}",
    ),
    ("\\tfrac{3}{4}", "0.75", "checker failure mode fractions and decimals: 0.75 = \\frac34"),
    (
        "\\frac{2}{4}",
        "\\frac{1}{2}",
        "equal values are equal (mathruler rejects unreduced fractions on purpose; we do not)",
    ),
    ("18.90", "18.9", "Hendrycks MATH _strip_string: Hendrycks rejects 18.9 vs 18.90; the value is the same"),
    ("\\sqrt{18}", "3\\sqrt2", "checker failure mode radicals: \\sqrt{18} = 3\\sqrt2"),
    ("\\frac1{\\sqrt2}", "\\frac{\\sqrt2}2", "checker failure mode radicals"),
    ("30^\\circ", "30", "checker failure mode degrees: ^\\circ"),
    ("30°", "30", "checker failure mode degrees: Unicode ° (mathruler and Math-Verify miss it)"),
    ("45 degrees", "45", "checker failure mode degrees: the word"),
    ("12π", "12\\pi", "MATH normalisation Unicode π (mathruler rejects it)"),
    ("8√3", "8\\sqrt{3}", "MATH normalisation Unicode √ (mathruler rejects it)"),
    ("5\\text{ cm}", "5", "checker failure mode units and \\text{}"),
    ("12 inches", "12", "checker failure mode units"),
    ("25\\mathrm{~cm}", "25", "checker failure mode units"),
    ("7.50\\text{ m}", "7.5", "checker failure mode units: mathruler misses 'm'"),
    ("9\\sqrt{2} \\text{ units}", "9\\sqrt2", "mathruler known failure known failures: 'units' is a unit"),
    ("25\\%", "25", "checker failure mode percent (math): 25\\% = 25"),
    ("\\$1,000.00", "1000", "checker failure mode thousands and \\$"),
    ("1,000,000", "1000000", "checker failure mode thousands"),
    ("12{,}345", "12345", "checker failure mode thousands"),
    ("x = 5", "5", "Hendrycks MATH _strip_string step 7: an 'x=' prefix is dropped"),
    ("k=\\frac{1}{2}", "0.5", "MATH normalisation 'k=' prefixes"),
    ("\\left( 1, -2 \\right)", "(1,-2)", "checker failure mode tuples: \\left/\\right and spacing"),
    (
        "3, 2",
        "2, 3",
        "checker failure mode tuples and sets: an unordered solution list (mathruler is order-sensitive)",
    ),
    (
        "x=2 \\text{ or } x=3",
        "2, 3",
        "issue 3 item 2: 'all solutions' lists are unordered; 'or' separates solutions",
    ),
    ("(-2, 7]", "( -2,7 ]", "checker failure mode intervals: spacing"),
    (
        "(-\\infty, 3) \\cup (5, \\infty)",
        "(5,\\infty)\\cup(-\\infty,3)",
        "issue 3 item 2: a union of intervals is a set",
    ),
    (
        "\\begin{bmatrix}1 & 2\\\\3 & 4\\end{bmatrix}",
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
        "checker failure mode matrices",
    ),
    ("10^{3}", "1000", "mathruler known failure known failures: mathruler rejects 10^{3} vs 1000"),
    ("1024", "2^{10}", "mathruler known failure known failures"),
    ("120", "5!", "mathruler known failure known failures: 5! = 120"),
    ("2\\frac{1}{2}", "\\frac52", "Math-Verify: mixed numbers"),
    ("(x+1)^2", "x^2+2x+1", "issue 3 item 2: symbolic equivalence"),
    ("2 \\pm \\sqrt{3}", "2+\\sqrt3, 2-\\sqrt3", "\\pm expands to both solutions"),
    ("y = 3 + 2x", "y=2x+3", "equations: the same line"),
    ("x^2+y^2=25", "25 = y^2 + x^2", "equations: sides swapped"),
    ("\\text{Monday}", "monday", "mathruler known failure: text answers are case-insensitive"),
    ("3+2i", "2i+3", "complex numbers"),
    ("x = 2\\sqrt{5} = \\sqrt{20}", "2\\sqrt5", "a chain of equal values: its last value"),
    ("1 000 000", "10^6", "Math-Verify: space-grouped thousands (Math-Verify accepts them)"),
    ("1.2e3", "1.2 \\times 10^{3}", "scientific notation"),
    ("x \\in [2, 5]", "[2,5]", "an 'x \\in' prefix is dropped like 'x ='"),
    ("2\\sqrt{5} \\approx 4.47", "\\sqrt{20}", "the exact value before \\approx is the answer"),
    ("2√5 ≈ 4.47", "2\\sqrt5", "Unicode ≈"),
]

REJECT = [
    ("0.33", "\\frac{1}{3}", "checker failure mode fractions and decimals: no tolerance against exact gold"),
    ("4.47", "2\\sqrt{5}", "MATH normalisation: a decimal for 2\\sqrt5 is wrong"),
    ("4.4721359549995793928", "2\\sqrt{5}", "MATH normalisation: however many digits"),
    ("3.14", "\\pi", "checker failure mode fractions and decimals"),
    ("5 \\text{ or } 10", "5", "checker failure mode \\text{ or }: a hedge (mathruler accepts it)"),
    ("45, 50", "45", "checker failure mode multiple answers: \\boxed{45, 50}"),
    ("(-2, 1)", "(1,-2)", "checker failure mode tuples are ordered"),
    ("(-2, 7]", "[-2,7)", "checker failure mode intervals: open vs closed matters (Qwen2.5-Math accepts)"),
    ("2, 3, 4", "2, 3", "checker failure mode tuples and sets: an extra root"),
    ("2", "2, 3", "checker failure mode tuples and sets: a missing root"),
    (
        "\\begin{bmatrix}1 & 2\\\\3 & 5\\end{bmatrix}",
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
        "checker failure mode matrices: a wrong entry",
    ),
    ("0.25", "25\\%", "percent: a percentage is compared in percent units"),
    ("x^2+2x", "x^2+2x+1", "symbolic: a different polynomial"),
    ("2x", "2t", "a different variable is a different answer"),
    ("x \\le 3", "x < 3", "inequalities: strict vs non-strict"),
    ("tuesday", "monday", "text answers"),
    ("-5", "5", "sign"),
    ("9^{9^{9}}", "5", "mathruler known failure hang guard: refused as too large, scored wrong"),
    ("1 000", "0", "two numbers in a row are not a product"),
    ("2e", "2000", "2e is 2 times Euler's number, not 2e3"),
    ("4.47 \\approx 2\\sqrt{5}", "2\\sqrt5", "the value before \\approx is the answer, here a decimal"),
]


@pytest.mark.parametrize("pred,gold,rule", ACCEPT, ids=[c[2] for c in ACCEPT])
def test_math_accepts(pred, gold, rule):
    result = math_verifier(f"\\boxed{{{pred}}}", make_example("math", gold))
    assert result.correct is True, f"{pred!r} vs {gold!r} should be right ({rule}); got {result}"
    assert result.reward == 1.0 and result.status == "ok"


@pytest.mark.parametrize("pred,gold,rule", REJECT, ids=[c[2] for c in REJECT])
def test_math_rejects(pred, gold, rule):
    result = math_verifier(f"\\boxed{{{pred}}}", make_example("math", gold))
    assert result.correct is False, f"{pred!r} vs {gold!r} should be wrong ({rule}); got {result}"
    assert result.reward == 0.0


@pytest.mark.parametrize(
    "pred,gold,meta,expected",
    [
        (
            "37.70",
            "12\\pi",
            {"rounding": 2},
            True,
        ),  # benchmark card Geometry3K: "round to the nearest hundredth"
        ("37.7", "12\\pi", {"rounding": "tenth"}, True),
        ("37.6", "12\\pi", {"rounding": "tenth"}, False),
        ("12\\pi", "37.70", {"precision": 2}, True),  # an exact answer for a rounded gold
        ("37.70", "12\\pi", {}, False),  # without the item saying so: no tolerance
        ("2.37", "2.37", {"precision": 2}, True),  # MathVista float with precision
        ("2.4", "2.37", {"precision": 2}, False),
    ],
)
def test_rounding_only_when_the_item_asks(pred, gold, meta, expected):
    # MATH normalisation: "Give no numeric tolerance against exact gold values" unless the example says so.
    result = math_verifier(f"\\boxed{{{pred}}}", make_example("math", gold, **meta))
    assert result.correct is expected, result


def test_bad_rounding_meta_is_an_unparsable_gold():
    result = math_verifier("\\boxed{1}", make_example("math", "1", precision="two"))
    assert result.status == "unparsable_gold" and result.reward is None
    assert "precision" in result.message


@pytest.mark.parametrize("gold", ["", "   ", "9^{9^{9}}", "\\frac{1}{0}", "(1, , 2)"])
def test_unreadable_gold_is_none_not_zero(gold):
    # Issue 3 item 7: an unparsable gold is masked (None), never a silent 0 or 1.
    result = math_verifier("\\boxed{5}", make_example("math", gold))
    assert result.status == "unparsable_gold"
    assert result.reward is None and result.correct is None


@pytest.mark.parametrize(
    "response,expected",
    [
        ("<think>1+1=2</think> The answer is \\boxed{2}.", True),
        ("The answer is 2.", True),  # extraction rule anchor
        ("Final Answer: The final answer is $2$. I hope it is correct.", True),  # Minerva format
        ("<answer>2</answer>", True),
        ("2", True),  # a response that is only the answer
        ("\\boxed{2} and to be sure, \\boxed{2}", True),  # hedge rule: the same answer twice is fine
        ("\\boxed{2} or \\boxed{3}", False),  # hedge rule: two different boxed answers
        ("\\boxed{2} or \\boxed{2.0001}", False),
        ("<think>it is \\boxed{2}</think> I am not sure", False),  # answer only inside <think>
        ("<think>it is \\boxed{2}", False),  # unclosed thought: no answer
        ("1 + 1 makes two, so we write 2 and then we also note 3 and 2", False),  # no last-number fallback
    ],
)
def test_extraction_rules(response, expected):
    result = math_verifier(response, make_example("math", "2"))
    assert result.correct is expected, result


def test_ambiguous_and_missing_answers_say_why():
    hedge = math_verifier("\\boxed{3} or \\boxed{5}", make_example("math", "5"))
    assert hedge.status == "unparsable_pred" and hedge.reward == 0.0 and "ambiguous" in hedge.message
    none = math_verifier(
        "I do not know how to solve this problem, sorry about that, really.", make_example("math", "5")
    )
    assert none.status == "unparsable_pred" and "no final answer" in none.message


def test_score_weights_and_components():
    ex = make_example("math", "4")
    right = score("<think>2+2</think>\\boxed{4}", ex)
    assert right.reward == pytest.approx(1.0)
    assert right.components == {"accuracy": 1.0, "format": 1.0}
    no_format = score("\\boxed{4}", ex)
    assert no_format.reward == pytest.approx(0.9) and no_format.components["format"] == 0.0
    custom = score("\\boxed{4}", ex, accuracy_weight=0.5, format_weight=0.5)
    assert custom.reward == pytest.approx(0.5)
    wrong_but_formatted = score("<think>2+2</think>\\boxed{5}", ex)
    assert wrong_but_formatted.reward == pytest.approx(0.1) and wrong_but_formatted.correct is False
