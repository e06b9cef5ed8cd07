"""Grouped-query attention as a few float32 products, for small training forwards on a CPU.

``grouped_attention`` computes, for each query head ``h`` of ``H`` attending to key/value head
``h // G`` of ``H / G`` (grouped-query attention; ``G = 1`` is plain multi-head attention)::

    out[b, h, i] = sum_j softmax_j(scale * q[b, h, i] . k[b, h // G, j] + m[b, i, j]) v[b, h // G, j]

with ``m = 0`` where query ``i`` may see key ``j`` and ``-inf`` elsewhere; a query that sees no
key gets zeros (as PyTorch's SDPA gives it). The ``G`` query heads of a group are stacked into
one ``[G x Q, K]`` product against their shared keys, so keys and values are never repeated
``G`` times, and the softmax is a plain one (no pass for fully masked rows besides one
``any`` over the mask). Everything is computed in float32 and returned in ``out_dtype``.

On a CPU this is faster than PyTorch's math SDPA backend for the training forwards that use it
(``mmrl.policy.base.cpu_attention_backend``): SmolLM2-135M, 16 rows x 9 heads (3 key/value heads)
x 64 queries x 140 keys, forward 1.41 -> 1.27 s and backward 2.39 -> 2.26 s per update on a
2-core CPU (medians of 7, alternating in one process), because SDPA's math path repeats keys and values per head, runs its small per-head
products and adds a masked-row pass over the scores. The transformers attention function
``grouped_attention_forward`` wraps it under the name ``GROUPED_ATTENTION``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

__all__ = [
    "GROUPED_ATTENTION",
    "GROUPED_ATTENTION_MODEL_TYPES",
    "full_attention_layers",
    "grouped_attention",
    "grouped_attention_forward",
    "supports_grouped_attention",
    "use_grouped_attention",
]

#: The name ``grouped_attention_forward`` is registered under in transformers' attention interface.
GROUPED_ATTENTION = "mmrl_grouped"

#: ``config.model_type`` of the decoders whose attention layers call their attention function with
#: nothing beyond queries, keys, values, mask, dropout and scale (no soft-capping, sinks or sliding
#: windows), which is all ``grouped_attention_forward`` computes; each is covered by an equivalence
#: test against SDPA.
GROUPED_ATTENTION_MODEL_TYPES = ("llama", "qwen2", "qwen3")


def grouped_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
    *,
    dropout: float = 0.0,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The module docstring's formula: ``[B, H, Q, D]`` queries, ``[B, H / G, K, D]`` keys and
    values, ``mask`` ``[B or 1, 1, Q, K]`` (boolean, True where a query sees a key; or additive
    float) or ``None`` for causal attention of the last ``Q`` of ``K`` positions (query ``i``
    sees keys ``j <= i + K - Q``; all keys when ``Q == 1``). Returns ``[B, H, Q, D]`` in
    ``out_dtype`` (default: the query's dtype). ``dropout`` drops attention weights (training)."""
    b, h, q_len, d = query.shape
    kv_heads, k_len = key.shape[1], key.shape[2]
    if h % kv_heads or value.shape[1] != kv_heads:
        raise ValueError(
            f"{h} query heads cannot share {kv_heads} key and {value.shape[1]} value heads evenly"
        )
    g = h // kv_heads
    with torch.autocast(query.device.type, enabled=False):
        q = query.float().reshape(b, kv_heads, g * q_len, d)  # heads h = kv * G + g, as repeat_kv lays them
        scores = torch.matmul(q, key.float().transpose(-1, -2)).view(b, kv_heads, g, q_len, k_len)
        scores = scores * scale
        visible = None
        if mask is None:
            if q_len > 1:
                causal = torch.ones(q_len, k_len, dtype=torch.bool, device=query.device).tril(k_len - q_len)
                scores = scores.masked_fill(~causal, float("-inf"))
        elif mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask[:, :, None], float("-inf"))
            visible = mask.any(-1, keepdim=True)[:, :, None]  # [B, 1, 1, Q, 1]
        else:
            scores = scores + mask[:, :, None].float()
            visible = torch.isfinite(mask).any(-1, keepdim=True)[:, :, None]
        if visible is not None:
            scores = scores.masked_fill(~visible, 0.0)  # no visible key: uniform, then zeroed below
        weights = torch.softmax(scores, dim=-1)
        if visible is not None:
            weights = weights * visible
        if dropout > 0:
            weights = torch.nn.functional.dropout(weights, p=dropout, training=True)
        out = torch.matmul(weights.view(b, kv_heads, g * q_len, k_len), value.float())
    return out.view(b, h, q_len, d).to(out_dtype or query.dtype)


def grouped_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """``grouped_attention`` in transformers' attention-function form: returns ``[B, Q, H, D]``
    and no weights. Under autocast the output is in the autocast dtype (what SDPA returns there)."""
    del kwargs  # nothing else reaches it from the decoders of GROUPED_ATTENTION_MODEL_TYPES
    if attention_mask is None and not (
        is_causal if is_causal is not None else getattr(module, "is_causal", True)
    ):
        attention_mask = torch.ones(1, 1, query.shape[2], key.shape[2], dtype=torch.bool, device=query.device)
    device = query.device.type
    out_dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else query.dtype
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = grouped_attention(query, key, value, attention_mask, scale, dropout=dropout, out_dtype=out_dtype)
    return out.transpose(1, 2).contiguous(), None


_registered = False


def _register() -> None:
    """Register ``grouped_attention_forward`` (with SDPA's boolean masks) in transformers, once."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(GROUPED_ATTENTION, grouped_attention_forward)
    AttentionMaskInterface.register(GROUPED_ATTENTION, sdpa_mask)
    _registered = True


def full_attention_layers(config: Any) -> bool:
    """Whether every layer of ``config``'s decoder attends to all earlier positions: no sliding
    window, every ``layer_types`` entry ``full_attention``."""
    if getattr(config, "use_sliding_window", False):
        return False
    return all(kind == "full_attention" for kind in getattr(config, "layer_types", None) or ())


def supports_grouped_attention(config: Any) -> bool:
    """Whether ``config`` is an SDPA decoder of ``GROUPED_ATTENTION_MODEL_TYPES`` with full causal
    attention in every layer (``full_attention_layers``)."""
    return (
        getattr(config, "_attn_implementation", None) == "sdpa"
        and getattr(config, "model_type", None) in GROUPED_ATTENTION_MODEL_TYPES
        and full_attention_layers(config)
    )


@contextlib.contextmanager
def use_grouped_attention(config: Any) -> Iterator[bool]:
    """Run the forwards inside on ``grouped_attention`` where ``supports_grouped_attention``;
    yields whether they do. The model's attention layers and its mask builder read
    ``config._attn_implementation`` at each forward, so this sets it for the duration only."""
    if not supports_grouped_attention(config):
        yield False
        return
    _register()
    config._attn_implementation = GROUPED_ATTENTION
    try:
        yield True
    finally:
        config._attn_implementation = "sdpa"
