"""Which SDPA backend a training forward gets (``mmrl.policy.base.cpu_attention_backend``)."""

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from mmrl.policy.base import MATH_ATTENTION_MAX_SCORES, cpu_attention_backend

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _chosen(device, rows, heads, queries, keys, grad=True):
    with torch.set_grad_enabled(grad), cpu_attention_backend(device, rows, heads, queries, keys) as name:
        flash = torch.backends.cuda.flash_sdp_enabled()
    return name, flash


def test_small_cpu_training_forwards_get_the_math_backend_and_only_inside():
    assert _chosen(CPU, 16, 9, 64, 145) == ("math", False)
    assert torch.backends.cuda.flash_sdp_enabled()  # restored on exit


def test_the_limit_is_on_the_score_entries_per_layer():
    side = int(MATH_ATTENTION_MAX_SCORES**0.5)
    assert side * side == MATH_ATTENTION_MAX_SCORES
    assert _chosen(CPU, 1, 1, side, side)[0] == "math"
    assert _chosen(CPU, 1, 1, side, side + 1)[0] == "default"
    assert _chosen(CPU, 2, 1, side, side)[0] == "default"
    assert _chosen(CPU, 1, 2, side, side)[0] == "default"


@pytest.mark.parametrize(
    "case",
    [
        (CUDA, 16, 9, 64, 145, True),  # GPUs keep their fused kernels
        (CPU, 16, 9, 64, 145, False),  # no autograd: the flash forward is the faster one
        (CPU, 16, None, 64, 145, True),  # the head count is unknown
    ],
)
def test_everything_else_is_left_alone(case):
    device, rows, heads, q, k, grad = case
    assert _chosen(device, rows, heads, q, k, grad) == ("default", True)


def test_math_and_flash_agree_with_fully_masked_rows():
    """Left-padded rows attend to nothing: both backends give them zeros, and gradients match."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 6, 8, requires_grad=True) for _ in range(3))
    mask = torch.ones(2, 1, 6, 6, dtype=torch.bool).tril()
    mask[0, :, :2] = False  # row 0's first two queries see no key
    out = {}
    for backend in ("math", "flash"):
        for t in (q, k, v):
            t.grad = None
        ctx = cpu_attention_backend(CPU, 2, 3, 6, 6) if backend == "math" else torch.enable_grad()
        with ctx:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        (o * torch.arange(o.numel()).reshape(o.shape).sin()).sum().backward()
        out[backend] = (o.detach(), q.grad.clone(), k.grad.clone(), v.grad.clone())
    assert torch.equal(out["math"][0][0, :, :2], torch.zeros(3, 2, 8))
    for a, b in zip(out["math"], out["flash"], strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


# -- grouped_attention (mmrl.policy.attention) ------------------------------------------------------


def _sdpa_reference(q, k, v, mask, scale, is_causal=False):
    g = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)  # head h uses kv head h // g
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, is_causal=is_causal)


def _causal_offset_mask(q_len, k_len):
    return torch.ones(q_len, k_len, dtype=torch.bool).tril(k_len - q_len)[None, None]


@pytest.mark.parametrize(
    ("heads", "kv_heads", "q_len", "k_len", "mask_kind"),
    [
        (4, 2, 6, 6, "padded"),  # left padding: some queries see no key
        (9, 3, 5, 12, "none"),  # queries after a cached prefix, causal with an offset
        (4, 4, 1, 7, "none"),  # one query sees every key
        (6, 2, 6, 9, "float"),  # an additive mask
        (4, 1, 6, 9, "offset"),  # multi-query attention, a boolean causal mask
    ],
)
def test_grouped_attention_is_sdpa_without_repeated_keys(heads, kv_heads, q_len, k_len, mask_kind):
    from mmrl.policy.attention import grouped_attention

    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, heads, q_len, 8, generator=g, requires_grad=True)
    k, v = (torch.randn(2, kv_heads, k_len, 8, generator=g, requires_grad=True) for _ in range(2))
    scale = 0.3
    reference_mask, is_causal = None, False
    if mask_kind == "padded":
        mask = torch.ones(2, 1, q_len, k_len, dtype=torch.bool).tril()
        mask[0, :, :2] = False  # row 0's first two queries see nothing: zeros
        mask[1, :, :, :1] = False
        reference_mask = mask
    elif mask_kind == "none":
        mask = None
        reference_mask = _causal_offset_mask(q_len, k_len)
    elif mask_kind == "float":
        mask = torch.randn(2, 1, q_len, k_len, generator=g)
        mask[:, :, :, -1] = float("-inf")
        reference_mask = mask
    else:
        mask = reference_mask = _causal_offset_mask(q_len, k_len)
    weights = torch.randn(2, heads, q_len, 8, generator=g)
    grads = {}
    for name in ("grouped", "sdpa"):
        for t in (q, k, v):
            t.grad = None
        if name == "grouped":
            out = grouped_attention(q, k, v, mask, scale)
        else:
            out = _sdpa_reference(q, k, v, reference_mask, scale, is_causal)
        (out * weights).sum().backward()
        grads[name] = (out.detach(), q.grad.clone(), k.grad.clone(), v.grad.clone())
    if mask_kind == "padded":
        assert torch.equal(grads["grouped"][0][0, :, :2], torch.zeros(heads, 2, 8))
    for a, b in zip(grads["grouped"], grads["sdpa"], strict=True):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_grouped_attention_computes_in_float32_and_returns_the_asked_dtype():
    from mmrl.policy.attention import grouped_attention

    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, 4, 5, 8, generator=g)
    k, v = torch.randn(1, 2, 5, 8, generator=g), torch.randn(1, 2, 5, 8, generator=g)
    exact = grouped_attention(q.double(), k.double(), v.double(), None, 0.35, out_dtype=torch.float64)
    got = grouped_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), None, 0.35)
    assert got.dtype == torch.bfloat16
    as_float = grouped_attention(q, k, v, None, 0.35, out_dtype=torch.bfloat16)
    assert as_float.dtype == torch.bfloat16 and (as_float.double() - exact).abs().max() < 1e-2
    assert (grouped_attention(q, k, v, None, 0.35).double() - exact).abs().max() < 1e-6
    with pytest.raises(ValueError, match="4 query heads cannot share 3 key"):
        grouped_attention(q, torch.randn(1, 3, 5, 8), torch.randn(1, 3, 5, 8), None, 0.35)


def test_grouped_attention_covers_full_attention_sdpa_decoders_only():
    from transformers import LlamaConfig, MistralConfig, Qwen2Config

    from mmrl.policy.attention import supports_grouped_attention

    def config(cls, impl="sdpa", **kw):
        c = cls(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2, **kw)
        c._attn_implementation = impl
        return c

    assert supports_grouped_attention(config(LlamaConfig))
    assert supports_grouped_attention(config(Qwen2Config))
    assert not supports_grouped_attention(config(LlamaConfig, impl="eager"))
    assert not supports_grouped_attention(config(Qwen2Config, use_sliding_window=True, sliding_window=8))
    assert not supports_grouped_attention(config(MistralConfig))  # not covered by the equivalence tests
