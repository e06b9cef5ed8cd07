"""A-GRAE: asymmetric group-relative advantage estimation (Yu, Chen et al., arXiv 2602.05548).

Why: GRPO's advantages are symmetric in two ways. (1) Within a group, ``Σ_pos |A| = Σ_neg |A|``
(they sum to zero), so for an answer no sample took, ``Σ_i A_i ∂log π(o_i)/∂z_a = −π(a)·Σ_i A_i = 0``:
low-probability correct paths are never pushed up. (2) Across prompts, the per-prompt weight
``Σ_i |A_i| = 2G·√(p(1−p))`` (population std) is symmetric in ``p ↔ 1−p`` and peaks at ``p = 0.5``,
so medium prompts dominate regardless of the training stage. A-GRAE breaks both, driven by the
batch accuracy ``ω`` (no step counter):

1. ``ω = Σ_{i=1}^{B} r_i / B`` over every trajectory of the step (before dynamic-sampling filters).
2. Per group with success rate ``p ∈ (0, 1)``::

       A_i ← (ω/2)·A_i/√p + ((1−ω)/2)·A_i/√(1−p)

   (hard-focused term weighted by ``ω``, easy-focused by ``1−ω``); unchanged when ``p ∈ {0, 1}``.
   With population-std GRPO and 0/1 rewards the per-prompt weight becomes
   ``W(p) = G·[ω·√(1−p) + (1−ω)·√p]``, which peaks at ``p* = (1−ω)²/((1−ω)² + ω²)``: easy prompts
   early (small ω), hard prompts late.
3. Positive advantages only: ``A_i ← A_i·min(1, ω/α)`` with ``α ≤ 1``; negatives are unchanged, so the
   group becomes negative-dominant (``ΣA < 0``) and unsampled answers gain probability while the
   model is weak.

The refined advantages feed the base algorithm's unchanged objective (GRPO, Dr.GRPO, DAPO): the
presets ``grpo+a_grae``, ``dr_grpo+a_grae`` and ``dapo+a_grae`` (GRPO's estimator with A-GRAE, and
DAPO's loss and sampling rules). Parameters: ``algorithm.a_grae`` (``AGraeParams``); the paper's
alpha is 1 for math and 0.5 for Geometry3K and medical data (official code).

Differences from the authors' released code (``HKU-HealthAI/A-GRAE`` @ c5aa316), all deliberate:
the code divides the easy term by ``1 − √p`` instead of the paper's ``√(1−p)`` (available here as
``easy_divisor="one_minus_sqrt_p"``); it adds ``1e-6`` to both divisors (here none is needed: ``p`` is
strictly inside ``(0, 1)`` where the terms are used); its switch ``grpo_weight == 2.0`` never fires
as released (here the estimator is simply selected by name); it uses the mean reward as ``p`` (here the
correctness indicator when the verifier gives one, which equals it for 0/1 rewards).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor

from mmrl.algos.dapo import DAPO
from mmrl.algos.dr_grpo import DR_GRPO, dr_grpo_advantages
from mmrl.algos.groups import batch_accuracy as mean_batch_reward
from mmrl.algos.groups import success_rate
from mmrl.algos.grpo import GRPO, grpo_advantages
from mmrl.algos.registry import register_estimator, register_preset
from mmrl.config import Section, opt, parameter_section

__all__ = [
    "EASY_DIVISORS",
    "AGraeParams",
    "a_grae_diagnostics",
    "a_grae_advantages",
    "a_grae_weight",
    "attenuate_positive",
    "attenuation_factor",
    "difficulty_reweight",
    "dr_grpo_a_grae_advantages",
    "grpo_a_grae_advantages",
    "peak_success_rate",
]

EasyDivisor = Literal["sqrt_one_minus_p", "one_minus_sqrt_p"]
EASY_DIVISORS: tuple[str, ...] = ("sqrt_one_minus_p", "one_minus_sqrt_p")


@parameter_section("a_grae")
class AGraeParams(Section):
    """A-GRAE parameters (used by the *+a_grae presets)."""

    alpha: Annotated[float, Field(gt=0, le=1)] = opt(
        1.0,
        "A-GRAE attenuation scale: positive advantages are multiplied by min(1, omega/alpha); alpha <= 1.",
        hint="the paper requires alpha <= 1",
    )
    easy_divisor: EasyDivisor = opt(
        "sqrt_one_minus_p",
        "Easy-focus divisor: the paper's sqrt(1-p), or the released code's 1-sqrt(p).",
    )


def attenuation_factor(omega: float, alpha: float) -> float:
    """Step 3's factor on positive advantages: ``c = min(1, ω/α)``."""
    return min(1.0, omega / alpha)


def difficulty_reweight(
    advantages: Tensor, p: Tensor, omega: float, easy_divisor: EasyDivisor = "sqrt_one_minus_p"
) -> Tensor:
    """Step 2: ``A ← (ω/2)·A/√p + ((1−ω)/2)·A/d(p)`` where ``p ∈ (0, 1)``, ``A`` unchanged elsewhere.

    ``d(p) = √(1−p)`` (paper, default) or ``1 − √p`` (``easy_divisor="one_minus_sqrt_p"``, the released
    code; unbounded as ``p → 1``). ``p`` is each sample's group success rate ``[N]``; ``NaN`` or
    ``{0, 1}`` leave the advantage unchanged.
    """
    if easy_divisor not in EASY_DIVISORS:
        raise ValueError(f"easy_divisor={easy_divisor!r} must be one of {EASY_DIVISORS}")
    p = p.double()
    inside = (p > 0) & (p < 1)
    ps = torch.where(inside, p, 0.5)  # any value in (0, 1): keeps the unused branch finite
    easy = (1 - ps).sqrt() if easy_divisor == "sqrt_one_minus_p" else 1 - ps.sqrt()
    scale = (omega / 2) / ps.sqrt() + ((1 - omega) / 2) / easy
    a = advantages.double()
    return torch.where(inside, a * scale, a).to(advantages.dtype)


