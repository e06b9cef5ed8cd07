"""Structured final answers and their equivalence: numbers, lists, tuples, intervals, sets, matrices.

``parse_answer`` reads a (normalised) answer into one of these shapes, each a tuple:

* ``("expr", tree)``: one expression (``rewards.expr``);
* ``("list", items)``: several answers separated by top-level commas, semicolons, ``or``/``and``
  or expanded from ``\\pm``; compared **unordered** (an "all solutions" answer: ``3, 2`` equals
  ``2, 3``; an extra or missing root is wrong; ``5 or 10`` is not ``5``);
* ``("seq", open, close, items)``: a bracketed tuple or interval; compared **in order with the
  same brackets** (``(1,-2)`` is not ``(-2,1)``; ``(-2,7]`` is not ``[-2,7)``);
* ``("union", items)``: intervals joined by ``\\cup``, unordered;
* ``("set", items)``: ``\\{1, 2\\}``, unordered;
* ``("matrix", rows)``: ``pmatrix``/``bmatrix``/``matrix``, element-wise;
* ``("rel", op, lhs, rhs)``: an equation or inequality (``=`` compares ``lhs-rhs`` up to a
  non-zero factor; ``<``/``\\le`` compare both sides, with ``>`` flipped to ``<``);
* ``("text", canonical)``: anything else, compared as lower-case text without spaces/braces.

A leading ``x =`` / ``k=`` / ``x \\in`` (one letter, optionally subscripted) is dropped from each item, as
MATH's ``_strip_string`` does; in a chain ``x = 2\\sqrt5 = \\sqrt{20}`` of constants the last
value is the answer; in ``2\\sqrt5 \\approx 4.47`` the exact value before ``\\approx`` is.
Rule book: ``docs/verifiers.md`` (Benchmark rules: math, and the table of cases).
"""

from __future__ import annotations

import re
from functools import lru_cache

from rewards.expr import (
    Budget,
    ParseError,
    free_variables,
    parse_expression,
    values_equal,
    values_proportional,
)

__all__ = ["Answer", "answers_equal", "canonical_text", "parse_answer"]

Answer = tuple

MAX_ITEMS = 32

_OPENERS = "([{"
_CLOSERS = ")]}"
_PREFIX_RE = re.compile(
    r"^\s*(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[a-zA-Z0-9]+\}?)?\s*(?:=(?!=)|\\in(?![a-zA-Z]))\s*"
)
_WORD_SEP_RE = re.compile(r"\s+(?:or|and)\s+", re.IGNORECASE)
_MATRIX_RE = re.compile(r"^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$", re.DOTALL)
_REL_RE = re.compile(r"\\(?:leq|le|geq|ge|lt|gt|neq|ne)(?![a-zA-Z])|<=|>=|!=|[<>=]")
_REL_CANON = {
    "\\le": "<=",
    "\\leq": "<=",
    "<=": "<=",
    "\\ge": ">=",
    "\\geq": ">=",
    ">=": ">=",
    "\\lt": "<",
    "<": "<",
    "\\gt": ">",
    ">": ">",
    "\\ne": "!=",
    "\\neq": "!=",
    "!=": "!=",
    "=": "=",
}
_APPROX_RE = re.compile(r"\\approx(?![a-zA-Z])")
_TEXT_STRIP_RE = re.compile(r"\\text|\\mathrm|[\s{}]")


def canonical_text(s: str) -> str:
    """Lower-case text with spaces, braces and ``\\text`` markers removed (for text answers)."""
    return _TEXT_STRIP_RE.sub("", s).lower().rstrip(".")


def _split_top(s: str, seps: str) -> list[str]:
    """Split on single-character separators outside any bracket (``\\{``/``\\}`` count too)."""
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
        elif depth == 0 and c in seps:
            parts.append(s[start:i])
            start = i + 1
        i += 1
    parts.append(s[start:])
    return parts


