"""Advantage estimators, policy losses, KL and DAPO's sampling rules, as pure functions on tensors.

What the trainer calls, in step order::

    settings = resolve_algorithm(cfg.algorithm, cfg.rollout)            # once, before loading models
    rewards, correct = score_tensors(scores)                             # None -> NaN
    omega = batch_accuracy(rewards)                                      # A-GRAE's ω, before any filter
    #   with settings.dynamic_sampling: feed DynamicSampler rounds instead; finish() returns the kept
    #   groups and their ω over all rounds (batch.batch_accuracy)
    if settings.overlong:
        rewards = rewards + overlong_penalty(lengths, settings.max_response_length,
                                             settings.overlong_buffer_length, settings.overlong_penalty_factor)
    advantages, metrics = compute_advantages_with_metrics(
        settings.estimator, rewards, group_ids, correct=correct, batch_accuracy=omega,
        **settings.estimator_params)
    # per micro-batch k of a mini-batch; N = Σ_k loss_normalizer(mask_k, settings.loss.agg_mode)
    loss, metrics = policy_loss(logprobs, old_logprobs, advantages, mask,
                                params=settings.loss, normalizer=N)   # Σ_k loss_k = the mini-batch loss

Estimators are registered by name (``register_estimator``/``get_estimator``); ``docs/papers.md``
maps every name to its paper, formula and hyperparameters.
"""

from mmrl.algos.a_grae import (
    a_grae_advantages,
    a_grae_weight,
    attenuate_positive,
    attenuation_factor,
    difficulty_reweight,
    dr_grpo_a_grae_advantages,
    grpo_a_grae_advantages,
    peak_success_rate,
)
from mmrl.algos.advantages import (
    dr_grpo_advantages,
    grpo_advantages,
    rloo_advantages,
    w_reinforce_advantages,
)
from mmrl.algos.dapo import DynamicSampler, FilteredBatch, mixed_group_mask, overlong_penalty
from mmrl.algos.diagnostics import compute_advantages_with_metrics, group_diagnostics
from mmrl.algos.groups import batch_accuracy, group_moments, score_tensors, success_rate
from mmrl.algos.kl import KL_ESTIMATORS, kl_penalty
from mmrl.algos.losses import AGG_MODES, LossParams, aggregate, combine_metrics, loss_normalizer, policy_loss
from mmrl.algos.presets import PRESETS, AlgorithmSettings, Preset, resolve_algorithm
from mmrl.algos.registry import compute_advantages, get_estimator, list_estimators, register_estimator

__all__ = [
    "AGG_MODES",
    "KL_ESTIMATORS",
    "PRESETS",
    "AlgorithmSettings",
    "DynamicSampler",
    "FilteredBatch",
    "LossParams",
    "Preset",
    "a_grae_advantages",
    "a_grae_weight",
    "aggregate",
    "attenuate_positive",
    "attenuation_factor",
    "batch_accuracy",
    "combine_metrics",
    "compute_advantages",
    "compute_advantages_with_metrics",
    "difficulty_reweight",
    "dr_grpo_a_grae_advantages",
    "dr_grpo_advantages",
    "get_estimator",
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
    "resolve_algorithm",
    "rloo_advantages",
    "score_tensors",
    "success_rate",
    "w_reinforce_advantages",
]
