"""Per-token log-probabilities and entropies without materialising the batch's full logits.

The trainer needs ``log pi(y_t | y_<t, x)`` for every response token. The naive way builds the
logits of the whole micro-batch, ``[B, T, V]``, upcasts them to float32 and applies a log-softmax:
at a 152k vocabulary and 16 x 320 tokens that is 3.1 GB per copy, and autograd keeps several
copies. Here the final hidden states of the response positions are projected through the output
head a chunk of rows at a time, and backward recomputes each chunk's logits instead of keeping
them: a plain ``nn.Linear`` head goes through a hand-written backward that accumulates the weight
gradient in one float32 ``[V, H]`` buffer; any other head runs each chunk under activation
checkpointing. Peak memory is then about ``chunk_size x V x 4 bytes`` times a small constant
(plus that gradient buffer under autograd), whatever the batch
(``scripts/bench_logprob_memory.py`` measures it).

The two public functions are pure: tensors in, tensors out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["chunked_token_logprobs", "token_logprobs_from_logits"]


def _scores(
    logits: torch.Tensor, temperature: float, softcap: float | None, banned: torch.Tensor | None
) -> torch.Tensor:
    logits = logits.float()
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    if temperature != 1.0:
        logits = logits / temperature
    if banned is not None and banned.numel():
        # The most negative finite float rather than -inf: p = 0 exactly, and p * z stays 0 (not nan).
        logits = logits.index_fill(-1, banned.to(logits.device), torch.finfo(torch.float32).min)
    return logits


def _without_banned(products: torch.Tensor, banned: torch.Tensor | None) -> torch.Tensor:
    """Zero the banned columns of ``p * z`` in place: their value is 0 anyway (p = 0), and zeroing
    them stops backward from multiplying a gradient by the huge fill value (inf, then 0 * inf)."""
    if banned is not None and banned.numel():
        products.index_fill_(-1, banned.to(products.device), 0.0)
    return products


def _banned_tensor(banned_token_ids: tuple[int, ...] | list[int] | None) -> torch.Tensor | None:
    if not banned_token_ids:
        return None
    return torch.tensor(sorted(set(banned_token_ids)), dtype=torch.long)


def token_logprobs_from_logits(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    temperature: float = 1.0,
    softcap: float | None = None,
    banned_token_ids: tuple[int, ...] | list[int] | None = None,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probability (and entropy) of each target token from full logits: the reference.

    ``logprob[i] = z[i, targets[i]] - logsumexp_v z[i, v]`` with ``z = float32(logits) / temperature``
    (after ``tanh(logits / softcap) * softcap`` when the model soft-caps its logits), and
    ``entropy[i] = -sum_v p[i, v] log p[i, v]`` with ``p = softmax(z[i])``. Banned tokens (the
    vision placeholders no engine may sample) get ``z = -inf`` in effect: the distribution is the
    one the engines sample from, renormalised over the allowed tokens.

    Args:
        logits: ``[..., V]`` in any float dtype.
        targets: ``[...]`` token ids (the leading shape of ``logits``).
        temperature: divides the logits (the sampling temperature); must be > 0.
        softcap: the model's final-logit soft-capping value, or ``None``.
        banned_token_ids: token ids excluded from the distribution.
        with_entropy: also return the entropy of each row's distribution.

    Returns:
        ``(logprobs [...], entropy [...] or None)``, float32.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 for log-probabilities, got {temperature}")
    banned = _banned_tensor(banned_token_ids)
    z = _scores(logits, temperature, softcap, banned)
    logprobs_all = torch.log_softmax(z, dim=-1)
    logprobs = logprobs_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = None
    if with_entropy:
        entropy = -_without_banned(logprobs_all.exp() * logprobs_all, banned).sum(-1)
    return logprobs, entropy


def _lse_and_entropy(
    z: torch.Tensor, banned: torch.Tensor | None, with_entropy: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per row of ``z`` ``[C, V]``: ``lse = logsumexp(z)`` and, with ``with_entropy``,
    ``H = lse - sum_v softmax(z)_v z_v`` (the same as ``-sum p log p``, without a second
    ``[C, V]`` log-softmax), from one exponential: ``e = exp(z - max z)``, ``s = sum e``,
    ``lse = max z + log s``, ``H = lse - sum(e z) / s`` (``torch.logsumexp`` and ``torch.softmax``
    take one each). Differentiable: the checkpointed path's backward goes through it; banned
    columns of ``e z`` are zeroed (``_without_banned``)."""
    m = z.amax(-1, keepdim=True)
    e = torch.sub(z, m).exp_()
    s = e.sum(-1, keepdim=True)
    lse = (m + s.log()).squeeze(-1)
    if not with_entropy:
        return lse, None
    return lse, lse - _without_banned(e * z, banned).sum(-1) / s.squeeze(-1)


