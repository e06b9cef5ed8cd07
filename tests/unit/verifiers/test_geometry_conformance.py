"""Conformance of the ``geometry`` verifier: Geometry3K answers and the math rules (``docs/verifiers.md``, Benchmark rules)."""

from __future__ import annotations

import pytest

from rewards.math_verifier import geometry
from tests.unit.verifiers.conftest import make_example

GEO3K_CHOICES = ("8", "8\\sqrt{3}", "16", "16\\sqrt{3}")
SHOWN = "Find x.\nChoices: A. 8  B. 8\\sqrt{3}  C. 16  D. 16\\sqrt{3}"

ACCEPT = [
    ("30", "30", "benchmark card Geometry3K: angles are plain numbers of degrees"),
    ("30°", "30", "checker failure mode degrees"),
    ("30^\\circ", "30", "checker failure mode degrees"),
    ("30^{\\circ}", "30", "Hendrycks MATH _strip_string step 3"),
    ("30 degrees", "30", "checker failure mode degrees"),
    ("12\\pi", "12 \\pi", "benchmark card Geometry3K: InterGPS spacing"),
    ("12π", "12 \\pi", "MATH normalisation Unicode π"),
    ("8\\sqrt{3}", "8 \\sqrt { 3 }", "benchmark card Geometry3K answer format"),
    ("8√3", "8\\sqrt{3}", "MATH normalisation Unicode √"),
    ("\\sqrt{192}", "8\\sqrt{3}", "checker failure mode radicals"),
    ("2\\sqrt{221}", "2 \\sqrt { 221 }", "benchmark card Geometry3K example answer"),
    ("374.1", "374.1", "benchmark card Geometry3K decimal answers"),
    ("\\frac{9}{2}\\sqrt{3}", "4.5\\sqrt{3}", "decimal coefficient of an exact radical"),
]

REJECT = [
    ("\\frac{\\pi}{2}", "90", "checker failure mode degrees: radians for a degree gold"),
    ("37.70", "12\\pi", "benchmark card: a decimal only when the item asks to round"),
    ("13.86", "8\\sqrt{3}", "MATH normalisation: no decimal for an exact radical"),
    ("8\\sqrt{2}", "8\\sqrt{3}", "a different radical"),
    ("60", "30", "a different angle"),
]


@pytest.mark.parametrize("pred,gold,rule", ACCEPT, ids=[c[2] for c in ACCEPT])
def test_geometry_accepts(pred, gold, rule):
    result = geometry(f"\\boxed{{{pred}}}", make_example("geometry", gold))
    assert result.correct is True, f"{pred!r} vs {gold!r} ({rule}): {result}"


@pytest.mark.parametrize("pred,gold,rule", REJECT, ids=[c[2] for c in REJECT])
def test_geometry_rejects(pred, gold, rule):
    result = geometry(f"\\boxed{{{pred}}}", make_example("geometry", gold))
    assert result.correct is False, f"{pred!r} vs {gold!r} ({rule}): {result}"


def test_rounding_when_asked():
    assert (
        geometry("\\boxed{37.70}", make_example("geometry", "12\\pi", rounding="hundredth")).correct is True
    )


@pytest.mark.parametrize(
    "pred,expected",
    [
        ("B", True),  # benchmark card Geometry3K: the letter of the right option
        ("(B)", True),
        ("8\\sqrt{3}", True),  # or its value
        ("\\sqrt{192}", True),  # or an equal value
        ("A", False),
        ("D", False),
        ("16\\sqrt{3}", False),
        ("B or D", False),  # a hedge over options
    ],
)
def test_geometry3k_choices_letter_and_value(pred, expected):
    # Gold stored as the value (EasyR1 answer_key) ...
    by_value = make_example("geometry", "8 \\sqrt { 3 }", choices=GEO3K_CHOICES, prompt=SHOWN)
    assert geometry(f"\\boxed{{{pred}}}", by_value).correct is expected
    # ... or as the letter (Geometry3K ground_truth): the same verdicts.
    by_letter = make_example("geometry", "B", choices=GEO3K_CHOICES, prompt=SHOWN)
    assert geometry(f"\\boxed{{{pred}}}", by_letter).correct is expected


def test_letters_count_only_when_the_prompt_shows_the_options():
    # EasyR1's Geometry3K prompt has no choices (benchmark card): a bare letter there is a blind guess.
    hidden = make_example("geometry", "8 \\sqrt { 3 }", choices=GEO3K_CHOICES, prompt="Find x.")
    assert geometry("\\boxed{B}", hidden).correct is False
    assert geometry("\\boxed{8\\sqrt{3}}", hidden).correct is True
    as_text = make_example("geometry", "8\\sqrt{3}", choices=GEO3K_CHOICES, prompt=SHOWN)
    assert geometry("\\boxed{B}", as_text).correct is True
    chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": SHOWN}]}]
    as_chat = make_example("geometry", "8\\sqrt{3}", choices=GEO3K_CHOICES, prompt=chat)
    assert geometry("(B)", as_chat).correct is True
    forced = make_example(
        "geometry", "8\\sqrt{3}", choices=GEO3K_CHOICES, prompt="Find x.", options_shown=True
    )
    assert geometry("\\boxed{B}", forced).correct is True
