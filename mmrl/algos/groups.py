"""Per-group statistics shared by the advantage estimators, A-GRAE and the diagnostics.

A step's trajectories come as flat tensors: ``rewards[N]`` (float, ``NaN`` where a response could not
be scored) and ``group_ids[N]`` (integers; samples of one prompt share an id, ids need not be
contiguous or sorted). Unscorable rewards are left out of every group statistic here, so they never
move their peers' baseline; the estimators then give them advantage 0.

Statistics are computed in float64 with a two-pass variance, and a group whose scorable rewards are
all equal is detected exactly (``max == min``), so zero-variance groups get an advantage of exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from mmrl.types import Score

__all__ = [
    "GroupMoments",
    "batch_accuracy",
    "batch_accuracy_from_sums",
    "check_step_inputs",
    "group_index",
    "group_moments",
    "score_tensors",
    "success_rate",
]


def check_step_inputs(rewards: Tensor, group_ids: Tensor, correct: Tensor | None = None) -> None:
    """Raise ``ValueError`` naming the argument when the step tensors are malformed."""
    if not isinstance(rewards, Tensor) or rewards.dim() != 1 or not rewards.is_floating_point():
        raise ValueError(
            f"rewards must be a 1-D float tensor [N] (NaN for unscorable), got {_describe(rewards)}; "
            "build it with mmrl.algos.score_tensors(scores)"
        )
    if not isinstance(group_ids, Tensor) or group_ids.shape != rewards.shape:
        raise ValueError(
            f"group_ids must be a tensor of shape {tuple(rewards.shape)} like rewards, got {_describe(group_ids)}"
        )
    if group_ids.is_floating_point() or group_ids.dtype == torch.bool:
        raise ValueError(f"group_ids must hold integers (one id per prompt), got dtype {group_ids.dtype}")
    bad = torch.isinf(rewards).nonzero().flatten()
    if bad.numel():
        i = int(bad[0])
        raise ValueError(
            f"rewards[{i}]={rewards[i].item()} is infinite; a verifier must return a finite reward or None"
        )
    if correct is not None:
        if not isinstance(correct, Tensor) or correct.shape != rewards.shape:
            raise ValueError(
                f"correct must be a tensor of shape {tuple(rewards.shape)} (1/0, NaN where unknown), "
                f"got {_describe(correct)}"
            )
        c = correct.double()
        known = c[~torch.isnan(c)]
        if not torch.all((known == 0) | (known == 1)):
            raise ValueError("correct must hold 1 (right), 0 (wrong) or NaN (unknown)")


def _describe(x: object) -> str:
    if isinstance(x, Tensor):
        return f"tensor(shape={tuple(x.shape)}, dtype={x.dtype})"
    return type(x).__name__


def group_index(group_ids: Tensor) -> tuple[Tensor, int]:
    """Map arbitrary integer ids ``[N]`` to dense indices ``0..K-1`` (sorted by id) and return ``K``."""
    uniq, inverse = torch.unique(group_ids, return_inverse=True)
    return inverse, int(uniq.numel())


class GroupMoments(NamedTuple):
    """Per-sample views of its group's statistics over scorable rewards (all ``[N]``, float64)."""

    valid: Tensor  # bool: this sample's reward is scorable (not NaN)
    count: Tensor  # number of scorable samples in the group
    mean: Tensor  # mean of the group's scorable rewards (0 when there are none)
    std: Tensor  # Bessel-corrected std (divides by n-1); 0 when the group has fewer than 2
    constant: Tensor  # bool: the group's scorable rewards are all equal (includes 0- and 1-sample groups)


