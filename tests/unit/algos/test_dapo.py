"""DAPO's group filter, dynamic-sampling accumulator and soft overlong punishment."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from torch.testing import assert_close

from mmrl.algos import DynamicSampler, mixed_group_mask, overlong_penalty

NAN = math.nan


def test_filter_keeps_exactly_the_mixed_groups():
    rewards = torch.tensor([1, 1, 1, 0, 0, 0, 1, 0, 1, NAN, 1, 1, NAN, 1, 0, 1], dtype=torch.float32)
    groups = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5])
    # all right | all wrong | mixed | equal once NaN is left out | mixed with a NaN | one sample
    expected = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0], dtype=torch.bool)
    assert torch.equal(mixed_group_mask(rewards, groups), expected)


def test_filter_uses_correctness_when_given():
    # group 0: all correct but format bonuses differ -> dropped; group 1: one right -> kept;
    # group 2: correctness unknown -> falls back to the rewards, which differ -> kept
    rewards = torch.tensor([1.0, 0.9, 1.0, 0.1, 0.5, 0.7])
    correct = torch.tensor([1.0, 1.0, 1.0, 0.0, NAN, NAN])
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    assert mixed_group_mask(rewards, groups).tolist() == [True] * 6
    assert mixed_group_mask(rewards, groups, correct).tolist() == [False, False, True, True, True, True]


def test_overlong_penalty_three_regions():
    # L_max = 20, L_cache = 5: 0 up to 15, then (15 - L)/5, and -1 beyond 20
    lengths = torch.tensor([10, 15, 16, 18, 20, 25])
    assert_close(overlong_penalty(lengths, 20, 5), torch.tensor([0.0, 0.0, -0.2, -0.6, -1.0, -1.0]))
    assert_close(
        overlong_penalty(lengths, 20, 5, factor=0.5), torch.tensor([0.0, 0.0, -0.1, -0.3, -0.5, -0.5])
    )
    with pytest.raises(ValueError, match="buffer_len"):
        overlong_penalty(lengths, 20, 0)


def round_of(groups: list[list[float]], tag: str):
    items = [f"{tag}{g}.{i}" for g, rs in enumerate(groups) for i in range(len(rs))]
    rewards = torch.tensor([float(r) for rs in groups for r in rs])
    ids = torch.tensor([g for g, rs in enumerate(groups) for _ in rs])
    return items, rewards, ids


def test_dynamic_sampler_fills_the_batch_over_rounds():
    sampler = DynamicSampler(target_groups=3, max_rounds=5)
    sampler.begin_step()
    assert sampler.needs_more()
    sampler.add_round(*round_of([[1, 1], [1, 0], [0, 0], [0, 1]], "a"))  # groups a1, a3 mixed
    assert sampler.needs_more()
    sampler.add_round(*round_of([[0, 0], [1, 0], [0, 1]], "b"))  # b1, b2 mixed: 4 >= 3
    assert not sampler.needs_more()
    batch = sampler.finish()
    assert batch.items == ["a1.0", "a1.1", "a3.0", "a3.1", "b1.0", "b1.1"]  # the first 3 mixed groups
    assert batch.group_ids.tolist() == [0, 0, 1, 1, 2, 2]
    assert batch.rewards.tolist() == [1, 0, 0, 1, 1, 0]
    assert not hasattr(batch, "batch_accuracy")  # omega is the trainer's one tally over everything generated
    assert batch.metrics["dynamic_sampling/rounds"] == 2
    assert batch.metrics["dynamic_sampling/seen_groups"] == 7
    assert batch.metrics["dynamic_sampling/mixed_groups"] == 4
    assert batch.metrics["dynamic_sampling/short"] == 0


def test_dynamic_sampler_trains_on_what_there_is_after_max_rounds(caplog):
    sampler = DynamicSampler(target_groups=3, max_rounds=2)
    sampler.add_round(*round_of([[1, 0], [1, 1]], "a"))
    sampler.add_round(*round_of([[0, 0]], "b"))
    assert not sampler.needs_more()
    with pytest.raises(RuntimeError, match="max_rounds"):
        sampler.add_round(*round_of([[1, 0]], "c"))
    with caplog.at_level(logging.WARNING, logger="mmrl.algos.dapo"):
        batch = sampler.finish()
    assert "only 1 of 3 groups" in caplog.text
    assert batch.items == ["a0.0", "a0.1"] and batch.metrics["dynamic_sampling/short"] == 1
    assert sampler.short_steps == 1
    sampler.begin_step()  # the next step starts empty; the counter stays
    sampler.add_round(*round_of([[0, 0]], "d"))
    sampler.add_round(*round_of([[0, 0]], "e"))
    empty = sampler.finish()
    assert empty.items == [] and empty.group_ids.numel() == 0 and sampler.short_steps == 2
    assert empty.metrics["dynamic_sampling/short_steps"] == 2


def test_dynamic_sampler_carries_correctness():
    sampler = DynamicSampler(target_groups=1, max_rounds=1)
    items, rewards, ids = round_of([[1.0, 0.9], [1.0, 0.1]], "a")
    sampler.add_round(items, rewards, ids, correct=torch.tensor([1.0, 1.0, 1.0, 0.0]))
    batch = sampler.finish()
    assert batch.items == ["a1.0", "a1.1"] and batch.correct.tolist() == [1.0, 0.0]
