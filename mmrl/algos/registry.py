"""The two extension points of ``mmrl.algos``: advantage estimators and presets (``algorithm.name``).

An **estimator** is a pure function ``fn(rewards[N], group_ids[N], **params) -> advantages[N]`` on
tensors (``NaN`` reward = unscorable, gets advantage 0). Register one with the decorator, with its
parameters as a config section beside it::

    @parameter_section("my_baseline")                 # mmrl.config: algorithm.my_baseline.scale
    class MyParams(Section):
        \"\"\"My baseline's parameters.\"\"\"
        scale: Annotated[float, Field(gt=0)] = opt(1.0, "Multiplier of the advantages.")

    @register_estimator("my_baseline", params=MyParams)
    def my_baseline(rewards, group_ids, *, scale=1.0):
        ...

and a **preset**, what users type as ``algorithm.name``: the estimator with its loss and sampling
rules and the paper it comes from::

    register_preset(Preset("my_baseline", "my_baseline", "token-mean", paper="..."))

Both are ``mmrl.plugins.Registry`` objects (``ESTIMATORS``, ``PRESETS``): a name may also be
``pkg.module:attr``, ``path/to/file.py:attr`` or an entry point (groups ``mmrl.estimators``,
``mmrl.presets``). The built-ins are the modules of ``mmrl.algos``, one file per algorithm.

Two keyword arguments are *step data* rather than settings: ``correct`` (the verifiers'
correctness indicator, 1/0/NaN) and ``batch_accuracy`` (A-GRAE's ``ω``, the mean reward before
dynamic-sampling filtering). An ``EstimatorSpec`` passes them only to estimators whose signature
names them (read once, at registration), so the trainer can always offer both. Any other keyword
must be a parameter of the estimator; an unknown one raises a ``TypeError`` listing the accepted ones.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from torch import Tensor

from mmrl.algos.groups import check_step_inputs
from mmrl.algos.losses import AggMode
from mmrl.plugins import PluginError, Registry

__all__ = [
    "ESTIMATORS",
    "PRESETS",
    "STEP_DATA",
    "EstimatorSpec",
    "Preset",
    "compute_advantages",
    "get_estimator",
    "get_estimator_spec",
    "list_estimators",
    "parameter_sections",
    "register_estimator",
    "register_preset",
]

Estimator = Callable[..., Tensor]
Diagnostics = Callable[..., dict[str, float]]

#: Keyword arguments the trainer offers to every estimator; each receives those it names.
STEP_DATA = ("correct", "batch_accuracy")


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator: its function, its parameters and what it needs.

    Attributes:
        name: What ``algorithm.estimator`` (or a preset) names.
        fn: ``fn(rewards, group_ids, **kwargs) -> advantages``.
        group_relative: It compares samples within a group (it needs ``rollout.n >= 2``).
        params: Its parameter section (``mmrl.config.parameter_section``), or None: the config
            values reach ``fn`` as the keyword arguments of the same names.
        diagnostics: ``diagnostics(batch_accuracy=ω, **params) -> {metric: value}``, its own
            metrics (A-GRAE: the attenuation factor), merged into the step's advantage diagnostics.
        step_data: Which of ``STEP_DATA`` ``fn`` takes; ``accepts``: every keyword it takes;
            ``any_keyword``: it takes ``**kwargs`` (all three read once from its signature).
    """

    name: str
    fn: Estimator
    group_relative: bool = True
    params: type | None = None
    diagnostics: Diagnostics | None = None
    step_data: frozenset[str] = field(init=False)
    accepts: frozenset[str] = field(init=False)
    any_keyword: bool = field(init=False)

    def __post_init__(self) -> None:
        parameters = list(inspect.signature(self.fn).parameters.values())
        if [p.name for p in parameters[:2]] != ["rewards", "group_ids"]:
            names = ", ".join(p.name for p in parameters)
            raise TypeError(f"estimator {self.name!r} must take (rewards, group_ids, ...), got ({names})")
        keywords = parameters[2:]
        accepts = frozenset(p.name for p in keywords if p.kind is not inspect.Parameter.VAR_KEYWORD)
        object.__setattr__(self, "accepts", accepts)
        object.__setattr__(self, "step_data", frozenset(STEP_DATA) & accepts)
        object.__setattr__(
            self, "any_keyword", any(p.kind is inspect.Parameter.VAR_KEYWORD for p in keywords)
        )
        if self.params is not None:
            if not (is_dataclass(self.params) and hasattr(self.params, "section_name")):
                raise TypeError(
                    f"estimator {self.name!r}: params={self.params!r} must be a class declared with "
                    "@mmrl.config.parameter_section(name)"
                )
            missing = [f.name for f in fields(self.params) if f.name not in accepts and not self.any_keyword]
            if missing:
                raise TypeError(f"estimator {self.name!r} does not take its parameters {missing} as keywords")

    def __call__(self, rewards: Tensor, group_ids: Tensor, **kwargs: Any) -> Tensor:
        """``fn(rewards, group_ids, ...)`` with the step data it takes and the parameters given.

        Returns ``[N]`` advantages in ``rewards.dtype``; exactly 0 where the reward is ``NaN``.
        """
        unknown = [k for k in kwargs if k not in self.accepts and k not in STEP_DATA and not self.any_keyword]
        if unknown:
            raise TypeError(
                f"advantage estimator {self.name!r} got unexpected parameter(s) {unknown}; "
                f"it accepts {sorted(self.accepts)}"
            )
        check_step_inputs(rewards, group_ids, kwargs.get("correct"))
        passed = {k: v for k, v in kwargs.items() if k in self.accepts or self.any_keyword}
        advantages = self.fn(rewards, group_ids, **passed)
        if not isinstance(advantages, Tensor) or advantages.shape != rewards.shape:
            raise TypeError(
                f"advantage estimator {self.name!r} must return a tensor of shape {tuple(rewards.shape)}, "
                f"got {type(advantages).__name__} {getattr(advantages, 'shape', '')}"
            )
        return advantages


