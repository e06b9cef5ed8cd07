"""Dr.GRPO ("Understanding R1-Zero-Like Training", Liu et al. 2025, arXiv 2503.20783).

Why: GRPO's division by the group std up-weights prompts whose rewards barely vary (very easy or
very hard ones), and its per-response length normalisation favours long wrong answers. Dr.GRPO
removes both: ``A_i = r_i − mean_g`` and the loss ``Σ_{i,t} L / (N_seqs · C)`` with a constant ``C``
(``rollout.max_new_tokens``, the generation budget, as the official recipe).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmrl.algos.groups import group_moments
from mmrl.algos.registry import Preset, register_estimator, register_preset

__all__ = ["DR_GRPO", "dr_grpo_advantages"]


@register_estimator("dr_grpo")
def dr_grpo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """Dr.GRPO: ``A_i = r_i − mean_g``, no division by the group std.

    Zero-variance and one-sample groups get 0; unscorable rewards are left out and get 0.
    """
    m = group_moments(rewards, group_ids)
    adv = rewards.double() - m.mean
    return torch.where(m.valid & ~m.constant, adv, 0.0).to(rewards.dtype)


DR_GRPO = register_preset(
    Preset(
        "dr_grpo",
        "dr_grpo",
        "seq-mean-token-sum-norm",
        paper="Understanding R1-Zero-Like Training, Liu et al. 2025, arXiv 2503.20783",
    )
)
