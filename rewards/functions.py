"""Reward functions as users write them: their call styles, and the weighted sum of several.

``reward.functions: [{fn: math, weight: 0.9}, {fn: format, weight: 0.1}]`` (or
``fit(cfg, reward_funcs=[...])``) makes the reward of a response exactly

    reward = sum(weight_j * value_j)        over the functions j that scored it

with each ``value_j`` kept in ``Score.components[name_j]`` (logged as ``reward/<name_j>``). Each
function is found through the verifier registry (``rewards.registry.get_verifier``: a registered
name, ``pkg.module:fn``, ``file.py:fn``, an entry point) or given as a Python callable, and is
called in one of three styles, told apart by its signature when the run starts:

* ``sample``, mmrl's verifier: ``fn(response, example, **kwargs) -> Score | float | None``;
* ``batch``, TRL's ``reward_funcs``: ``fn(completions, **columns) -> list[float | None]``, called
  once per batch with keyword arguments: ``completions`` (the response texts), ``prompts`` (each
  ``Example.prompt``) and one list per column: ``answer``, ``id``, ``task``, ``choices``, ``meta``
  and every key of ``Example.meta`` (the data's other columns). A function without ``**kwargs``
  gets only the columns it names; a named column the data lacks fails at start;
* ``easyr1``, EasyR1's ``reward_type=batch``: ``fn(reward_inputs, **kwargs) -> list[dict | float]``,
  each input ``{"response", "response_length" (tokens; None when unknown), "ground_truth"}``, each
  dict with the reward as ``"overall"`` and its other keys logged as ``reward/<name>/<key>``; and
  EasyR1's ``reward_type=sequential``, ``fn(reward_input, **kwargs) -> dict | float``, one input
  at a time (style ``easyr1_sample``).

How the parts add up (``combine``): a function that times out or raises on a response makes that
response unscorable (``status`` ``timeout``/``error``, reward ``None``): a crash is never a wrong
answer. A function that returns ``None`` ("cannot score this one", TRL's value for a function that
does not apply to a sample) is left out of that response's sum; when every function returns
``None`` the response is unscorable (``unparsable_gold``). ``correct``, ``extracted`` and the
status come from the first function that scored the response. A sum that is not finite in float32
(``|sum| > FLOAT32_MAX``: a weight of ``1e300``) is an ``error`` naming each term, never ``ok``:
the trainer holds rewards in float32, where it would be ``inf``. A weight that is itself not
finite in float32 is refused when the functions are resolved.
"""

from __future__ import annotations

import inspect
import math
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mmrl.errors import UserError
from mmrl.types import Example, Score
from rewards.registry import get_verifier

__all__ = [
    "FLOAT32_MAX",
    "RESERVED_NAMES",
    "STYLES",
    "RewardFunction",
    "batch_values",
    "call_batch",
    "check_columns",
    "combine",
    "detect_style",
    "finite_in_float32",
    "function_name",
    "resolve_functions",
    "sample_callable",
]

Style = Literal["sample", "batch", "easyr1", "easyr1_sample"]
STYLES: tuple[str, ...] = ("sample", "batch", "easyr1", "easyr1_sample")

#: ``reward/<name>`` metrics the trainer logs already: no reward function may take these names.
RESERVED_NAMES = frozenset(
    {"mean", "accuracy", "unscorable_frac", "timeout", "error", "unparsable_pred", "unparsable_gold"}
    | {"workers_restarted", "total", "ok", "correct"}
)

_ACCEPTED = (
    "fn(response, example) -> Score | float | None (mmrl), fn(completions, **columns) -> list[float | None] "
    "(TRL), fn(reward_inputs) -> list[dict | float] or fn(reward_input) -> dict | float (EasyR1)"
)


#: Largest finite float32. The trainer holds rewards and advantages in float32 tensors, where a
#: larger value (``1e300``, finite in Python's float64) is ``inf``.
FLOAT32_MAX = 3.4028234663852886e38


def finite_in_float32(value: float) -> bool:
    """Whether ``value`` is finite and within float32's range (``|value| <= FLOAT32_MAX``).

    >>> finite_in_float32(3e38), finite_in_float32(1e300), finite_in_float32(float("nan"))
    (True, False, False)
    """
    return math.isfinite(value) and abs(value) <= FLOAT32_MAX


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


