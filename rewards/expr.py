"""A small LaTeX/plain-text expression parser and a bounded evaluator for answer equivalence.

Why not ``sympy.parse_expr`` + ``simplify``: ``parse_expr`` runs ``eval`` on model output, and
``simplify`` has no time bound (a verifier that hangs freezes a
run). Here the answer is parsed by a recursive-descent parser into a tuple tree, and two answers
are equal when they have the same value:

* **exactly** when both sides are rational numbers (``fractions.Fraction``: ``0.5 == \\frac12``,
  ``18.90 == 18.9``, ``10^{3} == 1000``, ``5! == 120``, ``\\sqrt{16} == 4``);
* otherwise **numerically at 40 significant digits** (mpmath), which decides closed forms such as
  ``\\sqrt{18} == 3\\sqrt2`` or ``\\frac{1}{\\sqrt2} == \\frac{\\sqrt2}{2}``; expressions with
  variables are compared at three fixed, irrational-looking points (polynomial identity testing),
  so ``(x+1)^2 == x^2+2x+1``.

A decimal prediction for a gold value that is not rational is never equal (``4.47`` is not
``2\\sqrt5``): see ``values_equal``.

Every evaluation runs under a ``Budget`` (a deadline checked at every node, thread-safe, no
signals) and size guards (exponents, factorials, digits), so no input can make it hang:
``9^{9^{9}}`` is refused in microseconds instead of computed.

Conventions: ``e`` is Euler's number and ``i`` the imaginary unit; ``\\log`` is base 10, ``\\ln``
base e; TeX argument rules (``\\frac12`` = 1/2, ``x^23`` = x^2·3, ``\\sqrt3`` = √3); implicit
multiplication binds like ``*`` (but two numbers in a row, ``2 3``, are not a product); ``1.2e3``
is scientific notation; an unknown word of four or more letters is not an expression.
"""

from __future__ import annotations

import math
import re
import time
from fractions import Fraction
from functools import lru_cache
from typing import Any

import mpmath

__all__ = [
    "EVAL_BUDGET_S",
    "GREEK",
    "Budget",
    "ParseError",
    "Unscorable",
    "evaluate",
    "free_variables",
    "has_decimal",
    "parse_expression",
    "values_equal",
    "values_proportional",
]

#: Seconds one comparison may spend evaluating before it gives up (the answer is then unscorable).
EVAL_BUDGET_S = 0.25
#: Largest exact integer power, in bits of the result; beyond it mpmath (with a magnitude guard).
MAX_EXACT_BITS = 200_000
#: Largest |log10| of any intermediate value; beyond it the expression is refused as too large.
MAX_LOG10 = 100_000
MAX_DEPTH = 60
#: Longest number literal (digits) and largest ``e`` exponent of a literal such as ``1.5e300``.
MAX_LITERAL_DIGITS = 400
MAX_LITERAL_EXPONENT = 1000
#: Largest argument of a trigonometric function (``\\sin(10^{90000})`` would need 90,000 digits).
MAX_TRIG_ARGUMENT = 10**12
_DPS = 40
_REL_TOL = mpmath.mpf("1e-25")

# A private context: the precision is set once here and never changed, so threads can share it.
_mp = mpmath.MPContext()
_mp.dps = _DPS


class ParseError(ValueError):
    """The text is not an expression this parser understands (it is compared as text instead)."""


class Unscorable(ValueError):
    """The expression is too large or too slow to evaluate within its budget."""


class Budget:
    """A deadline for one comparison, checked cooperatively at every evaluated node."""

    __slots__ = ("deadline", "steps")

    def __init__(self, seconds: float = EVAL_BUDGET_S):
        self.deadline = time.perf_counter() + seconds
        self.steps = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps & 31 == 0 and time.perf_counter() > self.deadline:
            raise Unscorable("evaluation exceeded its time budget")


# ----------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+(?![\d.]))?)|(?P<cmd>\\[a-zA-Z]+)|(?P<word>[a-zA-Z]+)"
    r"|(?P<sym>\*\*|\\[{}|]|[-+*/^!_(){}\[\]|'])|(?P<ws>\s+)|(?P<bad>.)"
)

