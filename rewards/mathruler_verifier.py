"""The ``mathruler`` verifier: the A-GRAE paper's Geometry3K reward, as verl's code computes it.

verl ``verl/utils/reward_score/geo3k.py`` (the reward of ``data_source == "hiyouga/geometry3k"``,
the framework the A-GRAE code forks) scores a response as::

    reward   = 0.9 * accuracy + 0.1 * format
    accuracy = grade_answer(extract_boxed_content(response), gold)       # mathruler, 1 or 0
    format   = re.fullmatch(r"<think>.*</think>.*\\boxed\\{.*\\}.*", response, re.DOTALL)   # 1 or 0

``mathruler`` returns the accuracy as its reward and verl's format as ``components["format"]``;
``rewards.score`` combines them with ``reward.accuracy_weight`` / ``reward.format_weight``
(0.9 / 0.1 in the Geometry3K paper configs), so the reward is verl's to the bit. Use it to
reproduce the paper's numbers; for new runs ``geometry`` is stricter and accepts more correct
answers (``docs/verifiers.md`` "Which verifier").

Where it differs from verl, each on purpose:

* **Bounded time.** sympy has no time bound, and mathruler hands it the answer whenever the
  strings differ: ``\\boxed{1e999999999}``, ``9**9**9``, ``(20!)!`` or ``100000000!`` run for
  minutes or forever against a non-integer gold. An answer or gold longer than
  ``MAX_CHARS``, with a factorial, a ``**``, a number of more than ``MAX_DIGITS`` digits or a
  ``e``-exponent beyond ``MAX_EXPONENT`` is scored wrong without calling mathruler (status
  ``unparsable_pred``, the message says why). The runner also scores this verifier in a worker
  under ``reward.timeout_s`` even with ``reward.num_workers=0``.
* **Readable golds.** A gold that the ``math`` verifier cannot read (empty, malformed LaTeX, a
  serialised ``None``) is ``unparsable_gold`` (reward ``None``, rejected at load) instead of
  being graded.
* **Truncated responses** have no answer (as for every mmrl verifier); verl grades their text.

The format check is computed without the regex (which backtracks for minutes on a response with
many ``</think>`` and ``\\boxed{``) by an equivalent linear scan; a test checks both agree.
Known false positives of mathruler are kept, since they are the paper's reward: ``\\boxed{5
\\text{ or } 10}`` is right for gold 5 (Hendrycks' unit stripping), and the last box wins, so
``\\boxed{3} or \\boxed{5}`` is right for gold 5.
"""

from __future__ import annotations

import re

from mathruler.grader import extract_boxed_content, grade_answer

from mmrl.types import Example, Score
from rewards.math_verifier import gold_problem
from rewards.registry import register_verifier
from rewards.verdicts import bad_gold

__all__ = ["MAX_CHARS", "MAX_DIGITS", "MAX_EXPONENT", "mathruler", "verl_format"]

#: Longest answer or gold handed to mathruler (pylatexenc and sympy slow down with length).
MAX_CHARS = 300
#: Most digits in one number literal, and the largest ``e`` exponent (``1e999999999``).
MAX_DIGITS = 100
MAX_EXPONENT = 300

VERL_FORMAT = re.compile(r"<think>.*</think>.*\\boxed\{.*\}.*", re.DOTALL)
_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_BOX_OPEN = "\\boxed{"
_DIGITS_RE = re.compile(rf"\d{{{MAX_DIGITS + 1},}}")
_FACTORIAL_RE = re.compile(r"(?<!\\)!")  # not the negative space \!
_EXPONENT_RE = re.compile(r"\d[eE][-+]?(\d+)")


def verl_format(response: str) -> float:
    """verl's geo3k format reward, ``fullmatch(r"<think>.*</think>.*\\\\boxed\\{.*\\}.*", DOTALL)``.

    Equivalent linear scan: the response starts with ``<think>``; then some ``</think>`` follows
    it, some ``\\boxed{`` follows that, and some ``}`` follows that (the earliest of each is the
    best choice, since every ``.*`` may be empty).

    >>> verl_format("<think>t</think> so \\\\boxed{4}."), verl_format("\\\\boxed{4}")
    (1.0, 0.0)
    """
    if not response.startswith(_THINK_OPEN):
        return 0.0
    close = response.find(_THINK_CLOSE, len(_THINK_OPEN))
    if close < 0:
        return 0.0
    box = response.find(_BOX_OPEN, close + len(_THINK_CLOSE))
    if box < 0:
        return 0.0
    return 1.0 if response.find("}", box + len(_BOX_OPEN)) >= 0 else 0.0


def _hazard(text: str) -> str | None:
    """Why mathruler's sympy step could run without bound on ``text``, or None."""
    if len(text) > MAX_CHARS:
        return f"longer than {MAX_CHARS} characters"
    if _FACTORIAL_RE.search(text):
        return "a factorial"
    if "**" in text:
        return "a '**' power"
    if _DIGITS_RE.search(text):
        return f"a number of more than {MAX_DIGITS} digits"
    for m in _EXPONENT_RE.finditer(text):
        if len(m.group(1)) > 4 or int(m.group(1)) > MAX_EXPONENT:
            return f"an exponent beyond e{MAX_EXPONENT}"
    return None


@register_verifier("mathruler")
def mathruler(response: str, example: Example) -> Score:
    """The A-GRAE paper's Geometry3K reward (verl ``geo3k.py``: mathruler on the last box).

    >>> from mmrl.types import Example
    >>> ex = Example(id="1", task="geometry", prompt="?", answer="2 \\\\sqrt { 3 }")
    >>> s = mathruler("<think>t</think> \\\\boxed{2\\\\sqrt{3}}", ex)
    >>> s.reward, s.components["format"]
    (1.0, 1.0)
    >>> mathruler("\\\\boxed{3.46}", ex).reward
    0.0
    """
    gold = example.answer if isinstance(example.answer, str) else ""
    problem = gold_problem(gold)
    if problem is not None:
        return bad_gold(problem)
    hazard = _hazard(gold)
    if hazard is not None:
        return bad_gold(f"gold answer {gold!r} has {hazard}: mathruler's sympy step has no time bound")
    fmt = verl_format(response)
    answer = extract_boxed_content(response)
    hazard = _hazard(answer)
    if hazard is not None:
        message = f"the boxed answer has {hazard}; scored wrong without calling mathruler (no time bound)"
        return Score(0.0, False, "unparsable_pred", {"accuracy": 0.0, "format": fmt}, answer[:200], message)
    correct = bool(grade_answer(answer, gold))
    value = 1.0 if correct else 0.0
    if answer == "None" and not correct:  # extract_boxed_content's "no box"
        return Score(
            0.0, False, "unparsable_pred", {"accuracy": 0.0, "format": fmt}, None, "no \\boxed{} answer"
        )
    return Score(value, correct, "ok", {"accuracy": value, "format": fmt}, answer)


mathruler.bounds_its_time = False  # sympy: the runner scores it in a worker, always under reward.timeout_s
