"""The memory pre-flight: on CUDA, one forward and backward at the worst case before step 1.

The largest thing a step trains on is a micro-batch of ``trainer.micro_batch_size`` rows (fewer
under ``trainer.max_tokens_per_micro_batch``), each a prompt of ``data.max_prompt_length`` tokens
and a response of ``rollout.max_new_tokens``, every row with its own prompt (no prompt sharing).
``memory_preflight`` runs exactly that, on random token ids, through the same ``policy.logprobs``
and ``accelerator.backward`` as the update, then drops the gradients. An out-of-memory error there,
minutes before the first long step would have hit it, becomes a ``UserError`` naming the settings
that lower the peak. Images are not part of it: a vision-language model's vision tower adds to
the peak measured here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from mmrl.errors import UserError
from mmrl.policy.base import Batch

log = logging.getLogger(__name__)

__all__ = ["PreflightError", "WorstCase", "memory_preflight", "worst_case"]


class PreflightError(UserError):
    """The worst-case micro-batch does not fit in device memory."""


@dataclass(frozen=True)
class WorstCase:
    """The largest micro-batch a step can build: ``rows`` x (``prompt_length`` + ``response_length``)."""

    rows: int
    prompt_length: int
    response_length: int

    @property
    def tokens(self) -> int:
        return self.rows * (self.prompt_length + self.response_length)


def worst_case(
    micro_batch_size: int, max_tokens_per_micro_batch: int | None, prompt_length: int, response_length: int
) -> WorstCase:
    """The worst-case micro-batch under the token cap (at least one row: a row is never split).

    >>> worst_case(16, 4096, 512, 512).rows, worst_case(16, None, 512, 512).rows, worst_case(4, 10, 512, 512).rows
    (4, 16, 1)
    """
    rows = micro_batch_size
    if max_tokens_per_micro_batch is not None:
        rows = max(1, min(rows, max_tokens_per_micro_batch // (prompt_length + response_length)))
    return WorstCase(rows, prompt_length, response_length)


def _synthetic_batch(policy: Any, case: WorstCase, device: torch.device) -> Batch:
    vocab = int(policy.model.get_input_embeddings().num_embeddings)
    generator = torch.Generator().manual_seed(0)
    width = case.prompt_length + case.response_length
    input_ids = torch.randint(0, vocab, (case.rows, width), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    model_inputs = {} if policy.is_vision else {"position_ids": torch.arange(width).expand(case.rows, width)}
    return Batch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        response_ids=input_ids[:, case.prompt_length :].clone(),
        response_mask=torch.ones(case.rows, case.response_length),
        prompt_length=case.prompt_length,
        model_inputs=model_inputs,
    ).to(device)


def _fixes(
    case: WorstCase,
    micro_batch_size: int,
    gradient_checkpointing: bool,
    colocated: bool,
    logprob_chunk_size: int,
) -> str:
    fixes = [
        f"trainer.micro_batch_size={max(1, micro_batch_size // 2)} (now {micro_batch_size})",
        f"trainer.max_tokens_per_micro_batch={max(1, case.tokens // 2)} (now {case.tokens} tokens at most)",
    ]
    if not gradient_checkpointing:
        fixes.append("model.gradient_checkpointing=true (recompute activations in the backward pass)")
    fixes.append(f"a smaller model.logprob_chunk_size (now {logprob_chunk_size}: the logits held at once)")
    fixes.append(
        f"a shorter data.max_prompt_length or rollout.max_new_tokens (now {case.prompt_length} + "
        f"{case.response_length})"
    )
    if colocated:
        fixes.append("a lower rollout.gpu_memory_utilization (the vLLM engine shares this GPU)")
    return "; ".join(fixes)


def memory_preflight(
    policy: Any,
    accelerator: Any,
    case: WorstCase,
    *,
    micro_batch_size: int,
    gradient_checkpointing: bool = False,
    colocated: bool = False,
    force: bool = False,
) -> int | None:
    """Run the worst-case forward/backward once; return the peak bytes allocated (CUDA), else ``None``.

    Skipped (``None``) off CUDA unless ``force`` (tests run it on CPU). Every rank runs it (the
    backward of a data-parallel model is collective). Gradients are dropped afterwards and the
    parameters are not touched. An out-of-memory error raises ``PreflightError`` with the settings
    that lower the peak.
    """
    device = accelerator.device
    cuda = torch.device(device).type == "cuda"
    if not (cuda or force):
        return None
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model = policy.model
    try:
        batch = _synthetic_batch(policy, case, device)
        with accelerator.autocast():
            logprobs, _ = policy.logprobs(batch)
        accelerator.backward(logprobs.float().mean())
    except torch.cuda.OutOfMemoryError as exc:
        raise PreflightError(
            f"the worst-case micro-batch of this run does not fit in GPU memory: {case.rows} rows x "
            f"({case.prompt_length} prompt + {case.response_length} response tokens), one forward and backward "
            f"before step 1 ({str(exc).splitlines()[0][:200]}). Lower the peak with: "
            + _fixes(case, micro_batch_size, gradient_checkpointing, colocated, policy.logprob_chunk_size)
            + ". trainer.preflight=false skips this check"
        ) from None
    finally:
        model.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.empty_cache()
    if not cuda:
        return None
    peak = int(torch.cuda.max_memory_allocated(device))
    total = torch.cuda.get_device_properties(device).total_memory
    log.info(
        "memory pre-flight: %d x (%d + %d) tokens, peak %.1f GiB of %.1f GiB",
        case.rows,
        case.prompt_length,
        case.response_length,
        peak / 2**30,
        total / 2**30,
    )
    return peak
