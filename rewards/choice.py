"""The ``choice`` verifier: the response must pick exactly one option (or the gold set of options).

The rules follow the benchmarks' official parsers (MathVista, MathVerse, WeMath, LogicVista)
where they agree, and are stricter where a parser would reward a hedge (``docs/verifiers.md``).

* **Letters in any common form**: ``B``, ``(B)``, ``[B]``, ``B.``, ``B:``, ``B)``, ``**B**``,
  ``\\text{B}``, ``Answer: B``, ``Option B``, ``\\boxed{B}``; a lone lower-case ``b`` too. A letter
  followed by text (``D. 140°``) is that letter, unless the text is *exactly another option*
  (``B. 40°`` when ``40°`` is option A): a contradiction, scored wrong.
* **Option text**: the answer matches exactly one option, compared as normalised text (``140°`` ==
  ``140^\\circ``), then by mathematical value (``0.5`` == ``\\frac12``). Matching is whole-answer,
  never substring, so ``40°`` does not pick ``140°`` and ``quarter`` does not pick
  ``quarter past``.
* **Wrong**: several letters for a single-answer item, in any spelling (``B or C``, ``A, B``,
  ``(A)(B)(C)(D)``, ``A.B.C.D``, one letter per line): a hedge, not an answer; a letter used as a
  word (``A triangle``), a letter outside the options, text that matches no or several options.
* **Gold**: a letter, or the option text (MathVista stores the text; when the options are
  themselves letters, ``A``..``E``, both readings agree). ``choices=None`` (options inline in the
  prompt, as in MathVerse) needs a letter gold and a letter answer.
* **Multi-select** (``meta["multi_select"] = True``, or a gold naming several letters such as
  LogicVista's ``"B, D"``): the answer's set of letters must equal the gold set.

``Example.meta`` keys read: ``multi_select`` (bool).
"""

from __future__ import annotations

import re
import string

from mmrl.types import Example, Score
from rewards.answers import answers_equal, canonical_text, parse_answer
from rewards.expr import Budget, ParseError, Unscorable
from rewards.extraction import extract_answer
from rewards.latex import normalize_answer
from rewards.registry import register_verifier
from rewards.verdicts import bad_gold, judged, no_answer

__all__ = ["choice", "letter_of", "resolve_options"]

_WRAPPER_RE = re.compile(r"^\\(?:text|textbf|mathrm|mathbf|boxed)\s*\{(.*)\}$", re.DOTALL)
_LONE_LETTER_RE = re.compile(r"^[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:]?$")
_LETTER_TEXT_RE = re.compile(r"^[(\[]?([A-Z])(?:\s*[)\]]\s*[.:]?|\s*[.:])\s*(.+)$", re.DOTALL)
_PREFIX_RE = re.compile(r"^(?:option|choice)\s+", re.IGNORECASE)
_LETTER_SET_RE = re.compile(r"^[(\[]?[A-Z][)\]]?(?:\s*(?:,|;|&|/|\band\b|\bor\b|\s)\s*[(\[]?[A-Z][)\]]?)+$")
_LETTERS = string.ascii_uppercase
# One piece of a run of option letters: "(A)", "[B]", "C.", "D)", "E", or a separator between them.
_LETTER_TOKEN_RE = re.compile(
    r"\(\s*([A-Z])\s*\)|\[\s*([A-Z])\s*\]|(?<![A-Za-z])([A-Z])(?![A-Za-z])[.:)]?|\s+|[,;&/]|\b(?:and|or)\b"
)


def _letter_run(text: str) -> list[str] | None:
    """The letters of an answer made only of option letters (``(A)(B)``, ``A.B.C.D``, ``B or C``,
    ``A, B``), when there are at least two, else None."""
    letters: list[str] = []
    pos = 0
    for m in _LETTER_TOKEN_RE.finditer(text):
        if m.start() != pos:
            return None
        pos = m.end()
        letter = m.group(1) or m.group(2) or m.group(3)
        if letter:
            letters.append(letter)
    return letters if pos == len(text) and len(letters) >= 2 else None


def _clean(text: str) -> str:
    s = " ".join(text.split()).strip()
    for _ in range(3):
        s = s.strip("*_ ").strip()
        if len(s) >= 2 and s[0] == s[-1] == "$":
            s = s[1:-1].strip()
        m = _WRAPPER_RE.match(s)
        if m:
            s = m.group(1).strip()
    s = _PREFIX_RE.sub("", s)
    return s.rstrip(".").strip()


def letter_of(text: str, num_options: int | None) -> int | None:
    """The option index of an answer that is *only* a letter (``B``, ``(B)``, ``**B**``), else None."""
    m = _LONE_LETTER_RE.match(_clean(text))
    if not m:
        return None
    index = _LETTERS.index(m.group(1).upper())
    if num_options is not None and index >= num_options:
        return None
    return index


def _option_key(text: str) -> str:
    return canonical_text(normalize_answer(text))


