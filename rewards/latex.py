"""String normalisation of a final answer before it is parsed (MATH ``_strip_string`` and more).

``normalize_answer`` turns the many ways people write the same answer into one spelling, without
doing any mathematics. It follows Hendrycks MATH's ``_strip_string``, plus the Unicode,
thousands-separator, currency and label cases that mathruler and Math-Verify miss.

What it does, in order:

1. drops math delimiters around the whole answer (``$..$``, ``\\(..\\)``, ``\\[..\\]``);
2. Unicode to LaTeX: ``π`` -> ``\\pi``, ``√`` -> ``\\sqrt``, ``∞`` -> ``\\infty``, ``−`` -> ``-``,
   ``×``/``·`` -> ``*``, ``÷`` -> ``/``, ``≤``/``≥``/``≠``, superscript digits; ``°`` is dropped;
3. ``\\dfrac``/``\\tfrac`` -> ``\\frac``; ``\\left``/``\\right``/``\\big``.. and ``\\displaystyle``
   dropped; a ``\\boxed{..}`` that wraps the whole answer is unwrapped;
4. thousands separators: ``12{,}345``, MATH's ``10,\\!000`` and ``12\\,345`` joined; a plain
   ``1,234,567`` is joined when every comma of the answer sits in such a group and the answer has
   no brackets (``1,2`` stays a list, ``(3,100)`` a pair); an answer that is only space-grouped
   digits (``1 000 000``) is one number;
5. degrees (``^\\circ``, ``^{\\circ}``, ``\\circ``, ``\\degree``), ``\\%``, ``%``, ``\\$``, ``$``
   and the other currency signs (``€``, ``£``, ``¥``, ``₹``, ``\\euro``, ``\\pounds``) dropped (a
   percentage is compared in percent units: ``25\\%`` and ``25 percent`` equal ``25``, not ``0.25``);
6. units and labels: a trailing ``\\text{ cm}``, ``\\mathrm{~cm}^2`` or plain ``12 inches`` is
   dropped when every word in it is a unit word (``UNIT_WORDS``); a trailing ``\\text{ apples}``
   after a value is dropped when it is one to four plain words and none is a hedge word
   (``HEDGE_WORDS``: ``or``, ``and``, ``not``, ``approximately`` ...), as MATH's
   ``_remove_right_units`` drops text after a value; any other ``\\text{..}`` is unwrapped to its
   words, so ``5 \\text{ or } 10`` becomes ``5 or 10`` (a hedge, never ``5`` with a "unit");
7. LaTeX spacing (``\\,``, ``\\!``, ``~``, ``\\quad``) to spaces, whitespace collapsed, a trailing
   full stop dropped.

    >>> normalize_answer("$\\\\dfrac{1}{2}$")
    '\\\\frac{1}{2}'
    >>> normalize_answer("8√3"), normalize_answer("30^\\\\circ"), normalize_answer("1,000,000")
    ('8\\\\sqrt{3}', '30', '1000000')
    >>> normalize_answer("7.50\\\\text{ m}"), normalize_answer("5 \\\\text{ or } 10")
    ('7.50', '5 or 10')
"""

from __future__ import annotations

import re

__all__ = ["HEDGE_WORDS", "UNIT_WORDS", "normalize_answer", "strip_units"]

#: Words that make up a unit phrase after a number (``12 square inches``, ``3 km/h``). A trailing
#: phrase is dropped only when every word is here, so a variable (``5 x``) is never mistaken for a
#: unit. Degrees are here as words; the ``°`` sign and ``^\circ`` are dropped before.
# fmt: off
UNIT_WORDS = frozenset(
    (
        "unit", "units", "sq", "square", "squared", "cubic", "cu", "mm", "cm", "dm", "m", "km",
        "in", "inch", "inches", "ft", "foot", "feet", "yd", "yard", "yards", "mi", "mile", "miles",
        "meter", "meters", "metre", "metres", "centimeter", "centimeters", "centimetre", "centimetres", "millimeter", "millimeters", "kilometer", "kilometers",
        "kilometre", "kilometres", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h",
        "hr", "hrs", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year", "years",
        "g", "kg", "mg", "gram", "grams", "kilogram", "kilograms", "lb", "lbs", "pound", "pounds", "oz",
        "ounce", "ounces", "ton", "tons", "l", "ml", "liter", "liters", "litre", "litres", "gallon", "gallons",
        "degree", "degrees", "deg", "dollar", "dollars", "cent", "cents", "mph", "kph", "per",
        "percent", "pct", "euro", "euros", "eur", "usd", "yen", "rupee", "rupees",
    )
)
# fmt: on