@dataclass(frozen=True)
class RewardFunction:
    """One term of the reward: a resolved function, how to call it, and its weight.

    Attributes:
        name: Its name in ``Score.components`` and the logs.
        fn: The function as the user wrote it.
        style: How it is called (module docstring).
        weight: Its weight in the sum.
        spec: The registry name or ``module:fn`` / ``file.py:fn`` it was named by (``None`` for a
            callable), which scoring workers resolve again.
        kwargs: Extra keyword arguments of every call.
    """

    name: str
    fn: Callable[..., Any] = field(repr=False)
    style: Style
    weight: float = 1.0
    spec: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def function_name(fn: Any) -> str:
    """A function's default name: a registered name as written, the part after ``:`` of a spec,
    else a callable's ``__name__``.

    >>> function_name("math"), function_name("my_rewards.py:length_penalty")
    ('math', 'length_penalty')
    """
    if isinstance(fn, str):
        return fn.rpartition(":")[2] if ":" in fn else fn
    return getattr(fn, "__name__", type(fn).__name__)


def detect_style(fn: Callable[..., Any], name: str, kwargs: dict[str, Any] | None = None) -> Style:
    """The call style of ``fn`` from its signature (module docstring); raises ``UserError`` naming
    the function, its signature and the accepted forms.

    >>> detect_style(lambda response, example: 1.0, "a"), detect_style(lambda completions, **kw: [], "b")
    ('sample', 'batch')
    >>> detect_style(lambda reward_inputs: [], "c"), detect_style(lambda reward_input: {}, "d")
    ('easyr1', 'easyr1_sample')
    """
    kwargs = dict(kwargs or {})
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: assume mmrl's form
        return "sample"
    params = signature.parameters
    positional = [
        p.name
        for p in params.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    style: Style
    if "completions" in params and params["completions"].kind is not inspect.Parameter.POSITIONAL_ONLY:
        return "batch"  # its arguments depend on the data's columns: check_columns
    if positional[:1] == ["reward_inputs"]:
        style, probe = "easyr1", ([],)
    elif positional[:1] == ["reward_input"]:
        style, probe = "easyr1_sample", ({},)
    else:
        style, probe = "sample", ("", None)
    try:
        signature.bind(*probe, **kwargs)
    except TypeError as exc:
        given = f" with reward kwargs {sorted(kwargs)}" if kwargs else ""
        raise UserError(
            f"reward function {name!r} has the signature {name}{signature}, which cannot be called as "
            f"{style!r}{given} ({exc}). Accepted: {_ACCEPTED}"
        ) from None
    return style


def resolve_functions(entries: Sequence[Any]) -> list[RewardFunction]:
    """``RewardFunction``s from what a user lists: ``reward.functions`` items
    (``RewardFunctionConfig``), dicts of the same keys (``fn`` may be a callable there), names or
    specs, and callables. Every name goes through the verifier registry; every signature is
    checked here (``detect_style``), and names must be distinct and not ``RESERVED_NAMES``.
    """
    out: list[RewardFunction] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            unknown = set(entry) - {"fn", "weight", "name", "kwargs"}
            if unknown or "fn" not in entry:
                raise UserError(
                    f"reward function {i}: {entry!r} needs 'fn' and may have 'weight', 'name' and 'kwargs'"
                    + (f" (unknown: {sorted(unknown)})" if unknown else "")
                )
            target, weight = entry["fn"], float(entry.get("weight", 1.0))
            name, kwargs = entry.get("name"), dict(entry.get("kwargs") or {})
        elif isinstance(entry, str) or callable(entry):
            target, weight, name, kwargs = entry, 1.0, None, {}
        else:  # a RewardFunctionConfig
            target, weight, name, kwargs = entry.fn, entry.weight, entry.name, dict(entry.kwargs)
        if not finite_in_float32(weight):
            raise UserError(
                f"reward function {i} ({function_name(target)!r}): weight {weight!r} must be finite in "
                f"float32 (|weight| <= {FLOAT32_MAX:.4g}): rewards are float32 in the advantage stage, "
                "so rescale the function instead"
            )
        fn = get_verifier(target)
        name = name or function_name(target)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise UserError(
                f"reward function {i}: name {name!r} must be a word (e.g. 'accuracy_reward'); set its name"
            )
        if name in RESERVED_NAMES:
            raise UserError(
                f"reward function {i}: the name {name!r} is taken by the metric reward/{name}; give it another "
                f"with name: (e.g. {{fn: {function_name(target)}, name: {name}_reward}})"
            )
        if any(rf.name == name for rf in out):
            raise UserError(f"two reward functions are named {name!r}; give one another name with name:")
        style = detect_style(fn, name, kwargs)
        out.append(
            RewardFunction(name, fn, style, weight, target if isinstance(target, str) else None, kwargs)
        )
    return out


def _columns(examples: Sequence[Example]) -> dict[str, list[Any]]:
    """TRL's keyword arguments besides ``completions``: ``prompts`` and one list per column."""
    out: dict[str, list[Any]] = {
        "prompts": [ex.prompt for ex in examples],
        "answer": [ex.answer for ex in examples],
        "id": [ex.id for ex in examples],
        "task": [ex.task for ex in examples],
        "choices": [ex.choices for ex in examples],
        "meta": [ex.meta for ex in examples],
    }
    for key in {k for ex in examples for k in ex.meta} - set(out) - {"completions"}:
        out[key] = [ex.meta.get(key, _MISSING) for ex in examples]
    return out


_MISSING = _Missing()


def check_columns(rf: RewardFunction, example: Example) -> None:
    """A ``batch`` function's named parameters must be columns ``example`` has (raises ``UserError``)."""
    if rf.style != "batch":
        return
    try:
        params = inspect.signature(rf.fn).parameters
    except (TypeError, ValueError):
        return
    available = set(_columns([example])) | {"completions"} | set(rf.kwargs)
    missing = [
        p.name
        for p in params.values()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.default is inspect.Parameter.empty
        and p.name not in available
    ]
    if missing:
        raise UserError(
            f"reward function {rf.name!r} takes {', '.join(repr(m) for m in missing)}, which example "
            f"{example.id!r} does not have; it gets completions and the columns {sorted(available - {'completions'})} "
            "(a data column mapped by data.columns is `answer`; other columns keep their names)"
        )


def _batch_arguments(rf: RewardFunction, texts: list[str], examples: Sequence[Example]) -> dict[str, Any]:
    arguments: dict[str, Any] = {"completions": texts, **_columns(examples), **rf.kwargs}
    params = inspect.signature(rf.fn).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        arguments = {k: v for k, v in arguments.items() if k in params}
    return arguments


def _reward_input(text: str, example: Example, length: int | None) -> dict[str, Any]:
    return {"response": text, "response_length": length, "ground_truth": example.answer}


def _from_easyr1(value: Any) -> Any:
    """An EasyR1 score dict as a ``Score``: ``overall`` is the reward, the other keys components."""
    if not isinstance(value, dict):
        return value
    if "overall" not in value:
        return Score(None, None, "error", {}, None, f"the EasyR1 score {value!r} has no 'overall' key")
    overall = value["overall"]
    if overall is None:
        return None
    accuracy = value.get("accuracy")
    correct = True if accuracy == 1.0 else False if accuracy == 0.0 else None
    parts = {k: v for k, v in value.items() if k != "overall" and isinstance(v, (int, float))}
    try:
        return Score(float(overall), correct, "ok", {k: float(v) for k, v in parts.items()})
    except (TypeError, ValueError):
        return overall  # to_score reports what it is


def sample_callable(fn: Callable[..., Any], style: Style) -> Callable[..., Any]:
    """``fn`` as ``f(response, example, **kwargs)`` (for the ``sample`` and ``easyr1_sample`` styles)."""
    if style == "sample":
        return fn
    if style != "easyr1_sample":
        raise ValueError(f"a {style!r} reward function is called once per batch, not per response")

    def one(response: str, example: Example, **kwargs: Any) -> Any:
        return _from_easyr1(fn(_reward_input(response, example, None), **kwargs))

    return one


def call_batch(
    rf: RewardFunction,
    texts: list[str],
    examples: Sequence[Example],
    lengths: Sequence[int | None] | None = None,
) -> tuple[list[Any], str | None]:
    """Call a ``batch`` or ``easyr1`` function once on the batch: ``(values, traceback)``; each value
    is what ``rewards.scoring.to_score`` reads (a number, ``None`` or a ``Score``). A call that
    raises, or returns anything but a list of ``len(texts)``, gives an error ``Score`` for every
    response."""
    n = len(texts)
    lengths = list(lengths) if lengths is not None else [None] * n
    try:
        if rf.style == "batch":
            values = rf.fn(**_batch_arguments(rf, texts, examples))
        elif rf.style == "easyr1":
            inputs = [_reward_input(t, ex, k) for t, ex, k in zip(texts, examples, lengths, strict=True)]
            values = rf.fn(inputs, **rf.kwargs)
        else:
            raise ValueError(f"call_batch needs a batch or easyr1 function, got style {rf.style!r}")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        text = f"{type(exc).__name__}: {exc}"[:500]
        return [Score(None, None, "error", {}, None, text)] * n, traceback.format_exc()
    return batch_values(rf, values, n)


def batch_values(rf: RewardFunction, values: Any, n: int) -> tuple[list[Any], str | None]:
    """A batched function's return value checked: a list (or tuple, or 1-d array) of ``n`` values."""
    if hasattr(values, "tolist") and not isinstance(values, list):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or len(values) != n:
        got = (
            f"{type(values).__name__} of length {len(values)}" if hasattr(values, "__len__") else repr(values)
        )
        message = (
            f"reward function {rf.name!r} must return a list of {n} values (one per completion), got {got}"
        )
        return [Score(None, None, "error", {}, None, message[:500])] * n, None
    return [_from_easyr1(v) for v in values], None


def combine(functions: Sequence[RewardFunction], parts: Sequence[Score]) -> Score:
    """The weighted sum of one response's parts (``parts[j]`` is function ``j``'s ``Score``; rules
    in the module docstring).

    >>> math_, fmt = (RewardFunction("math", len, "sample", 0.9), RewardFunction("format", len, "sample", 0.1))
    >>> s = combine([math_, fmt], [Score(1.0, True), Score(0.0, False)])
    >>> s.reward, s.correct, s.components
    (0.9, True, {'math': 1.0, 'format': 0.0})
    >>> combine([math_, fmt], [Score(None, status="timeout", message="slow"), Score(1.0)]).status
    'timeout'
    """
    for rf, part in zip(functions, parts, strict=True):
        if part.status in ("timeout", "error") and part.reward is None:
            return Score(None, None, part.status, {}, None, f"reward function {rf.name!r}: {part.message}")
    scored = [(rf, part) for rf, part in zip(functions, parts, strict=True) if part.reward is not None]
    if not scored:
        reasons = "; ".join(
            f"{rf.name}: {p.message or p.status}" for rf, p in zip(functions, parts, strict=True)
        )
        return Score(
            None, None, "unparsable_gold", {}, None, f"no reward function could score it ({reasons})"
        )
    components: dict[str, float] = {}
    total = 0.0
    for rf, part in scored:
        assert part.reward is not None
        total += rf.weight * part.reward
        components[rf.name] = part.reward
        if rf.style in ("easyr1", "easyr1_sample"):
            components.update({f"{rf.name}/{k}": v for k, v in part.components.items()})
    first = scored[0][1]
    correct = next((p.correct for _, p in scored if p.correct is not None), None)
    extracted = next((p.extracted for _, p in scored if p.extracted is not None), None)
    if not finite_in_float32(total):
        terms = " + ".join(f"{rf.weight:g} * {rf.name}({part.reward:g})" for rf, part in scored)
        message = (
            f"the weighted sum of the rewards {terms} = {total:g} is not finite in float32 "
            f"(|sum| <= {FLOAT32_MAX:.4g}): lower a weight or rescale a function"
        )
        return Score(None, None, "error", {}, None, message)
    return Score(total, correct, first.status, components, extracted, first.message)
