"""The A-GRAE paper's two control experiments (Yu, Chen et al. 2026, arXiv 2602.05548, "Deconstructing
the symmetry"), as estimators on the GRPO baseline.

They isolate the two symmetries of GRPO's advantage that A-GRAE breaks, each with a fixed
(not ω-driven) rescaling of GRPO's ``A_i``:

* **Control experiment I, the group-level symmetry** ``Σ_pos |A| = Σ_neg |A|``, with ``β = 10``:
  ``positive_dominant`` multiplies positive advantages by ``β``, ``negative_dominant`` divides them
  by ``β``; negatives are unchanged. The paper (Qwen2.5-Math-7B on MATH): Negative-Dominant raises
  the policy's entropy and pass@k but risks collapse late in training, so the suppression of
  positives must be dynamic (A-GRAE's ``min(1, ω/α)``; with ``ω/α = 1/β`` the two coincide).
* **Control experiment II, the sample-level symmetry** (the per-prompt weight peaks at ``p = 0.5``),
  with ``γ = 0.5``: ``easy_focused`` gives ``γ·A_i/√(1−p)`` and ``hard_focused`` ``γ·A_i/√p``, where
  ``p`` is the group's success rate; no rescaling when ``p ∈ {0, 1}``. The paper: Easy-Focused
  learns fastest early, Hard-Focused keeps improving and ends highest, so the focus should move
  from easy to hard (A-GRAE's step 2 is ``ω``·Hard-Focused + ``(1−ω)``·Easy-Focused).

``p`` is the group mean of the verifier's correctness indicator where known, else the group's mean
reward clipped to ``[0, 1]`` (as for A-GRAE). The presets of the same names use GRPO's loss and
clipping, as the paper's controls do. Parameters: ``algorithm.dominance.beta`` and
``algorithm.focus.gamma``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

from mmrl.algos.groups import success_rate
from mmrl.algos.grpo import GRPO, grpo_advantages
from mmrl.algos.registry import Preset, register_estimator, register_preset
from mmrl.config import Section, opt, parameter_section

__all__ = [
    "EASY_FOCUSED",
    "HARD_FOCUSED",
    "NEGATIVE_DOMINANT",
    "POSITIVE_DOMINANT",
    "DominanceParams",
    "FocusParams",
    "easy_focused_advantages",
    "hard_focused_advantages",
    "negative_dominant_advantages",
    "positive_dominant_advantages",
]

_PAPER = "A-GRAE, Yu, Chen et al. 2026, arXiv 2602.05548, control experiment"


@parameter_section("dominance")
class DominanceParams(Section):
    """Control experiment I (positive_dominant, negative_dominant presets)."""

    beta: Annotated[float, Field(ge=1)] = opt(
        10.0,
        "Positive advantages are multiplied (positive_dominant) or divided (negative_dominant) by beta.",
        hint="the paper uses 10; 1 is GRPO",
    )


@parameter_section("focus")
class FocusParams(Section):
    """Control experiment II (easy_focused, hard_focused presets)."""

    gamma: Annotated[float, Field(gt=0)] = opt(
        0.5,
        "Scale of the easy/hard-focused reweighting gamma*A/sqrt(1-p) or gamma*A/sqrt(p).",
        hint="the paper uses 0.5",
    )


def _scale_positive(advantages: Tensor, factor: float) -> Tensor:
    return torch.where(advantages > 0, advantages * factor, advantages)


@register_estimator("positive_dominant", params=DominanceParams)
def positive_dominant_advantages(rewards: Tensor, group_ids: Tensor, *, beta: float = 10.0) -> Tensor:
    """Positive-Dominant: ``A*_i = β·A_i`` where GRPO's ``A_i > 0``, ``A*_i = A_i`` elsewhere.

    ``A_i`` is ``grpo_advantages(rewards, group_ids)`` (Bessel std, ``eps = 1e-6``), so zero-variance
    groups and unscorable rewards stay exactly 0. Each group's positive mass becomes ``β`` times
    its negative mass.
    """
    return _scale_positive(grpo_advantages(rewards, group_ids), beta)


@register_estimator("negative_dominant", params=DominanceParams)
def negative_dominant_advantages(rewards: Tensor, group_ids: Tensor, *, beta: float = 10.0) -> Tensor:
    """Negative-Dominant: ``A*_i = A_i/β`` where GRPO's ``A_i > 0``, ``A*_i = A_i`` elsewhere.

    Each group's positive mass becomes ``1/β`` of its negative mass (``ΣA < 0``): probability moves
    to answers no sample took, as in A-GRAE while ``ω < α``.
    """
    return _scale_positive(grpo_advantages(rewards, group_ids), 1.0 / beta)


def _focus(rewards: Tensor, group_ids: Tensor, correct: Tensor | None, gamma: float, *, hard: bool) -> Tensor:
    advantages = grpo_advantages(rewards, group_ids)
    p = success_rate(rewards, group_ids, correct)  # [N] float64, NaN where nothing is scorable
    inside = (p > 0) & (p < 1)
    ps = torch.where(inside, p, 0.5)  # any value in (0, 1): keeps the unused branch finite
    divisor = ps.sqrt() if hard else (1 - ps).sqrt()
    a = advantages.double()
    return torch.where(inside, gamma * a / divisor, a).to(advantages.dtype)


@register_estimator("easy_focused", params=FocusParams)
def easy_focused_advantages(
    rewards: Tensor, group_ids: Tensor, *, correct: Tensor | None = None, gamma: float = 0.5
) -> Tensor:
    """Easy-Focused: ``A*_i = γ·A_i/√(1−p)`` for ``0 < p < 1``, ``A*_i = A_i`` when ``p ∈ {0, 1}``.

    ``A_i`` is GRPO's; ``p`` the group's success rate (module docstring). With 0/1 rewards and
    population std the per-prompt weight ``Σ|A*| = 2Gγ·√p`` (``×√((G−1)/G)`` with Bessel's std) grows
    with ``p``: easy prompts dominate.
    """
    return _focus(rewards, group_ids, correct, gamma, hard=False)


@register_estimator("hard_focused", params=FocusParams)
def hard_focused_advantages(
    rewards: Tensor, group_ids: Tensor, *, correct: Tensor | None = None, gamma: float = 0.5
) -> Tensor:
    """Hard-Focused: ``A*_i = γ·A_i/√p`` for ``0 < p < 1``, ``A*_i = A_i`` when ``p ∈ {0, 1}``.

    With 0/1 rewards and population std the per-prompt weight ``Σ|A*| = 2Gγ·√(1−p)`` (``×√((G−1)/G)``
    with Bessel's std) falls with ``p``: hard prompts dominate.
    """
    return _focus(rewards, group_ids, correct, gamma, hard=True)


def _on_grpo(name: str, experiment: str) -> Preset:
    return register_preset(
        dataclasses.replace(GRPO, name=name, estimator=name, paper=f"{_PAPER} {experiment}")
    )


POSITIVE_DOMINANT = _on_grpo("positive_dominant", "I")
NEGATIVE_DOMINANT = _on_grpo("negative_dominant", "I")
EASY_FOCUSED = _on_grpo("easy_focused", "II")
HARD_FOCUSED = _on_grpo("hard_focused", "II")