def _outer_span(s: str) -> bool:
    """True when the first character's bracket closes exactly at the last character."""
    depth = 0
    for i, c in enumerate(s):
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
    return False


def _split_relations(s: str) -> list[str]:
    """Top-level relation operators split ``s`` into ``[side, op, side, op, ...]``."""
    depth_at = []
    depth = 0
    for c in s:
        depth_at.append(depth)
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth -= 1
    out: list[str] = []
    last = 0
    for m in _REL_RE.finditer(s):
        if depth_at[m.start()] != 0:
            continue
        out.append(s[last : m.start()])
        out.append(_REL_CANON[m.group()])
        last = m.end()
    if not out:
        return [s]
    out.append(s[last:])
    return out


def _strip_prefix(s: str) -> str:
    m = _PREFIX_RE.match(s)
    if m and "=" not in s[m.end() :]:
        return s[m.end() :]
    return s


def _parse_item(s: str) -> Answer:
    s = s.strip()
    if not s:
        raise ParseError("empty item")
    m = _MATRIX_RE.match(s)
    if m:
        body = m.group(2).strip()
        rows = [r for r in re.split(r"\\\\", body) if r.strip()]
        if not rows or len(rows) > MAX_ITEMS:
            raise ParseError("bad matrix")
        return ("matrix", tuple(tuple(_parse_item(c) for c in r.split("&")) for r in rows))
    if "\\cup" in s:
        parts = [p for p in re.split(r"\\cup", s)]
        if len(parts) > 1:
            items = tuple(_parse_item(p) for p in parts)
            if all(it[0] == "seq" for it in items):
                return ("union", items)
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        items = [p for p in _split_top(inner, ",;") if p.strip()]
        return ("set", tuple(_parse_item(_strip_prefix(p)) for p in items[:MAX_ITEMS]))
    if s[0] in "([" and s[-1] in ")]" and _outer_span(s):
        inner = s[1:-1]
        items = _split_top(inner, ",")
        if len(items) > 1:
            if len(items) > MAX_ITEMS:
                raise ParseError("too many items")
            return ("seq", s[0], s[-1], tuple(_parse_item(p) for p in items))
        if s[0] == "(":
            return _parse_item(inner)
    parts = _split_relations(s)
    if len(parts) > 1:
        ops = set(parts[1::2])
        sides = parts[0::2]
        if ops == {"="}:
            trees = [parse_expression(side.strip()) for side in sides]
            if len(trees) > 2 and trees[0][0] == "var":
                trees = trees[1:]  # "x = 2\sqrt5 = \sqrt{20}"
            if not any(free_variables(t) for t in trees):
                return ("expr", trees[-1])  # a chain of values: "2\sqrt5 = \sqrt{20}" -> the last
            if len(trees) == 2:
                return ("rel", "=", trees[0], trees[1])
            raise ParseError("unreadable chain of equations")
        if len(sides) == 2 and len(ops) == 1:
            op = parts[1]
            lhs = parse_expression(sides[0].strip())
            rhs = parse_expression(sides[1].strip())
            if op in (">", ">="):
                op, lhs, rhs = op.replace(">", "<"), rhs, lhs
            return ("rel", op, lhs, rhs)
        raise ParseError("unreadable relation")
    try:
        return ("expr", parse_expression(s))
    except ParseError:
        return ("text", canonical_text(s))


@lru_cache(maxsize=8192)
def _parse_cached(s: str) -> Answer | ParseError:
    try:
        return _parse(s)
    except ParseError as exc:
        return exc
    except (ValueError, ZeroDivisionError, RecursionError, IndexError) as exc:
        return ParseError(str(exc))


