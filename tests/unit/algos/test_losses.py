"""policy_loss: hand-computed modes, clipping, KL, entropy, importance weights, invariances."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from mmrl.algos import AGG_MODES, LossParams, combine_metrics, kl_penalty, loss_normalizer, policy_loss

# Two responses, old log-probs 0 so the ratio is exp(logprob):
#   row 0: ratios [1.5, 0.5, 1.0], A = +1, all three tokens count
#   row 1: ratios [1.1, 0.7, pad], A = -2, the third token is padding
RATIOS = torch.tensor([[1.5, 0.5, 1.0], [1.1, 0.7, 9.9]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])
ADV = torch.tensor([1.0, -2.0])
# per-token loss with eps_low = .2, eps_high = .28, pg = max(-A r, -A clip(r, .8, 1.28)):
#   row 0: max(-1.5, -1.28) = -1.28; max(-.5, -.8) = -.5; -1.0          sum -2.78, mean -.926667
#   row 1: max(2.2, 2.2) = 2.2;     max(1.4, 1.6) = 1.6                 sum  3.8,  mean  1.9
EXPECTED = {
    "token-mean": (-2.78 + 3.8) / 5,  # .204
    "seq-mean-token-mean": (-2.78 / 3 + 3.8 / 2) / 2,  # .486667
    "seq-mean-token-sum": (-2.78 + 3.8) / 2,  # .51
    "seq-mean-token-sum-norm": (-2.78 + 3.8) / (2 * 4),  # C = 4: .1275
}


def params(mode: str = "token-mean", **kw) -> LossParams:
    return LossParams(agg_mode=mode, clip_ratio_low=0.2, clip_ratio_high=0.28, loss_scale_factor=4.0, **kw)


def logprobs_leaf() -> torch.Tensor:
    return RATIOS.log().clone().requires_grad_(True)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_aggregation_modes_hand_computed(mode):
    loss, _ = policy_loss(logprobs_leaf(), torch.zeros(2, 3), ADV, MASK, params=params(mode))
    assert loss.item() == pytest.approx(EXPECTED[mode], abs=1e-6)


def test_clip_fractions_and_gradients_of_clipped_tokens():
    logp = logprobs_leaf()
    loss, metrics = policy_loss(logp, torch.zeros(2, 3), ADV, MASK, params=params())
    assert metrics["pg_clipfrac_high"] == pytest.approx(1 / 5)  # A > 0 and r = 1.5 > 1.28
    assert metrics["pg_clipfrac_low"] == pytest.approx(1 / 5)  # A < 0 and r = .7 < .8
    assert metrics["num_tokens"] == 5
    loss.backward()
    # d/dlogp of -A r / N on unclipped tokens is -A r / 5; clipped tokens and padding get 0
    expected = torch.tensor([[0.0, -0.5 / 5, -1.0 / 5], [2 * 1.1 / 5, 0.0, 0.0]])
    assert_close(logp.grad, expected)


def test_approx_kl_metric_is_k3_of_old_vs_new():
    _, metrics = policy_loss(logprobs_leaf(), torch.zeros(2, 3), ADV, MASK, params=params())
    r = [1.5, 0.5, 1.0, 1.1, 0.7]
    assert metrics["approx_kl"] == pytest.approx(sum(x - 1 - math.log(x) for x in r) / 5, rel=1e-5)


def test_dual_clip_bounds_negative_advantages():
    # A = -2, r = 4: pg = max(8, 2 * 1.28) = 8, then min(8, 2 * 3) = 6; the dual clip also zeroes the grad
    logp = torch.tensor([[math.log(4.0)]], requires_grad=True)
    loss, metrics = policy_loss(
        logp, torch.zeros(1, 1), torch.tensor([-2.0]), torch.ones(1, 1), params=params()
    )
    assert loss.item() == pytest.approx(8.0)
    logp2 = torch.tensor([[math.log(4.0)]], requires_grad=True)
    loss, metrics = policy_loss(
        logp2, torch.zeros(1, 1), torch.tensor([-2.0]), torch.ones(1, 1), params=params(clip_ratio_c=3.0)
    )
    assert loss.item() == pytest.approx(6.0)
    assert metrics["pg_clipfrac_dual"] == 1.0
    loss.backward()
    assert logp2.grad.item() == 0.0


def test_kl_estimators_hand_computed():
    # x = ref - logp = -.5: k1 = .5, k2 = .125, k3 = e^-.5 + .5 - 1 = .106531
    logp, ref = torch.tensor([[-1.0]]), torch.tensor([[-1.5]])
    assert kl_penalty(logp, ref, "k1").item() == pytest.approx(0.5)
    assert kl_penalty(logp, ref, "k2").item() == pytest.approx(0.125)
    assert kl_penalty(logp, ref, "k3").item() == pytest.approx(0.106531, abs=1e-6)
    assert kl_penalty(logp, ref, "low_var_kl").item() == pytest.approx(0.106531, abs=1e-6)
    assert kl_penalty(torch.tensor([[0.0]]), torch.tensor([[50.0]]), "k3").item() == 10.0  # clamped
    with pytest.raises(ValueError, match="k1"):
        kl_penalty(logp, ref, "k4")


def test_kl_and_entropy_terms_in_the_loss():
    # on-policy (r = 1), A = 0: the loss is beta * mean k3 - c_H * mean entropy
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, -2.0]])  # k3 = [.106531, 0]
    entropy = torch.tensor([[0.8, 0.4]])
    p = params(kl_coef=0.1, kl_estimator="k3", entropy_coef=0.01)
    loss, metrics = policy_loss(
        logp, logp.detach(), torch.zeros(1), torch.ones(1, 2), params=p, ref_logprobs=ref, entropy=entropy
    )
    assert loss.item() == pytest.approx(0.1 * 0.106531 / 2 - 0.01 * 1.2 / 2, abs=1e-6)
    assert metrics["kl"] == pytest.approx(0.106531 / 2, abs=1e-6)
    assert metrics["entropy"] == pytest.approx(0.6)


def test_truncated_importance_weight():
    # old - engine = log 3 -> weight 3, capped at 2: the pg term of A = 1 at r = 1 doubles (-1 -> -2)
    logp = torch.zeros(1, 1, requires_grad=True)
    behaviour = torch.full((1, 1), -math.log(3.0))
    loss, metrics = policy_loss(
        logp,
        torch.zeros(1, 1),
        torch.ones(1),
        torch.ones(1, 1),
        params=params(tis_cap=2.0),
        behaviour_logprobs=behaviour,
    )
    assert loss.item() == pytest.approx(-2.0)
    assert metrics["tis_weight"] == pytest.approx(2.0) and metrics["tis_capped_frac"] == 1.0


def test_missing_inputs_raise():
    logp, m = torch.zeros(1, 2), torch.ones(1, 2)
    with pytest.raises(ValueError, match="ref_logprobs"):
        policy_loss(logp, logp, torch.ones(1), m, params=params(kl_coef=0.1))
    with pytest.raises(ValueError, match="entropy"):
        policy_loss(logp, logp, torch.ones(1), m, params=params(entropy_coef=0.1))
    with pytest.raises(ValueError, match="behaviour_logprobs"):
        policy_loss(logp, logp, torch.ones(1), m, params=params(tis_cap=2.0))
    with pytest.raises(ValueError, match="advantages"):
        policy_loss(logp, logp, torch.ones(3), m, params=params())
    with pytest.raises(ValueError, match="loss_scale_factor"):
        LossParams("seq-mean-token-sum-norm", 0.2, 0.2)
    with pytest.raises(ValueError, match="agg_mode"):
        LossParams("token_mean", 0.2, 0.2)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_values_under_the_mask_change_nothing(mode):
    gen = torch.Generator().manual_seed(0)
    logp = -torch.rand(4, 6, generator=gen)
    old = logp + 0.1 * torch.randn(4, 6, generator=gen)
    adv = torch.randn(4, 6, generator=gen)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 3:] = False
    mask[3, :] = False  # a padding row

    def run(fill: float):
        leaf = torch.where(mask, logp, fill).requires_grad_(True)
        other = {k: torch.where(mask, v, fill) for k, v in {"old": old, "adv": adv, "ref": old}.items()}
        p = params(mode, kl_coef=0.05, clip_ratio_c=3.0)
        loss, _ = policy_loss(leaf, other["old"], other["adv"], mask, params=p, ref_logprobs=other["ref"])
        loss.backward()
        return loss.detach(), leaf.grad

    loss_a, grad_a = run(0.0)
    loss_b, grad_b = run(math.nan)
    assert torch.isfinite(loss_b) and torch.isfinite(grad_b).all()
    assert_close(loss_a, loss_b)
    assert_close(grad_a, grad_b)


# ---------------------------------------------------------------- invariance to micro-batching and shards


class TinyPolicy(torch.nn.Module):
    """Log-probs of given tokens under a linear softmax policy over a vocabulary of 7."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(5, 7)

    def forward(self, feats: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        logits = self.proj(feats)  # [B, T, V]
        return torch.log_softmax(logits, -1).gather(-1, tokens[..., None]).squeeze(-1)  # [B, T]


def make_batch(seed: int = 0, batch: int = 12, length: int = 9):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, length, 5, generator=gen)
    tokens = torch.randint(0, 7, (batch, length), generator=gen)
    lengths = torch.randint(1, length + 1, (batch,), generator=gen)
    lengths[4] = 0  # an empty response
    mask = torch.arange(length)[None, :] < lengths[:, None]
    old = -torch.rand(batch, length, generator=gen) * 2
    ref = -torch.rand(batch, length, generator=gen) * 2
    adv = torch.randn(batch, generator=gen)
    return feats, tokens, mask, old, ref, adv