def _as_estimator(obj: Any, name: str) -> EstimatorSpec:
    if isinstance(obj, EstimatorSpec):
        return obj
    if not callable(obj):
        raise PluginError(f"advantage estimator {name!r} is a {type(obj).__name__}, not a function")
    return EstimatorSpec(name, obj)


#: Every advantage estimator by name.
ESTIMATORS: Registry[EstimatorSpec] = Registry(
    "advantage estimator",
    group="mmrl.estimators",
    builtins="mmrl.algos",
    adapt=_as_estimator,
    decorator="@mmrl.algos.register_estimator",
)


def register_estimator(
    name: str,
    *,
    group_relative: bool = True,
    params: type | None = None,
    diagnostics: Diagnostics | None = None,
) -> Callable[[Estimator], Estimator]:
    """Register ``fn(rewards, group_ids, **params) -> advantages`` under ``name`` (a decorator).

    ``group_relative=False`` marks estimators without a group baseline (they work with one sample
    per prompt); ``params`` is its parameter section; ``diagnostics`` its own metrics. Registering a
    taken name raises ``PluginError`` (a ``ValueError``); a bad signature raises ``TypeError``.
    """

    def decorate(fn: Estimator) -> Estimator:
        ESTIMATORS.register(name, EstimatorSpec(name, fn, group_relative, params, diagnostics), origin=fn)
        return fn

    return decorate


def get_estimator_spec(name: str | EstimatorSpec) -> EstimatorSpec:
    """The spec of a registered name, ``pkg.module:fn`` or ``file.py:fn`` (imported, assumed
    group-relative), or an entry point; a spec is returned unchanged."""
    return name if isinstance(name, EstimatorSpec) else ESTIMATORS.resolve(name)


def get_estimator(name: str) -> Estimator:
    """The function registered as ``name``; unknown names raise ``ValueError`` listing the known ones."""
    return get_estimator_spec(name).fn