# fmt: off
_FUNCS = frozenset(
    (
        "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
        "ln", "log", "exp", "sqrt",
    )
)
# fmt: on
# fmt: off
GREEK = frozenset(
    (
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
        "lambda", "mu", "nu", "xi", "rho", "varrho", "sigma", "tau", "upsilon", "phi", "varphi", "chi",
        "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
    )
)
# fmt: on
_WORD_ALIASES = {
    "pi": ("const", "pi"),
    "inf": ("const", "inf"),
    "infty": ("const", "inf"),
    "infinity": ("const", "inf"),
}
_MAX_SPLIT_WORD = 3


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        value = m.group()
        if kind == "ws":
            continue
        if kind == "bad":
            raise ParseError(f"unexpected character {value!r}")
        if kind == "sym" and value == "**":
            value = "^"
        if kind == "cmd":
            name = value[1:]
            if name in ("cdot", "times", "ast"):
                tokens.append(("sym", "*"))
            elif name == "div":
                tokens.append(("sym", "/"))
            elif name in ("pi", "infty"):
                tokens.append(("const", "pi" if name == "pi" else "inf"))
            elif name in GREEK:
                tokens.append(("var", name))
            else:
                tokens.append(("cmd", name))
            continue
        if kind == "word":
            low = value
            if low in _WORD_ALIASES:
                tokens.append(_WORD_ALIASES[low])
            elif low in _FUNCS:
                tokens.append(("cmd", low))
            elif len(value) <= _MAX_SPLIT_WORD:
                for ch in value:  # "xy" is x*y
                    tokens.append(("var", ch))
            else:
                raise ParseError(f"unknown word {value!r}")
            continue
        tokens.append((kind, value))
    return tokens


# ----------------------------------------------------------------------------------------------
# Parser: a tuple tree. Nodes: ("num", Fraction, is_decimal) ("const", name) ("var", name)
# ("add"|"sub"|"mul"|"div"|"pow", a, b) ("neg", a) ("fact", a) ("func", name, a) ("log", base, a)
# ("root", a, n) ("binom", a, b) ("abs"|"floor"|"ceil", a)
# ----------------------------------------------------------------------------------------------

