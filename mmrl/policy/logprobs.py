"""Per-token log-probabilities and entropies without materialising the batch's full logits.

The trainer needs ``log pi(y_t | y_<t, x)`` for every response token. The naive way builds the
logits of the whole micro-batch, ``[B, T, V]``, upcasts them to float32 and applies a log-softmax:
at a 152k vocabulary and 16 x 320 tokens that is 3.1 GB per copy, and autograd keeps several
copies. Here the final hidden states of the response positions are projected through the output
head a chunk of rows at a time; each chunk is wrapped in activation checkpointing when gradients
are needed, so backward recomputes that chunk's logits instead of keeping them. Peak memory is
then about ``chunk_size x V x 4 bytes`` times a small constant, whatever the batch
(``scripts/bench_logprob_memory.py`` measures it).

Both functions below are pure: tensors in, tensors out.
"""

from __future__ import annotations

from collections.abc import Callable

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
    z = _scores(logits, temperature, softcap, _banned_tensor(banned_token_ids))
    logprobs_all = torch.log_softmax(z, dim=-1)
    logprobs = logprobs_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = None
    if with_entropy:
        entropy = -(logprobs_all.exp() * logprobs_all).sum(-1)
    return logprobs, entropy


def _chunk_logprobs_entropy(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    temperature: float,
    softcap: float | None,
    banned: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    z = _scores(head(hidden), temperature, softcap, banned)  # [C, V] float32
    lse = torch.logsumexp(z, dim=-1)  # [C]
    logprobs = z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - lse
    # H = lse - sum_v p_v z_v  (the same as -sum p log p, without a second [C, V] log-softmax)
    entropy = lse - (torch.softmax(z, dim=-1) * z).sum(-1)
    return logprobs, entropy


def _chunk_logprobs(
    hidden: torch.Tensor,
    targets: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    temperature: float,
    softcap: float | None,
    banned: torch.Tensor | None,
) -> torch.Tensor:
    z = _scores(head(hidden), temperature, softcap, banned)
    return z.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(z, dim=-1)


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
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The same values as ``token_logprobs_from_logits(head(hidden), targets, ...)``, chunk by chunk.

    The rows of ``hidden`` are processed ``chunk_size`` at a time: ``z = float32(head(h)) / T``,
    ``logprob = z[target] - logsumexp(z)``, ``entropy = logsumexp(z) - sum_v softmax(z)_v z_v``.
    Under autograd each chunk runs inside ``torch.utils.checkpoint`` (non-reentrant), so only the
    chunk's inputs are saved and backward recomputes its logits; gradients are identical to the
    unchunked computation.

    Args:
        hidden: ``[N, H]`` final hidden states of the positions that predict ``targets``.
        targets: ``[N]`` token ids.
        head: the output projection (``model.get_output_embeddings()``), ``[C, H] -> [C, V]``.
        chunk_size: rows per chunk; bounds the float32 logits alive at once to ``chunk_size x V``.
        temperature: divides the logits; must be > 0.
        softcap: the model's final-logit soft-capping value, or ``None``.
        banned_token_ids: token ids excluded from the distribution (see the reference function).
        with_entropy: also return per-row entropies.

    Returns:
        ``(logprobs [N], entropy [N] or None)``, float32.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0 for log-probabilities, got {temperature}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if hidden.shape[0] != targets.shape[0]:
        raise ValueError(f"hidden has {hidden.shape[0]} rows but targets has {targets.shape[0]}")
    use_checkpoint = torch.is_grad_enabled() and hidden.requires_grad
    banned = _banned_tensor(banned_token_ids)
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
