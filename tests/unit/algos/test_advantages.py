"""GRPO, Dr.GRPO, RLOO and W-REINFORCE: hand-computed cases, a slow reference, and properties."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from mmrl.algos import compute_advantages

NAN = math.nan
GROUP_RELATIVE = ("grpo", "dr_grpo", "rloo", "grpo+a_grae", "dr_grpo+a_grae")

# Three groups: A = [1, 0, 0], B = [0.5, 0.5] (zero variance), C = [2.0] (one sample).
REWARDS = torch.tensor([1.0, 0.0, 0.0, 0.5, 0.5, 2.0])
GROUPS = torch.tensor([7, 7, 7, 3, 3, 9])  # ids need not be contiguous or sorted


def test_grpo_hand_computed():
    # group A: mean 1/3; Bessel std = sqrt(((2/3)^2 + 2*(1/3)^2) / 2) = sqrt(1/3) = 0.57735
    #   A = (2/3)/0.57735 = 1.15470, (-1/3)/0.57735 = -0.57735
    # group B: zero variance -> 0; group C: one sample -> 0
    expected = torch.tensor([1.154700, -0.577350, -0.577350, 0.0, 0.0, 0.0])
    assert_close(compute_advantages("grpo", REWARDS, GROUPS), expected, atol=1e-5, rtol=0)


def test_dr_grpo_hand_computed():
    # r - mean_g without the std: group A -> [2/3, -1/3, -1/3]; B, C -> 0
    expected = torch.tensor([2 / 3, -1 / 3, -1 / 3, 0.0, 0.0, 0.0])
    assert_close(compute_advantages("dr_grpo", REWARDS, GROUPS), expected)


def test_rloo_hand_computed():
    # r_i - mean of the others: 1 - (0+0)/2 = 1; 0 - (1+0)/2 = -0.5 (twice); B, C -> 0
    expected = torch.tensor([1.0, -0.5, -0.5, 0.0, 0.0, 0.0])
    assert_close(compute_advantages("rloo", REWARDS, GROUPS), expected)


def test_w_reinforce_hand_computed():
    # +lambda for correct, -1 for wrong, 0 for unscorable; no baseline
    rewards = torch.tensor([1.0, 0.0, 1.0, NAN])
    groups = torch.tensor([0, 0, 1, 1])
    assert_close(compute_advantages("w_reinforce", rewards, groups), torch.tensor([0.1, -1.0, 0.1, 0.0]))
    assert_close(
        compute_advantages("w_reinforce", rewards, groups, lam=0.5), torch.tensor([0.5, -1.0, 0.5, 0.0])
    )


def test_w_reinforce_reads_the_correct_indicator():
    # rewards carry a format bonus; correctness decides; NaN correctness -> 0; NaN reward -> 0
    rewards = torch.tensor([0.9, 0.1, 0.5, NAN])
    correct = torch.tensor([1.0, 0.0, NAN, 1.0])
    adv = compute_advantages("w_reinforce", rewards, torch.zeros(4, dtype=torch.long), correct=correct)
    assert_close(adv, torch.tensor([0.1, -1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="pass correct="):
        compute_advantages("w_reinforce", rewards, torch.zeros(4, dtype=torch.long))


@pytest.mark.parametrize("name", GROUP_RELATIVE)
def test_unscorable_rewards_get_zero_and_do_not_move_their_peers(name):
    rewards = torch.tensor([1.0, NAN, 0.0, 0.0, 1.0, NAN])
    groups = torch.tensor([0, 0, 0, 1, 1, 1])
    kw = {"batch_accuracy": 0.4} if "a_grae" in name else {}
    adv = compute_advantages(name, rewards, groups, **kw)
    assert adv[1] == 0 and adv[5] == 0
    keep = ~torch.isnan(rewards)
    assert_close(adv[keep], compute_advantages(name, rewards[keep], groups[keep], **kw))


# ---------------------------------------------------------------- slow reference on random inputs


def reference(name: str, rewards: list[float], groups: list[int]) -> list[float]:
    """Plain-Python loops over groups, written from the docstring formulas."""
    out = [0.0] * len(rewards)
    for g in set(groups):
        members = [i for i, gi in enumerate(groups) if gi == g and not math.isnan(rewards[i])]
        values = [rewards[i] for i in members]
        n = len(values)
        if n < 2 or max(values) == min(values):
            continue
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        for i in members:
            if name == "grpo":
                out[i] = (rewards[i] - mean) / (std + 1e-6)
            elif name == "dr_grpo":
                out[i] = rewards[i] - mean
            elif name == "rloo":
                out[i] = rewards[i] - (sum(values) - rewards[i]) / (n - 1)
    return out


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo"])
def test_matches_slow_reference_on_random_inputs(name):
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        n = 40
        rewards = torch.rand(n, generator=gen).round(decimals=1)  # ties and zero-variance groups happen
        rewards[torch.rand(n, generator=gen) < 0.15] = NAN
        groups = torch.randint(0, 9, (n,), generator=gen) * 3
        expected = torch.tensor(reference(name, rewards.tolist(), groups.tolist()))
        assert_close(compute_advantages(name, rewards, groups), expected, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- properties


def random_batch(seed: int, groups: int = 6, size: int = 5, binary: bool = False):
    gen = torch.Generator().manual_seed(seed)
    rewards = torch.rand(groups * size, generator=gen)
    if binary:
        rewards = (rewards > 0.5).float()
    group_ids = torch.arange(groups).repeat_interleave(size)
    return rewards, group_ids


@pytest.mark.parametrize("seed", range(3))
def test_grpo_sums_to_zero_in_every_group(seed):
    rewards, groups = random_batch(seed)
    rewards[3] = NAN
    adv = compute_advantages("grpo", rewards, groups).double()
    sums = torch.zeros(6, dtype=torch.float64).index_add(0, groups, adv)
    assert_close(sums, torch.zeros(6, dtype=torch.float64), atol=1e-5, rtol=0)


@pytest.mark.parametrize("shift", [-3.0, 0.25, 10.0])
def test_shifting_all_rewards_leaves_grpo_unchanged(shift):
    rewards, groups = random_batch(1)
    assert_close(
        compute_advantages("grpo", rewards + shift, groups),
        compute_advantages("grpo", rewards, groups),
        atol=1e-4,
        rtol=1e-4,
    )


@pytest.mark.parametrize("name", [*GROUP_RELATIVE, "w_reinforce"])
def test_permuting_samples_permutes_the_output(name):
    rewards, groups = random_batch(2, binary=True)
    perm = torch.randperm(rewards.numel(), generator=torch.Generator().manual_seed(5))
    kw = {"batch_accuracy": 0.3} if "a_grae" in name else {}
    adv = compute_advantages(name, rewards, groups, **kw)
    assert_close(compute_advantages(name, rewards[perm], groups[perm], **kw), adv[perm])


@pytest.mark.parametrize("name", GROUP_RELATIVE)
def test_zero_variance_groups_get_exactly_zero(name):
    rewards = torch.tensor([0.1, 0.1, 0.1, 1.0, 1.0, 0.0, 0.0, 0.7, NAN, 0.7])
    groups = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3, 3, 3])
    kw = {"batch_accuracy": 0.3} if "a_grae" in name else {}
    assert torch.all(compute_advantages(name, rewards, groups, **kw) == 0)


def test_output_dtype_follows_rewards():
    rewards, groups = random_batch(0)
    assert compute_advantages("grpo", rewards.double(), groups).dtype == torch.float64
    assert compute_advantages("rloo", rewards, groups).dtype == torch.float32
