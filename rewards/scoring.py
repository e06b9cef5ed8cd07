"""In-process scoring of one response: ``score`` and the gold-answer check ``check_gold``.

``score`` routes an example to its verifier (``Example.task`` unless a verifier is given) and turns
the verifier's ``Score | float | None`` into a ``Score``. A built-in verifier's reward has a format
part (``blend_for``; ``reward.accuracy_weight`` / ``reward.format_weight`` change it):

    reward = accuracy_weight * accuracy + format_weight * format      # 0.9 and 0.1 by default

where ``accuracy`` is the verifier's reward (or its ``components["accuracy"]``) and ``format`` is
the verifier's own ``components["format"]`` when it computes one (the ``mathruler`` verifier uses
verl's format regex), else ``rewards.format.format_score``; 0 for a truncated response. A custom
verifier's reward is what it returns, unless a weight is set. The status, ``correct`` and
``extracted`` are the verifier's. What a verifier may return:

* a ``Score``: kept (its reward is the accuracy);
* a number or bool: the accuracy; ``correct`` is True for 1, False for 0, None otherwise;
* a NaN, an infinity or an absurd value (``|r| > MAX_ABS_REWARD``, 1e6) as the reward, the
  accuracy or the format part, from a number or inside a ``Score``: status ``error`` (reward
  ``None``), never ``ok``: ``1e300`` would become ``inf`` in float32 and poison the advantages;
* ``None``: "could not score this example", status ``unparsable_gold``, reward ``None``;
* an exception, of any ``BaseException`` subclass except ``KeyboardInterrupt``: status
  ``error`` with the exception in ``message`` (never a silent 0).

The blended reward must be finite in float32 (``rewards.functions.finite_in_float32``): with an
``accuracy_weight`` of ``1e300`` it would be ``inf`` in the trainer's float32 tensors, so it is an
``error`` naming the weights and the value (counted and logged by the runner), never ``ok``.

``truncated=True`` means the response hit the length limit: the verifier sees an empty response,
so the gold is still checked, and the result is "no answer" (reward 0).

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
from rewards.functions import (
    FLOAT32_MAX,
    RewardFunction,
    call_batch,
    detect_style,
    finite_in_float32,
    sample_callable,
)
from rewards.registry import Verifier, get_verifier, is_builtin

__all__ = [
    "BUILTIN_BLEND",
    "MAX_ABS_REWARD",
    "blend_for",
    "bounds_its_time",
    "check_gold",
    "finish_score",
    "score",
    "score_detailed",
    "to_score",
]

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


#: The accuracy/format blend of the built-in verifiers' reward (EasyR1's math reward, the A-GRAE runs).
BUILTIN_BLEND = (0.9, 0.1)

Blend = tuple[float, float]


def blend_for(fn: Verifier, accuracy_weight: float | None, format_weight: float | None) -> Blend | None:
    """The ``(accuracy_weight, format_weight)`` a verifier's reward is blended with, or ``None`` for
    its reward as it returns it: ``BUILTIN_BLEND`` for a built-in verifier, no blend for any other,
    unless a weight is given (the other one of the pair is then ``BUILTIN_BLEND``'s).

    >>> from rewards.registry import get_verifier
    >>> blend_for(get_verifier("math"), None, None), blend_for(lambda r, e: 1.0, None, None)
    ((0.9, 0.1), None)
    >>> blend_for(lambda r, e: 1.0, None, 0.2)
    (0.9, 0.2)
    """
    if accuracy_weight is None and format_weight is None:
        return BUILTIN_BLEND if is_builtin(fn) else None
    return (
        BUILTIN_BLEND[0] if accuracy_weight is None else accuracy_weight,
        BUILTIN_BLEND[1] if format_weight is None else format_weight,
    )


def score(
    response: str,
    example: Example,
    *,
    verifier: str | Verifier | None = None,
    truncated: bool = False,
    accuracy_weight: float | None = None,
    format_weight: float | None = None,
    **kwargs: Any,
) -> Score:
    """Score one response in this process (rules in the module docstring).

    ``verifier`` is a registered name, ``pkg.module:fn``, ``file.py:fn`` or a function; ``None``
    uses ``example.task``. The weights are ``reward.accuracy_weight`` and ``reward.format_weight``
    (``blend_for``: a built-in verifier's reward is ``0.9 * accuracy + 0.1 * format``, a custom
    one's is what it returns). ``kwargs`` go to the verifier. An unknown verifier raises
    ``rewards.registry.UnknownVerifierError``; a verifier of another call style (TRL's
    ``fn(completions, **columns)``, EasyR1's) is called on this one response.

    >>> from mmrl.types import Example
    >>> ex = Example(id="1", task="math", prompt="What is 2+2?", answer="4")
    >>> score("<think>2+2=4</think> \\\\boxed{4}", ex).reward
    1.0
    >>> s = score("\\\\boxed{5}", ex)
    >>> s.reward, s.correct, s.components
    (0.0, False, {'accuracy': 0.0, 'format': 0.0})
    >>> score("anything", ex, verifier=lambda response, example: 1.0).reward  # a custom reward as returned
    1.0
    """
    fn = get_verifier(verifier if verifier is not None else example.task)
    blend = blend_for(fn, accuracy_weight, format_weight)
    style = detect_style(fn, getattr(fn, "__name__", "verifier"), kwargs)
    if style in ("sample", "easyr1_sample"):
        return score_detailed(fn, response, example, truncated=truncated, blend=blend, style=style, **kwargs)[
            0
        ]
    rf = RewardFunction(getattr(fn, "__name__", "verifier"), fn, style, kwargs=kwargs)
    (value,), _ = call_batch(rf, ["" if truncated else response], [example])
    return finish_score(to_score(value), response, truncated, blend)


def score_detailed(
    fn: Verifier,
    response: str,
    example: Example,
    *,
    truncated: bool = False,
    blend: Blend | None = None,
    style: str = "sample",
    **kwargs: Any,
) -> tuple[Score, str | None]:
    """One call of a per-response verifier, then ``finish_score``; also returns the traceback
    text of a verifier error. ``blend`` is already resolved (``blend_for``; ``None``: the
    verifier's reward as returned); ``style`` is ``sample`` or ``easyr1_sample``."""
    text = "" if truncated else response
    try:
        verdict = to_score(sample_callable(fn, style)(text, example, **kwargs))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a verifier's SystemExit or custom BaseException is its error, not ours
        return Score(None, None, "error", {}, None, _describe(exc)), traceback.format_exc()
    return finish_score(verdict, response, truncated, blend), None


def finish_score(verdict: Score, response: str, truncated: bool, blend: Blend | None) -> Score:
    """A verifier's verdict made the response's score: a truncated response has no answer (its
    reward 0 unless the verdict is ``None``), and with a ``blend``
    ``reward = accuracy_weight * accuracy + format_weight * format`` (an ``error`` when that is not
    finite in float32)."""
    if verdict.reward is None:
        return verdict
    if truncated:
        verdict = Score(
            0.0, False, "unparsable_pred", {**verdict.components, "accuracy": 0.0}, None, TRUNCATED_MESSAGE
        )
    if blend is None:
        return verdict
    accuracy_weight, format_weight = blend
    accuracy = float(verdict.components["accuracy"]) if "accuracy" in verdict.components else verdict.reward
    if truncated:
        fmt = 0.0
    elif "format" in verdict.components:
        fmt = float(verdict.components["format"])
    else:
        fmt = format_score(response)
    reward = accuracy_weight * accuracy + format_weight * fmt
    if not finite_in_float32(reward):
        return _error(
            f"the blended reward, reward.accuracy_weight={accuracy_weight:g} * accuracy {accuracy:g} + "
            f"reward.format_weight={format_weight:g} * format {fmt:g} = {reward:g}, is not finite in "
            f"float32 (|reward| <= {FLOAT32_MAX:.4g}): lower the weights"
        )
    components = {**verdict.components, "accuracy": accuracy, "format": fmt}
    return Score(reward, verdict.correct, verdict.status, components, verdict.extracted, verdict.message)


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
