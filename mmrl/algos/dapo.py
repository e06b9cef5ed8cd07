"""DAPO's two sampling-side rules (Yu et al., arXiv 2503.14476), as pieces the trainer calls.

* **Dynamic sampling**: a group whose responses are all right or all wrong has zero group-relative
  advantage and only dilutes the batch. DAPO drops such groups and keeps generating until the batch
  holds the wanted number of mixed groups (``0 < #correct < G``). ``DynamicSampler`` is the
  accumulator the trainer feeds round by round; after ``max_rounds`` it trains on what there is,
  with a warning and a counter.
* **Soft overlong punishment** (paper Eq. 13): ``overlong_penalty`` is added to the reward.

The ``dapo`` preset is GRPO's estimator with both rules, clip-higher (ε_low = 0.2, ε_high = 0.28)
and ``token-mean`` aggregation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import Tensor

from mmrl.algos.groups import check_step_inputs, group_index, group_moments
from mmrl.algos.registry import Preset, register_preset

__all__ = ["DAPO", "DynamicSampler", "FilteredBatch", "mixed_group_mask", "overlong_penalty"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def mixed_group_mask(rewards: Tensor, group_ids: Tensor, correct: Tensor | None = None) -> Tensor:
    """``[N]`` bool: True for the samples of groups that DAPO keeps, i.e. whose outcomes differ.

    A group is kept when its known correctness values (``correct``, 1/0/NaN) are not all equal, as
    verl's ``filter_groups.metric=acc``; without ``correct``, or for a group where none is known,
    when its scorable rewards are not all equal. A group with fewer than two known outcomes is dropped.
    """
    check_step_inputs(rewards, group_ids, correct)
    by_reward = ~group_moments(rewards, group_ids).constant
    if correct is None:
        return by_reward
    c = correct.double().masked_fill(torch.isnan(rewards.double()), torch.nan)
    by_correct = group_moments(c, group_ids)
    return torch.where(by_correct.count > 0, ~by_correct.constant, by_reward)


def overlong_penalty(lengths: Tensor, max_len: int, buffer_len: int, factor: float = 1.0) -> Tensor:
    """DAPO's soft overlong punishment ``[N]`` (float32), added to the reward.

    With ``L_exp = max_len − buffer_len`` (``L_max − L_cache``)::

        R(L) = 0                             L ≤ L_exp
        R(L) = factor · (L_exp − L)/L_cache  L_exp < L ≤ L_max      (linear from 0 to −factor)
        R(L) = −factor                       L > L_max

    ``lengths`` are response lengths in tokens. verl applies the same ramp (``penalty_factor``).
    """
    if not 1 <= buffer_len <= max_len:
        raise ValueError(f"buffer_len={buffer_len} must be in 1..max_len={max_len}")
    expected = max_len - buffer_len
    ramp = (expected - lengths.double()) / buffer_len
    return (ramp.clamp(-1.0, 0.0) * factor).float()


@dataclass(frozen=True)
class FilteredBatch(Generic[T]):
    """What ``DynamicSampler.finish`` returns: the kept trajectories, group by group.

    Attributes:
        items: The kept trajectories (whatever the trainer fed), each group's samples contiguous.
        group_ids: ``[n]`` dense group ids ``0..K-1`` in the order of ``items`` (CPU tensor).
        rewards: ``[n]`` their rewards; ``correct``: ``[n]`` their correctness, or None if not fed
            (CPU tensors).
        metrics: ``dynamic_sampling/*`` counters for logging.

    A-GRAE's ``ω`` is not here: it counts every trajectory generated in the step, before this
    filter, on every rank; the trainer's ``collect_batch`` keeps that one tally.
    """

    items: list[T]
    group_ids: Tensor
    rewards: Tensor
    correct: Tensor | None
    metrics: dict[str, float]


class DynamicSampler(Generic[T]):
    """Accumulates mixed groups over generation rounds until ``target_groups`` or ``max_rounds``.

    One object lives for the whole run (it counts short steps)::

        sampler.begin_step()
        while sampler.needs_more():
            items, rewards, group_ids, correct = generate_and_score(...)
            sampler.add_round(items, rewards, group_ids, correct)
        batch = sampler.finish()        # the first target_groups kept groups, or fewer with a warning
    """

    def __init__(self, target_groups: int, max_rounds: int):
        if target_groups < 1 or max_rounds < 1:
            raise ValueError(f"target_groups={target_groups} and max_rounds={max_rounds} must be >= 1")
        self.target_groups = target_groups
        self.max_rounds = max_rounds
        self.short_steps = 0  # steps that ended with fewer than target_groups groups
        self.begin_step()

    def begin_step(self) -> None:
        """Forget the previous step's groups (the short-step counter is kept)."""
        self._kept: list[tuple[list[T], Tensor, Tensor | None]] = []
        self._rounds = 0
        self._seen_groups = 0
        self._has_correct: bool | None = None

    def needs_more(self) -> bool:
        """True while fewer than ``target_groups`` mixed groups are kept and rounds remain."""
        return len(self._kept) < self.target_groups and self._rounds < self.max_rounds

    def add_round(
        self, items: Sequence[T], rewards: Tensor, group_ids: Tensor, correct: Tensor | None = None
    ) -> None:
        """Feed one round: ``items[N]`` with their verifier ``rewards[N]`` (before overlong shaping),
        ``group_ids[N]`` (ids only need to be unique within the round) and optional ``correct[N]``."""
        if self._rounds >= self.max_rounds:
            raise RuntimeError(
                f"already fed max_rounds={self.max_rounds} rounds; call finish() then begin_step()"
            )
        if len(items) != rewards.numel():
            raise ValueError(f"got {len(items)} items but {rewards.numel()} rewards")
        if self._has_correct is not None and self._has_correct != (correct is not None):
            raise ValueError("pass correct= in every round of a step or in none")
        self._has_correct = correct is not None
        keep = mixed_group_mask(rewards, group_ids, correct).cpu()
        # bookkeeping on the CPU: a few small tensors, and no device sync per item
        rewards, group_ids = rewards.detach().cpu(), group_ids.cpu()
        correct = None if correct is None else correct.detach().cpu()
        self._rounds += 1
        idx, k = group_index(group_ids)
        self._seen_groups += k
        order = torch.argsort(idx, stable=True)  # samples grouped, each group in its original order
        for members in order.split(torch.bincount(idx, minlength=k).tolist()):
            if not keep[members[0]]:
                continue
            self._kept.append(
                (
                    [items[i] for i in members.tolist()],
                    rewards[members],
                    None if correct is None else correct[members],
                )
            )

    def finish(self) -> FilteredBatch[T]:
        """The first ``target_groups`` kept groups (fewer, with a warning, if rounds ran out)."""
        kept = self._kept[: self.target_groups]
        short = len(kept) < self.target_groups
        if short:
            self.short_steps += 1
            log.warning(
                "dynamic sampling: only %d of %d groups had mixed outcomes after %d rounds; training on "
                "them (raise algorithm.dynamic_sampling.max_rounds or use easier/harder prompts)",
                len(kept),
                self.target_groups,
                self._rounds,
            )
        items = [item for group, _, _ in kept for item in group]
        sizes = [len(group) for group, _, _ in kept]
        group_ids = torch.repeat_interleave(torch.arange(len(kept)), torch.tensor(sizes, dtype=torch.long))
        rewards = torch.cat([r for _, r, _ in kept]) if kept else torch.empty(0)
        correct = None
        if self._has_correct:
            correct = torch.cat([c for _, _, c in kept]) if kept else torch.empty(0)
        metrics = {
            "dynamic_sampling/rounds": float(self._rounds),
            "dynamic_sampling/seen_groups": float(self._seen_groups),
            "dynamic_sampling/mixed_groups": float(len(self._kept)),
            "dynamic_sampling/kept_groups": float(len(kept)),
            "dynamic_sampling/short": float(short),
            "dynamic_sampling/short_steps": float(self.short_steps),
        }
        return FilteredBatch(items, group_ids, rewards, correct, metrics)


DAPO = register_preset(
    Preset(
        "dapo",
        "grpo",
        "token-mean",
        clip_ratio_high=0.28,
        dynamic_sampling=True,
        overlong=True,
        paper="DAPO, Yu et al. 2025, arXiv 2503.14476",
    )
)