def group_moments(rewards: Tensor, group_ids: Tensor) -> GroupMoments:
    """Mean, Bessel std and a zero-variance flag of each sample's group, NaN rewards excluded.

    ``std_g = sqrt( Σ_{j∈g, valid} (r_j − mean_g)² / (n_g − 1) )`` (Bessel's correction, as ``torch.std``,
    verl and TRL); a group with ``n_g < 2`` scorable samples has ``std_g = 0``.
    """
    idx, k = group_index(group_ids)
    r = rewards.double()
    valid = ~torch.isnan(r)
    r0 = torch.where(valid, r, 0.0)
    zeros = torch.zeros(k, dtype=torch.float64, device=r.device)
    count = zeros.index_add(0, idx, valid.double())
    mean = zeros.index_add(0, idx, r0) / count.clamp(min=1)
    dev = torch.where(valid, r0 - mean[idx], 0.0)
    var = zeros.index_add(0, idx, dev * dev) / (count - 1).clamp(min=1)
    std = torch.where(count >= 2, var.sqrt(), 0.0)
    hi = torch.full((k,), -math.inf, dtype=torch.float64, device=r.device)
    lo = torch.full((k,), math.inf, dtype=torch.float64, device=r.device)
    hi = hi.scatter_reduce(0, idx, torch.where(valid, r, -math.inf), reduce="amax")
    lo = lo.scatter_reduce(0, idx, torch.where(valid, r, math.inf), reduce="amin")
    constant = (count < 2) | (hi == lo)
    return GroupMoments(valid, count[idx], mean[idx], std[idx], constant[idx])


def success_rate(rewards: Tensor, group_ids: Tensor, correct: Tensor | None = None) -> Tensor:
    """Each sample's group success rate ``p`` (``[N]``, float64), the ``p`` of A-GRAE.

    ``p_g`` = mean of the correctness indicator over the group's samples whose reward and correctness
    are both known, when ``correct`` is given and the group has at least one such sample; otherwise
    the mean scorable reward of the group clipped to ``[0, 1]``. ``NaN`` for a group with no scorable
    reward at all.
    """
    moments = group_moments(rewards, group_ids)
    from_rewards = moments.mean.clamp(0.0, 1.0)
    p = torch.where(moments.count > 0, from_rewards, torch.nan)
    if correct is None:
        return p
    c = correct.double().masked_fill(torch.isnan(rewards.double()), torch.nan)
    from_correct = group_moments(c, group_ids)
    return torch.where(from_correct.count > 0, from_correct.mean, p)


def batch_accuracy_from_sums(reward_sum: float, reward_count: float) -> float:
    """A-GRAE's training-state proxy ``ω = clip( Σ_i r_i / B, 0, 1 )``, from the sum and count of the
    step's scorable rewards: the one place ``ω`` is computed.

    ``B`` counts every scorable trajectory generated in the step, before any dynamic-sampling filter
    and before reward shaping: pass sums over the unfiltered, unshaped rewards (of every round and,
    in data-parallel training, summed over all ranks). The paper defines ``ω`` as the plain mean
    reward, which lies in ``[0, 1]`` for its rewards; the clip keeps the attenuation factor
    ``min(1, ω/α)`` in ``[0, 1]`` when rewards can be negative or above 1. ``NaN`` when no reward is
    scorable (``reward_count == 0``).

    >>> batch_accuracy_from_sums(3.0, 4), batch_accuracy_from_sums(5.0, 4), batch_accuracy_from_sums(0.0, 0)
    (0.75, 1.0, nan)
    """
    if reward_count <= 0:
        return math.nan
    return min(1.0, max(0.0, reward_sum / reward_count))


def batch_accuracy(rewards: Tensor) -> float:
    """``ω`` of a step whose unfiltered, unshaped rewards are ``rewards`` ``[N]`` (``NaN`` = unscorable
    and not counted); see ``batch_accuracy_from_sums``."""
    r = rewards.double()
    r = r[~torch.isnan(r)]
    return batch_accuracy_from_sums(float(r.sum()), r.numel())


def score_tensors(scores: Sequence[Score]) -> tuple[Tensor, Tensor]:
    """``(rewards[N], correct[N])`` as float32 tensors from verifier scores; ``None`` becomes ``NaN``.

    >>> rewards, correct = score_tensors([Score(1.0, True), Score(None, status="timeout")])
    >>> rewards.tolist()[0], correct.tolist()[0], rewards.isnan().tolist()
    (1.0, 1.0, [False, True])
    """
    rewards = [math.nan if s.reward is None else float(s.reward) for s in scores]
    correct = [math.nan if s.correct is None else float(s.correct) for s in scores]
    return torch.tensor(rewards, dtype=torch.float32), torch.tensor(correct, dtype=torch.float32)
