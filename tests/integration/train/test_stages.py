"""The stages alone, on a tiny model: micro-batch invariance of the update, DAPO rounds, reward shaping."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from mmrl.algos import AlgorithmSettings, DynamicSampler, resolve_algorithm
from mmrl.config import load_config
from mmrl.policy import TextPolicy
from mmrl.rollout import HFEngine, Sampling
from mmrl.testing import tiny_text_model
from mmrl.train.stages import (
    StepBatch,
    StepContext,
    collect_batch,
    compute_old_and_reference_logprobs,
    plan_update,
    shape_rewards,
    step_advantages,
    update_policy,
)
from mmrl.types import Example, Score


class ScriptedRunner:
    """Scores by a rule on the response text; records how often it was called."""

    def __init__(self, rule):
        self.rule = rule
        self.calls = 0

    def score(self, responses, examples, truncated, lengths=None):
        from rewards import RunnerResult

        self.calls += 1
        scores = [Score(float(self.rule(r)), correct=bool(self.rule(r))) for r in responses]
        return RunnerResult(scores, {"total": len(scores)})


def _examples(k, start=0):
    return [Example(f"q{i}", "math", f"What is {i} plus {i}?", str(2 * i)) for i in range(start, start + k)]


@pytest.fixture
def policy():
    model, tok = tiny_text_model(0)
    return TextPolicy(model, tok)


def _settings(*overrides) -> AlgorithmSettings:
    cfg = load_config(None, ["rollout.max_new_tokens=8", "algorithm.overlong.buffer_length=4", *overrides])
    return resolve_algorithm(cfg.algorithm, cfg.rollout)


def _batch(policy, settings, rule=lambda r: len(r) % 2 == 0, prompts=3, n=4):
    draws = iter([_examples(prompts)])
    ctx = _context(policy, settings, ScriptedRunner(rule))
    return collect_batch(ctx, lambda: next(draws), n, lambda r: Sampling(max_new_tokens=8, seed=r))


def _float32_accelerator():
    """An fp32 CPU accelerator even after a bf16 run in this process (accelerate keeps one state)."""
    from mmrl.train.trainer import _accelerator

    return _accelerator("no")


def _context(policy, settings, runner=None, **kwargs) -> StepContext:
    return StepContext(policy, HFEngine(policy), runner, settings, _float32_accelerator(), **kwargs)


def _update(
    policy, batch, settings, micro_batch_size, max_tokens, mini_batches=1, skip=True, optimizer="sgd"
):
    acc = _float32_accelerator()
    model = copy.deepcopy(policy.model)
    local = TextPolicy(model, policy.tokenizer)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=1.0)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    local.model, opt = acc.prepare(model, opt)
    ctx = StepContext(local, HFEngine(local), None, settings, acc, opt, sched)
    rewards = shape_rewards(batch, settings)
    advantages, _ = step_advantages(ctx, batch, rewards)
    plan = plan_update(
        batch, advantages, settings, mini_batches, micro_batch_size, max_tokens, skip_inert_rows=skip
    )
    compute_old_and_reference_logprobs(ctx, plan, batch, needs_old=mini_batches > 1)
    metrics = update_policy(ctx, plan, batch, advantages)
    return local.model, metrics, plan


@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_micro_batch_split_does_not_change_the_update(policy, agg):
    settings = _settings(f"algorithm.loss_agg_mode={agg}")
    batch = _batch(policy, settings)
    assert 0 < float(batch.rewards.mean()) < 1
    whole, m1, plan1 = _update(policy, batch, settings, micro_batch_size=64, max_tokens=None)
    split, m2, plan2 = _update(policy, batch, settings, micro_batch_size=3, max_tokens=60)
    assert len(plan1.mini_batches[0]) == 1 and len(plan2.mini_batches[0]) > 2
    for (name, a), b in zip(whole.named_parameters(), split.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)
    assert m1["loss"] == pytest.approx(m2["loss"], rel=1e-4, abs=1e-7)
    assert m1["actor/num_tokens"] == m2["actor/num_tokens"]
    changed = any(
        not torch.equal(a, b) for a, b in zip(whole.parameters(), policy.model.parameters(), strict=True)
    )
    assert changed


def test_several_mini_batches_use_the_sampling_policy_as_old(policy):
    settings = _settings()
    batch = _batch(policy, settings)
    _, metrics, plan = _update(policy, batch, settings, micro_batch_size=64, max_tokens=None, mini_batches=3)
    assert metrics["optimizer/steps"] == 3 and len(plan.old_logprobs) == 3
    # the first mini-batch is on-policy: ratio 1, so the k3 estimate of KL(old || new) is 0 there
    assert metrics["actor/approx_kl"] >= 0 and math.isfinite(metrics["loss"])


def test_dynamic_sampling_draws_rounds_until_groups_are_mixed(policy):
    settings = _settings("algorithm.name=dapo", "algorithm.dynamic_sampling.max_rounds=4")
    assert settings.dynamic_sampling
    rounds = iter([_examples(2, 0), _examples(2, 10), _examples(2, 20), _examples(2, 30)])
    runner = ScriptedRunner(lambda r: len(r) % 2 == 0)
    sampler = DynamicSampler(target_groups=2, max_rounds=4)
    batch = collect_batch(
        _context(policy, settings, runner),
        lambda: next(rounds),
        4,
        lambda r: Sampling(max_new_tokens=8, seed=100 + r),
        dynamic_sampler=sampler,
    )
    assert runner.calls == batch.metrics["rollout/rounds"] >= 1
    assert batch.num_groups <= 2
    for g in range(batch.num_groups):  # every kept group has mixed outcomes
        members = batch.rewards[batch.group_ids == g]
        assert members.min() < members.max()
    # ω counts every generated sample of every round, not only the kept ones
    assert batch.metrics["reward/mean"] == pytest.approx(batch.batch_accuracy)


def test_overlong_shaping_follows_the_preset(policy):
    plain, dapo = _settings(), _settings("algorithm.name=dapo")
    batch = _batch(policy, plain, rule=lambda r: True)
    assert torch.equal(shape_rewards(batch, plain), batch.rewards)
    shaped = shape_rewards(batch, dapo)
    lengths = torch.tensor([len(r.response_ids) for r in batch.rollouts])
    assert torch.all(shaped[lengths <= 4] == batch.rewards[lengths <= 4])
    assert torch.all(shaped[lengths == 8] == batch.rewards[lengths == 8] - 1.0)


def test_step_batch_groups_are_contiguous(policy):
    batch = _batch(policy, _settings())
    assert isinstance(batch, StepBatch) and batch.num_groups == 3
    assert batch.group_ids.tolist() == sorted(batch.group_ids.tolist())
    assert [r.example.id for r in batch.rollouts[:4]] == [batch.rollouts[0].example.id] * 4


def _groups_all_equal(batch) -> int:
    return sum(
        int(batch.rewards[batch.group_ids == g].min() == batch.rewards[batch.group_ids == g].max())
        for g in range(batch.num_groups)
    )


@pytest.mark.parametrize(
    "agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"]
)
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_zero_advantage_rows_are_skipped_without_changing_the_update(policy, agg, optimizer):
    settings = _settings(f"algorithm.loss_agg_mode={agg}", "algorithm.name=grpo")
    # group 0 all correct, group 1 all wrong: their GRPO advantages are exactly 0; group 2 mixed
    batch = _batch(policy, settings, rule=lambda r: len(r) % 2 == 0, prompts=6)
    batch.rewards[batch.group_ids == 0] = 1.0
    batch.rewards[batch.group_ids == 1] = 0.0
    assert _groups_all_equal(batch) >= 2 and _groups_all_equal(batch) < batch.num_groups
    full, m_full, plan_full = _update(policy, batch, settings, 3, None, skip=False, optimizer=optimizer)
    fast, m_fast, plan_fast = _update(policy, batch, settings, 3, None, skip=True, optimizer=optimizer)
    trained = sum(len(rows) for _, _, rows in plan_fast.micro_batches())
    assert plan_fast.num_skipped >= 8 and trained == len(batch.rollouts) - plan_fast.num_skipped
    assert plan_full.num_skipped == 0 and plan_fast.normalizers == plan_full.normalizers
    assert m_fast["update/skipped_zero_advantage_frac"] == pytest.approx(
        plan_fast.num_skipped / len(batch.rollouts)
    )
    # AdamW's first step moves each weight by about lr = 1e-3 (g / (|g| + eps)), which amplifies
    # float rounding in near-zero gradients; 1% of one step is the tolerance there.
    atol = 1e-6 if optimizer == "sgd" else 1e-5
    for (name, a), b in zip(full.named_parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=atol, msg=name)
    assert m_full["loss"] == pytest.approx(m_fast["loss"], rel=1e-4, abs=1e-7)
    assert any(
        not torch.equal(a, b) for a, b in zip(full.parameters(), policy.model.parameters(), strict=True)
    )


def test_kl_term_keeps_zero_advantage_rows(policy):
    settings = _settings("algorithm.name=grpo", "algorithm.kl_coef=0.1")
    batch = _batch(policy, settings)
    batch.rewards[:] = 1.0
    rewards = shape_rewards(batch, settings)
    advantages, _ = step_advantages(_context(policy, settings), batch, rewards)
    assert torch.all(advantages == 0)
    plan = plan_update(batch, advantages, settings, 1, 4, None)
    assert plan.num_skipped == 0 and sum(len(r) for _, _, r in plan.micro_batches()) == len(batch.rollouts)


def test_a_step_with_only_zero_advantages_skips_the_whole_update(policy):
    settings = _settings("algorithm.name=grpo")
    batch = _batch(policy, settings)
    batch.rewards[:] = 0.0
    model, metrics, plan = _update(policy, batch, settings, 4, None, optimizer="adamw")
    assert plan.micro_batches() == [] and plan.num_skipped == len(batch.rollouts)
    assert metrics["optimizer/steps"] == 0 and metrics["optimizer/skipped_steps"] == 0
    assert metrics["update/skipped_zero_advantage_frac"] == 1.0
    for a, b in zip(model.parameters(), policy.model.parameters(), strict=True):
        assert torch.equal(a, b)