def _parse(s: str) -> Answer:
    s = s.strip()
    approx = _APPROX_RE.search(s)
    if approx:
        s = s[: approx.start()].strip()  # "2\sqrt5 \approx 4.47": the exact value is the answer
    if not s:
        raise ParseError("empty answer")
    pm = re.search(r"\\(?:pm|mp)(?![a-zA-Z])", s)
    if pm and s.count("\\pm") + s.count("\\mp") == 1:
        s = _strip_prefix(s)
        return (
            "list",
            (_parse_item(s.replace(pm.group(), "+", 1)), _parse_item(s.replace(pm.group(), "-", 1))),
        )
    s = _WORD_SEP_RE.sub(";", s)
    items = [p for p in _split_top(s, ",;")]
    if len(items) > 1:
        if any(not p.strip() for p in items):
            raise ParseError("empty list item")
        if len(items) > MAX_ITEMS:
            raise ParseError("too many items")
        return ("list", tuple(_parse_item(_strip_prefix(p)) for p in items))
    return _parse_item(_strip_prefix(s))


def parse_answer(normalized: str) -> Answer:
    """The shape of a normalised answer (see the module docstring); raises ``ParseError``.

    >>> parse_answer("3, 2")[0], parse_answer("(-2, 7]")[0:3], parse_answer("x = 5")
    ('list', ('seq', '(', ']'), ('expr', ('num', Fraction(5, 1), False)))
    """
    result = _parse_cached(normalized)
    if isinstance(result, ParseError):
        raise result
    return result


def _match_unordered(preds: tuple, golds: tuple, budget: Budget, abs_tol: float | None) -> bool:
    if len(preds) != len(golds):
        return False
    used = [False] * len(preds)

    def assign(i: int) -> bool:
        if i == len(golds):
            return True
        for j, p in enumerate(preds):
            if not used[j] and answers_equal(p, golds[i], budget, abs_tol=abs_tol):
                used[j] = True
                if assign(i + 1):
                    return True
                used[j] = False
        return False

    return assign(0)


def answers_equal(pred: Answer, gold: Answer, budget: Budget, *, abs_tol: float | None = None) -> bool:
    """Whether a predicted answer equals the gold one (rules in the module docstring).

    Raises ``rewards.expr.Unscorable`` when a value is too large or the budget runs out.
    """
    pk, gk = pred[0], gold[0]
    if gk == "expr" and pk == "expr":
        return values_equal(pred[1], gold[1], budget, abs_tol=abs_tol)
    if gk == "text" or pk == "text":
        return pk == gk == "text" and pred[1] == gold[1]
    if gk in ("list", "set") and pk in ("list", "set"):
        return _match_unordered(pred[1], gold[1], budget, abs_tol)
    if gk == "union" and pk == "union":
        return _match_unordered(pred[1], gold[1], budget, abs_tol)
    if gk == "seq" and pk == "seq":
        return (
            pred[1] == gold[1]
            and pred[2] == gold[2]
            and len(pred[3]) == len(gold[3])
            and all(
                answers_equal(p, g, budget, abs_tol=abs_tol) for p, g in zip(pred[3], gold[3], strict=True)
            )
        )
    if gk == "matrix" and pk == "matrix":
        if len(pred[1]) != len(gold[1]) or any(
            len(a) != len(b) for a, b in zip(pred[1], gold[1], strict=False)
        ):
            return False
        return all(
            answers_equal(p, g, budget, abs_tol=abs_tol)
            for prow, grow in zip(pred[1], gold[1], strict=True)
            for p, g in zip(prow, grow, strict=True)
        )
    if gk == "rel" and pk == "rel":
        if pred[1] != gold[1]:
            return False
        if gold[1] == "=":
            return _equations_equal(pred, gold, budget)
        return values_equal(pred[2], gold[2], budget) and values_equal(pred[3], gold[3], budget)
    return False


def _equations_equal(pred: Answer, gold: Answer, budget: Budget) -> bool:
    """``a = b`` equals ``c = d`` when ``a - b = k (c - d)`` for one constant ``k != 0``."""
    return values_proportional(("sub", pred[2], pred[3]), ("sub", gold[2], gold[3]), budget)
