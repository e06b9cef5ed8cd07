"""Hostile gold answers are refused quickly *in this process*, by every built-in verifier.

``check_gold`` runs on every gold at dataset load, without a worker's hard timeout. Each call
runs in a forked child killed after 20 s (``killable.call_with_deadline``), so a regression fails
one test instead of hanging the suite. The same expressions as responses are item 4 of the
reliability plan (``tests/reliability/test_verifiers.py``), which imports ``HOSTILE`` and
``EXAMPLES`` from here.
"""

from __future__ import annotations

import pytest

from rewards import check_gold
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
