"""Prompt order (seeded, resumable, epoch-crossing) and mini-/micro-batch planning."""

import doctest

import pytest

from mmrl.train import batching, sampler
from mmrl.train.batching import mini_batch_groups, plan_micro_batches
from mmrl.train.sampler import PromptSampler, shard_for_rank


@pytest.mark.parametrize("module", [batching, sampler])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_each_epoch_is_a_permutation_and_batches_cross_epochs():
    s = PromptSampler(list(range(5)), seed=3)
    drawn = [s.next_batch(2) for _ in range(5)]  # 10 items = two epochs
    flat = [x for batch in drawn for x in batch]
    assert sorted(flat[:5]) == list(range(5)) and sorted(flat[5:]) == list(range(5))
    assert flat[:5] != flat[5:]  # a new order each epoch
    assert (s.epoch, s.index) == (2, 0)
    assert len(drawn[2]) == 2  # the batch that crossed the epoch boundary is full


def test_order_depends_only_on_seed_and_position():
    a, b = PromptSampler(list(range(7)), seed=1), PromptSampler(list(range(7)), seed=1)
    assert [a.next_batch(3) for _ in range(4)] == [b.next_batch(3) for _ in range(4)]
    assert PromptSampler(list(range(7)), seed=2).next_batch(7) != PromptSampler(
        list(range(7)), seed=1
    ).next_batch(7)
    assert PromptSampler(list(range(4)), seed=1, shuffle=False).next_batch(6) == [0, 1, 2, 3, 0, 1]


def test_state_dict_resumes_the_same_sequence():
    straight = PromptSampler(list(range(6)), seed=0)
    expected = [straight.next_batch(4) for _ in range(5)]
    first = PromptSampler(list(range(6)), seed=0)
    got = [first.next_batch(4) for _ in range(2)]
    resumed = PromptSampler(list(range(6)), seed=0)
    resumed.load_state_dict(first.state_dict())
    got += [resumed.next_batch(4) for _ in range(3)]
    assert got == expected


def test_state_from_another_dataset_is_refused():
    state = PromptSampler(list(range(6)), seed=0).state_dict()
    with pytest.raises(ValueError, match="6 training examples.*this run has 5"):
        PromptSampler(list(range(5)), seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="empty"):
        PromptSampler([], seed=0)


def test_shards_partition_the_batch():
    items = list(range(8))
    shards = [shard_for_rank(items, r, 4) for r in range(4)]
    assert sorted(x for s in shards for x in s) == items and all(len(s) == 2 for s in shards)
    with pytest.raises(ValueError):
        shard_for_rank(items, 4, 4)


def test_mini_batches_cover_all_groups_and_always_exist():
    assert mini_batch_groups(8, 4) == [range(0, 2), range(2, 4), range(4, 6), range(6, 8)]
    assert [len(r) for r in mini_batch_groups(7, 3)] == [3, 2, 2]
    assert len(mini_batch_groups(0, 2)) == 2


def test_micro_batches_respect_rows_and_tokens():
    prompts = [10, 10, 10, 10, 10, 10]
    responses = [5, 50, 20, 5, 90, 1]
    plan = plan_micro_batches(prompts, responses, max_rows=2, max_tokens=130)
    assert sorted(i for mb in plan for i in mb) == list(range(6))
    for mb in plan:
        width = max(prompts[i] for i in mb) + max(responses[i] for i in mb)
        assert len(mb) <= 2 and (len(mb) * width <= 130 or len(mb) == 1)
    assert plan[0] == [4]  # 100 tokens: alone (two of them would be 200)
    # without a token cap only the row count bounds a micro-batch
    assert [len(mb) for mb in plan_micro_batches(prompts, responses, max_rows=4)] == [4, 2]
    # a row over the cap still gets trained, alone
    assert plan_micro_batches([10], [500], max_rows=4, max_tokens=100) == [[0]]
