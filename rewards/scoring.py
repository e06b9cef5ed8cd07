"""In-process scoring of one response: ``score`` and the gold-answer check ``check_gold``.

``score`` routes an example to its verifier (``Example.task`` unless a verifier is given), turns
the verifier's ``Score | float | None`` into a ``Score`` and adds the format part:

    reward = accuracy_weight * accuracy + format_weight * format

where ``accuracy`` is the verifier's reward (or its ``components["accuracy"]``) and ``format`` is
the verifier's own ``components["format"]`` when it computes one (the ``mathruler`` verifier uses
verl's format regex), else ``rewards.format.format_score``; 0 for a truncated response. The status, ``correct`` and
``extracted`` are the verifier's. What a verifier may return:

* a ``Score``: kept (its reward is the accuracy);
* a number or bool: the accuracy; ``correct`` is True for 1, False for 0, None otherwise;
* a NaN, an infinity or an absurd value (``|r| > MAX_ABS_REWARD``, 1e6) as the reward, the
  accuracy or the format part, from a number or inside a ``Score``: status ``error`` (reward
  ``None``), never ``ok``: ``1e300`` would become ``inf`` in float32 and poison the advantages;
* ``None``: "could not score this example", status ``unparsable_gold``, reward ``None``;
* an exception, of any ``BaseException`` subclass except ``KeyboardInterrupt``: status
  ``error`` with the exception in ``message`` (never a silent 0).

``truncated=True`` means the response hit the length limit: the verifier sees an empty response,
so the gold is still checked, and the result is "no answer" (reward ``format_weight * 0``).

This function has no timeout of its own: the built-in verifiers bound their own work (see
``rewards.expr.Budget``), and ``rewards.RewardRunner`` adds a hard, killing timeout for any verifier.
"""

from __future__ import annotations

import math
import threading
import traceback
from numbers import Real
from typing import Any

from mmrl.errors import UserError
from mmrl.types import Example, Score
from rewards.choice import letter_of
from rewards.format import format_score
from rewards.registry import Verifier, get_verifier, is_builtin

__all__ = ["MAX_ABS_REWARD", "bounds_its_time", "check_gold", "score", "score_detailed", "to_score"]

TRUNCATED_MESSAGE = "truncated response: no final answer"


#: Largest |reward| a verifier may return; beyond it the score is an ``error``.
MAX_ABS_REWARD = 1e6


def _bad_number(value: Any) -> str | None:
    """Why a reward-like number is unusable, or None."""
    if not isinstance(value, Real):
        return f"a {type(value).__name__}"
    x = float(value)
    if not math.isfinite(x):
        return f"the non-finite value {value!r}"
    if abs(x) > MAX_ABS_REWARD:
        return f"the absurd value {value!r} (|r| > {MAX_ABS_REWARD:g})"
    return None


def _error(message: str) -> Score:
    return Score(None, None, "error", {}, None, message)


def to_score(value: Any) -> Score:
    """A verifier's return value as a ``Score`` whose reward is the accuracy (rules above).

    >>> to_score(1.0).status, to_score(float("nan")).status, to_score(1e300).status
    ('ok', 'error', 'error')
    """
    if isinstance(value, Score):
        if value.reward is not None:
            problem = _bad_number(value.reward)
            if problem:
                return _error(f"the verifier returned a reward of {problem}")
            for key in ("accuracy", "format"):
                problem = _bad_number(value.components[key]) if key in value.components else None
                if problem:
                    return _error(f"the verifier returned components[{key!r}] = {problem}")
        return value
    if value is None:
        return Score(None, None, "unparsable_gold", {}, None, "the verifier returned None (could not score)")
    if isinstance(value, bool):
        value = float(value)
    if isinstance(value, Real):
        problem = _bad_number(value)
        if problem:
            return _error(f"the verifier returned a reward of {problem}")
        accuracy = float(value)
        correct = True if accuracy == 1.0 else False if accuracy == 0.0 else None
        return Score(accuracy, correct, "ok", {"accuracy": accuracy})
    return Score(
        None,
        None,
        "error",
        {},
        None,
        f"the verifier returned {type(value).__name__}; expected Score, float or None",
    )


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


def score(
    response: str,
    example: Example,
    *,
    verifier: str | Verifier | None = None,
    truncated: bool = False,
    accuracy_weight: float = 0.9,
    format_weight: float = 0.1,
    **kwargs: Any,
) -> Score:
    """Score one response in this process (rules in the module docstring).

    ``verifier`` is a registered name, ``pkg.module:fn``, ``file.py:fn`` or a function; ``None``
    uses ``example.task``. ``kwargs`` go to the verifier. An unknown verifier raises
    ``rewards.registry.UnknownVerifierError``.

    >>> from mmrl.types import Example
    >>> ex = Example(id="1", task="math", prompt="What is 2+2?", answer="4")
    >>> score("<think>2+2=4</think> \\\\boxed{4}", ex).reward
    1.0
    >>> s = score("\\\\boxed{5}", ex)
    >>> s.reward, s.correct, s.components
    (0.0, False, {'accuracy': 0.0, 'format': 0.0})
    """
    fn = get_verifier(verifier if verifier is not None else example.task)
    return score_detailed(
        fn,
        response,
        example,
        truncated=truncated,
        accuracy_weight=accuracy_weight,
        format_weight=format_weight,
        **kwargs,
    )[0]


