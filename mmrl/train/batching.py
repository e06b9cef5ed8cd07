"""Splitting a step's trajectories into mini-batches (optimizer steps) and micro-batches (passes).

A *mini-batch* is the set of prompts behind one optimizer step (``trainer.mini_batch_prompts``;
all of the step's prompts by default). A *micro-batch* is what one forward/backward pass holds:
at most ``trainer.micro_batch_size`` sequences and, when ``trainer.max_tokens_per_micro_batch`` is
set, at most that many padded tokens. The loss of a mini-batch is the *sum* of its micro-batch
losses, each divided by the mini-batch's global normaliser (``mmrl.algos.loss_normalizer``), so
how the sequences are cut changes nothing but memory and time.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["mini_batch_groups", "plan_micro_batches"]


def mini_batch_groups(num_groups: int, num_mini_batches: int) -> list[range]:
    """Split group indices ``0..num_groups-1`` into ``num_mini_batches`` contiguous, near-equal ranges.

    Every range exists even when empty (data-parallel ranks must take the same number of optimizer
    steps); the first ``num_groups % num_mini_batches`` ranges get one group more.

    >>> mini_batch_groups(5, 2)
    [range(0, 3), range(3, 5)]
    >>> mini_batch_groups(1, 3)
    [range(0, 1), range(1, 1), range(1, 1)]
    """
    if num_mini_batches < 1:
        raise ValueError(f"num_mini_batches={num_mini_batches} must be >= 1")
    base, extra = divmod(num_groups, num_mini_batches)
    out, start = [], 0
    for i in range(num_mini_batches):
        size = base + (1 if i < extra else 0)
        out.append(range(start, start + size))
        start += size
    return out


def plan_micro_batches(
    prompt_lengths: Sequence[int],
    response_lengths: Sequence[int],
    max_rows: int,
    max_tokens: int | None = None,
) -> list[list[int]]:
    """Row indices of each micro-batch, rows sorted longest first so that padding stays small.

    A micro-batch holds at most ``max_rows`` rows and, with ``max_tokens``, at most that many
    padded tokens: ``rows x (longest prompt + longest response)`` among its rows, the size of the
    tensors ``policy.collate`` builds. A single row longer than ``max_tokens`` gets a micro-batch
    of its own (it cannot be split).

    >>> plan_micro_batches([5, 5, 5, 5], [10, 1, 30, 2], max_rows=2)
    [[2, 0], [3, 1]]
    >>> plan_micro_batches([5, 5, 5], [10, 1, 30], max_rows=8, max_tokens=40)
    [[2], [0, 1]]
    """
    if len(prompt_lengths) != len(response_lengths):
        raise ValueError(f"{len(prompt_lengths)} prompt lengths but {len(response_lengths)} response lengths")
    if max_rows < 1 or (max_tokens is not None and max_tokens < 1):
        raise ValueError(f"max_rows={max_rows} and max_tokens={max_tokens} must be >= 1")
    order = sorted(range(len(prompt_lengths)), key=lambda i: (-(prompt_lengths[i] + response_lengths[i]), i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest_prompt = longest_response = 0
    for i in order:
        p = max(longest_prompt, prompt_lengths[i])
        r = max(longest_response, response_lengths[i])
        fits = len(current) < max_rows and (max_tokens is None or (len(current) + 1) * (p + r) <= max_tokens)
        if current and not fits:
            batches.append(current)
            current, p, r = [], prompt_lengths[i], response_lengths[i]
        current.append(i)
        longest_prompt, longest_response = p, r
    if current:
        batches.append(current)
    return batches
