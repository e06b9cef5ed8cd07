"""The ``chart`` verifiers: ChartQA's relaxed accuracy, for training and for evaluation.

Rules: ChartQA's relaxed accuracy (pix2struct, the metric lmms-eval and VLMEvalKit copy).

``chart`` (training-friendly relaxed accuracy):

* a number is right when ``|pred - gold| / |gold| <= 0.05``; a gold of 0 needs exactly 0;
* **before comparing, a trailing ``%``, a leading ``$`` and thousands separators are stripped on
  both sides** (``45%`` == ``45``, ``1,234`` == ``1234``). This is our choice, not the official
  code's: pix2struct reads ``45%`` as 0.45 and cannot parse ``1,234``, so a model that writes the
  unit the chart shows would be punished for it during training;
* anything else: case-insensitive exact match after trimming (and dropping a final full stop);
* like the official metric, years get the 5% tolerance too (2012 vs 2015 counts as right).

``chart_official`` reproduces ``google-research/pix2struct:pix2struct/metrics.py::
relaxed_correctness`` exactly (``pix2struct_relaxed_correctness`` below, with the gold as
``target``), applied to the extracted final answer. Use it to report ChartQA numbers comparable to
published ones; lmms-eval and VLMEvalKit copy the same function.

Both read the final answer with ``rewards.extraction`` (a response that is only the answer, as
ChartQA prompts ask for, is taken whole) and score several different final answers as wrong.

``Example.meta`` keys read: ``labels`` (all gold strings of the item, ChartQA's ``label`` list;
the answer is right when it matches any of them or ``Example.answer``, as the official metric
takes the maximum over labels).

A gold (the answer or a label) that is a serialised missing or float value (``None``, ``nan``,
``inf``, ``N/A``, ``rewards.verdicts.NULL_GOLDS``) or a number that is not finite as a float
(``1e999``, ``Infinity``, ``-inf%``) is unreadable: ``unparsable_gold`` with the reason, so
``check_gold`` rejects the row at load instead of letting the text match itself.
"""

from __future__ import annotations

import math
import re

from mmrl.types import Example, Score
from rewards.extraction import extract_answer
from rewards.registry import register_verifier
from rewards.verdicts import NULL_GOLDS, bad_gold, judged, no_answer

__all__ = ["chart", "chart_official", "pix2struct_relaxed_correctness", "relaxed_match"]

MAX_RELATIVE_CHANGE = 0.05

_NUMBER_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_THOUSANDS_RE = re.compile(r"^([-+]?)(\d{1,3}(?:,\d{3})+)(\.\d+)?$")
_WRAPPER_RE = re.compile(r"^\\(?:text|textbf|mathrm|mathbf)\s*\{(.*)\}$", re.DOTALL)


def pix2struct_relaxed_correctness(target: str, prediction: str, max_relative_change: float = 0.05) -> bool:
    """ChartQA's official relaxed correctness, with pix2struct's exact semantics.

    ``float()`` parsing (so ``" 12 "``, ``"1e3"`` and ``"1_000"`` are numbers, ``"1,234"`` is not);
    a trailing ``%`` divides by 100 (``rstrip`` removes every trailing ``%``); when both are
    numbers and the target is non-zero, ``|p - t| / |t| <= max_relative_change``; otherwise
    ``prediction.lower() == target.lower()``.

    >>> pix2struct_relaxed_correctness("45", "45%"), pix2struct_relaxed_correctness("100", "104")
    (False, True)
    """

    def to_float(text: str) -> float | None:
        try:
            if text.endswith("%"):
                return float(text.rstrip("%")) / 100.0
            return float(text)
        except ValueError:
            return None

    prediction_float = to_float(prediction)
    target_float = to_float(target)
    if prediction_float is not None and target_float:
        return abs(prediction_float - target_float) / abs(target_float) <= max_relative_change
    return prediction.lower() == target.lower()


def _clean(text: str) -> str:
    s = " ".join(text.split())
    for _ in range(2):
        if len(s) >= 2 and s[0] == s[-1] == "$":
            s = s[1:-1].strip()
        m = _WRAPPER_RE.match(s)
        if m:
            s = m.group(1).strip()
    s = s.replace("\\%", "%").replace("\\$", "$").replace("{,}", ",")
    return s.rstrip(".").strip()


