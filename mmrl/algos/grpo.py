"""GRPO (DeepSeekMath, Shao et al. 2024, arXiv 2402.03300): the group-normalised advantage.

Why the baseline is right: the mean reward of the prompt's own ``G`` samples estimates the value of
the prompt without a critic, and dividing by the group's std puts every prompt on one scale. The
paper quotes lr 1e-6, KL coefficient 0.04, 64 samples per question, max length 1024, batch 1024
(``docs/papers.md``).

Shared conventions of the estimators in this package: an unscorable reward (``NaN``) is left out of
its group's statistics and gets advantage 0; a group whose scorable rewards are all equal
(including a one-sample group) gets exactly 0 from the group-relative estimators.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmrl.algos.groups import group_moments
from mmrl.algos.registry import Preset, register_estimator, register_preset

__all__ = ["GRPO", "grpo_advantages"]


@register_estimator("grpo")
def grpo_advantages(rewards: Tensor, group_ids: Tensor, *, eps: float = 1e-6) -> Tensor:
    """GRPO: ``A_i = (r_i − mean_g) / (std_g + eps)``.

    ``mean_g`` and ``std_g`` are taken over the scorable rewards of ``i``'s group; ``std_g`` has
    Bessel's correction (divides by ``n_g − 1``, as ``torch.std``, verl and TRL); ``eps = 1e-6`` as
    verl. Zero-variance and one-sample groups get 0 (verl gives a one-sample group ``A = r``; a lone
    sample has no peer to compare with, so it carries no group-relative signal here).
    """
    m = group_moments(rewards, group_ids)
    adv = (rewards.double() - m.mean) / (m.std + eps)
    return torch.where(m.valid & ~m.constant, adv, 0.0).to(rewards.dtype)


#: PPO clip 0.2 and the paper's ``(1/G) Σ_i (1/|o_i|) Σ_t`` aggregation.
GRPO = register_preset(
    Preset("grpo", "grpo", "seq-mean-token-mean", paper="DeepSeekMath, Shao et al. 2024, arXiv 2402.03300")
)
