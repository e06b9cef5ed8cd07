"""Chunked log-probabilities: hand-computed values, equality with the full-logits reference
(values and gradients), temperature, banned tokens and entropy."""

import math

import pytest
import torch
from torch.testing import assert_close

from mmrl.policy.logprobs import chunked_token_logprobs, token_logprobs_from_logits


def test_hand_computed_three_token_vocabulary():
    # logits [0, ln 2, ln 3]: probabilities 1/6, 2/6, 3/6.
    logits = torch.tensor([[0.0, math.log(2.0), math.log(3.0)]])
    lp, ent = token_logprobs_from_logits(logits, torch.tensor([2]), with_entropy=True)
    assert_close(lp, torch.tensor([math.log(0.5)]))
    expected_entropy = -sum(p * math.log(p) for p in (1 / 6, 2 / 6, 3 / 6))  # 1.0114
    assert_close(ent, torch.tensor([expected_entropy]))


def test_temperature_divides_logits():
    # T = 0.5 doubles the logits [0, ln 2]: probabilities 1/5 and 4/5.
    logits = torch.tensor([[0.0, math.log(2.0)]])
    lp, _ = token_logprobs_from_logits(logits, torch.tensor([1]), temperature=0.5)
    assert_close(lp, torch.tensor([math.log(0.8)]))


def test_banned_tokens_are_renormalised_away():
    # Equal logits over 4 tokens; banning token 3 leaves 1/3 for each of the others.
    logits = torch.zeros(1, 4)
    lp, ent = token_logprobs_from_logits(logits, torch.tensor([0]), banned_token_ids=[3], with_entropy=True)
    assert_close(lp, torch.tensor([math.log(1 / 3)]))
    assert_close(ent, torch.tensor([math.log(3.0)]))
    head = torch.nn.Identity()
    clp, cent = chunked_token_logprobs(
        logits, torch.tensor([0]), head, banned_token_ids=[3], with_entropy=True
    )
    assert_close(clp, lp)
    assert_close(cent, ent)  # no nan from 0 * (-inf)


def _head(vocab: int, hidden: int, seed: int) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(hidden, vocab, bias=False)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_chunked_equals_full_logits_values_and_gradients(chunk_size, temperature):
    head = _head(vocab=50, hidden=8, seed=0)
    torch.manual_seed(1)
    hidden_a = torch.randn(13, 8, requires_grad=True)
    hidden_b = hidden_a.detach().clone().requires_grad_(True)
    targets = torch.randint(0, 50, (13,))

    ref_lp, ref_ent = token_logprobs_from_logits(
        head(hidden_a), targets, temperature=temperature, with_entropy=True
    )
    lp, ent = chunked_token_logprobs(
        hidden_b, targets, head, chunk_size=chunk_size, temperature=temperature, with_entropy=True
    )
    assert_close(lp, ref_lp)
    assert_close(ent, ref_ent)

    weights = torch.randn(13)
    (ref_lp * weights + 0.1 * ref_ent).sum().backward()
    grad_head_ref = head.weight.grad.clone()
    head.weight.grad = None
    (lp * weights + 0.1 * ent).sum().backward()
    assert_close(hidden_b.grad, hidden_a.grad)
    assert_close(head.weight.grad, grad_head_ref)


def test_softcap_applied_before_temperature():
    logits = torch.tensor([[10.0, -10.0, 0.0]])
    capped = torch.tanh(logits / 5.0) * 5.0
    lp, _ = token_logprobs_from_logits(logits, torch.tensor([0]), softcap=5.0, temperature=2.0)
    assert_close(lp, torch.log_softmax(capped / 2.0, -1)[:, 0])


def test_empty_input_and_validation():
    head = _head(vocab=5, hidden=3, seed=0)
    lp, ent = chunked_token_logprobs(
        torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), head, with_entropy=True
    )
    assert lp.shape == (0,) and ent.shape == (0,)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        chunked_token_logprobs(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), head, temperature=0.0)
    with pytest.raises(ValueError, match="rows"):
        chunked_token_logprobs(torch.zeros(2, 3), torch.zeros(1, dtype=torch.long), head)
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_token_logprobs(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), head, chunk_size=0)


def test_no_graph_is_kept_without_grad():
    head = _head(vocab=5, hidden=3, seed=0)
    with torch.no_grad():
        lp, _ = chunked_token_logprobs(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]), head, chunk_size=2)
    assert not lp.requires_grad


@pytest.mark.parametrize("kind", ["fused_linear", "checkpointed_module"])
@pytest.mark.parametrize("loss_on", ["logprobs", "entropy", "both"])
def test_both_backward_paths_match_autograd_with_bias_and_banned_tokens(kind, loss_on):
    torch.manual_seed(2)
    linear = torch.nn.Linear(6, 40, bias=True)
    head = linear if kind == "fused_linear" else torch.nn.Sequential(linear)  # not a plain Linear
    hidden_a = torch.randn(11, 6, requires_grad=True)
    hidden_b = hidden_a.detach().clone().requires_grad_(True)
    targets = torch.randint(0, 36, (11,))  # the banned ids 36..39 are never targets
    banned = [36, 37, 38, 39]
    ref_lp, ref_ent = token_logprobs_from_logits(
        linear(hidden_a), targets, temperature=0.9, banned_token_ids=banned, with_entropy=True
    )
    lp, ent = chunked_token_logprobs(
        hidden_b, targets, head, chunk_size=4, temperature=0.9, banned_token_ids=banned, with_entropy=True
    )
    assert_close(lp, ref_lp)
    assert_close(ent, ref_ent)
    w = torch.randn(11)

    def loss(lp, ent):
        return {"logprobs": (lp * w).sum(), "entropy": (ent * w).sum(), "both": (lp * w + ent).sum()}[loss_on]

    loss(ref_lp, ref_ent).backward()
    ref_grads = [hidden_a.grad.clone(), linear.weight.grad.clone(), linear.bias.grad.clone()]
    linear.weight.grad = linear.bias.grad = None
    loss(lp, ent).backward()
    for got, want in zip([hidden_b.grad, linear.weight.grad, linear.bias.grad], ref_grads, strict=True):
        assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert torch.isfinite(linear.weight.grad).all()


