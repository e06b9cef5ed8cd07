"""The same numbers on a CUDA device as on the CPU (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from mmrl.algos import (
    AGG_MODES,
    DynamicSampler,
    LossParams,
    compute_advantages_with_metrics,
    mixed_group_mask,
    overlong_penalty,
    policy_loss,
)


@pytest.mark.gpu
@pytest.mark.parametrize(
    "estimator", ["grpo", "dr_grpo", "rloo", "w_reinforce", "grpo+a_grae", "dr_grpo+a_grae"]
)
def test_estimators_and_diagnostics_match_cpu(estimator):
    gen = torch.Generator().manual_seed(0)
    rewards = (torch.rand(64, generator=gen) > 0.6).float()
    rewards[5] = float("nan")
    groups = torch.arange(8).repeat_interleave(8)
    cpu_adv, cpu_m = compute_advantages_with_metrics(estimator, rewards, groups)
    gpu_adv, gpu_m = compute_advantages_with_metrics(estimator, rewards.cuda(), groups.cuda())
    assert gpu_adv.is_cuda
    assert_close(gpu_adv.cpu(), cpu_adv)
    assert gpu_m == pytest.approx(cpu_m, nan_ok=True)
    assert torch.equal(
        mixed_group_mask(rewards.cuda(), groups.cuda()).cpu(), mixed_group_mask(rewards, groups)
    )


@pytest.mark.gpu
@pytest.mark.parametrize("mode", AGG_MODES)
def test_policy_loss_matches_cpu_in_bf16(mode):
    gen = torch.Generator().manual_seed(1)
    logp = -torch.rand(6, 10, generator=gen)
    old = logp + 0.05 * torch.randn(6, 10, generator=gen)
    ref = logp + 0.05 * torch.randn(6, 10, generator=gen)
    mask = torch.rand(6, 10, generator=gen) > 0.2
    adv = torch.randn(6, generator=gen)
    logp, old, ref = (x.bfloat16() for x in (logp, old, ref))  # the same rounded inputs on both devices
    p = LossParams(mode, 0.2, 0.28, clip_ratio_c=3.0, loss_scale_factor=10.0, kl_coef=0.01)
    cpu_loss, cpu_m = policy_loss(logp, old, adv, mask, params=p, ref_logprobs=ref)
    leaf = logp.cuda().requires_grad_(True)
    gpu_loss, gpu_m = policy_loss(
        leaf, old.cuda(), adv.cuda(), mask.cuda(), params=p, ref_logprobs=ref.cuda()
    )
    gpu_loss.backward()
    assert gpu_loss.dtype == torch.float32 and torch.isfinite(leaf.grad.float()).all()
    assert gpu_loss.item() == pytest.approx(cpu_loss.item(), rel=1e-5, abs=1e-6)
    assert gpu_m == pytest.approx(cpu_m, rel=1e-4, abs=1e-6)


@pytest.mark.gpu
def test_dapo_pieces_on_cuda():
    lengths = torch.tensor([10, 16, 25]).cuda()
    assert overlong_penalty(lengths, 20, 5).cpu().tolist() == pytest.approx([0.0, -0.2, -1.0])
    sampler = DynamicSampler(target_groups=1, max_rounds=1)
    sampler.add_round(
        ["a", "b", "c", "d"], torch.tensor([1.0, 1.0, 1.0, 0.0]).cuda(), torch.tensor([0, 0, 1, 1]).cuda()
    )
    batch = sampler.finish()
    assert batch.items == ["c", "d"] and batch.rewards.tolist() == [1.0, 0.0]
