"""The ``math`` and ``geometry`` verifiers: is the final answer mathematically the gold answer?

Pipeline (the rules are in ``docs/verifiers.md`` and each module's docstring):

1. ``rewards.extraction.extract_answer``: the final answer (boxed > answer tag > anchor > a
   response that is only the answer); none after a truncated or unclosed thought.
2. ``rewards.latex.normalize_answer``: MATH ``_strip_string`` spellings plus ``°``, ``π``, ``√``,
   thousands separators and units.
3. ``rewards.answers.parse_answer`` / ``answers_equal``: value equality (exact rationals, else
   40-digit numerics), unordered "all solutions" lists, exact tuples and intervals (bracket types
   matter), sets, matrices, equations.

No numeric tolerance against an exact gold (a decimal for ``2\\sqrt5`` is wrong) unless the item
asks for rounding: ``meta["precision"]`` or ``meta["rounding"]`` (decimal places as an int, or the
words ``"integer"``, ``"whole number"``, ``"tenth"``, ``"hundredth"``, ``"thousandth"``) allow
``|pred - gold| <= 0.5 * 10**-places``, so ``37.70`` is right for ``12\\pi`` "to the nearest
hundredth".

``geometry`` is ``math`` plus the degrees/π/radical spellings (handled by the normalisation for
both) and Geometry3K's options: a gold letter is replaced by its option's value, and, **when the
prompt shows the options**, an answer that names one (``B``, ``(B)``) is replaced by that option's
value before comparing values. The options count as shown when every one appears in the prompt
after its letter (``A. 8``, ``(B) 8\\sqrt{3}``, ``C: 16``), or when ``meta["options_shown"]`` says
so. EasyR1's Geometry3K prompt does not show them: there a bare ``A`` would be a blind guess that
pays one time in four, so it is not read as an option.

``Example.meta`` keys read: ``precision``, ``rounding``, ``options_shown`` (geometry).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from mmrl.types import Example, Score
from rewards.answers import Answer, answers_equal, parse_answer
from rewards.choice import letter_of, resolve_options
from rewards.expr import Budget, ParseError, Unscorable, evaluate, free_variables
from rewards.extraction import MAX_ANSWER_CHARS, extract_answer
from rewards.latex import normalize_answer
from rewards.registry import register_verifier
from rewards.verdicts import bad_gold, judged, no_answer, null_gold

__all__ = ["geometry", "gold_problem", "math", "rounding_tolerance", "score_math"]

_PLACE_WORDS = {
    "integer": 0,
    "whole number": 0,
    "whole": 0,
    "ones": 0,
    "unit": 0,
    "tenth": 1,
    "tenths": 1,
    "hundredth": 2,
    "hundredths": 2,
    "thousandth": 3,
    "thousandths": 3,
}


def rounding_tolerance(meta: dict[str, Any]) -> float | None:
    """``0.5 * 10**-places`` from ``meta["precision"]`` / ``meta["rounding"]``, or None (exact).

    Raises ``ValueError`` naming the key when the value is not a number of decimal places.

    >>> rounding_tolerance({"precision": 2}), rounding_tolerance({"rounding": "tenth"}), rounding_tolerance({})
    (0.005, 0.05, None)
    """
    for key in ("precision", "rounding"):
        value = meta.get(key)
        if value is None:
            continue
        places: int | None = None
        if isinstance(value, bool):
            places = None
        elif isinstance(value, int):
            places = value
        elif isinstance(value, float) and value.is_integer():
            places = int(value)
        elif isinstance(value, str):
            text = value.strip().lower()
            places = int(text) if text.isdigit() else _PLACE_WORDS.get(text)
        if places is None or not 0 <= places <= 12:
            raise ValueError(
                f"meta[{key!r}]={value!r} is not a number of decimal places (an int 0-12 or one of "
                f"{sorted(_PLACE_WORDS)})"
            )
        return 0.5 * 10.0**-places
    return None


def _check_values(answer: Answer, budget: Budget) -> None:
    """Evaluate every constant expression in a gold answer once (raises if it cannot be)."""
    kind = answer[0]
    if kind == "expr":
        if not free_variables(answer[1]):
            evaluate(answer[1], {}, budget)
    elif kind in ("list", "set", "union", "ratio"):
        for item in answer[1]:
            _check_values(item, budget)
    elif kind == "named":
        _check_values(answer[2], budget)
    elif kind == "seq":
        for item in answer[3]:
            _check_values(item, budget)
    elif kind == "matrix":
        for row in answer[1]:
            for item in row:
                _check_values(item, budget)


# Words, whole numbers between them, numerals in a base (204_5) and light punctuation ("Monday",
# "(C)", "2 pairs"); a token mixing digits and letters ("1e999999999", a number too large to read)
# is not a word.
_WORDS_RE = re.compile(
    r"^(?=.*[A-Za-z0-9])(?:[0-9A-Za-z]+_\{?[0-9]+\}?|[A-Za-z][A-Za-z'-]*(?![0-9])|[0-9]+(?:\.[0-9]+)?(?![A-Za-z])"
    r"|[\s(),.-])+$"
)


def _unreadable_text(answer: Answer) -> str | None:
    """The first text part of a gold answer that is not words (malformed LaTeX such as ``\\frac{``).

    A gold may be words (``Monday``, ``\\text{(C)}``, ``even``): those are compared as text. Text
    with LaTeX commands, braces or operators left over is an expression that failed to parse.
    """
    kind = answer[0]
    if kind == "text":
        return None if _WORDS_RE.match(answer[2]) else answer[2]
    children: tuple = ()
    if kind in ("list", "set", "union", "ratio"):
        children = answer[1]
    elif kind == "seq":
        children = answer[3]
    elif kind == "matrix":
        children = tuple(item for row in answer[1] for item in row)
    elif kind == "named":
        children = (answer[2],)
    for child in children:
        bad = _unreadable_text(child)
        if bad is not None:
            return bad
    return None


@lru_cache(maxsize=4096)
def _gold(text: str) -> Answer | str:
    """The parsed gold answer, or a reason why it cannot be read (cached per process)."""
    if not text.strip():
        return "empty gold answer"
    problem = null_gold(text)
    if problem is not None:
        return problem
    if len(text) > MAX_ANSWER_CHARS:
        return f"gold answer too long ({len(text)} characters, at most {MAX_ANSWER_CHARS})"
    try:
        answer = parse_answer(normalize_answer(text))
        bad = _unreadable_text(answer)
        if bad is not None:
            return (
                f"cannot parse gold answer {text!r}: {bad!r} is neither a mathematical expression nor words"
            )
        _check_values(answer, Budget())
    except ParseError as exc:
        return f"cannot parse gold answer {text!r}: {exc}"
    except Unscorable as exc:
        return f"gold answer {text!r} cannot be evaluated: {exc}"
    except ZeroDivisionError as exc:
        return f"gold answer {text!r} is undefined: {exc}"
    return answer


def gold_problem(text: str) -> str | None:
    """Why the ``math`` verifier cannot read a gold answer, or None when it can.

    >>> gold_problem("\\\\frac{1}{2}") is None, gold_problem("\\\\frac{")
    (True, "cannot parse gold answer '\\\\\\\\frac{': '\\\\\\\\frac{' is neither a mathematical expression nor words")
    """
    gold = _gold(text)
    return gold if isinstance(gold, str) else None


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    parts: list[str] = []
    for message in prompt or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(parts)


@lru_cache(maxsize=4096)
def _shown_in(prompt_text: str, choices: tuple[str, ...]) -> bool:
    text = " ".join(prompt_text.split())
    for i, option in enumerate(choices):
        letter = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i]
        body = re.escape(" ".join(option.split()))
        if not re.search(rf"(?<![A-Za-z])\(?{letter}\s*[.:)]\s*\$?{body}", text):
            return False
    return True


def options_shown(example: Example) -> bool:
    """Whether the prompt presents ``example.choices`` as lettered options (or meta says so)."""
    if "options_shown" in example.meta:
        return bool(example.meta["options_shown"])
    if not example.choices:
        return False
    return _shown_in(_prompt_text(example.prompt), tuple(example.choices))


def score_math(response: str, example: Example, *, use_choices: bool) -> Score:
    """Shared body of ``math`` and ``geometry`` (``use_choices`` maps option letters to values)."""
    try:
        tol = rounding_tolerance(example.meta)
    except ValueError as exc:
        return bad_gold(str(exc))
    choices = example.choices if use_choices and example.choices else None
    gold_text = example.answer if isinstance(example.answer, str) else ""
    if choices is not None:
        index = letter_of(gold_text, len(choices))
        if index is not None:
            gold_text = choices[index]
    gold = _gold(gold_text)
    if isinstance(gold, str):
        return bad_gold(gold)
    if choices is not None and not options_shown(example):
        choices = None  # letters are not answers when the model never saw them
    found = extract_answer(response)
    if found.answer is None:
        return no_answer(found.problem)
    budget = Budget()
    parsed: list[Answer] = []
    for candidate in found.candidates:
        text = candidate
        if choices is not None:
            indices, _ = resolve_options(candidate, choices, budget)
            if indices is not None and len(indices) == 1:
                text = choices[next(iter(indices))]
        try:
            parsed.append(parse_answer(normalize_answer(text)))
        except ParseError as exc:
            return no_answer(f"cannot read the final answer {candidate!r}: {exc}", extracted=found.answer)
    try:
        last = parsed[-1]
        if any(not answers_equal(other, last, budget) for other in parsed[:-1]):
            if gold[0] in ("list", "set") and len(parsed) == len(gold[1]):
                # "\boxed{3} and \boxed{5}" for the gold "3, 5": one box per part of the answer.
                combined = ("list", tuple(parsed))
                return judged(answers_equal(combined, gold, budget, abs_tol=tol), ", ".join(found.candidates))
            return no_answer(
                f"ambiguous: several different final answers {list(found.candidates)}",
                extracted=found.answer,
            )
        return judged(answers_equal(last, gold, budget, abs_tol=tol), found.answer)
    except Unscorable as exc:
        return no_answer(f"the final answer cannot be evaluated: {exc}", extracted=found.answer)


@register_verifier("math")
def math(response: str, example: Example) -> Score:
    """Math answers by value (module docstring): 1.0 right, 0.0 wrong or no single final answer.

    >>> from mmrl.types import Example
    >>> ex = Example(id="1", task="math", prompt="?", answer="\\\\frac{1}{2}")
    >>> math("\\\\boxed{0.5}", ex).reward, math("\\\\boxed{0.33}", ex).reward
    (1.0, 0.0)
    """
    return score_math(response, example, use_choices=False)


@register_verifier("geometry")
def geometry(response: str, example: Example) -> Score:
    """Geometry answers: ``math`` plus option letters mapped to option values (Geometry3K).

    >>> from mmrl.types import Example
    >>> ex = Example(id="1", task="geometry", prompt="A. 8 B. 8\\\\sqrt{3}", answer="8\\\\sqrt{3}", choices=("8", "8\\\\sqrt{3}"))
    >>> geometry("\\\\boxed{8√3}", ex).reward, geometry("\\\\boxed{B}", ex).reward, geometry("\\\\boxed{A}", ex).reward
    (1.0, 1.0, 0.0)
    """
    return score_math(response, example, use_choices=True)