def list_estimators() -> list[str]:
    """Registered estimator names, sorted."""
    return ESTIMATORS.names()


def compute_advantages(
    estimator: str | EstimatorSpec, rewards: Tensor, group_ids: Tensor, **params: Any
) -> Tensor:
    """Advantages ``[N]`` from an estimator given by name (looked up now) or as a resolved spec.

    Args:
        estimator: A registered name (``grpo``, ``dr_grpo``, ``rloo``, ``w_reinforce``, ``grpo+a_grae``,
            ``dr_grpo+a_grae``, ...), ``pkg.module:fn``, or an ``EstimatorSpec``.
        rewards: ``[N]`` float, ``NaN`` where the response could not be scored.
        group_ids: ``[N]`` integer id of each sample's prompt.
        **params: Step data (``correct``, ``batch_accuracy``; passed only where accepted) and the
            estimator's own parameters (e.g. ``alpha``, ``easy_divisor``, ``lam``, ``eps``).

    Returns:
        ``[N]`` advantages in ``rewards.dtype``; exactly 0 where the reward is ``NaN``.
    """
    return get_estimator_spec(estimator)(rewards, group_ids, **params)


def parameter_sections(preset: Any = None, estimator: Any = None) -> dict[str, type]:
    """``{section name: class}``: the parameters of every registered estimator, and of the given
    preset's and estimator's when they are specs such as ``pkg.module:attr`` (imported here). A
    name that does not resolve is skipped; ``resolve_algorithm`` reports it with its message."""
    specs = list(ESTIMATORS.registered().values())
    if isinstance(preset, str):
        with contextlib.suppress(Exception):
            estimator = estimator if isinstance(estimator, str) else PRESETS.resolve(preset).estimator
    if isinstance(estimator, str):
        with contextlib.suppress(Exception):
            specs.append(ESTIMATORS.resolve(estimator))
    sections: dict[str, type] = {}
    for spec in specs:
        if spec.params is None:
            continue
        name = spec.params.section_name
        if sections.setdefault(name, spec.params) is not spec.params:
            raise PluginError(
                f"parameter section algorithm.{name} is declared twice: by {sections[name]!r} and by "
                f"{spec.params!r} (estimator {spec.name!r}); rename one"
            )
    return sections


# --------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """What ``algorithm.name`` decides; a field the user sets in ``algorithm.*`` always wins.

    Attributes:
        name: What users type.
        estimator: The registered estimator it uses.
        loss_agg_mode: ``policy_loss``'s aggregation.
        clip_ratio_high: ``None`` means symmetric clipping (``= clip_ratio_low``).
        dynamic_sampling, overlong: DAPO's group filter and soft overlong punishment.
        clip_ratio_low: PPO's clip epsilon below 1.
        paper: The paper (authors, year, arXiv id); ``docs/papers.md`` has its quoted hyperparameters.
    """

    name: str
    estimator: str
    loss_agg_mode: AggMode
    clip_ratio_high: float | None = None
    dynamic_sampling: bool = False
    overlong: bool = False
    clip_ratio_low: float = 0.2
    paper: str = ""


def _as_preset(obj: Any, name: str) -> Preset:
    if not isinstance(obj, Preset):
        raise PluginError(
            f"algorithm.name={name!r} names a {type(obj).__name__}; it must be an mmrl.algos.Preset"
        )
    return obj


#: Every preset by name (``algorithm.name``).
PRESETS: Registry[Preset] = Registry(
    "algorithm preset",
    group="mmrl.presets",
    builtins="mmrl.algos",
    adapt=_as_preset,
    decorator="mmrl.algos.register_preset(Preset(...))",
)


def register_preset(preset: Preset) -> Preset:
    """Make ``preset`` selectable as ``algorithm.name=<preset.name>``; returns it."""
    if not isinstance(preset, Preset):
        raise TypeError(f"register_preset expects a Preset, got {type(preset).__name__}")
    return PRESETS.register(preset.name, preset)
