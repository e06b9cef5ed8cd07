"""Truncated responses: one cut off at ``rollout.max_new_tokens`` is flagged and, unless
``reward.score_truncated``, scored as no answer; a run where many are cut off logs the fraction and
says so (with the fix); ``algorithm.mask_truncated`` leaves them out of the loss entirely."""

from __future__ import annotations

import copy
import dataclasses
import logging

import pytest
import torch

from mmrl.algos import resolve_algorithm
from mmrl.config import load_config
from mmrl.policy import TextPolicy
from mmrl.rollout import HFEngine, Sampling
from mmrl.testing import save_tiny_text_model, tiny_text_model
from mmrl.train import fit
from mmrl.train.stages import (
    StepBatch,
    StepContext,
    TruncationAlarm,
    collect_batch,
    plan_update,
    update_policy,
)
from mmrl.types import Example, Score
from tests.integration.train.helpers import read_metrics, read_rollouts, tiny_text_config


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("tiny-text"))


def always_right(response: str, example: Example) -> Score:
    """Every response is right: a reward of 0 can only come from the truncation rule."""
    return Score(1.0, correct=True, components={"accuracy": 1.0})


@pytest.mark.reliability(6)
@pytest.mark.parametrize("score_truncated", [False, True])
def test_a_response_cut_off_at_max_new_tokens_is_flagged_and_gets_reward_0_unless_score_truncated(
    text_dir, tmp_path, score_truncated
):
    run = tmp_path / "run"
    cfg = tiny_text_config(
        text_dir,
        run,
        "reward.verifier=tests.reliability.test_truncation:always_right",
        f"reward.score_truncated={str(score_truncated).lower()}",
        "trainer.max_steps=1",
        "trainer.save_final=false",
    )
    fit(cfg)
    records = read_rollouts(run, 1)
    cut = [r for r in records if r["finish_reason"] == "length"]
    stopped = [r for r in records if r["finish_reason"] == "stop"]
    assert cut and stopped and len(cut) + len(stopped) == len(records), "the test needs both kinds"
    assert all(r["response_tokens"] == cfg.rollout.max_new_tokens for r in cut)  # the cap, no stop
    assert all(r["reward"] == 1.0 for r in stopped)
    assert all(r["reward"] == (1.0 if score_truncated else 0.0) for r in cut)
    (metrics,) = read_metrics(run)
    assert metrics["response/truncated_frac"] == len(cut) / len(records)


@pytest.mark.reliability(6)
def test_more_than_a_tenth_truncated_warns_with_the_fix_at_most_every_50_steps(caplog):
    alarm = TruncationAlarm(max_new_tokens=512, masked=False, scored=False)
    with caplog.at_level(logging.WARNING, logger="mmrl.train.stages"):
        assert not alarm.check(1, 0.1)  # a tenth is tolerated
        assert alarm.check(2, 0.625)
        assert not any(alarm.check(step, 0.7) for step in range(3, 52))
        assert alarm.check(52, 0.7)
    first = caplog.records[0].getMessage()
    assert len(caplog.records) == 2
    assert "step 2: 62.5% of responses were cut off at rollout.max_new_tokens=512" in first
    assert "Raise rollout.max_new_tokens" in first and "algorithm.mask_truncated=true" in first
    assert "reward 0 (reward.score_truncated=false)" in first


