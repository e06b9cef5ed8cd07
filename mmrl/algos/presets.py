"""The algorithm names users type, and ``resolve_algorithm``: the one place presets meet the config.

A preset fills in only the ``algorithm.*`` fields the user left ``None``; a value the user set always
wins and is never rewritten. ``resolve_algorithm`` returns ``AlgorithmSettings``, every concrete
value the trainer needs, so the trainer never looks at preset names. Papers and quotes:
``docs/papers.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmrl.algos.losses import AggMode, LossParams
from mmrl.algos.registry import estimator_params, get_estimator_spec
from mmrl.config import AlgorithmConfig, ConfigError, RolloutConfig

__all__ = ["PRESETS", "AlgorithmSettings", "Preset", "resolve_algorithm"]


@dataclass(frozen=True)
class Preset:
    """What a preset decides. ``clip_ratio_high=None`` means symmetric clipping (``= clip_ratio_low``)."""

    estimator: str
    loss_agg_mode: AggMode
    clip_ratio_high: float | None
    dynamic_sampling: bool
    overlong: bool
    clip_ratio_low: float = 0.2


#: name -> preset; ``dapo+a_grae`` is ``grpo+a_grae`` with DAPO's loss and sampling rules.
PRESETS: dict[str, Preset] = {
    "grpo": Preset("grpo", "seq-mean-token-mean", None, dynamic_sampling=False, overlong=False),
    "dr_grpo": Preset("dr_grpo", "seq-mean-token-sum-norm", None, dynamic_sampling=False, overlong=False),
    "dapo": Preset("grpo", "token-mean", 0.28, dynamic_sampling=True, overlong=True),
    "rloo": Preset("rloo", "token-mean", None, dynamic_sampling=False, overlong=False),
    "w_reinforce": Preset("w_reinforce", "token-mean", None, dynamic_sampling=False, overlong=False),
    "grpo+a_grae": Preset("grpo+a_grae", "seq-mean-token-mean", None, dynamic_sampling=False, overlong=False),
    "dr_grpo+a_grae": Preset(
        "dr_grpo+a_grae", "seq-mean-token-sum-norm", None, dynamic_sampling=False, overlong=False
    ),
    "dapo+a_grae": Preset("grpo+a_grae", "token-mean", 0.28, dynamic_sampling=True, overlong=True),
}


@dataclass(frozen=True)
class AlgorithmSettings:
    """Every concrete algorithm value of a run (no ``None`` left to interpret).

    Attributes:
        preset: The ``algorithm.name`` it was resolved from.
        estimator: Name for ``compute_advantages``; ``estimator_params`` its keyword arguments from the
            config (the trainer adds the step data ``correct`` and ``batch_accuracy``).
        group_relative: The estimator needs ``rollout.n >= 2`` samples per prompt.
        loss: Arguments of ``policy_loss``.
        dynamic_sampling, max_rounds: DAPO's group filter (``DynamicSampler``) and its round limit.
        overlong, overlong_buffer_length, overlong_penalty_factor, max_response_length: arguments of
            ``overlong_penalty`` (``max_len = max_response_length = rollout.max_new_tokens``).
    """

    preset: str
    estimator: str
    estimator_params: dict[str, Any] = field(hash=False)
    group_relative: bool
    loss: LossParams
    dynamic_sampling: bool
    max_rounds: int
    overlong: bool
    overlong_buffer_length: int
    overlong_penalty_factor: float
    max_response_length: int

    @property
    def needs_reference(self) -> bool:
        """A reference model must be loaded (KL term in the loss)."""
        return self.loss.kl_coef > 0

    @property
    def needs_entropy(self) -> bool:
        """The trainer must pass the per-token entropy to ``policy_loss``."""
        return self.loss.entropy_coef > 0


def _pick(user: Any, preset: Any) -> Any:
    return preset if user is None else user


def resolve_algorithm(algorithm: AlgorithmConfig, rollout: RolloutConfig) -> AlgorithmSettings:
    """Fill the ``None`` fields of ``algorithm`` from its preset; raise ``ConfigError`` naming the field.

    Config values reach the estimator through the parameters it declares: ``alpha`` and
    ``easy_divisor`` from ``algorithm.a_grae``, ``lam`` from ``algorithm.w_reinforce_lambda``.
    """
    a = algorithm
    if a.name not in PRESETS:
        raise ConfigError(f"algorithm.name={a.name!r} is not a preset; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[a.name]
    estimator = _pick(a.estimator, preset.estimator)
    try:
        spec = get_estimator_spec(estimator)
    except ValueError as exc:
        raise ConfigError(f"algorithm.estimator: {exc}") from None
    from_config = {
        "alpha": a.a_grae.alpha,
        "easy_divisor": a.a_grae.easy_divisor,
        "lam": a.w_reinforce_lambda,
    }
    accepted = estimator_params(spec.fn)
    params = {k: v for k, v in from_config.items() if k in accepted}

    dynamic_sampling = _pick(a.dynamic_sampling.enable, preset.dynamic_sampling)
    if rollout.n < 2 and (spec.group_relative or dynamic_sampling):
        why = (
            "dynamic sampling drops every group"
            if dynamic_sampling
            else f"{estimator} gives every advantage 0"
        )
        raise ConfigError(
            f"rollout.n={rollout.n}: with one sample per prompt {why}; set rollout.n >= 2 "
            "(e.g. 8) or use algorithm.name=w_reinforce without dynamic sampling"
        )
    clip_low = _pick(a.clip_ratio_low, preset.clip_ratio_low)
    try:
        loss = LossParams(
            agg_mode=_pick(a.loss_agg_mode, preset.loss_agg_mode),
            clip_ratio_low=clip_low,
            clip_ratio_high=_pick(a.clip_ratio_high, _pick(preset.clip_ratio_high, clip_low)),
            clip_ratio_c=a.clip_ratio_c,
            loss_scale_factor=float(_pick(a.loss_scale_factor, rollout.max_new_tokens)),
            kl_coef=a.kl_coef,
            kl_estimator=a.kl_estimator,
            entropy_coef=a.entropy_coef,
            tis_cap=a.tis_cap,
        )
    except ValueError as exc:
        raise ConfigError(f"algorithm: {exc}") from None
    return AlgorithmSettings(
        preset=a.name,
        estimator=estimator,
        estimator_params=params,
        group_relative=spec.group_relative,
        loss=loss,
        dynamic_sampling=dynamic_sampling,
        max_rounds=a.dynamic_sampling.max_rounds,
        overlong=_pick(a.overlong.enable, preset.overlong),
        overlong_buffer_length=a.overlong.buffer_length,
        overlong_penalty_factor=a.overlong.penalty_factor,
        max_response_length=rollout.max_new_tokens,
    )
