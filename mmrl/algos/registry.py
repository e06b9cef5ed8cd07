"""The one registry of advantage estimators, and ``compute_advantages``, the one call site.

An estimator is a pure function ``fn(rewards[N], group_ids[N], **params) -> advantages[N]`` on tensors
(``NaN`` reward = unscorable, gets advantage 0). Register one with the decorator::

    @register_estimator("my_baseline")
    def my_baseline(rewards, group_ids, *, scale=1.0):
        ...

and select it with ``algorithm.estimator=my_baseline`` (or name it ``pkg.module:fn`` without
registering). The trainer calls ``compute_advantages(name, rewards, group_ids, correct=...,
batch_accuracy=..., **settings.estimator_params)`` and never branches on the name.

Two keyword arguments are *step data* rather than settings: ``correct`` (the verifiers' correctness
indicator, 1/0/NaN) and ``batch_accuracy`` (A-GRAE's ``ω``, the mean reward before dynamic-sampling
filtering). ``compute_advantages`` passes them only to estimators whose signature names them, so the
trainer can always offer both. Any other keyword must be a parameter of the estimator; an unknown one
raises a ``TypeError`` that lists the accepted ones.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from mmrl.algos.groups import check_step_inputs

__all__ = [
    "STEP_DATA",
    "EstimatorSpec",
    "compute_advantages",
    "estimator_params",
    "get_estimator",
    "get_estimator_spec",
    "list_estimators",
    "register_estimator",
]

Estimator = Callable[..., Tensor]

#: Keyword arguments the trainer offers to every estimator; each receives those it names.
STEP_DATA = ("correct", "batch_accuracy")


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator: its function and whether it compares samples within a group."""

    name: str
    fn: Estimator
    group_relative: bool


_ESTIMATORS: dict[str, EstimatorSpec] = {}


def register_estimator(name: str, *, group_relative: bool = True) -> Callable[[Estimator], Estimator]:
    """Register ``fn(rewards, group_ids, **params) -> advantages`` under ``name``.

    ``group_relative=False`` marks estimators without a group baseline (they work with one sample
    per prompt). Registering a taken name raises ``ValueError``.
    """

    def decorate(fn: Estimator) -> Estimator:
        if name in _ESTIMATORS and _ESTIMATORS[name].fn is not fn:
            raise ValueError(f"advantage estimator {name!r} is already registered ({_ESTIMATORS[name].fn})")
        params = list(inspect.signature(fn).parameters)
        if params[:2] != ["rewards", "group_ids"]:
            raise TypeError(
                f"estimator {name!r} must take (rewards, group_ids, ...), got ({', '.join(params)})"
            )
        _ESTIMATORS[name] = EstimatorSpec(name, fn, group_relative)
        return fn

    return decorate


def list_estimators() -> list[str]:
    """Registered estimator names, sorted."""
    return sorted(_ESTIMATORS)


def get_estimator_spec(name: str) -> EstimatorSpec:
    """The spec of a registered name, or of ``pkg.module:fn`` (imported, assumed group-relative)."""
    if name in _ESTIMATORS:
        return _ESTIMATORS[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot import advantage estimator {name!r}: {exc}") from None
        if not callable(fn):
            raise ValueError(f"advantage estimator {name!r} is not callable")
        return EstimatorSpec(name, fn, group_relative=True)
    known = ", ".join(list_estimators())
    raise ValueError(
        f"unknown advantage estimator {name!r}; known: {known} (or 'pkg.module:fn', or register one "
        "with @mmrl.algos.register_estimator)"
    )


def get_estimator(name: str) -> Estimator:
    """The function registered as ``name``; unknown names raise ``ValueError`` listing the known ones."""
    return get_estimator_spec(name).fn


def estimator_params(fn: Estimator) -> dict[str, inspect.Parameter]:
    """The keyword parameters of an estimator after ``(rewards, group_ids)``."""
    return dict(list(inspect.signature(fn).parameters.items())[2:])


def compute_advantages(estimator: str, rewards: Tensor, group_ids: Tensor, **params: Any) -> Tensor:
    """Advantages ``[N]`` from the estimator registered as ``estimator``.

    Args:
        estimator: A registered name (``grpo``, ``dr_grpo``, ``rloo``, ``w_reinforce``, ``grpo+a_grae``,
            ``dr_grpo+a_grae``, ...) or ``pkg.module:fn``.
        rewards: ``[N]`` float, ``NaN`` where the response could not be scored.
        group_ids: ``[N]`` integer id of each sample's prompt.
        **params: Step data (``correct``, ``batch_accuracy``; passed only where accepted) and the
            estimator's own parameters (e.g. ``alpha``, ``easy_divisor``, ``lam``, ``eps``).

    Returns:
        ``[N]`` advantages in ``rewards.dtype``; exactly 0 where the reward is ``NaN``.
    """
    fn = get_estimator(estimator)
    accepted = estimator_params(fn)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in params if k not in accepted and k not in STEP_DATA and not takes_any]
    if unknown:
        raise TypeError(
            f"advantage estimator {estimator!r} got unexpected parameter(s) {unknown}; "
            f"it accepts {sorted(accepted)}"
        )
    kwargs = {k: v for k, v in params.items() if k in accepted or takes_any}
    check_step_inputs(rewards, group_ids, params.get("correct"))
    advantages = fn(rewards, group_ids, **kwargs)
    if not isinstance(advantages, Tensor) or advantages.shape != rewards.shape:
        raise TypeError(
            f"advantage estimator {estimator!r} must return a tensor of shape {tuple(rewards.shape)}, "
            f"got {type(advantages).__name__} {getattr(advantages, 'shape', '')}"
        )
    return advantages
