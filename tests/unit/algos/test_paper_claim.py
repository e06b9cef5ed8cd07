"""The A-GRAE paper's central claim on a softmax policy over K answers.

GRPO's advantages sum to zero in a group, so an answer that no sample took gets exactly zero
gradient on its logit: ``Σ_i A_i ∂log π(o_i)/∂z_a = −π(a)·Σ_i A_i = 0``. A-GRAE's attenuation of
positive advantages (ω < α) makes ``Σ_i A_i < 0``, so the unsampled answer's logit is pushed up.
"""

from __future__ import annotations

import torch

from mmrl.algos import LossParams, compute_advantages, policy_loss

LOGITS = torch.tensor([2.0, 1.0, 0.5, -1.0, -1.5])  # answers 0..4; answer 3 is correct but rare
CORRECT_ANSWERS = {0, 3}
SAMPLES = torch.tensor([0, 1, 1, 2, 0, 1])  # one group of G = 6; answers 3 and 4 were not sampled
UNSAMPLED_CORRECT, UNSAMPLED_WRONG = 3, 4


def logit_gradient(advantages: torch.Tensor) -> torch.Tensor:
    """d loss / d logits of the clipped loss at ratio 1 (one token per response)."""
    z = LOGITS.clone().requires_grad_(True)
    logp = torch.log_softmax(z, -1)[SAMPLES][:, None]  # [G, 1]
    params = LossParams("seq-mean-token-mean", clip_ratio_low=0.2, clip_ratio_high=0.2)
    loss, _ = policy_loss(logp, logp.detach(), advantages, torch.ones_like(logp), params=params)
    loss.backward()
    return z.grad


def test_grpo_leaves_unsampled_logits_alone_and_a_grae_raises_the_unsampled_correct_one():
    rewards = torch.tensor([1.0 if int(s) in CORRECT_ANSWERS else 0.0 for s in SAMPLES])
    group = torch.zeros(len(SAMPLES), dtype=torch.long)
    grpo = compute_advantages("grpo", rewards, group)
    a_grae = compute_advantages("grpo+a_grae", rewards, group, batch_accuracy=0.3, alpha=1.0)

    g_grpo, g_a_grae = logit_gradient(grpo), logit_gradient(a_grae)
    # GRPO: exactly zero (up to float32 rounding of the zero sum) on both unsampled logits
    assert abs(g_grpo[UNSAMPLED_CORRECT].item()) < 1e-7
    assert abs(g_grpo[UNSAMPLED_WRONG].item()) < 1e-7
    # A-GRAE: gradient descent raises the unsampled logits (d loss / dz < 0)
    assert -g_a_grae[UNSAMPLED_CORRECT].item() > 1e-3

    # one step of equal size (same norm) for both; the rare correct answer gains more under A-GRAE
    step = 0.5
    prob = {}
    for name, g in (("grpo", g_grpo), ("a_grae", g_a_grae)):
        prob[name] = torch.softmax(LOGITS - step * g / g.norm(), -1)[UNSAMPLED_CORRECT].item()
    assert prob["a_grae"] > prob["grpo"]
