"""The clipped policy-gradient loss and its four aggregation modes.

Per token (``ρ = π_θ/π_old = exp(logprob − old_logprob)``, clamped in log space to ``[−20, 20]``)::

    pg   = max(−A·ρ, −A·clip(ρ, 1 − ε_low, 1 + ε_high))          PPO clip; ε_high > ε_low is DAPO's clip-higher
    pg   = min(pg, −A·c)            where A < 0                 dual-clip (Ye et al. 2020), when c is set
    pg   = pg · min(exp(old_logprob − engine_logprob), cap)      truncated importance weight, when cap is set
    loss = pg + β·KL_est(π_θ ‖ π_ref) − c_H·H                    KL in the loss (GRPO), entropy bonus

then ``L_{i,t}`` is aggregated over the response mask ``M`` (``N`` = normaliser, below):

=========================== ===================================================== ==================
mode                        aggregate                                             used by
=========================== ===================================================== ==================
``token-mean``              ``Σ_{i,t} L·M / N_tokens``                            DAPO
``seq-mean-token-mean``     ``Σ_i (Σ_t L·M / Σ_t M) / N_seqs``                    GRPO
``seq-mean-token-sum``      ``Σ_{i,t} L·M / N_seqs``
``seq-mean-token-sum-norm`` ``Σ_{i,t} L·M / (N_seqs · C)``, ``C`` a constant        Dr.GRPO
=========================== ===================================================== ==================

``N_seqs`` counts sequences with at least one unmasked token (padding rows change nothing). For
``seq-mean-token-sum-norm``, ``C`` is ``loss_scale_factor`` (the maximum response length, as in the
Dr.GRPO code); like the Dr.GRPO paper and TRL (and unlike verl, which omits it) we keep the ``1/N_seqs``.

**Micro-batches and data parallelism.** By default ``N`` is counted on the tensors given. When a
mini-batch is split into micro-batches (and shards), pass ``normalizer=`` the count for the *whole*
mini-batch, i.e. the sum of ``loss_normalizer(mask_k, mode)`` over all its micro-batches and shards.
Every mode is then a sum of per-token or per-sequence terms over one global constant, so the
micro-batch losses *sum* to exactly the loss of the whole mini-batch computed at once. Accumulate
gradients by summing (no division by the number of micro-batches); under data parallelism where
gradients are averaged across ranks, multiply each rank's loss by the number of ranks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from mmrl.algos.kl import KL_ESTIMATORS, kl_penalty

__all__ = ["AGG_MODES", "LossParams", "aggregate", "combine_metrics", "loss_normalizer", "policy_loss"]

AggMode = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"]
AGG_MODES: tuple[str, ...] = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
)


@dataclass(frozen=True)
class LossParams:
    """Everything ``policy_loss`` needs; built by ``resolve_algorithm`` from the config.

    Attributes:
        agg_mode: One of ``AGG_MODES``.
        clip_ratio_low: ``ε_low``; the ratio is clipped below at ``1 − ε_low``.
        clip_ratio_high: ``ε_high``; clipped above at ``1 + ε_high`` (0.28 in DAPO).
        clip_ratio_c: Dual-clip constant ``c > 1`` for negative advantages; ``None`` disables it.
        loss_scale_factor: ``C`` of ``seq-mean-token-sum-norm`` (required there, unused elsewhere).
        kl_coef: ``β``; 0 disables the KL term (no reference log-probs needed).
        kl_estimator: ``k1``, ``k2``, ``k3`` or ``low_var_kl`` (= ``k3``).
        entropy_coef: Weight of the entropy bonus; 0 disables it.
        tis_cap: Cap of the truncated importance weight ``π_old/π_engine``; ``None`` disables it.
    """

    agg_mode: AggMode
    clip_ratio_low: float
    clip_ratio_high: float
    clip_ratio_c: float | None = None
    loss_scale_factor: float | None = None
    kl_coef: float = 0.0
    kl_estimator: str = "low_var_kl"
    entropy_coef: float = 0.0
    tis_cap: float | None = None

    @property
    def zero_advantage_is_inert(self) -> bool:
        """True when a token whose advantage is 0 adds exactly 0 to the loss and its gradient.

        The clipped term is ``max(-A·r, -A·clip(r))`` (and the dual clip ``min(·, -A·c)``), 0 for
        ``A = 0`` whatever the ratio, also under an importance weight; only the KL and entropy
        terms depend on the token otherwise. The normaliser ``N`` still counts such tokens.
        """
        return self.kl_coef == 0 and self.entropy_coef == 0

    def __post_init__(self) -> None:
        problems = []
        if self.agg_mode not in AGG_MODES:
            problems.append(f"agg_mode={self.agg_mode!r} must be one of {AGG_MODES}")
        if not 0.0 < self.clip_ratio_low < 1.0:
            problems.append(f"clip_ratio_low={self.clip_ratio_low} must be in (0, 1)")
        if self.clip_ratio_high <= 0.0:
            problems.append(f"clip_ratio_high={self.clip_ratio_high} must be > 0")
        if self.clip_ratio_c is not None and self.clip_ratio_c <= 1.0:
            problems.append(f"clip_ratio_c={self.clip_ratio_c} must be > 1 or None")
        if self.agg_mode == "seq-mean-token-sum-norm" and not (self.loss_scale_factor or 0) > 0:
            problems.append(
                "seq-mean-token-sum-norm needs loss_scale_factor > 0 (e.g. the max response length)"
            )
        if self.kl_coef < 0 or self.entropy_coef < 0:
            problems.append("kl_coef and entropy_coef must be >= 0")
        if self.kl_estimator not in KL_ESTIMATORS:
            problems.append(f"kl_estimator={self.kl_estimator!r} must be one of {KL_ESTIMATORS}")
        if self.tis_cap is not None and self.tis_cap <= 0:
            problems.append(f"tis_cap={self.tis_cap} must be > 0 or None")
        if problems:
            raise ValueError("invalid LossParams: " + "; ".join(problems))


def loss_normalizer(mask: Tensor, agg_mode: str) -> int:
    """The count ``N`` of ``agg_mode`` on one (micro-)batch: unmasked tokens for ``token-mean``,
    sequences with at least one unmasked token otherwise. Counts add up across micro-batches."""
    m = mask.bool()
    if agg_mode == "token-mean":
        return int(m.sum())
    if agg_mode in AGG_MODES:
        return int(m.any(dim=-1).sum())
    raise ValueError(f"unknown loss aggregation mode {agg_mode!r}; choose one of {AGG_MODES}")


def aggregate(
    loss_mat: Tensor,
    mask: Tensor,
    agg_mode: str,
    *,
    normalizer: float | None = None,
    loss_scale_factor: float | None = None,
) -> Tensor:
    """Reduce a per-token loss ``[B, T]`` to a scalar with ``agg_mode`` (table in the module docstring).

    Values under the mask are ignored (even NaN). ``normalizer`` is the global ``N`` of the mini-batch
    (see ``loss_normalizer``); ``None`` counts it on ``mask``. A batch with nothing to count gives 0.
    """
    m = mask.bool()
    n = loss_normalizer(m, agg_mode) if normalizer is None else normalizer
    if normalizer is not None and not normalizer > 0:
        raise ValueError(f"normalizer={normalizer} must be > 0 (the mini-batch's token or sequence count)")
    lm = torch.where(m, loss_mat, 0.0)  # [B, T]
    if agg_mode == "seq-mean-token-mean":
        total = (lm.sum(-1) / m.sum(-1).clamp(min=1)).sum()
    elif agg_mode == "seq-mean-token-sum-norm":
        if not (loss_scale_factor or 0) > 0:
            raise ValueError("seq-mean-token-sum-norm needs loss_scale_factor > 0 (the max response length)")
        total = lm.sum() / loss_scale_factor
    else:
        total = lm.sum()
    return total / max(n, 1)


def policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    params: LossParams,
    ref_logprobs: Tensor | None = None,
    entropy: Tensor | None = None,
    behaviour_logprobs: Tensor | None = None,
    normalizer: float | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Clipped policy loss (module docstring) and its metrics.

    Args:
        logprobs: ``[B, T]`` log π_θ of the response tokens (with grad).
        old_logprobs: ``[B, T]`` log π_old, the policy that sampled (detached).
        advantages: ``[B]`` (broadcast over tokens) or ``[B, T]``.
        mask: ``[B, T]`` 1/True on response tokens that count; values elsewhere are ignored.
        params: Clip, aggregation, KL, entropy and importance-weight settings.
        ref_logprobs: ``[B, T]`` log π_ref, required when ``params.kl_coef > 0``.
        entropy: ``[B, T]`` token entropy of π_θ (with grad), required when ``params.entropy_coef > 0``.
        behaviour_logprobs: ``[B, T]`` the rollout engine's log-probs, required when ``params.tis_cap``.
        normalizer: Global ``N`` of the mini-batch (sum of ``loss_normalizer``); ``None`` = this batch.

    Returns:
        ``(loss, metrics)``: the scalar loss to backpropagate, and token means over this batch's mask
        (``pg_loss``, ``pg_clipfrac_low``, ``pg_clipfrac_high``, ``approx_kl`` (k3 estimate of
        KL(π_old ‖ π_θ)), and where enabled ``pg_clipfrac_dual``, ``kl``, ``entropy``,
        ``tis_weight``, ``tis_capped_frac``) plus ``num_tokens``; merge micro-batches with
        ``combine_metrics``.
    """
    m = mask.bool()
    _check_shapes(m, logprobs=logprobs, old_logprobs=old_logprobs, ref_logprobs=ref_logprobs)
    _check_shapes(m, entropy=entropy, behaviour_logprobs=behaviour_logprobs)
    if advantages.shape not in (m.shape[:1], m.shape):
        raise ValueError(
            f"advantages must be [B] or [B, T] = {tuple(m.shape)}, got shape {tuple(advantages.shape)}"
        )
    if params.kl_coef > 0 and ref_logprobs is None:
        raise ValueError("kl_coef > 0 needs ref_logprobs (the reference model's token log-probs)")
    if params.entropy_coef > 0 and entropy is None:
        raise ValueError("entropy_coef > 0 needs entropy (the policy's per-token entropy)")
    if params.tis_cap is not None and behaviour_logprobs is None:
        raise ValueError("tis_cap needs behaviour_logprobs (the rollout engine's token log-probs)")

    def masked(x: Tensor) -> Tensor:  # zero padding first so NaN there cannot leak into grads
        return torch.where(m, x.float(), 0.0)

    logp, old = masked(logprobs), masked(old_logprobs.detach())
    adv = advantages.float()
    adv = masked(adv[:, None].expand_as(logp) if adv.dim() == 1 else adv)  # [B, T]
    log_ratio = (logp - old).clamp(-20.0, 20.0)
    ratio = torch.exp(log_ratio)
    lo, hi = 1.0 - params.clip_ratio_low, 1.0 + params.clip_ratio_high
    pg = torch.maximum(-adv * ratio, -adv * ratio.clamp(lo, hi))  # [B, T]
    if params.clip_ratio_c is not None:
        pg = torch.where(adv < 0, torch.minimum(pg, -adv * params.clip_ratio_c), pg)
    stats: dict[str, Tensor] = {}
    if params.tis_cap is not None:
        raw = torch.exp((old - masked(behaviour_logprobs.detach())).clamp(-20.0, 20.0))
        weight = raw.clamp(max=params.tis_cap)
        pg = pg * weight
        stats["tis_weight"] = weight
        stats["tis_capped_frac"] = (raw > params.tis_cap).float()
    per_token = pg
    if ref_logprobs is not None:
        kl = kl_penalty(logp, masked(ref_logprobs.detach()), params.kl_estimator)
        per_token = per_token + params.kl_coef * kl
        stats["kl"] = kl
    if entropy is not None:
        ent = masked(entropy)
        per_token = per_token - params.entropy_coef * ent
        stats["entropy"] = ent
    loss = aggregate(
        per_token, m, params.agg_mode, normalizer=normalizer, loss_scale_factor=params.loss_scale_factor
    )

    with torch.no_grad():
        stats["pg_loss"] = pg
        stats["pg_clipfrac_low"] = ((adv < 0) & (ratio < lo)).float()
        stats["pg_clipfrac_high"] = ((adv > 0) & (ratio > hi)).float()
        if params.clip_ratio_c is not None:
            stats["pg_clipfrac_dual"] = ((adv < 0) & (ratio > params.clip_ratio_c)).float()
        stats["approx_kl"] = ratio - 1 - log_ratio
        n_tok = m.sum()
        means = torch.stack([torch.where(m, v.detach(), 0.0).sum() for v in stats.values()]) / n_tok.clamp(
            min=1
        )
        metrics = dict(zip(stats, means.tolist(), strict=True))
        metrics["num_tokens"] = float(n_tok)
    return loss, metrics


def combine_metrics(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    """Merge ``policy_loss`` metrics of several micro-batches: token-weighted means, summed ``num_tokens``."""
    parts = list(parts)
    total = sum(p["num_tokens"] for p in parts)
    out: dict[str, float] = {"num_tokens": total}
    for key in {k for p in parts for k in p if k != "num_tokens"}:
        weighted = sum(p[key] * p["num_tokens"] for p in parts if key in p)
        tokens = sum(p["num_tokens"] for p in parts if key in p)
        out[key] = weighted / tokens if tokens else 0.0
    return out


def _check_shapes(mask: Tensor, **tensors: Tensor | None) -> None:
    if mask.dim() != 2:
        raise ValueError(f"mask must be [B, T], got shape {tuple(mask.shape)}")
    for name, t in tensors.items():
        if t is not None and t.shape != mask.shape:
            raise ValueError(f"{name} must have the mask's shape {tuple(mask.shape)}, got {tuple(t.shape)}")
