"""The four verdicts a built-in verifier returns, as ``mmrl.types.Score`` values.

A verifier's ``Score.reward`` is its *accuracy* (1.0 or 0.0); ``rewards.score`` adds the format
part and the weights. An unparsable prediction
is a wrong answer (reward 0, ``status="unparsable_pred"``); an unparsable gold is ``None``
(``status="unparsable_gold"``, masked downstream), never a silent 0 or 1.
"""

from __future__ import annotations

from mmrl.types import Score

__all__ = ["NULL_GOLDS", "bad_gold", "judged", "no_answer", "null_gold"]

#: Gold strings that are a serialised missing or float value, not an answer (``str(None)``,
#: ``str(float("nan"))``); each would otherwise match itself.
NULL_GOLDS = frozenset(("none", "null", "nan", "-nan", "inf", "+inf", "-inf", "n/a"))


def judged(is_correct: bool, extracted: str | None, message: str | None = None) -> Score:
    """A readable answer, right or wrong."""
    value = 1.0 if is_correct else 0.0
    return Score(value, is_correct, "ok", {"accuracy": value}, extracted, message)


def no_answer(problem: str, extracted: str | None = None) -> Score:
    """No single readable final answer: wrong, and the status says why."""
    return Score(0.0, False, "unparsable_pred", {"accuracy": 0.0}, extracted, problem)


def bad_gold(problem: str) -> Score:
    """The example's own answer cannot be read: not scorable (reward ``None``)."""
    return Score(None, None, "unparsable_gold", {}, None, problem)


def null_gold(text: str) -> str | None:
    """Why a gold string is a serialised missing or float value (``NULL_GOLDS``), or None.

    >>> null_gold("nan"), null_gold("45")
    ("gold answer 'nan' is a serialised missing or float value, not an answer", None)
    """
    if text.strip().lower() in NULL_GOLDS:
        return f"gold answer {text!r} is a serialised missing or float value, not an answer"
    return None
