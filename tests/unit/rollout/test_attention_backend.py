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
