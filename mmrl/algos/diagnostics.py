"""Group diagnostics of a step's advantages, returned as a flat metrics dict for logging.

They show the two symmetries A-GRAE breaks: ``advantages/pos_mass`` vs ``advantages/neg_mass``
(equal for GRPO, ratio ``min(1, ω/α)`` for A-GRAE) and ``advantages/abs_sum/p=...``, the total
``Σ|A|`` of the groups in each success-rate bucket (where the update's weight goes by difficulty).
An estimator adds metrics of its own through its registered ``diagnostics`` (A-GRAE:
``advantages/attenuation``); nothing here knows an estimator's parameters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mmrl.algos.groups import batch_accuracy as mean_batch_reward
from mmrl.algos.groups import group_index, group_moments, success_rate
from mmrl.algos.registry import EstimatorSpec, get_estimator_spec

__all__ = ["SUCCESS_BUCKETS", "compute_advantages_with_metrics", "group_diagnostics"]

#: (label, low, high): a group with success rate p falls in the bucket with low < p <= high; the two
#: end buckets hold exactly p = 0 and p = 1.
SUCCESS_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0", -1.0, 0.0),
    ("(0,0.25]", 0.0, 0.25),
    ("(0.25,0.5]", 0.25, 0.5),
    ("(0.5,0.75]", 0.5, 0.75),
    ("(0.75,1)", 0.75, 1.0 - 1e-12),
    ("1", 1.0 - 1e-12, 1.0),
)


def group_diagnostics(
    advantages: Tensor,
    rewards: Tensor,
    group_ids: Tensor,
    *,
    correct: Tensor | None = None,
    batch_accuracy: float | None = None,
) -> dict[str, float]:
    """Metrics of one step's advantages ``[N]`` (all floats):

    * ``advantages/omega``: ``ω`` (``batch_accuracy`` if given, else ``batch_accuracy(rewards)``);
    * ``advantages/zero_variance_frac``: fraction of groups with a scorable reward whose scorable
      rewards are all equal (no group-relative signal); ``advantages/unscorable_frac``: fraction of
      samples with a NaN reward;
    * ``advantages/pos_mass`` = ``Σ_{A>0} A``, ``advantages/neg_mass`` = ``Σ_{A<0} |A|``;
    * ``advantages/abs_sum/p=<bucket>`` = ``Σ|A|`` over the groups whose success rate is in the bucket
      (``SUCCESS_BUCKETS``), and ``advantages/groups/p=<bucket>`` their number.
    """
    a = advantages.double()
    moments = group_moments(rewards, group_ids)
    idx, k = group_index(group_ids)
    zeros = torch.zeros(k, dtype=torch.float64, device=a.device)
    has_reward = zeros.index_add(0, idx, moments.valid.double()) > 0
    constant = zeros.index_add(0, idx, moments.constant.double()) > 0
    abs_sum = zeros.index_add(0, idx, a.abs())
    p = torch.full((k,), torch.nan, dtype=torch.float64, device=a.device)
    p[idx] = success_rate(rewards, group_ids, correct)  # every member carries its group's p

    omega = mean_batch_reward(rewards) if batch_accuracy is None else float(batch_accuracy)
    out: dict[str, float] = {"advantages/omega": omega}
    n_groups = int(has_reward.sum())
    out["advantages/zero_variance_frac"] = (
        float((constant & has_reward).sum()) / n_groups if n_groups else 0.0
    )
    out["advantages/unscorable_frac"] = float((~moments.valid).double().mean()) if a.numel() else 0.0
    out["advantages/pos_mass"] = float(a.clamp(min=0).sum())
    out["advantages/neg_mass"] = float((-a).clamp(min=0).sum())
    for label, low, high in SUCCESS_BUCKETS:
        in_bucket = has_reward & (p > low) & (p <= high)
        out[f"advantages/abs_sum/p={label}"] = float(abs_sum[in_bucket].sum())
        out[f"advantages/groups/p={label}"] = float(in_bucket.sum())
    return out


def compute_advantages_with_metrics(
    estimator: str | EstimatorSpec,
    rewards: Tensor,
    group_ids: Tensor,
    *,
    correct: Tensor | None = None,
    batch_accuracy: float | None = None,
    **params: Any,
) -> tuple[Tensor, dict[str, float]]:
    """``compute_advantages`` plus ``group_diagnostics`` of the result and the estimator's own
    ``diagnostics(batch_accuracy=ω, **params)`` (same arguments)."""
    spec = get_estimator_spec(estimator)
    advantages = spec(rewards, group_ids, correct=correct, batch_accuracy=batch_accuracy, **params)
    metrics = group_diagnostics(
        advantages, rewards, group_ids, correct=correct, batch_accuracy=batch_accuracy
    )
    if spec.diagnostics is not None:
        metrics.update(spec.diagnostics(batch_accuracy=metrics["advantages/omega"], **params))
    return advantages, metrics