def attenuate_positive(advantages: Tensor, omega: float, alpha: float) -> Tensor:
    """Step 3: ``A ← A·min(1, ω/α)`` where ``A > 0``; ``A ≤ 0`` unchanged."""
    c = attenuation_factor(omega, alpha)
    return torch.where(advantages > 0, advantages * c, advantages)


def a_grae_advantages(
    advantages: Tensor,
    rewards: Tensor,
    group_ids: Tensor,
    *,
    correct: Tensor | None = None,
    batch_accuracy: float | None = None,
    alpha: float = 1.0,
    easy_divisor: EasyDivisor = "sqrt_one_minus_p",
) -> Tensor:
    """A-GRAE on top of base advantages ``[N]``: step 2 then step 3 (see the module docstring).

    Args:
        advantages: The base estimator's output (GRPO or Dr.GRPO), ``[N]``.
        rewards: ``[N]``, ``NaN`` = unscorable; gives ``ω`` when ``batch_accuracy`` is None and ``p``
            when ``correct`` is None.
        group_ids: ``[N]`` prompt ids.
        correct: Optional ``[N]`` correctness indicator (1/0/NaN); ``p`` is its group mean where known,
            otherwise the group's mean reward clipped to ``[0, 1]``.
        batch_accuracy: ``ω``, the step's mean reward before dynamic-sampling filtering; defaults to
            ``batch_accuracy(rewards)`` (the mean over the tensors given, clipped to ``[0, 1]``).
        alpha: ``α ∈ (0, 1]``; positives are scaled by ``min(1, ω/α)`` (1.0 default, 0.5 for Geo3K).
        easy_divisor: ``"sqrt_one_minus_p"`` (paper) or ``"one_minus_sqrt_p"`` (released code).
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha={alpha} must be in (0, 1] (the paper requires alpha <= 1)")
    omega = mean_batch_reward(rewards) if batch_accuracy is None else float(batch_accuracy)
    if math.isnan(omega):  # nothing scorable: every base advantage is already 0
        return advantages
    if not 0.0 <= omega <= 1.0:
        raise ValueError(f"batch_accuracy={omega} must be in [0, 1] (the step's mean reward)")
    p = success_rate(rewards, group_ids, correct)
    reweighted = difficulty_reweight(advantages, p, omega, easy_divisor)
    return attenuate_positive(reweighted, omega, alpha)


def a_grae_diagnostics(*, batch_accuracy: float, alpha: float = 1.0, **_: object) -> dict[str, float]:
    """``advantages/attenuation``: step 3's factor ``min(1, ω/α)`` this step."""
    return {"advantages/attenuation": attenuation_factor(batch_accuracy, alpha)}


@register_estimator("grpo+a_grae", params=AGraeParams, diagnostics=a_grae_diagnostics)
def grpo_a_grae_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    *,
    correct: Tensor | None = None,
    batch_accuracy: float | None = None,
    alpha: float = 1.0,
    easy_divisor: EasyDivisor = "sqrt_one_minus_p",
    eps: float = 1e-6,
) -> Tensor:
    """``a_grae_advantages(grpo_advantages(rewards, group_ids, eps=eps), ...)``; also used by ``dapo+a_grae``."""
    base = grpo_advantages(rewards, group_ids, eps=eps)
    return a_grae_advantages(
        base,
        rewards,
        group_ids,
        correct=correct,
        batch_accuracy=batch_accuracy,
        alpha=alpha,
        easy_divisor=easy_divisor,
    )


@register_estimator("dr_grpo+a_grae", params=AGraeParams, diagnostics=a_grae_diagnostics)
def dr_grpo_a_grae_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    *,
    correct: Tensor | None = None,
    batch_accuracy: float | None = None,
    alpha: float = 1.0,
    easy_divisor: EasyDivisor = "sqrt_one_minus_p",
) -> Tensor:
    """``a_grae_advantages(dr_grpo_advantages(rewards, group_ids), ...)``."""
    base = dr_grpo_advantages(rewards, group_ids)
    return a_grae_advantages(
        base,
        rewards,
        group_ids,
        correct=correct,
        batch_accuracy=batch_accuracy,
        alpha=alpha,
        easy_divisor=easy_divisor,
    )


def a_grae_weight(p: float, omega: float, group_size: int) -> float:
    """Closed form of step 2's per-prompt weight: ``W(p) = G·[ω·√(1−p) + (1−ω)·√p]``.

    Exact for 0/1 rewards with population-std GRPO; with Bessel's std multiply by ``√((G−1)/G)``.
    """
    return group_size * (omega * math.sqrt(1 - p) + (1 - omega) * math.sqrt(p))


def peak_success_rate(omega: float) -> float:
    """``p* = (1−ω)² / ((1−ω)² + ω²)``, the success rate that step 2 weights most."""
    return (1 - omega) ** 2 / ((1 - omega) ** 2 + omega**2)


_PAPER = "A-GRAE, Yu, Chen et al. 2026, arXiv 2602.05548"
GRPO_A_GRAE = register_preset(
    dataclasses.replace(GRPO, name="grpo+a_grae", estimator="grpo+a_grae", paper=_PAPER)
)
DR_GRPO_A_GRAE = register_preset(
    dataclasses.replace(DR_GRPO, name="dr_grpo+a_grae", estimator="dr_grpo+a_grae", paper=_PAPER)
)
DAPO_A_GRAE = register_preset(
    dataclasses.replace(DAPO, name="dapo+a_grae", estimator="grpo+a_grae", paper=_PAPER)
)