@pytest.mark.parametrize("mode", AGG_MODES)
def test_micro_batches_over_two_shards_sum_to_the_global_loss(mode):
    feats, tokens, mask, old, ref, adv = make_batch()
    p = params(mode, kl_coef=0.05, clip_ratio_c=3.0)

    def loss_of(model, rows, normalizer=None):
        logp = model(feats[rows], tokens[rows])
        return policy_loss(
            logp, old[rows], adv[rows], mask[rows], params=p, ref_logprobs=ref[rows], normalizer=normalizer
        )

    # the whole mini-batch at once
    model = TinyPolicy()
    global_loss, global_metrics = loss_of(model, slice(None))
    global_loss.backward()
    global_grad = model.proj.weight.grad.clone()

    # 2 data-parallel shards x uneven micro-batches; the normaliser counts the whole mini-batch
    shards = [[slice(0, 2), slice(2, 5), slice(5, 6)], [slice(6, 9), slice(9, 12)]]
    normalizer = sum(loss_normalizer(mask[rows], mode) for shard in shards for rows in shard)
    total, shard_grads, parts = 0.0, [], []
    for shard in shards:
        replica = TinyPolicy()  # same initial weights on every rank
        for rows in shard:
            loss, metrics = loss_of(replica, rows, normalizer)
            (loss * len(shards)).backward()  # ranks average gradients, so each scales by world size
            total += loss.item()
            parts.append(metrics)
        shard_grads.append(replica.proj.weight.grad)
    assert total == pytest.approx(global_loss.item(), abs=1e-6)
    assert_close(sum(shard_grads) / len(shards), global_grad, atol=1e-6, rtol=1e-5)
    merged = combine_metrics(parts)
    for key, value in global_metrics.items():
        assert merged[key] == pytest.approx(value, abs=1e-6), key


def test_loss_normalizer_counts():
    mask = torch.tensor([[1, 1, 0], [0, 0, 0], [1, 0, 0]])
    assert loss_normalizer(mask, "token-mean") == 3
    assert loss_normalizer(mask, "seq-mean-token-mean") == 2  # the empty row does not count
    with pytest.raises(ValueError, match="token-mean"):
        loss_normalizer(mask, "sum")
