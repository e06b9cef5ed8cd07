"""``resolve_algorithm``: the one place a preset meets the config, and what it resolves to.

A preset (``mmrl.algos.PRESETS``) fills in only the ``algorithm.*`` fields the user left ``None``; a
value the user set always wins and is never rewritten. ``resolve_algorithm`` returns
``AlgorithmSettings``, every concrete value the trainer needs, with the estimator resolved once
(``settings.advantages`` calls it every step without a lookup), so the trainer never looks at
preset names. Papers and quotes: ``docs/papers.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import Tensor

from mmrl.algos.diagnostics import compute_advantages_with_metrics
from mmrl.algos.losses import LossParams
from mmrl.algos.registry import ESTIMATORS, PRESETS, EstimatorSpec
from mmrl.config import ConfigError
from mmrl.plugins import PluginError

if TYPE_CHECKING:
    from mmrl.config import AlgorithmConfig, RolloutConfig

__all__ = ["AlgorithmSettings", "resolve_algorithm"]


@dataclass(frozen=True)
class AlgorithmSettings:
    """Every concrete algorithm value of a run (no ``None`` left to interpret).

    Attributes:
        preset: The ``algorithm.name`` it was resolved from; ``paper`` its reference.
        estimator: The estimator's name; ``estimator_spec`` the resolved estimator and
            ``estimator_params`` its keyword arguments from the config (its parameter section).
        group_relative: The estimator needs ``rollout.n >= 2`` samples per prompt.
        loss: Arguments of ``policy_loss``.
        dynamic_sampling, max_rounds: DAPO's group filter (``DynamicSampler``) and its round limit.
        overlong, overlong_buffer_length, overlong_penalty_factor, max_response_length: arguments of
            ``overlong_penalty`` (``max_len = max_response_length = rollout.max_new_tokens``).
        mask_truncated: Truncated responses are left out of the loss (``mmrl.train.stages.plan_update``).
    """

    preset: str
    paper: str
    estimator: str
    estimator_spec: EstimatorSpec = field(repr=False)
    estimator_params: dict[str, Any] = field(hash=False)
    group_relative: bool
    loss: LossParams
    dynamic_sampling: bool
    max_rounds: int
    overlong: bool
    overlong_buffer_length: int
    overlong_penalty_factor: float
    max_response_length: int
    mask_truncated: bool = False

    @property
    def needs_reference(self) -> bool:
        """A reference model must be loaded (KL term in the loss)."""
        return self.loss.kl_coef > 0

    @property
    def needs_entropy(self) -> bool:
        """The trainer must pass the per-token entropy to ``policy_loss``."""
        return self.loss.entropy_coef > 0

    def advantages(
        self, rewards: Tensor, group_ids: Tensor, *, correct: Tensor | None, batch_accuracy: float
    ) -> tuple[Tensor, dict[str, float]]:
        """This run's advantages ``[N]`` and their diagnostics for one step.

        ``rewards`` are the (shaped) rewards the estimator sees; ``batch_accuracy`` is ``ω`` of the
        step (``mmrl.algos.batch_accuracy_from_sums`` over every unfiltered, unshaped reward).
        """
        return compute_advantages_with_metrics(
            self.estimator_spec,
            rewards,
            group_ids,
            correct=correct,
            batch_accuracy=batch_accuracy,
            **self.estimator_params,
        )


def _pick(user: Any, preset: Any) -> Any:
    return preset if user is None else user


def resolve_algorithm(algorithm: AlgorithmConfig, rollout: RolloutConfig) -> AlgorithmSettings:
    """Fill the ``None`` fields of ``algorithm`` from its preset; raise ``ConfigError`` naming the field.

    The estimator's parameters are the values of its parameter section (``algorithm.a_grae`` for
    the A-GRAE estimators, ...), passed as the keyword arguments of the same names. The checks that
    involve other sections (``rollout.n``, the overlong buffer) are the config's
    (``mmrl.config._cross_checks``), which runs this function when a config is loaded.
    """
    a = algorithm
    try:
        preset = PRESETS.resolve(a.name)
    except PluginError as exc:
        raise ConfigError(f"algorithm.name: {exc}") from None
    estimator = _pick(a.estimator, preset.estimator)
    try:
        spec = ESTIMATORS.resolve(estimator)
    except PluginError as exc:
        raise ConfigError(f"algorithm.estimator: {exc}") from None
    params = dataclasses.asdict(a.parameters(spec.params)) if spec.params is not None else {}
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
        paper=preset.paper,
        estimator=estimator,
        estimator_spec=spec,
        estimator_params=params,
        group_relative=spec.group_relative,
        loss=loss,
        dynamic_sampling=_pick(a.dynamic_sampling.enable, preset.dynamic_sampling),
        max_rounds=a.dynamic_sampling.max_rounds,
        overlong=_pick(a.overlong.enable, preset.overlong),
        overlong_buffer_length=a.overlong.buffer_length,
        overlong_penalty_factor=a.overlong.penalty_factor,
        max_response_length=rollout.max_new_tokens,
        mask_truncated=a.mask_truncated,
    )
