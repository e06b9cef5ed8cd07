"""RLOO (Kool et al. 2019; "Back to Basics", Ahmadian et al. 2024, arXiv 2402.14740).

Why the baseline is right: the leave-one-out mean of the other samples of the same prompt does not
depend on the sample itself, so subtracting it keeps the policy-gradient estimate unbiased.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmrl.algos.groups import group_moments
from mmrl.algos.registry import Preset, register_estimator, register_preset

__all__ = ["RLOO", "rloo_advantages"]


@register_estimator("rloo")
def rloo_advantages(rewards: Tensor, group_ids: Tensor) -> Tensor:
    """RLOO: ``A_i = r_i − (1/(n_g−1)) Σ_{j∈g, j≠i} r_j = n_g/(n_g−1) · (r_i − mean_g)``.

    Over the scorable samples of the group. One-sample and zero-variance groups get 0.
    """
    m = group_moments(rewards, group_ids)
    adv = m.count / (m.count - 1).clamp(min=1) * (rewards.double() - m.mean)
    return torch.where(m.valid & ~m.constant, adv, 0.0).to(rewards.dtype)


#: ``token-mean``, verl's default aggregation (the A-GRAE paper does not use RLOO).
RLOO = register_preset(Preset("rloo", "rloo", "token-mean", paper="Ahmadian et al. 2024, arXiv 2402.14740"))