_ATOM_START_SYMS = frozenset("({[|")
_ATOM_START_KINDS = frozenset(("num", "var", "const", "cmd"))
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.toks = tokens
        self.pos = 0
        self.depth = 0
        self.abs_depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def next(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end of expression")
        self.pos += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.next()
        if tok[1] != value or tok[0] not in ("sym", "cmd"):
            raise ParseError(f"expected {value!r}, got {tok[1]!r}")

    def at_sym(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "sym" and tok[1] == value

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("expression nested too deeply")

    def parse(self) -> tuple:
        node = self.expr()
        if self.pos != len(self.toks):
            raise ParseError(f"unexpected {self.toks[self.pos][1]!r}")
        return node

    def expr(self) -> tuple:
        self.enter()
        node = self.term()
        while True:
            if self.at_sym("+"):
                self.pos += 1
                node = ("add", node, self.term())
            elif self.at_sym("-"):
                self.pos += 1
                node = ("sub", node, self.term())
            else:
                break
        self.depth -= 1
        return node

    def starts_atom(self) -> bool:
        tok = self.peek()
        if tok is None:
            return False
        if tok[0] in _ATOM_START_KINDS:
            return not (tok[0] == "cmd" and tok[1] in ("rfloor", "rceil"))
        if tok[0] == "sym" and tok[1] in _ATOM_START_SYMS:
            return not (tok[1] == "|" and self.abs_depth > 0)
        return False

    def term(self) -> tuple:
        node = self.unary()
        while True:
            if self.at_sym("*"):
                self.pos += 1
                node = ("mul", node, self.unary())
            elif self.at_sym("/"):
                self.pos += 1
                node = ("div", node, self.unary())
            elif self.starts_atom():
                if self.toks[self.pos - 1][0] == "num" and self.toks[self.pos][0] == "num":
                    raise ParseError("two numbers in a row")  # "1 000" is not 1 * 000
                node = ("mul", node, self.power())
            else:
                return node

    def unary(self) -> tuple:
        if self.at_sym("-"):
            self.pos += 1
            return ("neg", self.unary())
        if self.at_sym("+"):
            self.pos += 1
            return self.unary()
        return self.power()

    def power(self) -> tuple:
        base = self.postfix()
        if self.at_sym("^"):
            self.pos += 1
            return ("pow", base, self.exponent())
        return base

    def exponent(self) -> tuple:
        self.enter()
        if self.at_sym("-"):
            self.pos += 1
            node = ("neg", self.exponent())
        elif self.at_sym("+"):
            self.pos += 1
            node = self.exponent()
        else:
            node = self.single_arg()
            while self.at_sym("!"):
                self.pos += 1
                node = ("fact", node)
        self.depth -= 1
        return node

    def single_arg(self) -> tuple:
        """A TeX macro argument: a braced group, or one token (one digit of a number)."""
        tok = self.peek()
        if tok is None:
            raise ParseError("missing argument")
        if tok[0] == "num" and len(tok[1]) > 1 and tok[1][0] != ".":
            # \frac12 -> {1}{2}; x^23 -> x^{2}3: take one digit and leave the rest in place.
            self.toks[self.pos] = ("num", tok[1][1:])
            return ("num", Fraction(int(tok[1][0])), False)
        if tok[0] == "sym" and tok[1] in ("{", "("):
            return self.group()
        if tok[0] in ("num", "var", "const") or tok[0] == "cmd":
            return self.atom()
        raise ParseError(f"bad argument {tok[1]!r}")

    def group(self) -> tuple:
        open_ = self.next()[1]
        node = self.expr()
        self.expect(_CLOSERS[open_])
        return node

    def postfix(self) -> tuple:
        node = self.atom()
        while self.at_sym("!") or self.at_sym("'"):
            if self.next()[1] == "'":
                raise ParseError("derivative marks are not values")
            node = ("fact", node)
        return node

    def atom(self) -> tuple:
        self.enter()
        kind, value = self.next()
        if kind == "num":
            node: tuple = ("num", _to_fraction(value), "." in value)
        elif kind == "const":
            node = ("const", value)
        elif kind == "var":
            node = self.variable(value)
        elif kind == "sym" and value in _CLOSERS:
            self.pos -= 1
            node = self.group()
        elif kind == "sym" and value == "|":
            self.abs_depth += 1
            inner = self.expr()
            self.abs_depth -= 1
            self.expect("|")
            node = ("abs", inner)
        elif kind == "cmd":
            node = self.command(value)
        else:
            raise ParseError(f"unexpected {value!r}")
        self.depth -= 1
        return node

    def variable(self, name: str) -> tuple:
        if name == "e":
            return ("const", "e")
        if name == "i":
            return ("const", "i")
        if self.at_sym("_"):
            self.pos += 1
            tok = self.peek()
            if tok is not None and tok[0] == "sym" and tok[1] == "{":
                start = self.pos
                self.group()
                sub = "".join(t[1] for t in self.toks[start : self.pos])
            else:
                sub = self.next()[1]
            name = f"{name}_{sub}"
        return ("var", name)

    def command(self, name: str) -> tuple:
        if name in ("frac", "cfrac"):
            return ("div", self.single_arg(), self.single_arg())
        if name == "binom":
            return ("binom", self.single_arg(), self.single_arg())
        if name == "sqrt":
            index: tuple = ("num", Fraction(2), False)
            if self.at_sym("["):
                self.pos += 1
                index = self.expr()
                self.expect("]")
            return ("root", self.single_arg(), index)
        if name in ("lfloor", "lceil"):
            inner = self.expr()
            self.expect("rfloor" if name == "lfloor" else "rceil")
            return ("floor" if name == "lfloor" else "ceil", inner)
        if name in _FUNCS:
            base = None
            power = None
            if name == "log" and self.at_sym("_"):
                self.pos += 1
                base = self.single_arg()
            if self.at_sym("^"):  # \sin^2 x
                self.pos += 1
                power = self.exponent()
            tok = self.peek()
            if tok is not None and tok[0] == "sym" and tok[1] in ("(", "{"):
                arg = self.group()
            else:
                arg = self.power()
            if name == "sqrt":
                node: tuple = ("root", arg, ("num", Fraction(2), False))
            elif name == "log":
                node = ("log", base if base is not None else ("num", Fraction(10), False), arg)
            else:
                node = ("func", name, arg)
            return ("pow", node, power) if power is not None else node
        raise ParseError(f"unsupported command \\{name}")


_LITERAL_RE = re.compile(r"^(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$")


def _to_fraction(text: str) -> Fraction:
    """A number literal as an exact ``Fraction``, refused *before* building it when it is too large.

    ``Fraction("1e999999999")`` would compute ``10**999999999`` (minutes, gigabytes); here the
    digits and the exponent are checked first: at most ``MAX_LITERAL_DIGITS`` digits and an
    exponent of at most ``MAX_LITERAL_EXPONENT`` in absolute value.
    """
    m = _LITERAL_RE.match(text)
    if m is None:
        raise ParseError(f"bad number {text!r}")
    whole, frac, exp = m.group(1), m.group(2) or "", m.group(3)
    if len(whole) + len(frac) > MAX_LITERAL_DIGITS:
        raise ParseError("number literal too long")
    if exp is not None and (len(exp.lstrip("+-")) > 6 or abs(int(exp)) > MAX_LITERAL_EXPONENT):
        raise ParseError(f"exponent of {text[:20]!r} too large")
    value = Fraction(int(whole + frac or "0"), 10 ** len(frac))
    if exp is not None:
        e = int(exp)
        value = value * 10**e if e >= 0 else value / 10**-e
    return value


_MIXED_LATEX_RE = re.compile(r"^(-?)\s*(\d+)\s*\\frac\s*\{?\s*(\d+)\s*\}?\s*\{?\s*(\d+)\s*\}?$")
_MIXED_PLAIN_RE = re.compile(r"^(-?)\s*(\d+)\s+(\d+)\s*/\s*(\d+)$")


@lru_cache(maxsize=8192)
def _parse_cached(text: str) -> tuple | ParseError:
    try:
        m = _MIXED_LATEX_RE.match(text) or _MIXED_PLAIN_RE.match(text)
        if m and int(m.group(3)) < int(m.group(4)):
            # A mixed number: 2\frac{1}{2} is 5/2, not 2 * 1/2.
            value = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
            node: tuple = ("num", -value if m.group(1) else value, False)
            return node
        tokens = _tokenize(text)
        if not tokens:
            raise ParseError("empty expression")
        return _Parser(tokens).parse()
    except ParseError as exc:
        return exc
    except (ValueError, ZeroDivisionError, RecursionError) as exc:
        return ParseError(str(exc))


def parse_expression(text: str) -> tuple:
    """Parse one normalised expression into a tuple tree; raises ``ParseError``.

    >>> parse_expression("2\\\\sqrt{3}")
    ('mul', ('num', Fraction(2, 1), False), ('root', ('num', Fraction(3, 1), False), ('num', Fraction(2, 1), False)))
    """
    result = _parse_cached(text)
    if isinstance(result, ParseError):
        raise result
    return result


def free_variables(node: tuple) -> frozenset[str]:
    """Names of the variables in a tree."""
    if node[0] == "var":
        return frozenset((node[1],))
    out: frozenset[str] = frozenset()
    for child in node[1:]:
        if isinstance(child, tuple):
            out |= free_variables(child)
    return out


def has_decimal(node: tuple) -> bool:
    """True when a number in the tree was written with a decimal point."""
    if node[0] == "num":
        return bool(node[2])
    return any(isinstance(child, tuple) and has_decimal(child) for child in node[1:])


# ----------------------------------------------------------------------------------------------
# Evaluation: Fraction while exact, mpmath (40 digits) otherwise
# ----------------------------------------------------------------------------------------------

Value = Any  # Fraction | mpf | mpc


def _mpv(x: Value) -> Any:
    if isinstance(x, Fraction):
        return _mp.mpf(x.numerator) / x.denominator if x.denominator != 1 else _mp.mpf(x.numerator)
    return x


def _exact_size(x: Fraction) -> Fraction:
    """An exact result, refused when it outgrows ``MAX_EXACT_BITS`` (never rounded to 40 digits:
    ``10^{100000} + 1 - 10^{100000}`` must not become 0)."""
    if x.numerator.bit_length() > MAX_EXACT_BITS or x.denominator.bit_length() > MAX_EXACT_BITS:
        raise Unscorable("number too large to compare exactly")
    return x


#: Digits of the 40 that a sum may cancel before its result is no longer trusted.
_MAX_CANCELLED_DIGITS = 25
_CANCEL_RATIO = mpmath.mpf(10) ** -_MAX_CANCELLED_DIGITS


def _sum(a: Any, b: Any) -> Any:
    """``a + b`` at 40 digits, refused when the sum cancels more than 25 of them.

    ``\\pi 10^{50} + 1 - \\pi 10^{50}`` is 1, but at 40 digits it evaluates to 0; a sum far
    smaller than its terms carries no trustworthy digits, so it is ``Unscorable`` (scored wrong),
    never "equal".
    """
    r = a + b
    if _mp.isinf(a) or _mp.isinf(b):
        return r
    largest = max(abs(a), abs(b))
    if largest != 0 and abs(r) < largest * _CANCEL_RATIO:
        raise Unscorable("the value cancels beyond the working precision")
    return r


def _check_size(x: Any) -> Any:
    if _mp.isnan(x):
        raise ZeroDivisionError("undefined value")
    if not _mp.isinf(x) and x != 0 and abs(_mp.log10(abs(x))) > MAX_LOG10:
        raise Unscorable("number too large to compare")
    return x


def _iroot(n: int, k: int) -> int | None:
    """The exact integer k-th root of n >= 0, or None."""
    if n < 2:
        return n
    r = math.isqrt(n) if k == 2 else int(round(n ** (1.0 / k))) if n.bit_length() < 1000 else None
    if r is None:
        return None
    for cand in (r - 1, r, r + 1):
        if cand >= 0 and cand**k == n:
            return cand
    return None


def _exact_pow(base: Fraction, exp: Fraction) -> Fraction | None:
    if exp.denominator == 1:
        e = exp.numerator
        if base == 0 and e < 0:
            raise ZeroDivisionError("0 to a negative power")
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits * abs(e) > MAX_EXACT_BITS:
            raise Unscorable("power too large to compare exactly")
        return base**e
    q = exp.denominator
    if q > 64 or max(base.numerator.bit_length(), base.denominator.bit_length()) > 4000:
        return None
    sign = 1
    if base < 0:
        if q % 2 == 0:
            return None  # complex: leave it to mpmath
        sign = -1
    num = _iroot(abs(base.numerator), q)
    den = _iroot(base.denominator, q)
    if num is None or den is None:
        return None
    return _exact_pow(Fraction(sign * num, den), Fraction(exp.numerator))


def _power(base: Value, exp: Value) -> Value:
    if isinstance(base, Fraction) and isinstance(exp, Fraction):
        exact = _exact_pow(base, exp)
        if exact is not None:
            return exact
        if base < 0 and exp.denominator % 2 == 1:  # real odd root of a negative number
            return -_power(-base, exp)
    b, e = _mpv(base), _mpv(exp)
    if b == 0:
        if _mp.re(e) < 0:
            raise ZeroDivisionError("0 to a negative power")
        return _mp.mpf(0) if e != 0 else _mp.mpf(1)
    magnitude = abs(_mp.re(e) * _mp.log10(abs(b))) + abs(_mp.im(e)) if not _mp.isinf(b) else 0
    if magnitude > MAX_LOG10:
        raise Unscorable("power too large to compare")
    return _check_size(_mp.power(b, e))


_TRIG = frozenset(("sin", "cos", "tan", "cot", "sec", "csc"))
_MP_FUNCS = {
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "cot": "cot",
    "sec": "sec",
    "csc": "csc",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "ln": "ln",
    "exp": "exp",
}


def evaluate(node: tuple, env: dict[str, Any], budget: Budget) -> Value:
    """The value of a tree: a ``Fraction`` when exact, else an mpmath number.

    Raises ``ZeroDivisionError`` for undefined values, ``Unscorable`` when too large or over
    budget, ``KeyError`` for a variable missing from ``env``.
    """
    budget.tick()
    op = node[0]
    if op == "num":
        return node[1]
    if op == "var":
        return env[node[1]]
    if op == "const":
        name = node[1]
        if name == "pi":
            return +_mp.pi
        if name == "e":
            return +_mp.e
        if name == "i":
            return _mp.mpc(0, 1)
        return _mp.inf
    if op == "neg":
        return -evaluate(node[1], env, budget)
    if op in ("add", "sub", "mul", "div"):
        a = evaluate(node[1], env, budget)
        b = evaluate(node[2], env, budget)
        if isinstance(a, Fraction) and isinstance(b, Fraction):
            if op == "div" and b == 0:
                raise ZeroDivisionError("division by zero")
            return _exact_size(
                a + b if op == "add" else a - b if op == "sub" else a * b if op == "mul" else a / b
            )
        a, b = _mpv(a), _mpv(b)
        if op == "add":
            return _check_size(_sum(a, b))
        if op == "sub":
            return _check_size(_sum(a, -b))
        if op == "mul":
            return _check_size(a * b)
        if b == 0:
            raise ZeroDivisionError("division by zero")
        return _check_size(a / b)
    if op == "pow":
        return _power(evaluate(node[1], env, budget), evaluate(node[2], env, budget))
    if op == "root":
        index = evaluate(node[2], env, budget)
        if isinstance(index, Fraction):
            if index == 0:
                raise ZeroDivisionError("zeroth root")
            return _power(evaluate(node[1], env, budget), 1 / index)
        return _power(evaluate(node[1], env, budget), 1 / _mpv(index))
    if op == "fact":
        n = evaluate(node[1], env, budget)
        if isinstance(n, Fraction) and n.denominator == 1:
            if n < 0:
                raise ZeroDivisionError("factorial of a negative integer")
            if n <= 2000:
                return Fraction(math.factorial(n.numerator))
            if n > 10**6:
                raise Unscorable("factorial too large")
        return _check_size(_mp.gamma(_mpv(n) + 1))
    if op == "binom":
        n = evaluate(node[1], env, budget)
        k = evaluate(node[2], env, budget)
        if isinstance(n, Fraction) and isinstance(k, Fraction) and n.denominator == k.denominator == 1:
            if 0 <= n <= 10**5:
                return Fraction(math.comb(n.numerator, k.numerator)) if k >= 0 else Fraction(0)
        return _check_size(_mp.binomial(_mpv(n), _mpv(k)))
    if op in ("abs", "floor", "ceil"):
        x = evaluate(node[1], env, budget)
        if isinstance(x, Fraction):
            return abs(x) if op == "abs" else Fraction(math.floor(x) if op == "floor" else math.ceil(x))
        if op == "abs":
            return abs(x)
        if _mp.im(x) != 0:
            raise ZeroDivisionError("floor of a complex number")
        return _mp.floor(x) if op == "floor" else _mp.ceil(x)
    if op == "log":
        base = _mpv(evaluate(node[1], env, budget))
        x = _mpv(evaluate(node[2], env, budget))
        if x == 0 or base == 0 or base == 1:
            raise ZeroDivisionError("log of 0 or to base 0/1")
        return _check_size(_mp.log(x) / _mp.log(base))
    if op == "func":
        x = _mpv(evaluate(node[2], env, budget))
        if abs(x) > 10**6 and node[1] in ("exp", "sinh", "cosh"):
            raise Unscorable("exponential too large")
        if abs(x) > MAX_TRIG_ARGUMENT and node[1] in _TRIG:
            raise Unscorable("argument of a trigonometric function too large")
        if node[1] == "ln" and x == 0:
            raise ZeroDivisionError("log of 0")
        return _check_size(getattr(_mp, _MP_FUNCS[node[1]])(x))
    raise ParseError(f"unknown node {op!r}")


def _close(a: Any, b: Any, abs_tol: Any = None) -> bool:
    if _mp.isinf(a) or _mp.isinf(b):
        return bool(a == b)
    diff = abs(a - b)
    if abs_tol is not None:
        return bool(diff <= abs_tol)
    scale = max(abs(a), abs(b), _mp.mpf(1))
    return bool(diff <= _REL_TOL * scale)


# Values given to free variables: three points per variable, far from integers and from each other.
_POINTS = (
    (
        mpmath.mpf("0.5772156649015328606"),
        mpmath.mpf("1.4142135623730950488"),
        mpmath.mpf("0.3183098861837906715"),
    ),
    (
        mpmath.mpf("1.6180339887498948482"),
        mpmath.mpf("0.6931471805599453094"),
        mpmath.mpf("1.2020569031595942854"),
    ),
    (
        mpmath.mpf("0.9159655941772190150"),
        mpmath.mpf("1.7320508075688772935"),
        mpmath.mpf("0.2614972128476427837"),
    ),
)


def _env_for(names: frozenset[str], k: int) -> dict[str, Any]:
    env = {}
    for j, name in enumerate(sorted(names)):
        base = _POINTS[k][j % 3]
        env[name] = _mp.mpf(base) + _mp.mpf(j // 3) * _mp.mpf("0.1234567891")
    return env


def values_equal(pred: tuple, gold: tuple, budget: Budget, *, abs_tol: float | None = None) -> bool:
    """Whether two expression trees have the same value (the module docstring has the rules).

    * No variables: equal exact rationals, else 40-digit numerical equality. A prediction written
      with a decimal point never equals a gold value that is not rational (no tolerance against
      exact gold). With ``abs_tol`` (the item asked for rounding), ``|pred - gold| <= abs_tol``.
    * Variables: the same variable set, and equal values at three fixed points (a point where
      either side is undefined is skipped; at least one point must be defined).

    Raises ``Unscorable`` when an expression is too large or over budget.
    """
    pv = free_variables(pred)
    gv = free_variables(gold)
    if pv != gv:
        return False
    if not gv:
        try:
            g = evaluate(gold, {}, budget)
        except ZeroDivisionError:
            return False
        try:
            p = evaluate(pred, {}, budget)
        except ZeroDivisionError:
            return False
        if abs_tol is not None:
            tol = _mp.mpf(abs_tol) * (1 + _mp.mpf("1e-9"))
            return _close(_mpv(p), _mpv(g), tol)
        if isinstance(g, Fraction) and isinstance(p, Fraction):
            return g == p
        if not isinstance(g, Fraction) and has_decimal(pred) and not has_decimal(gold):
            return False
        return _close(_mpv(p), _mpv(g))
    defined = 0
    for k in range(3):
        env = _env_for(gv, k)
        try:
            g = _mpv(evaluate(gold, env, budget))
            p = _mpv(evaluate(pred, env, budget))
        except ZeroDivisionError:
            continue
        defined += 1
        if not _close(p, g):
            return False
    return defined > 0


def values_proportional(pred: tuple, gold: tuple, budget: Budget) -> bool:
    """Whether ``pred = k * gold`` for one constant ``k != 0`` (equations ``a-b=0`` vs ``c-d=0``).

    Read ``k`` at the first point where both are defined and non-zero, then check the other two.
    """
    names = free_variables(pred) | free_variables(gold)
    if not names:
        return False
    k = None
    checked = 0
    for point in range(3):
        env = _env_for(names, point)
        try:
            g = _mpv(evaluate(gold, env, budget))
            p = _mpv(evaluate(pred, env, budget))
        except ZeroDivisionError:
            continue
        if k is None:
            if g == 0 or p == 0:
                return False
            k = p / g
            continue
        checked += 1
        if not _close(p, k * g):
            return False
    return checked > 0