def score_detailed(
    fn: Verifier,
    response: str,
    example: Example,
    *,
    truncated: bool = False,
    accuracy_weight: float = 0.9,
    format_weight: float = 0.1,
    **kwargs: Any,
) -> tuple[Score, str | None]:
    """``score`` for a resolved verifier, also returning the traceback text of a verifier error."""
    text = "" if truncated else response
    try:
        verdict = to_score(fn(text, example, **kwargs))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a verifier's SystemExit or custom BaseException is its error, not ours
        return Score(None, None, "error", {}, None, _describe(exc)), traceback.format_exc()
    if verdict.reward is None:
        return verdict, None
    if truncated:
        verdict = Score(
            0.0, False, "unparsable_pred", {**verdict.components, "accuracy": 0.0}, None, TRUNCATED_MESSAGE
        )
    accuracy = float(verdict.components["accuracy"]) if "accuracy" in verdict.components else verdict.reward
    if truncated:
        fmt = 0.0
    elif "format" in verdict.components:
        fmt = float(verdict.components["format"])
    else:
        fmt = format_score(response)
    reward = accuracy_weight * accuracy + format_weight * fmt
    components = {**verdict.components, "accuracy": accuracy, "format": fmt}
    return Score(
        reward, verdict.correct, verdict.status, components, verdict.extracted, verdict.message
    ), None


#: How long ``check_gold`` waits for a custom (non built-in) verifier on one gold answer.
CHECK_GOLD_TIMEOUT_S = 2.0


def check_gold(example: Example, *, verifier: str | Verifier | None = None) -> str | None:
    """``None`` when the example's gold answer is readable by its verifier, else a short reason.

    The gold is scored against itself, written as ``<answer>GOLD</answer>`` and, when that does not
    verify, as ``\\boxed{GOLD}`` (a letter gold with choices as the option's text): it must be
    parseable as the verifier's answer type and count as correct. Built-in verifiers bound their
    own work (milliseconds); any other verifier is run in a helper thread and given up on after
    ``CHECK_GOLD_TIMEOUT_S`` seconds, so this never hangs.

    >>> from mmrl.types import Example
    >>> check_gold(Example(id="1", task="math", prompt="?", answer="\\\\frac{1}{2}")) is None
    True
    >>> check_gold(Example(id="2", task="choice", prompt="?", answer="F", choices=("1", "2")))
    "gold answer 'F' is neither a letter nor exactly one of the options ['1', '2']"
    """
    if not isinstance(example.answer, str) or not example.answer.strip():
        return "empty gold answer"
    try:
        fn = get_verifier(verifier if verifier is not None else example.task)
    except UserError as exc:
        return str(exc)
    gold = example.answer
    if example.choices:
        index = letter_of(gold, len(example.choices))
        if index is not None:
            gold = example.choices[
                index
            ]  # a letter gold is the option it names (the prompt may not show letters)
    result = None
    for probe in (f"<answer>{gold}</answer>", f"\\boxed{{{gold}}}"):
        if bounds_its_time(fn):
            result = score(probe, example, verifier=fn, accuracy_weight=1.0, format_weight=0.0)
        else:
            result = _score_in_thread(probe, example, fn)
            if result is None:
                return f"the verifier did not finish within {CHECK_GOLD_TIMEOUT_S:g} s on the gold answer"
        if result.correct is True or result.status in ("unparsable_gold", "error"):
            break
    assert result is not None
    if result.status == "unparsable_gold":
        return result.message or "the verifier cannot read the gold answer"
    if result.status == "error":
        return f"the verifier failed on the gold answer: {result.message}"
    if result.correct is not True:
        detail = f" ({result.message})" if result.message else ""
        return f"the gold answer does not verify against itself: status {result.status}{detail}"
    return None


def bounds_its_time(fn: Verifier) -> bool:
    """True for a built-in verifier that bounds its own running time (safe to call in-process).

    A built-in marked ``fn.bounds_its_time = False`` (the ``mathruler`` verifier: sympy has no time
    bound) is treated like a custom verifier: the runner always scores it in a worker under
    ``reward.timeout_s``, and ``check_gold`` runs it in a helper thread.
    """
    return is_builtin(fn) and getattr(fn, "bounds_its_time", True)


def _score_in_thread(probe: str, example: Example, fn: Verifier) -> Score | None:
    box: list[Score] = []

    def run() -> None:
        box.append(score(probe, example, verifier=fn, accuracy_weight=1.0, format_weight=0.0))

    worker = threading.Thread(target=run, name="mmrl-check-gold", daemon=True)
    worker.start()
    worker.join(CHECK_GOLD_TIMEOUT_S)
    return box[0] if box else None
