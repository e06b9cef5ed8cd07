"""Structured final answers and their equivalence: numbers, lists, tuples, intervals, sets, matrices.

``parse_answer`` reads a (normalised) answer into one of these shapes, each a tuple:

* ``("expr", tree)``: one expression (``rewards.expr``);
* ``("list", items)``: several answers separated by top-level commas, semicolons, ``or``/``and``
  (also ``, and``: ``19, 46, and 82``) or expanded from ``\\pm``; compared **unordered** (an "all
  solutions" answer: ``3, 2`` equals ``2, 3``; an extra or missing root is wrong; ``5 or 10`` is
  not ``5``);
* ``("seq", open, close, items)``: a bracketed tuple or interval; compared **in order with the
  same brackets** (``(1,-2)`` is not ``(-2,1)``; ``(-2,7]`` is not ``[-2,7)``);
* ``("union", items)``: intervals joined by ``\\cup``, unordered;
* ``("set", items)``: ``\\{1, 2\\}``, unordered (equal to the same solutions as a list);
* ``("matrix", rows)``: ``pmatrix``/``bmatrix``/``matrix``/``array`` (also inside ``[..]`` or
  ``(..)``), element-wise;
* ``("ratio", items)``: ``11:21``, element-wise (``22:42`` is another spelling, not the answer);
* ``("rel", op, lhs, rhs)``: an equation or inequality (``=`` compares ``lhs-rhs`` up to a
  non-zero factor, so a rearranged line ``2x - y + 3 = 0`` equals ``y = 2x + 3``; ``<``/``\\le``
  compare both sides, with ``>`` flipped to ``<``);
* ``("order", ops, terms)``: an ordering ``f(2) < f(1) < f(4)``, term by term (``>`` read from
  the right);
* ``("named", name, answer)``: a named quantity, ``x = 5``, ``(p,q)=(3,2)``, ``f(x)=1``,
  ``V_1:V_2=11:21``, ``x \\in [2,5]``; the name is dropped when the other side has none (MATH's
  ``_strip_string`` drops ``x=``), two different names are different answers, and against an
  equation gold ``y = 2x+3`` is the equation;
* ``("text", canonical, original)``: anything else, compared as lower-case text without
  spaces/braces.

Inequalities in one variable are intervals (Math-Verify compares them so): ``-2 \\le x \\le 7``
equals ``[-2, 7]``, ``x > 3`` equals ``(3, \\infty)``, ``x < -1 or x > 5`` equals
``(-\\infty,-1) \\cup (5,\\infty)``; but only against a gold that is unmistakably an interval
(a square bracket, an infinite end or a union), never against ``(1, 3)``, which may be a point.
In a chain ``x = 2\\sqrt5 = \\sqrt{20}`` of constants the last value is the answer; in
``2\\sqrt5 \\approx 4.47`` the exact value before ``\\approx`` is (``x \\approx 4.47``: the value
after it).
"""

from __future__ import annotations

import re
from functools import lru_cache