def _chunk_logprobs_entropy(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    temperature: float,
    softcap: float | None,
    banned: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    z = _scores(head(hidden), temperature, softcap, banned)  # [C, V] float32
    lse, entropy = _lse_and_entropy(z, banned, with_entropy=True)
    return z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse, entropy


def _chunk_logprobs(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    temperature: float,
    softcap: float | None,
    banned: torch.Tensor | None,
) -> torch.Tensor:
    z = _scores(head(hidden), temperature, softcap, banned)
    return (
        z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - _lse_and_entropy(z, banned, with_entropy=False)[0]
    )


class _LinearHeadLogprobs(torch.autograd.Function):
    """Chunked log-probabilities (and entropies) through a plain linear head, with a hand-written
    backward that keeps at most two ``[chunk, V]`` float32 tensors alive and accumulates the
    weight gradient into one buffer (autograd's per-chunk graph would add a ``[V, H]`` gradient
    and several ``[chunk, V]`` copies per chunk).

    With ``s = (h W^T + b) / T`` (banned columns at the float32 minimum), ``p = softmax(s)``:
    ``d logprob / d s = onehot(target) - p`` and ``d H / d s = -p * (log p + H)``; the logits
    get ``(that) / T``, zero on banned columns.

    The matrix products run in ``dtype`` (``chunked_token_logprobs``'s compute dtype: bfloat16
    products over float32 weights under mixed precision), forward and backward alike; the weight
    gradient is summed over chunks in float32 and returned in the weights' dtype.
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_size, temperature, banned, with_entropy, dtype):
        ctx.compute_dtype = dtype
        w = weight.to(dtype)  # [V, H]; the weight itself in its own dtype
        b = None if bias is None else bias.to(dtype)
        n = hidden.shape[0]
        logprobs = torch.empty(n, dtype=torch.float32, device=hidden.device)
        entropy = torch.empty(n, dtype=torch.float32, device=hidden.device)
        lse_all = torch.empty(n, dtype=torch.float32, device=hidden.device)
        for start in range(0, n, chunk_size):
            sl = slice(start, start + chunk_size)
            z = _scores(torch.nn.functional.linear(hidden[sl].to(dtype), w, b), temperature, None, banned)
            lse, chunk_entropy = _lse_and_entropy(z, banned, with_entropy)
            lse_all[sl] = lse
            logprobs[sl] = z.gather(-1, targets[sl].unsqueeze(-1)).squeeze(-1) - lse
            if chunk_entropy is not None:
                entropy[sl] = chunk_entropy
            del z
        ctx.save_for_backward(hidden, weight, bias, targets, lse_all, entropy)
        ctx.chunk_size, ctx.temperature, ctx.banned, ctx.with_entropy = (
            chunk_size,
            temperature,
            banned,
            with_entropy,
        )
        return logprobs, entropy

    @staticmethod
    def backward(ctx, grad_logprobs, grad_entropy):
        hidden, weight, bias, targets, lse_all, entropy = ctx.saved_tensors
        want_h, want_w, want_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        dtype = ctx.compute_dtype
        w = weight.to(dtype)  # [V, H]; the weight itself when no autocast
        b = None if bias is None else bias.to(dtype)
        grad_h = torch.empty_like(hidden) if want_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_w else None
        grad_b = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if want_b else None
        rows = torch.arange(min(ctx.chunk_size, hidden.shape[0]), device=hidden.device)
        for start in range(0, hidden.shape[0], ctx.chunk_size):
            sl = slice(start, start + ctx.chunk_size)
            h = hidden[sl].to(dtype)
            g = _scores(torch.nn.functional.linear(h, w, b), ctx.temperature, None, ctx.banned)
            g.sub_(lse_all[sl].unsqueeze(-1))  # log p
            p = g.exp()
            if ctx.with_entropy and grad_entropy is not None:
                # -gH * p * (log p + H), built in place in g
                g.add_(entropy[sl].unsqueeze(-1)).mul_(p).mul_(-grad_entropy[sl].unsqueeze(-1))
            else:
                g.zero_()
            if grad_logprobs is not None:
                gl = grad_logprobs[sl]
                g.sub_(p.mul_(gl.unsqueeze(-1)))
                g[rows[: h.shape[0]], targets[sl]] += gl
            del p
            if ctx.banned is not None and ctx.banned.numel():
                g.index_fill_(-1, ctx.banned.to(g.device), 0.0)
            if ctx.temperature != 1.0:
                g.div_(ctx.temperature)
            g = g.to(dtype)
            if want_h:
                grad_h[sl] = (g @ w).to(grad_h.dtype)
            if want_w:
                if dtype == torch.float32:
                    grad_w.addmm_(g.t(), h)
                else:  # a bfloat16 product (float32 accumulation inside), summed over chunks in float32
                    grad_w.add_(g.t() @ h)
            if want_b:
                grad_b.add_(g.float().sum(0))
            del g
        grad_w = grad_w.to(weight.dtype) if want_w else None
        grad_b = grad_b.to(bias.dtype) if want_b else None
        return grad_h, grad_w, grad_b, None, None, None, None, None, None


def _in_dtype(
    head: Callable[[torch.Tensor], torch.Tensor], dtype: torch.dtype | None, device_type: str
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``head`` computing in ``dtype``: a plain linear head casts its weights (without a grad,
    this is the no-grad path), any other head runs under autocast to ``dtype``."""
    params = list(getattr(head, "parameters", list)())
    if dtype is None or all(p.dtype == dtype for p in params):
        return head
    if _plain_linear(head) and not torch.is_grad_enabled():
        w = head.weight.to(dtype)
        b = None if head.bias is None else head.bias.to(dtype)
        return lambda h: torch.nn.functional.linear(h.to(dtype), w, b)
    if torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == dtype:
        return head

    def autocast_head(h: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type, dtype=dtype):
            return head(h)

    return autocast_head


def _plain_linear(head: Any) -> bool:
    """True for an ``nn.Linear`` head with ordinary (not sharded, not adapter-wrapped) weights."""
    if type(head) is not torch.nn.Linear:
        return False
    return type(head.weight.data) is torch.Tensor


def chunked_token_logprobs(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    *,
    chunk_size: int = 256,
    temperature: float = 1.0,
    softcap: float | None = None,
    banned_token_ids: tuple[int, ...] | list[int] | None = None,
    with_entropy: bool = False,
    compute_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The same values as ``token_logprobs_from_logits(head(hidden), targets, ...)``, chunk by chunk.

    The rows of ``hidden`` are processed ``chunk_size`` at a time: ``z = float32(head(h)) / T``,
    ``logprob = z[target] - logsumexp(z)``, ``entropy = logsumexp(z) - sum_v softmax(z)_v z_v``.
    Under autograd, a plain ``nn.Linear`` head goes through a hand-written backward that
    recomputes each chunk's logits and accumulates the weight gradient in one buffer; any other
    head (adapters, sharded weights, soft-capping) runs each chunk inside
    ``torch.utils.checkpoint``. Either way only the chunk's inputs are saved, and the gradients
    equal those of the unchunked computation.

    Args:
        hidden: ``[N, H]`` final hidden states of the positions that predict ``targets``.
        targets: ``[N]`` token ids.
        head: the output projection (``model.get_output_embeddings()``), ``[C, H] -> [C, V]``.
        chunk_size: rows per chunk; bounds the float32 logits alive at once to ``chunk_size x V``.
        temperature: divides the logits; must be > 0.
        softcap: the model's final-logit soft-capping value, or ``None``.
        banned_token_ids: token ids excluded from the distribution (see the reference function).
        with_entropy: also return per-row entropies.
        compute_dtype: the dtype of the head's matrix products (the trainer's mixed-precision
            dtype, so the head computes like the body under autocast); ``None`` uses the autocast
            dtype when autocast is on, else the head weights' dtype. The softmax is float32 either way.

    Returns:
        ``(logprobs [N], entropy [N] or None)``, float32.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 for log-probabilities, got {temperature}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if hidden.shape[0] != targets.shape[0]:
        raise ValueError(f"hidden has {hidden.shape[0]} rows but targets has {targets.shape[0]}")
    banned = _banned_tensor(banned_token_ids)
    if banned is not None:
        banned = banned.to(hidden.device)
    needs_grad = torch.is_grad_enabled() and (
        hidden.requires_grad or any(p.requires_grad for p in getattr(head, "parameters", list)())
    )
    device_type = hidden.device.type
    if compute_dtype is None and torch.is_autocast_enabled(device_type):
        compute_dtype = torch.get_autocast_dtype(device_type)
    if needs_grad and softcap is None and _plain_linear(head) and hidden.shape[0] > 0:
        dtype = compute_dtype or head.weight.dtype
        logprobs, entropy = _LinearHeadLogprobs.apply(
            hidden, head.weight, head.bias, targets, chunk_size, temperature, banned, with_entropy, dtype
        )
        return logprobs, (entropy if with_entropy else None)
    head = _in_dtype(head, compute_dtype, device_type)
    use_checkpoint = needs_grad
    logprob_parts: list[torch.Tensor] = []
    entropy_parts: list[torch.Tensor] = []
    for start in range(0, hidden.shape[0], chunk_size):
        h = hidden[start : start + chunk_size]
        t = targets[start : start + chunk_size]
        fn = _chunk_logprobs_entropy if with_entropy else _chunk_logprobs
        if use_checkpoint:
            out = checkpoint(fn, h, t, head, temperature, softcap, banned, use_reentrant=False)
        else:
            out = fn(h, t, head, temperature, softcap, banned)
        if with_entropy:
            logprob_parts.append(out[0])
            entropy_parts.append(out[1])
        else:
            logprob_parts.append(out)
    if not logprob_parts:
        empty = hidden.new_zeros(0, dtype=torch.float32)
        return empty, (empty if with_entropy else None)
    logprobs = torch.cat(logprob_parts)
    return logprobs, (torch.cat(entropy_parts) if with_entropy else None)