_UNICODE = {
    "π": r" \pi ",
    "∞": r" \infty ",
    "√": r"\sqrt ",
    "−": "-",
    "–": "-",
    "—": "-",
    "×": "*",
    "·": "*",
    "⋅": "*",
    "∙": "*",
    "÷": "/",
    "≤": r" \le ",
    "≥": r" \ge ",
    "≠": r" \ne ",
    "≈": r" \approx ",
    "∪": r" \cup ",
    "±": r" \pm ",
    "°": "",
    "€": "",
    "£": "",
    "¥": "",
    "₹": "",
    "²": "^2",
    "³": "^3",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
}
_UNICODE_RE = re.compile("|".join(re.escape(k) for k in _UNICODE))
# "√12" is the root of 12 (not TeX's "\sqrt 12" = sqrt(1)*2): brace the number or letter first.
_ROOT_ATOM_RE = re.compile(r"√\s*(\d+(?:\.\d+)?|[a-zA-Z])")

_DELIMS = ((r"$$", r"$$"), (r"\[", r"\]"), (r"\(", r"\)"), ("$", "$"))
_SIZING_RE = re.compile(
    r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![a-zA-Z])"
)
_LEFT_RIGHT_DOT_RE = re.compile(r"\\(?:left|right)\s*\.")
_STYLE_RE = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits)(?![a-zA-Z])")
# "12{,}345", MATH's "10,\!000" and "12\,345": unambiguous thousands separators, joined anywhere.
_SEP_THOUSANDS_RE = re.compile(r"(\d)(?:\{,\}|,\s*\\!|\\,)(?=\d{3}(?!\d))")
_CURRENCY_RE = re.compile(r"\\(?:euro|texteuro|pounds|textsterling|yen|textyen|textdollar)(?![a-zA-Z])")
#: Words that make a trailing ``\text{..}`` more than a label: ``5\text{ or }10``, ``5\text{ at most}``.
HEDGE_WORDS = frozenset(
    (
        "or", "and", "not", "no", "nor", "either", "neither", "maybe", "perhaps", "possibly", "probably",
        "approximately", "about", "around", "roughly", "nearly", "almost", "but", "to", "than", "is", "are",
        "was", "were", "be", "if", "except", "plus", "minus", "times", "over", "under", "between", "less",
        "more", "least", "most", "only", "also", "else", "otherwise", "none", "all", "each", "every", "unless",
        "never", "wrong", "incorrect", "false", "true", "impossible", "cannot", "undefined", "invalid", "guess",
    )
)  # fmt: skip
_LABEL_RE = re.compile(r"^\s*[A-Za-z][A-Za-z'-]*(?:\s+[A-Za-z][A-Za-z'-]*){0,3}\s*$")
_PLAIN_THOUSANDS_RE = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
_SPACED_NUMBER_RE = re.compile(r"^-?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
_SPACING_RE = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad(?![a-zA-Z])|~")
_DEGREE_RE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\^\s*\{\s*\\degree\s*\}|\\degree")
_TEXT_CMD = r"\\(?:text|textrm|textnormal|textup|textsf|textit|mathrm|mathit|mathsf|mbox|operatorname)"
_TRAILING_TEXT_UNIT_RE = re.compile(_TEXT_CMD + r"\s*\{([^{}]*)\}\s*(?:\^\s*\{?\s*[23]\s*\}?)?\s*$")
_TEXT_RE = re.compile(_TEXT_CMD + r"\s*\{([^{}]*)\}")
_BOLD_RE = re.compile(r"\\(?:textbf|mathbf|boldsymbol|bm|emph)\s*\{([^{}]*)\}")
_ENDS_LIKE_VALUE_RE = re.compile(r"[\w})\]]$")
_UNIT_TOKEN_RE = re.compile(r"[a-zA-Z]+")


def _strip_delimiters(s: str) -> str:
    changed = True
    while changed:
        changed = False
        for left, right in _DELIMS:
            if len(s) >= len(left) + len(right) and s.startswith(left) and s.endswith(right):
                inner = s[len(left) : len(s) - len(right)]
                if left == "$" and "$" in inner:
                    continue  # "$a$ and $b$" is two pieces, not one delimited answer
                s = inner.strip()
                changed = True
    return s


def _unwrap_whole_box(s: str) -> str:
    """``\\boxed{X}`` -> ``X`` when the box spans the whole string (repeatedly)."""
    while True:
        m = re.match(r"\\(?:boxed|fbox)\s*\{", s)
        if not m or not s.endswith("}"):
            return s
        depth = 0
        for i in range(m.end() - 1, len(s)):
            c = s[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    if i != len(s) - 1:
                        return s
                    s = s[m.end() : -1].strip()
                    break
        else:
            return s


def _is_unit_phrase(text: str) -> bool:
    words = _UNIT_TOKEN_RE.findall(text)
    if not words:
        return False
    # Only letters, spaces, '/', '^' with a 2 or 3, and '.' (abbreviations) may appear.
    if re.search(r"[^a-zA-Z\s/^.23~]", text):
        return False
    return all(w.lower() in UNIT_WORDS for w in words)


def _is_label_phrase(text: str) -> bool:
    """A trailing ``\\text{ apples}``: one to four plain words, none of them a hedge (``or``, ``not``)."""
    return bool(_LABEL_RE.match(text)) and not any(w.lower() in HEDGE_WORDS for w in text.split())


def _is_unit_token(token: str) -> bool:
    return bool(token) and _is_unit_phrase(token)


def strip_units(s: str) -> str:
    """Drop a trailing unit phrase (``\\text{ cm}^2``, ``12 square inches``) from an answer.

    The phrase is dropped only when something precedes it and every word in it is a unit word.
    """
    while True:
        m = _TRAILING_TEXT_UNIT_RE.search(s)
        if (
            m
            and _ENDS_LIKE_VALUE_RE.search(s[: m.start()].rstrip())
            and (_is_unit_phrase(m.group(1)) or _is_label_phrase(m.group(1)))
        ):
            s = s[: m.start()].rstrip()
            continue
        parts = s.split()
        k = len(parts)
        while k > 1 and _is_unit_token(parts[k - 1]):
            k -= 1
        if k < len(parts) and _ENDS_LIKE_VALUE_RE.search(parts[k - 1]):
            s = " ".join(parts[:k])
            continue
        return s


def _join_thousands(s: str) -> str:
    """Join thousands separators (rule 4 of the module docstring).

    A plain comma is a separator only when the answer has no brackets (``(3,100)`` is a pair,
    ``(2,12) \\cup (12,102)`` two intervals) and every comma in it sits in a ``1,234,567`` group.
    """
    s = _SEP_THOUSANDS_RE.sub(r"\1", s)
    if "," not in s or any(c in s for c in "()[]") or "\\{" in s:
        return s
    groups = _PLAIN_THOUSANDS_RE.findall(s)
    if sum(g.count(",") for g in groups) != s.count(","):
        return s
    return _PLAIN_THOUSANDS_RE.sub(lambda m: m.group(0).replace(",", ""), s)


def normalize_answer(text: str) -> str:
    """One spelling for a final answer (see the module docstring for every rule, in order)."""
    s = text.strip()
    s = _strip_delimiters(s)
    if any(ch in s for ch in _UNICODE):
        if "√" in s:
            s = _ROOT_ATOM_RE.sub(r"\\sqrt{\1}", s)
        s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\dbinom", "\\binom")
    if "\\" in s:
        s = _LEFT_RIGHT_DOT_RE.sub("", s)
        s = _SIZING_RE.sub("", s)
        s = _STYLE_RE.sub("", s)
        s = _unwrap_whole_box(s.strip())
        s = _DEGREE_RE.sub("", s)
        s = s.replace("\\%", "").replace("\\$", "")
        s = _CURRENCY_RE.sub("", s)
    if "," in s:
        s = _join_thousands(s)
    s = s.replace("%", "").replace("$", "")
    if "\\" in s:
        s = _BOLD_RE.sub(r"\1", s)
        s = strip_units(s.strip())
        s = _TEXT_RE.sub(lambda m: " " + m.group(1).strip() + " ", s)
        s = _SPACING_RE.sub(" ", s)
    elif "~" in s:
        s = s.replace("~", " ")
    s = " ".join(s.split())
    s = strip_units(s)
    if _SPACED_NUMBER_RE.match(s):
        s = s.replace(" ", "")  # "1 000 000" as a whole answer is one number
    while s.endswith(".") and not s.endswith(".."):
        s = s[:-1].rstrip()
    return s