def _bf16_reference(hidden, weight, bias, targets, temperature):
    """The head computed in bfloat16 (both operands rounded, as autocast does), softmax in float32."""
    logits = torch.nn.functional.linear(
        hidden.bfloat16(), weight.bfloat16(), None if bias is None else bias.bfloat16()
    )
    return token_logprobs_from_logits(logits, targets, temperature=temperature, with_entropy=True)


@pytest.mark.parametrize("wrapped", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_compute_dtype_runs_the_head_in_bf16_values_and_gradients(wrapped, bias):
    # float32 weights (the master copy), bfloat16 products: the same numbers as the head in bf16,
    # gradients included, through the hand-written backward (plain head) or autograd (wrapped head).
    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 300, bias=bias)
    head = torch.nn.Sequential(linear) if wrapped else linear
    hidden_a = (3 * torch.randn(11, 16)).requires_grad_(True)
    hidden_b = hidden_a.detach().clone().requires_grad_(True)
    targets = torch.randint(0, 300, (11,))
    ref_lp, ref_ent = _bf16_reference(hidden_a, linear.weight, linear.bias, targets, 0.8)
    (ref_lp.sum() + 0.5 * ref_ent.sum()).backward()
    ref_grads = [hidden_a.grad, linear.weight.grad] + ([linear.bias.grad] if bias else [])
    linear.zero_grad(set_to_none=True)
    lp, ent = chunked_token_logprobs(
        hidden_b,
        targets,
        head,
        chunk_size=4,
        temperature=0.8,
        with_entropy=True,
        compute_dtype=torch.bfloat16,
    )
    (lp.sum() + 0.5 * ent.sum()).backward()
    assert lp.dtype == torch.float32 and linear.weight.grad.dtype == torch.float32
    assert_close(lp, ref_lp, atol=1e-5, rtol=1e-5)
    assert_close(ent, ref_ent, atol=1e-5, rtol=1e-5)
    grads = [hidden_b.grad, linear.weight.grad] + ([linear.bias.grad] if bias else [])
    for got, want in zip(grads, ref_grads, strict=True):
        assert_close(got, want, atol=2e-3, rtol=2e-2)
    # And it is not the float32 computation: bf16 rounding of the logits moves the values.
    fp32_lp, _ = token_logprobs_from_logits(linear(hidden_a.detach()), targets, temperature=0.8)
    assert (lp.detach() - fp32_lp).abs().max() > 1e-4


def test_compute_dtype_without_grad_and_the_autocast_default():
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 200)
    hidden = 3 * torch.randn(9, 16)
    targets = torch.randint(0, 200, (9,))
    ref_lp, _ = _bf16_reference(hidden, head.weight, head.bias, targets, 1.0)
    with torch.no_grad():
        lp, _ = chunked_token_logprobs(hidden, targets, head, chunk_size=4, compute_dtype=torch.bfloat16)
    assert_close(lp, ref_lp, atol=1e-5, rtol=1e-5)
    # No compute_dtype under autocast: the autocast dtype.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto_lp, _ = chunked_token_logprobs(hidden.requires_grad_(True), targets, head, chunk_size=4)
    assert_close(auto_lp.detach(), ref_lp, atol=1e-5, rtol=1e-5)
    # compute_dtype equal to the weights' dtype is the plain float32 computation.
    fp32_lp, _ = chunked_token_logprobs(hidden.detach(), targets, head, compute_dtype=torch.float32)
    assert_close(fp32_lp, token_logprobs_from_logits(head(hidden.detach()), targets)[0])


def test_one_exponential_gives_logsumexp_and_entropy_even_for_large_logits():
    from mmrl.policy.logprobs import _lse_and_entropy

    torch.manual_seed(3)
    for scale in (1.0, 30.0, 1e4):  # 1e4: exp(z) alone overflows; the max shift keeps it finite
        z = torch.randn(5, 50) * scale
        z[0, 7:] = torch.finfo(torch.float32).min  # a banned-style tail: probability 0
        lse, entropy = _lse_and_entropy(z.clone(), None, with_entropy=True)
        p = torch.softmax(z.double(), dim=-1)
        want_entropy = -(p * torch.log_softmax(z.double(), dim=-1)).nan_to_num(0.0).sum(-1)
        assert_close(lse.double(), torch.logsumexp(z.double(), dim=-1), rtol=1e-6, atol=1e-4)
        assert_close(entropy.double(), want_entropy, rtol=1e-5, atol=1e-3 if scale > 100 else 1e-5)
        assert _lse_and_entropy(z, None, with_entropy=False)[1] is None