from rewards.expr import (
    GREEK,
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
# A name: a letter or Greek letter, an optional subscript, an optional argument list (f(x));
# or a geometric one: a segment or angle (AB, \angle ABC, m\angle A) or a ratio of segments.
_SYMBOL = (
    r"(?:(?:m\s*)?\\angle\s*[A-Z]{1,3}|[A-Z]{2,3}(?![a-zA-Z])|(?:[a-zA-Z]|\\(?:"
    + "|".join(sorted(GREEK, key=len, reverse=True))
    + r"))(?![a-zA-Z]))"
)
_NAME = (
    r"(?:\\frac\s*\{\s*[A-Z]{1,3}\s*\}\s*\{\s*[A-Z]{1,3}\s*\}|"
    + _SYMBOL
    + r"(?:_\{[a-zA-Z0-9]+\}|_[a-zA-Z0-9])?"
    r"(?:\s*\(\s*[a-zA-Z](?:\s*,\s*[a-zA-Z])*\s*\))?)"
)
_ARGUMENTS_RE = re.compile(r"\([a-zA-Z,]*\)$")
# What a named quantity's left side may be: a name, a tuple of names, or a ratio of names.
_NAMED_RE = re.compile(
    rf"^\s*(?P<lhs>{_NAME}|\(\s*{_NAME}(?:\s*,\s*{_NAME})+\s*\)|{_NAME}(?:\s*:\s*{_NAME})+)"
    r"\s*(?:=(?!=)|\\in(?![a-zA-Z]))\s*"
)
_NAME_ONLY_RE = re.compile(rf"^\s*{_NAME}\s*$")
_WORD_SEP_RE = re.compile(r"(?:\s*,)?\s+(?:or|and)\s+", re.IGNORECASE)
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
_PM_RE = re.compile(r"\\(?:pm|mp)(?![a-zA-Z])")
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


def _split_named(s: str) -> tuple[str, str] | None:
    """``(name, rest)`` for ``NAME = rest`` / ``NAME \\in rest`` (no other top-level ``=``), else None."""
    m = _NAMED_RE.match(s)
    if m is None:
        return None
    rest = s[m.end() :]
    if not rest.strip() or len(_split_relations(rest)) > 1:
        return None
    name = re.sub(r"\s+", "", m.group("lhs"))
    if not name.startswith("("):
        # W(n) = 1 and W(x) = 1 name the same value: the argument's letter is not part of the name.
        name = _ARGUMENTS_RE.sub("", name)
    return name, rest


def _interval_of(rel: Answer) -> Answer | None:
    """``x < 3`` as ``(-\\infty, 3)`` (one variable against a constant), ``1 < x < 3`` as
    ``(1, 3)``, else None."""
    if rel[0] == "chain":
        return rel[1]
    if rel[0] != "rel" or rel[1] not in ("<", "<="):
        return None
    _, op, lhs, rhs = rel
    inf = ("expr", ("const", "inf"))
    if lhs[0] == "var" and not free_variables(rhs):
        return ("seq", "(", ")" if op == "<" else "]", (("expr", ("neg", inf[1])), ("expr", rhs)))
    if rhs[0] == "var" and not free_variables(lhs):
        return ("seq", "(" if op == "<" else "[", ")", (("expr", lhs), inf))
    return None


def _chain(parts: list[str]) -> Answer | None:
    """``a < x \\le b`` (or reversed with ``>``) as ``("chain", (a, b])``; ``f(2) < f(1) < f(4)``
    (an ordering, no constant ends) as ``("order", ops, terms)``; else None."""
    ops = parts[1::2]
    if len(parts) < 5 or any(op not in ("<", "<=", ">", ">=") for op in ops):
        return None
    if len({op[0] for op in ops}) != 1:
        return None  # "a < x > b" is neither an interval nor an ordering
    terms = [parse_expression(p.strip()) for p in parts[0::2]]
    if ops[0][0] == ">":
        terms, ops = terms[::-1], [op.replace(">", "<") for op in ops[::-1]]
    if (
        len(parts) != 5
        or free_variables(terms[0])
        or free_variables(terms[2])
        or not free_variables(terms[1])
    ):
        return ("order", tuple(ops), tuple(terms))
    low, _, high = terms
    interval = (
        "seq",
        "(" if ops[0] == "<" else "[",
        ")" if ops[1] == "<" else "]",
        (("expr", low), ("expr", high)),
    )
    return ("chain", interval)


def _parse_item(s: str) -> Answer:
    s = s.strip()
    if not s:
        raise ParseError("empty item")
    named = _split_named(s)
    if named is not None:
        return ("named", named[0], _parse_item(named[1]))
    m = _MATRIX_RE.match(s)
    if m is None and len(s) > 2 and s[0] in "([" and s[-1] in ")]" and _outer_span(s):
        m = _MATRIX_RE.match(s[1:-1].strip())  # \left[\begin{array}{cc}..\end{array}\right]
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
            if all(it[0] in ("seq", "set") for it in items):
                return ("union", items)
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2]
        items = [p for p in _split_top(inner, ",;") if p.strip()]
        return ("set", _expand_pm(tuple(_parse_item(p) for p in items[:MAX_ITEMS]), items[:MAX_ITEMS]))
    if s[0] in "([" and s[-1] in ")]" and _outer_span(s):
        inner = s[1:-1]
        items = _split_top(inner, ",")
        if len(items) > 1:
            if len(items) > MAX_ITEMS:
                raise ParseError("too many items")
            return ("seq", s[0], s[-1], tuple(_parse_item(p) for p in items))
        if s[0] == "(":
            return _parse_item(inner)
    ratio = _split_top(s, ":")
    if 1 < len(ratio) <= MAX_ITEMS:
        try:
            return ("ratio", tuple(("expr", parse_expression(p.strip())) for p in ratio))
        except ParseError:
            return ("text", canonical_text(s), s)
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
        interval = _chain(parts)
        if interval is not None:
            return interval
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
        return ("text", canonical_text(s), s)


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
        before, after = s[: approx.start()].strip(), s[approx.end() :].strip()
        if not before or (_NAME_ONLY_RE.match(before) and after):
            s = after  # "x \approx 4.47": the value is after it
        else:
            s = before  # "2\sqrt5 \approx 4.47": the exact value is the answer
    if not s:
        raise ParseError("empty answer")
    pm = _PM_RE.search(s)
    if (
        pm
        and s.count("\\pm") + s.count("\\mp") == 1
        and len(_split_top(s, ",;")) == 1
        and not s.startswith("\\{")
    ):
        named = _split_named(s)
        if named is not None:
            s = named[1]
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
        return ("list", _expand_pm(tuple(_parse_item(p) for p in items), items))
    return _parse_item(s)


def _expand_pm(parsed: tuple, texts: list[str]) -> tuple:
    """List or set items with one ``\\pm`` become their two solutions (``-2, 1 \\pm \\sqrt5``)."""
    out: list[Answer] = []
    for answer, text in zip(parsed, texts, strict=True):
        pm = _PM_RE.search(text)
        if pm and text.count("\\pm") + text.count("\\mp") == 1:
            out += [_parse_item(text.replace(pm.group(), sign, 1)) for sign in "+-"]
        else:
            out.append(answer)
    return tuple(out)


