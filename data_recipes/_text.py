"""Text helpers the dataset recipes share: the last ``\\boxed{}`` of a solution, inline choices."""

from __future__ import annotations

import re
import string

__all__ = ["format_choices", "last_boxed", "parse_inline_choices", "rounding_places"]


def last_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}`` (or ``\fbox{...}``, or ``\boxed 5``) in ``text``.

    Braces are matched, so nested groups survive; ``None`` when there is no complete box.

    >>> last_boxed(r"so $x = \boxed{\frac{1}{2}}$ and \boxed{3}")
    '3'
    >>> last_boxed(r"\boxed{\frac{1}{2}}"), last_boxed(r"\boxed 5."), last_boxed("no box")
    ('\\frac{1}{2}', '5', None)
    """
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    rest = text[start:]
    rest = rest[len("\\boxed") :] if rest.startswith("\\boxed") else rest[len("\\fbox") :]
    if rest.startswith(" "):
        match = re.match(r" +([^\s$.,]+)", rest)
        return match.group(1) if match else None
    if not rest.startswith("{"):
        return None
    depth = 0
    for i, ch in enumerate(rest):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return rest[1:i].strip()
    return None


_CHOICE_LINE = re.compile(r"^\s*\(?([A-Z])\s*[\).:：]\s*(.*\S)\s*$")


def parse_inline_choices(question: str) -> tuple[str, ...] | None:
    """Option texts from a "Choices:" block written into the question (MathVerse style).

    Lines look like ``A:40°``, ``A. 40°`` or ``(A) 40°`` after a line starting with ``Choices``; the
    letters must run A, B, C, ... in order. ``None`` when there is no such block.

    >>> parse_inline_choices("Find the angle.\\nChoices:\\nA:40°\\nB:60°\\nC:80°")
    ('40°', '60°', '80°')
    >>> parse_inline_choices("Find x.") is None
    True
    """
    lines = question.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().lower().startswith("choices")]
    if not starts:
        return None
    start = starts[0]
    options: list[str] = []
    head = lines[start].split(":", 1)[1] if ":" in lines[start] else ""
    for line in ([head] if head.strip() else []) + lines[start + 1 :]:
        match = _CHOICE_LINE.match(line)
        if not match:
            if line.strip():
                break
            continue
        letter, text = match.groups()
        if letter != string.ascii_uppercase[len(options)]:
            return None
        options.append(text)
    return tuple(options) or None


def format_choices(choices: tuple[str, ...] | list[str]) -> str:
    """``(A) first`` lines, one option per line.

    >>> print(format_choices(["1", "2"]))
    (A) 1
    (B) 2
    """
    return "\n".join(f"({string.ascii_uppercase[i]}) {c}" for i, c in enumerate(choices))


_NEAREST = {
    "whole number": 0,
    "integer": 0,
    "degree": 0,
    "unit": 0,
    "tenth": 1,
    "hundredth": 2,
    "thousandth": 3,
}
_ROUNDING = re.compile(
    r"(?:round|rounded|correct)\w*\b[^.?!]*?\b(?:to\s+the\s+)?nearest\s+(whole number|integer|degree|unit|tenth|"
    r"hundredth|thousandth)|(?:to|with)\s+(one|two|three|\d)\s+decimal\s+places?",
    re.IGNORECASE,
)
_PLACES = {"one": 1, "two": 2, "three": 3}


def rounding_places(question: str) -> int | None:
    """Decimal places the question asks the answer to be rounded to, or ``None`` when it does not.

    The ``math``/``geometry`` verifiers read it from ``meta["rounding"]`` and then accept answers
    within half a unit of that place.

    >>> rounding_places("Find x. Round to the nearest tenth."), rounding_places("Round your answer to the nearest hundredth.")
    (1, 2)
    >>> rounding_places("Give the answer to two decimal places."), rounding_places("Find x.")
    (2, None)
    >>> rounding_places("Find the angle. Round to the nearest degree.")
    0
    """
    match = _ROUNDING.search(question)
    if match is None:
        return None
    if match.group(1):
        return _NEAREST[match.group(1).lower()]
    word = match.group(2).lower()
    return _PLACES[word] if word in _PLACES else int(word)