def _number(text: str) -> float | None:
    s = text.replace(" ", "")
    if s.endswith("%"):
        s = s[:-1]
    if s.startswith("$"):
        s = s[1:]
    elif s.startswith(("-$", "+$")):
        s = s[0] + s[2:]
    m = _THOUSANDS_RE.match(s)
    if m:
        s = m.group(1) + m.group(2).replace(",", "") + (m.group(3) or "")
    if not _NUMBER_RE.match(s):
        return None
    return float(s)


def relaxed_match(prediction: str, gold: str) -> bool:
    """The ``chart`` rule: 5% relative tolerance on numbers (after stripping ``%``, ``$`` and
    thousands separators; gold 0 needs 0), else case-insensitive exact text.

    >>> relaxed_match("45%", "45"), relaxed_match("1,234", "1234"), relaxed_match("yes", "Yes")
    (True, True, True)
    """
    p, g = _clean(prediction), _clean(gold)
    pf, gf = _number(p), _number(g)
    if pf is not None and gf is not None:
        if gf == 0:
            return pf == 0
        return abs(pf - gf) / abs(gf) <= MAX_RELATIVE_CHANGE
    return p.lower() == g.lower()


def _same(a: str, b: str) -> bool:
    """Two candidates are the same answer only when exactly equal (no tolerance between hedges)."""
    a, b = _clean(a), _clean(b)
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    return a.lower() == b.lower()


def _gold_problem(text: str) -> str | None:
    """Why one gold string is not an answer (module docstring), or None.

    >>> _gold_problem("45%"), _gold_problem("1e999")
    (None, "gold answer '1e999' is not a finite number (inf)")
    """
    core = _clean(text).replace(" ", "").removeprefix("$").rstrip("%")
    if core.lower() in NULL_GOLDS:
        return f"gold answer {text!r} is a serialised missing or float value, not an answer"
    value = _number(core)
    if value is None:
        try:  # what pix2struct's float() reads besides: Infinity, 1_000
            value = float(core)
        except ValueError:
            return None
    return None if math.isfinite(value) else f"gold answer {text!r} is not a finite number ({value})"


def _golds(example: Example) -> list[str] | str:
    """The gold strings (``answer`` first, then ``meta["labels"]``), or why they are unusable."""
    golds: list[str] = []
    if isinstance(example.answer, str) and example.answer.strip():
        golds.append(example.answer.strip())
        problem = _gold_problem(golds[0])
        if problem is not None:
            return problem
    labels = example.meta.get("labels")
    if labels is not None:
        if not isinstance(labels, (list, tuple)) or not all(isinstance(v, str) for v in labels):
            return f"meta['labels'] must be a list of strings, got {labels!r}"
        for label in (v.strip() for v in labels if v.strip()):
            problem = _gold_problem(label)
            if problem is not None:
                return f"meta['labels'] {list(labels)!r}: {problem}"
            if label not in golds:
                golds.append(label)
    return golds or "empty gold answer"


def _score_chart(response: str, example: Example, official: bool) -> Score:
    golds = _golds(example)
    if isinstance(golds, str):
        return bad_gold(golds)
    found = extract_answer(response)
    if found.answer is None:
        return no_answer(found.problem)
    if any(not _same(c, found.answer) for c in found.candidates):
        return no_answer(f"ambiguous: several different final answers {list(found.candidates)}", found.answer)
    if official:
        return judged(any(pix2struct_relaxed_correctness(g, found.answer) for g in golds), found.answer)
    return judged(any(relaxed_match(found.answer, g) for g in golds), found.answer)


@register_verifier("chart")
def chart(response: str, example: Example) -> Score:
    """ChartQA relaxed accuracy, training-friendly (module docstring).

    >>> from mmrl.types import Example
    >>> ex = Example(id="1", task="chart", prompt="?", answer="45")
    >>> chart("\\\\boxed{45.9\\\\%}", ex).reward, chart("\\\\boxed{48}", ex).reward
    (1.0, 0.0)
    """
    return _score_chart(response, example, official=False)


@register_verifier("chart_official")
def chart_official(response: str, example: Example) -> Score:
    """ChartQA relaxed accuracy exactly as pix2struct computes it (for reporting).

    >>> from mmrl.types import Example
    >>> ex = Example(id="1", task="chart", prompt="?", answer="45")
    >>> chart_official("45%", ex).reward, chart_official("46", ex).reward
    (0.0, 1.0)
    """
    return _score_chart(response, example, official=True)