def _text_matches(text: str, choices: tuple[str, ...], budget: Budget) -> list[int]:
    """Indices of the options that ``text`` matches as a whole (text first, then value)."""
    key = _option_key(text)
    hits = [i for i, option in enumerate(choices) if _option_key(option) == key]
    if hits:
        return hits
    try:
        pred = parse_answer(normalize_answer(text))
    except ParseError:
        return []
    if pred[0] == "text":
        return []
    hits = []
    for i, option in enumerate(choices):
        try:
            gold = parse_answer(normalize_answer(option))
            if gold[0] != "text" and answers_equal(pred, gold, budget):
                hits.append(i)
        except (ParseError, Unscorable):
            continue
    return hits


def resolve_options(
    answer: str, choices: tuple[str, ...] | None, budget: Budget | None = None
) -> tuple[frozenset[int] | None, str | None]:
    """``(option indices, problem)`` for one extracted answer (rules in the module docstring).

    >>> resolve_options("(B)", ("40°", "140°"))
    (frozenset({1}), None)
    >>> resolve_options("40°", ("140°", "40°"))
    (frozenset({1}), None)
    >>> resolve_options("B or C", ("1", "2", "3"))
    (frozenset({1, 2}), None)
    """
    budget = budget or Budget()
    n = len(choices) if choices is not None else None
    s = _clean(answer)
    if not s:
        return None, "empty answer"
    index = letter_of(s, n)
    if index is not None:
        return frozenset((index,)), None
    run = _letter_run(s)
    if run is not None:
        indices = frozenset(_LETTERS.index(c) for c in run)
        if n is not None and max(indices) >= n:
            return None, f"{s!r} names a letter outside the {n} options"
        return indices, None
    m = _LETTER_TEXT_RE.match(s)
    if m:
        index = _LETTERS.index(m.group(1))
        if n is not None and index < n:
            text = m.group(2)
            hits = _text_matches(text, choices, budget) if choices else []
            if hits and index not in hits:
                return (
                    None,
                    f"the letter {m.group(1)} contradicts its text {text!r} (option {_LETTERS[hits[0]]})",
                )
            return frozenset((index,)), None
    if choices:
        hits = _text_matches(s, choices, budget)
        if len(hits) == 1:
            return frozenset(hits), None
        if len(hits) > 1:
            return None, f"{s!r} matches several options"
        return None, f"{s!r} is neither an option letter nor the text of an option"
    return None, f"{s!r} is not an option letter"


def _gold_options(example: Example) -> tuple[frozenset[int] | None, str | None]:
    gold = example.answer if isinstance(example.answer, str) else ""
    if not gold.strip():
        return None, "empty gold answer"
    choices = example.choices
    n = len(choices) if choices is not None else None
    if choices:
        # The option text first: MathVista stores it, and when the options are letters themselves
        # ("A".."E") the text reading is the one that cannot be off by a position.
        hits = _text_matches(gold, choices, Budget())
        if len(hits) == 1:
            return frozenset(hits), None
    index = letter_of(gold, n)
    if index is not None:
        return frozenset((index,)), None
    s = _clean(gold)
    if _LETTER_SET_RE.match(s):
        indices = frozenset(_LETTERS.index(c) for c in re.findall(r"[A-Z]", s))
        if n is None or max(indices) < n:
            return indices, None
    if choices:
        return (
            None,
            f"gold answer {gold!r} is neither a letter nor exactly one of the options {list(choices)}",
        )
    return None, f"gold answer {gold!r} is not an option letter and the example has no choices"


def _letters(indices: frozenset[int]) -> str:
    return ", ".join(_LETTERS[i] for i in sorted(indices))


@register_verifier("choice")
def choice(response: str, example: Example) -> Score:
    """Multiple choice: 1.0 when the response picks exactly the gold option(s), else 0.0.

    >>> from mmrl.types import Example
    >>> ex = Example(id="1", task="choice", prompt="?", answer="140°", choices=("40°", "140°"))
    >>> choice("The answer is (B).", ex).reward, choice("A or B", ex).reward
    (1.0, 0.0)
    """
    gold, problem = _gold_options(example)
    if gold is None:
        return bad_gold(problem)
    multi = bool(example.meta.get("multi_select", False)) or len(gold) > 1
    found = extract_answer(response, choice=True)
    if found.answer is None:
        return no_answer(found.problem)
    budget = Budget()
    picked: frozenset[int] | None = None
    for candidate in found.candidates:
        indices, problem = resolve_options(candidate, example.choices, budget)
        if indices is None:
            return no_answer(problem, extracted=found.answer)
        if picked is not None and indices != picked:
            return no_answer(
                f"ambiguous: several different final answers {list(found.candidates)}", extracted=found.answer
            )
        picked = indices
    assert picked is not None
    if not multi and len(picked) > 1:
        return judged(
            False, _letters(picked), f"several options ({_letters(picked)}) for a single-answer item"
        )
    return judged(picked == gold, _letters(picked))