def parse_answer(normalized: str) -> Answer:
    """The shape of a normalised answer (see the module docstring); raises ``ParseError``.

    >>> parse_answer("3, 2")[0], parse_answer("(-2, 7]")[0:3], parse_answer("x = 5")
    ('list', ('seq', '(', ']'), ('named', 'x', ('expr', ('num', Fraction(5, 1), False))))
    >>> parse_answer("-2 \\\\le x \\\\le 7")[1][0:3], parse_answer("11:21")[0]
    (('seq', '[', ']'), 'ratio')
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


def _is_interval(answer: Answer) -> bool:
    """A gold that can only be an interval: a square bracket or an infinite end (``(1, 3)`` may be a point)."""
    if answer[0] != "seq" or len(answer[3]) != 2:
        return False
    ends = [item[1] for item in answer[3] if item[0] == "expr"]
    infinite = any(e == ("const", "inf") or e == ("neg", ("const", "inf")) for e in ends)
    return "[" in (answer[1], answer[2]) or "]" in (answer[1], answer[2]) or infinite


def _as_intervals(answer: Answer) -> tuple | None:
    """The intervals of ``x < 3`` or ``x < -1 or x > 5`` (a list of one-variable inequalities), else None."""
    items = answer[1] if answer[0] == "list" else (answer,)
    out = []
    for item in items:
        interval = _interval_of(item[2] if item[0] == "named" else item)
        if interval is None:
            return None
        out.append(interval)
    return tuple(out)


def _interval_view(answer: Answer, *, is_gold: bool) -> tuple[tuple | None, bool]:
    """``(intervals, from_inequalities)``: the intervals an answer denotes, and whether it was
    written as inequalities. A gold ``(a, b)`` counts only when it is unmistakably an interval
    (it may be a point); a predicted ``(1, 3)`` for the gold ``1 < x < 3`` is that interval."""
    kind = answer[0]
    if kind == "union":
        return answer[1], False
    if kind == "seq":
        return ((answer,) if len(answer[3]) == 2 and (_is_interval(answer) or not is_gold) else None), False
    return _as_intervals(answer), True


def _intervals_equal(pred: Answer, gold: Answer, budget: Budget, abs_tol: float | None) -> bool:
    """Inequalities against intervals, as the sets of numbers they describe (module docstring)."""
    preds, pred_ineq = _interval_view(pred, is_gold=False)
    golds, gold_ineq = _interval_view(gold, is_gold=True)
    if preds is None or golds is None or not (pred_ineq or gold_ineq):
        return False
    return _match_unordered(preds, golds, budget, abs_tol)


def _named_as_equation(named: Answer) -> Answer | None:
    """``y = 2x + 3`` as the equation ``("rel", "=", y, 2x + 3)`` when its name is one variable."""
    inner = named[2]
    if inner[0] != "expr":
        return None
    try:
        lhs = parse_expression(named[1])
    except ParseError:
        return None
    return ("rel", "=", lhs, inner[1]) if lhs[0] == "var" else None


def answers_equal(pred: Answer, gold: Answer, budget: Budget, *, abs_tol: float | None = None) -> bool:
    """Whether a predicted answer equals the gold one (rules in the module docstring).

    Raises ``rewards.expr.Unscorable`` when a value is too large or the budget runs out.
    """
    pk, gk = pred[0], gold[0]
    if pk == "named" or gk == "named":
        if pk == gk:
            return pred[1] == gold[1] and answers_equal(pred[2], gold[2], budget, abs_tol=abs_tol)
        named, other = (pred, gold) if pk == "named" else (gold, pred)
        if other[0] == "rel" and other[1] == "=":
            equation = _named_as_equation(named)
            if equation is None:
                return False
            return (
                answers_equal(equation, other, budget)
                if pk == "named"
                else answers_equal(other, equation, budget)
            )
        if pk == "named":
            return answers_equal(pred[2], gold, budget, abs_tol=abs_tol)
        return answers_equal(pred, gold[2], budget, abs_tol=abs_tol)
    if gk == "expr" and pk == "expr":
        return values_equal(pred[1], gold[1], budget, abs_tol=abs_tol)
    if gk == "text" or pk == "text":
        return pk == gk == "text" and pred[1] == gold[1]
    if gk in ("list", "set") and pk in ("list", "set"):
        return _match_unordered(pred[1], gold[1], budget, abs_tol)
    if "chain" in (pk, gk) or {pk, gk} & {"seq", "union"} and {pk, gk} & {"rel", "list"}:
        return _intervals_equal(pred, gold, budget, abs_tol)
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
    if gk == "ratio" and pk == "ratio":
        return len(pred[1]) == len(gold[1]) and all(
            answers_equal(p, g, budget, abs_tol=abs_tol) for p, g in zip(pred[1], gold[1], strict=True)
        )
    if gk == "order" and pk == "order":
        if pred[1] != gold[1] or len(pred[2]) != len(gold[2]):
            return False
        return all(values_equal(p, g, budget) for p, g in zip(pred[2], gold[2], strict=True))
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
