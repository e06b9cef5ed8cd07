"""The conformance corpus: labelled (response, gold) cases, each citing the rule it follows.

``test_conformance.py`` checks every case against the built-in verifier named by ``task``;
``scripts/bench_verifiers.py --agreement-only`` scores the same cases with Math-Verify and MathRuler.
``expected`` is the truth (a human's verdict under the cited rule), not what any checker says.

Rules cited: **MATH** (Hendrycks et al., ``math_equivalence._strip_string``: ``\\!`` and
``\\left``/``\\right`` dropped, ``x=`` prefixes dropped, units after ``\\text{ `` dropped, answers
compared by value by every grader built on it); **Math-Verify** (its documented comparisons:
sets, intervals, inequalities, equations, thousands separators, percent, "final answer" before
boxes); **MathRuler/PRM800K** (sympy equality of the last box); **ChartQA** (relaxed accuracy,
5% on numbers); **MC** (a multiple-choice answer names exactly one option, as the official
MathVista/MathVerse/WeMath parsers require); **hedge** (two different answers are no answer).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    task: str
    response: str
    gold: str
    expected: bool
    rule: str
    choices: tuple[str, ...] | None = None
    meta: dict = field(default_factory=dict)


def box(answer: str) -> str:
    return f"<think>work</think> The answer is $\\boxed{{{answer}}}$."


def _math(pred: str, gold: str, expected: bool, rule: str) -> Case:
    return Case("math", box(pred), gold, expected, rule)


OPTIONS = ("40°", "140°", "quarter past", "2\\sqrt{3}")

CASES: list[Case] = [
    # -- thousands separators --------------------------------------------------------------------
    _math("10,\\!000", "10000", True, "MATH writes thousands as 10,\\!000 (\\! is a negative space)"),
    _math("1,\\!000,\\!000", "10^6", True, "MATH thousands, two groups"),
    _math("12{,}345", "12345", True, "MATH thousands with a braced comma"),
    _math("1,234", "1234", True, "Math-Verify reads 1,234 as one number"),
    _math("\\$1,000.00", "1000", True, "MATH drops \\$; thousands"),
    _math("(3,100)", "3100", False, "a pair is not a number: thousands never join inside brackets"),
    _math("(2,12) \\cup (12,102)", "(2, 12) \\cup (12, 102)", True, "Math-Verify intervals: spacing"),
    _math("(2,12) \\cup (12,102)", "(2, 12) \\cup (12, 103)", False, "Math-Verify intervals: an end differs"),
    _math("1,2", "12", False, "1,2 is a list, not twelve"),
    # -- several boxes for one multi-part answer -------------------------------------------------
    Case(
        "math",
        "So $x=\\boxed{3}$ and $x=\\boxed{5}$.",
        "3, 5",
        True,
        "MATH all-solutions answer, one box per solution",
    ),
    Case("math", "\\boxed{5} and \\boxed{3}", "3, 5", True, "solutions are unordered (Math-Verify sets)"),
    Case("math", "\\boxed{3} and \\boxed{5}", "5", False, "hedge: two different answers for one value"),
    Case("math", "\\boxed{3}, \\boxed{5}, \\boxed{7}", "3, 5", False, "an extra solution is wrong"),
    Case("math", "\\boxed{3} and \\boxed{4}", "3, 5", False, "a wrong solution is wrong"),
    # -- named quantities ------------------------------------------------------------------------
    _math("(p,q)=(3,2)", "(3,2)", True, "MATH drops the name of an answer (x=5 is 5); a named tuple"),
    _math("(3,2)", "(p,q)=(3,2)", True, "MATH: a named gold against the bare value"),
    _math("(p,q)=(2,3)", "(3,2)", False, "a tuple is ordered"),
    _math("f(x)=1", "1", True, "MATH: a function name dropped"),
    _math("V_1:V_2=11:21", "11:21", True, "MATH: a named ratio"),
    _math("22:42", "11:21", False, "a ratio in other terms is another answer"),
    _math("x = 5", "5", True, "MATH _strip_string drops 'x='"),
    _math("k=\\frac{1}{2}", "0.5", True, "MATH: 'k=' dropped; 0.5 = 1/2"),
    _math("x=5", "y=5", False, "a different unknown is a different answer"),
    _math("(r,s)=(3,2)", "(p,q)=(3,2)", False, "different unknowns, even as a tuple"),
    # -- sets and solution lists -----------------------------------------------------------------
    _math("\\{1,3\\}", "1, 3", True, "Math-Verify: a set equals the same solutions as a list"),
    _math("\\{1,3\\}", "1, 4", False, "a set with a wrong element"),
    _math("\\pm 2", "-2, 2", True, "Math-Verify expands \\pm to both solutions"),
    _math("\\pm 2", "2", False, "\\pm 2 is two solutions, the gold has one"),
    _math("19, 46, and 82", "19, 46, 82", True, "MATH: a list written with 'and'"),
    _math("19, 46, and 83", "19, 46, 82", False, "a list with a wrong item"),
    _math("x=2 \\text{ or } x=3", "2, 3", True, "MATH all-solutions answer with 'or'"),
    _math("5 \\text{ or } 10", "5", False, "hedge inside one box (mathruler accepts it)"),
    # -- intervals as inequalities ---------------------------------------------------------------
    _math("-2 \\le x \\le 7", "[-2,7]", True, "Math-Verify compares inequalities with intervals"),
    _math("7 \\ge x \\ge -2", "[-2,7]", True, "the chain read from the right"),
    _math("-2 < x \\le 7", "[-2,7]", False, "an open end is not a closed one"),
    _math("x \\ge 3", "[3,\\infty)", True, "Math-Verify: a one-sided inequality is a ray"),
    _math("x > 3", "[3,\\infty)", False, "strict vs non-strict"),
    _math("x<-1 \\text{ or } x>5", "(-\\infty,-1)\\cup(5,\\infty)", True, "Math-Verify: a union of rays"),
    _math("1 < x < 3", "(1,3)", False, "the gold (1,3) may be a point: an inequality never matches it"),
    _math("(1,3)", "1<x<3", True, "interval notation for an inequality gold"),
    # -- percent, units, currency ----------------------------------------------------------------
    _math("28 percent", "28", True, "MATH percent answers are in percent units (\\% dropped)"),
    _math("28\\%", "28", True, "MATH drops \\%"),
    _math("0.28", "28\\%", False, "a fraction is not the percentage"),
    _math("5 €", "5", True, "currency is a unit (MATH drops \\$)"),
    _math("€5", "5", True, "a currency sign in front"),
    _math("5 m^2", "5", True, "MATH drops units"),
    _math("5\\text{ apples}", "5", True, "MATH _remove_right_units drops text after a value"),
    _math("5\\text{ at most}", "5", False, "a qualifier is not a unit"),
    _math("5\\text{ is wrong}", "5", False, "a negation is not a unit"),
    _math("2\\sqrt{5} \\approx 4.47", "\\sqrt{20}", True, "the exact value before \\approx"),
    _math("x \\approx 4.47", "4.47", True, "the value after \\approx when the left side is a name"),
    _math("4.47", "2\\sqrt{5}", False, "no tolerance against an exact gold"),
    # -- relations and matrices ------------------------------------------------------------------
    _math("y = 2x+3", "2x - y + 3 = 0", True, "Math-Verify: the same line rearranged"),
    _math("2x - y + 3 = 0", "y=2x+3", True, "the same line, the other way round"),
    _math("y = 2x+4", "2x - y + 3 = 0", False, "a parallel line"),
    _math(
        "\\left[\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right]",
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
        True,
        "Math-Verify matrices: an array in brackets",
    ),
    _math(
        "\\left[\\begin{array}{cc}1&2\\\\3&5\\end{array}\\right]",
        "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
        False,
        "a wrong entry",
    ),
    # -- extraction ------------------------------------------------------------------------------
    Case(
        "math",
        "Final Answer:\n\\[\n5\n\\]",
        "5",
        True,
        "Math-Verify reads the display block after 'final answer'",
    ),
    Case("math", "Final Answer:\n\n$$x = 5$$", "5", True, "a $$ block after the anchor"),
    Case("math", "Final Answer: The largest $n$ is 34", "34", True, "the value stated by the final sentence"),
    Case("math", "Final Answer: x is 3 or x is 5", "5", False, "hedge in the final sentence"),
    Case(
        "math",
        "One half is $\\boxed{12}$.\nFinal Answer: 24",
        "24",
        True,
        "Math-Verify ranks 'final answer' above boxes: the box was intermediate",
    ),
    Case(
        "math",
        "One half is $\\boxed{12}$.\nFinal Answer: 24",
        "12",
        False,
        "the intermediate box is not the answer",
    ),
    Case(
        "math", "One half is \\boxed{12}.\nFinal Answer: \\boxed{24}", "24", True, "the box after the anchor"
    ),
    Case(
        "math",
        "\\boxed{12}. The final answer is obvious.",
        "12",
        True,
        "prose after 'final answer' is no answer",
    ),
    Case("math", "<think>it is \\boxed{5}</think> not sure", "5", False, "an answer only inside the thought"),
    Case("math", "<think>it is \\boxed{5}", "5", False, "an unclosed thought has no answer"),
    Case("math", "we try 1, 2, 3, 4 and then 5", "5", False, "no last-number fallback"),
    # -- values ----------------------------------------------------------------------------------
    _math("0.5", "\\frac{1}{2}", True, "MathRuler/PRM800K: equal values"),
    _math("\\sqrt{18}", "3\\sqrt2", True, "MathRuler/PRM800K: sympy equality"),
    _math("0.33", "\\frac13", False, "no tolerance against an exact gold"),
    _math("(x+1)^2", "x^2+2x+1", True, "MathRuler/PRM800K: symbolic equality"),
    _math("x^2+2x", "x^2+2x+1", False, "a different polynomial"),
    _math("(-2, 7]", "[-2,7)", False, "Math-Verify intervals: bracket types matter"),
    # -- more named quantities, lists and orderings ------------------------------------------------
    _math(
        "\\frac{1}{\\sqrt{6}}",
        "\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}",
        True,
        "Math-Verify: a named ratio of segments",
    ),
    _math("4, 5", "AB=4,CD=5", True, "Math-Verify: named segment lengths"),
    _math("5, 4", "AB=4,CD=5", True, "named items dropped: an unordered list"),
    _math("\\angle ABC = 30^\\circ", "30", True, "MATH: a named angle in degrees"),
    _math(
        "W(x)=1 \\text{ or } W(x)=-1",
        "W(n) = 1 \\text{ and } W(n) = -1",
        True,
        "a function's value, whatever its argument letter",
    ),
    _math("W(x)=1", "W(n) = 1 \\text{ and } W(n) = -1", False, "a missing solution"),
    _math("-2, 1 \\pm \\sqrt{5}", "\\{1\\pm\\sqrt{5},-2\\}", True, "Math-Verify: \\pm inside a set"),
    _math("-2, 1 + \\sqrt{5}", "\\{1\\pm\\sqrt{5},-2\\}", False, "one of the \\pm solutions missing"),
    _math("(3,4),(1,2)", "(1,2),(3,4)", True, "Math-Verify: a list of tuples is unordered"),
    _math("(4,3),(1,2)", "(1,2),(3,4)", False, "but each tuple is ordered"),
    _math("f(4) > f(1) > f(2)", "f(2) < f(1) < f(4)", True, "Math-Verify: an ordering read the other way"),
    _math("f(1) < f(2) < f(4)", "f(2) < f(1) < f(4)", False, "a different ordering"),
    _math("(0,1)", "0<f(x)<1", True, "Math-Verify: a range as an interval"),
    _math("\\{-1\\} \\cup [0,7)", "\\{-1\\} \\cup [0,7)", True, "a union with a point"),
    _math("204_5", "204_5", True, "MATH: a numeral in base 5"),
    _math("54", "204_5", False, "MATH: the answer in base 10 is not the base-5 numeral asked for"),
    _math("x = 5+5+1 = 11", "11", True, "Math-Verify: the last value of a chain"),
    _math("11a+c", "7 = 11a+c", False, "Math-Verify: an expression is not the equation"),
    _math("7,425,000", "7425000", True, "Math-Verify thousands"),
    _math(".4", "0.4", True, "MATH: a leading decimal point"),
    _math("\\frac{1}{3} \\textbf{meters}", "\\frac13", True, "Math-Verify: a bold unit"),
    _math("125\\textnormal{ miles}", "125", True, "MATH: units"),
    _math("6 \\text{ and } 8", "6,8", True, "Math-Verify: 'and' between solutions"),
    _math("21,16,11", "21,16 \\text{ or } 11", True, "Math-Verify: mixed separators"),
    _math("\\{-12, -11, -10\\}", "-12;-11;-10", True, "Math-Verify: semicolons separate solutions"),
    _math("d", "\\text{E}", False, "a different letter"),
    # -- choice ----------------------------------------------------------------------------------
    Case("choice", "(B)", "B", True, "MC: a parenthesised letter", OPTIONS),
    Case("choice", "The answer is 140°", "B", True, "MC: the option's text", OPTIONS),
    Case("choice", "B. 140°", "B", True, "MC: a letter with its own text", OPTIONS),
    Case("choice", "(A)(B)(C)(D)", "B", False, "MC: every option is a hedge", OPTIONS),
    Case("choice", "(A)(B)", "B", False, "MC: two options is a hedge", OPTIONS),
    Case("choice", "A.B.C.D", "B", False, "MC: letters run together are a hedge", OPTIONS),
    Case(
        "choice", "Let me list them.\nA\nB\nC\nD", "B", False, "MC: one letter per line is a hedge", OPTIONS
    ),
    Case("choice", "Checking each option.\nB", "B", True, "MC: a final lone letter", OPTIONS),
    Case("choice", "B or C", "B", False, "MC: 'B or C'", OPTIONS),
    Case("choice", "40°", "B", False, "MC: 40° is inside 140° but is option A", OPTIONS),
    Case(
        "choice", "B, D", "B, D", True, "LogicVista multi-select gold: a set of letters", ("1", "2", "3", "4")
    ),
    # -- geometry and chart ----------------------------------------------------------------------
    Case("geometry", box("8√3"), "8 \\sqrt { 3 }", True, "Geometry3K InterGPS LaTeX; Unicode √"),
    Case("geometry", box("30°"), "30", True, "Geometry3K angles in degrees"),
    Case("geometry", box("13.86"), "8 \\sqrt { 3 }", False, "a decimal for a radical gold"),
    Case("chart", "45%", "45", True, "ChartQA: a percent sign the chart shows (mmrl's training rule)"),
    Case("chart", "47", "45", True, "ChartQA relaxed accuracy: within 5%"),
    Case("chart", "48", "45", False, "ChartQA relaxed accuracy: beyond 5%"),
    Case("chart", "1,234", "1234", True, "ChartQA: thousands separators"),
]