@pytest.mark.reliability(6)
def test_a_run_whose_responses_are_mostly_truncated_warns_once(text_dir, tmp_path, caplog):
    cfg = tiny_text_config(
        text_dir, tmp_path / "run", "rollout.stop=[]", "rollout.max_new_tokens=2", "trainer.save_final=false"
    )
    with caplog.at_level(logging.WARNING, logger="mmrl.train.stages"):
        fit(cfg)
    fracs = [m["response/truncated_frac"] for m in read_metrics(tmp_path / "run")]
    assert all(f > 0.1 for f in fracs) and len(fracs) == 3
    warned = [r.getMessage() for r in caplog.records if "were cut off" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("step 1:")


# -- algorithm.mask_truncated -------------------------------------------------------------------


def _settings(*overrides):
    cfg = load_config(None, ["rollout.max_new_tokens=8", "algorithm.overlong.buffer_length=4", *overrides])
    return resolve_algorithm(cfg.algorithm, cfg.rollout)


class CoinRunner:
    def score(self, responses, examples, truncated, lengths=None):
        from rewards import RunnerResult

        scores = [Score(float(len(r) % 2 == 0), correct=len(r) % 2 == 0) for r in responses]
        return RunnerResult(scores, {"total": len(scores)})


@pytest.fixture(scope="module")
def batch_and_policy():
    """Three prompts x four samples; samples 1 and 3 of every group are marked truncated."""
    from mmrl.train.trainer import _accelerator

    model, tok = tiny_text_model(0)
    policy = TextPolicy(model, tok)
    settings = _settings()
    ctx = StepContext(policy, HFEngine(policy), CoinRunner(), settings, _accelerator("no"))
    examples = [Example(f"q{i}", "math", f"What is {i} plus {i}?", str(2 * i)) for i in range(3)]
    batch = collect_batch(ctx, lambda: examples, 4, lambda r: Sampling(max_new_tokens=8, seed=r))
    rollouts = [
        dataclasses.replace(r, finish_reason="length" if i % 2 else "stop")
        for i, r in enumerate(batch.rollouts)
    ]
    return dataclasses.replace(batch, rollouts=rollouts), policy


def _update(policy, batch, advantages, settings):
    """One SGD step (lr 1) of a copy of the policy on ``batch``: the new parameters and the plan."""
    from mmrl.train.trainer import _accelerator

    acc = _accelerator("no")
    model = copy.deepcopy(policy.model)
    local = TextPolicy(model, policy.tokenizer)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    local.model, opt = acc.prepare(model, opt)
    ctx = StepContext(local, HFEngine(local), None, settings, acc, opt, sched)
    plan = plan_update(batch, advantages, settings, 1, 64, None)
    metrics = update_policy(ctx, plan, batch, advantages)
    return [p.detach().clone() for p in local.model.parameters()], plan, metrics


def _subset(batch: StepBatch, keep: list[int]) -> StepBatch:
    idx = torch.tensor(keep)
    return dataclasses.replace(
        batch,
        rollouts=[batch.rollouts[i] for i in keep],
        scores=[batch.scores[i] for i in keep],
        group_ids=batch.group_ids[idx],
        rewards=batch.rewards[idx],
        correct=batch.correct[idx],
    )


@pytest.mark.reliability(6)
@pytest.mark.parametrize("agg", ["token-mean", "seq-mean-token-mean", "seq-mean-token-sum-norm"])
def test_masked_truncated_rows_contribute_zero_gradient(batch_and_policy, agg):
    batch, policy = batch_and_policy
    # the entropy bonus makes every row count even at advantage 0: nothing is inert by accident
    masked = _settings(
        f"algorithm.loss_agg_mode={agg}", "algorithm.mask_truncated=true", "algorithm.entropy_coef=0.01"
    )
    unmasked = dataclasses.replace(masked, mask_truncated=False)
    truncated = [i for i, r in enumerate(batch.rollouts) if r.truncated]
    kept = [i for i, r in enumerate(batch.rollouts) if not r.truncated]
    assert len(truncated) == len(kept) == 6
    advantages = torch.linspace(-1.0, 1.0, len(batch.rollouts))
    other = advantages.clone()
    other[truncated] = 100.0  # whatever the truncated rows' advantages, they change nothing

    a, plan, metrics = _update(policy, batch, advantages, masked)
    b, _, _ = _update(policy, batch, other, masked)
    without, _, _ = _update(policy, _subset(batch, kept), advantages[kept], unmasked)  # as if never sampled
    full, _, _ = _update(policy, batch, advantages, unmasked)
    assert plan.num_masked == 6 and metrics["update/masked_truncated_frac"] == 0.5
    assert all(i not in rows for _, _, rows in plan.micro_batches() for i in truncated)
    for x, y, z in zip(a, b, without, strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
        torch.testing.assert_close(x, z, rtol=1e-5, atol=1e-7)
    assert any(not torch.equal(x, y) for x, y in zip(a, full, strict=True)), "unmasked, they do count"


@pytest.mark.reliability(6)
def test_mask_truncated_is_off_by_default_and_set_from_the_config():
    assert _settings().mask_truncated is False
    assert _settings("algorithm.mask_truncated=true").mask_truncated is True
