"""W-REINFORCE ("The Surprising Effectiveness of Negative Reinforcement", Zhu et al. 2025, arXiv 2506.01347).

Why: the paper splits RLVR into positive and negative sample reinforcement and finds that pushing
wrong answers down does most of the work while keeping the policy's diversity (pass@k at large k);
W-REINFORCE keeps a small weight ``λ`` on correct samples. No group baseline, so it also works with
one sample per prompt.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

from mmrl.algos.registry import Preset, register_estimator, register_preset
from mmrl.config import Section, opt, parameter_section

__all__ = ["W_REINFORCE", "WReinforceParams", "w_reinforce_advantages"]


@parameter_section("w_reinforce")
class WReinforceParams(Section):
    """W-REINFORCE's parameters (the w_reinforce preset)."""

    lam: Annotated[float, Field(gt=0)] = opt(
        0.1, "Weight lambda of correct samples (+lambda correct, -1 incorrect).", hint="the paper uses 0.1"
    )


@register_estimator("w_reinforce", group_relative=False, params=WReinforceParams)
def w_reinforce_advantages(
    rewards: Tensor, group_ids: Tensor, *, correct: Tensor | None = None, lam: float = 0.1
) -> Tensor:
    """W-REINFORCE: ``A_i = +λ`` if correct, ``−1`` if wrong.

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


W_REINFORCE = register_preset(
    Preset("w_reinforce", "w_reinforce", "token-mean", paper="Zhu et al. 2025, arXiv 2506.01347")
)
