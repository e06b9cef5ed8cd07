"""Outcome advantage estimators: GRPO, Dr.GRPO, RLOO and W-REINFORCE.

Each takes ``rewards[N]`` (float, ``NaN`` = unscorable) and ``group_ids[N]`` and returns one scalar
advantage per trajectory, ``[N]``, in ``rewards.dtype``; the loss broadcasts it over the response's
tokens. Conventions shared by all four:

* an unscorable reward (``NaN``) is left out of its group's statistics and gets advantage 0;
* a group whose scorable rewards are all equal (including a one-sample group) gets exactly 0 from
  the group-relative estimators.

Papers and quoted hyperparameters: ``docs/papers.md``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmrl.algos.groups import group_moments
from mmrl.algos.registry import register_estimator

__all__ = ["dr_grpo_advantages", "grpo_advantages", "rloo_advantages", "w_reinforce_advantages"]


@register_estimator("grpo")
def grpo_advantages(rewards: Tensor, group_ids: Tensor, *, eps: float = 1e-6) -> Tensor:
    """GRPO (DeepSeekMath, arXiv 2402.03300): ``A_i = (r_i − mean_g) / (std_g + eps)``.

    ``mean_g`` and ``std_g`` are taken over the scorable rewards of ``i``'s group; ``std_g`` has
    Bessel's correction (divides by ``n_g − 1``, as ``torch.std``, verl and TRL); ``eps = 1e-6`` as
    verl. Zero-variance and one-sample groups get 0 (verl gives a one-sample group ``A = r``; a lone
    sample has no peer to compare with, so it carries no group-relative signal here).
    """
    m = group_moments(rewards, group_ids)
    adv = (rewards.double() - m.mean) / (m.std + eps)
    return torch.where(m.valid & ~m.constant, adv, 0.0).to(rewards.dtype)


@register_estimator("dr_grpo")
def dr_grpo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """Dr.GRPO (arXiv 2503.20783): ``A_i = r_i − mean_g``, no division by the group std.

    Removing the std stops low-variance (very easy or very hard) prompts from being up-weighted.
    Zero-variance and one-sample groups get 0.
    """
    m = group_moments(rewards, group_ids)
    adv = rewards.double() - m.mean
    return torch.where(m.valid & ~m.constant, adv, 0.0).to(rewards.dtype)


@register_estimator("rloo")
def rloo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """RLOO (Kool et al. 2019; Ahmadian et al., arXiv 2402.14740): leave-one-out baseline.

    ``A_i = r_i − (1/(n_g−1)) Σ_{j∈g, j≠i} r_j = n_g/(n_g−1) · (r_i − mean_g)`` over the scorable
    samples of the group. The baseline excludes the sample itself, so it is independent of ``r_i``
    and the gradient estimate stays unbiased. One-sample and zero-variance groups get 0.
    """
    m = group_moments(rewards, group_ids)
    adv = m.count / (m.count - 1).clamp(min=1) * (rewards.double() - m.mean)
    return torch.where(m.valid & ~m.constant, adv, 0.0).to(rewards.dtype)


@register_estimator("w_reinforce", group_relative=False)
def w_reinforce_advantages(
    rewards: Tensor, group_ids: Tensor, *, correct: Tensor | None = None, lam: float = 0.1
) -> Tensor:
    """W-REINFORCE (Zhu et al., arXiv 2506.01347): ``A_i = +λ`` if correct, ``−1`` if wrong.

    No group baseline and no std: the loss is ``λ·L_PSR + L_NSR`` (positive and negative sample
    reinforcement), with ``λ = 0.1`` recommended by the authors. Correctness comes from ``correct``
    (1/0, ``NaN`` = unknown → advantage 0); without it the rewards must be 0/1 and ``r_i = 1`` means
    correct. Unscorable rewards get 0. ``group_ids`` is unused (kept for the common signature).
    """
    r = rewards.double()
    if correct is None:
        scorable = r[~torch.isnan(r)]
        if not torch.all((scorable == 0) | (scorable == 1)):
            raise ValueError(
                "w_reinforce needs correctness: pass correct=... (1/0/NaN per sample) when rewards are "
                "not all 0 or 1 (e.g. with a format bonus)"
            )
        c = r
    else:
        c = correct.double().masked_fill(torch.isnan(r), torch.nan)
    adv = torch.where(c == 1, lam, torch.where(c == 0, -1.0, 0.0))
    return adv.to(rewards.dtype)
