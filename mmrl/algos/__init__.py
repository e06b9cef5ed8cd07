"""Advantage estimators, policy losses, KL and DAPO's sampling rules, as pure functions on tensors.

One file per algorithm, each holding its estimator, its parameter section, its preset(s) and its
paper: ``grpo``, ``dr_grpo``, ``dapo``, ``rloo``, ``w_reinforce``, ``a_grae`` (``grpo+a_grae``,
``dr_grpo+a_grae``, ``dapo+a_grae``) and ``controls`` (the A-GRAE paper's control experiments:
``positive_dominant``, ``negative_dominant``, ``easy_focused``, ``hard_focused``). Shared pieces:
``groups`` (per-group statistics, ``ω``), ``losses``, ``kl``, ``diagnostics``, ``registry`` (the
``ESTIMATORS`` and ``PRESETS`` registries), ``settings`` (``resolve_algorithm``). Adding an
algorithm is adding a file here (the registries import every module of this package) and its test.

What the trainer calls, in step order::

    settings = resolve_algorithm(cfg.algorithm, cfg.rollout)            # once: preset + estimator
    rewards, correct = score_tensors(scores)                             # None -> NaN
    omega = batch_accuracy_from_sums(reward_sum, reward_count)           # A-GRAE's ω: every scorable
    #   reward generated this step (all ranks, all rounds), before any filter or shaping
    #   with settings.dynamic_sampling: feed DynamicSampler rounds instead; finish() returns the kept groups
    if settings.overlong:
        rewards = rewards + overlong_penalty(lengths, settings.max_response_length,
                                             settings.overlong_buffer_length, settings.overlong_penalty_factor)
    advantages, metrics = settings.advantages(rewards, group_ids, correct=correct, batch_accuracy=omega)
    # per micro-batch k of a mini-batch; N = Σ_k loss_normalizer(mask_k, settings.loss.agg_mode)
    loss, metrics = policy_loss(logprobs, old_logprobs, advantages, mask,
                                params=settings.loss, normalizer=N)   # Σ_k loss_k = the mini-batch loss

``docs/papers.md`` maps every preset to its paper, formula and hyperparameters.
"""

from mmrl.algos.a_grae import (
    AGraeParams,
    a_grae_advantages,
    a_grae_weight,
    attenuate_positive,
    attenuation_factor,
    difficulty_reweight,
    dr_grpo_a_grae_advantages,
    grpo_a_grae_advantages,
    peak_success_rate,
)
from mmrl.algos.dapo import DynamicSampler, FilteredBatch, mixed_group_mask, overlong_penalty
from mmrl.algos.diagnostics import compute_advantages_with_metrics, group_diagnostics
from mmrl.algos.dr_grpo import dr_grpo_advantages
from mmrl.algos.groups import (
    batch_accuracy,
    batch_accuracy_from_sums,
    group_moments,
    score_tensors,
    success_rate,
)
from mmrl.algos.grpo import grpo_advantages
from mmrl.algos.kl import KL_ESTIMATORS, kl_penalty
from mmrl.algos.losses import AGG_MODES, LossParams, aggregate, combine_metrics, loss_normalizer, policy_loss
from mmrl.algos.registry import (
    ESTIMATORS,
    PRESETS,
    EstimatorSpec,
    Preset,
    compute_advantages,
    get_estimator,
    get_estimator_spec,
    list_estimators,
    register_estimator,
    register_preset,
)
from mmrl.algos.rloo import rloo_advantages
from mmrl.algos.settings import AlgorithmSettings, resolve_algorithm
from mmrl.algos.w_reinforce import WReinforceParams, w_reinforce_advantages

__all__ = [
    "AGG_MODES",
    "ESTIMATORS",
    "KL_ESTIMATORS",
    "PRESETS",
    "AGraeParams",
    "AlgorithmSettings",
    "DynamicSampler",
    "EstimatorSpec",
    "FilteredBatch",
    "LossParams",
    "Preset",
    "WReinforceParams",
    "a_grae_advantages",
    "a_grae_weight",
    "aggregate",
    "attenuate_positive",
    "attenuation_factor",
    "batch_accuracy",
    "batch_accuracy_from_sums",
    "combine_metrics",
    "compute_advantages",
    "compute_advantages_with_metrics",
    "difficulty_reweight",
    "dr_grpo_a_grae_advantages",
    "dr_grpo_advantages",
    "get_estimator",
    "get_estimator_spec",
    "group_diagnostics",
    "group_moments",
    "grpo_a_grae_advantages",
    "grpo_advantages",
    "kl_penalty",
    "list_estimators",
    "loss_normalizer",
    "mixed_group_mask",
    "overlong_penalty",
    "peak_success_rate",
    "policy_loss",
    "register_estimator",
    "register_preset",
    "resolve_algorithm",
    "rloo_advantages",
    "score_tensors",
    "success_rate",
    "w_reinforce_advantages",
]
