"""Which training prompts each step sees: a seeded, resumable walk over the examples.

``PromptSampler`` deals out the examples epoch by epoch. With ``shuffle`` each epoch is a
permutation drawn from ``(seed, epoch)`` alone, so the order never depends on what else consumed
random numbers, and the whole position is two integers (``epoch``, ``index``) that a checkpoint
stores. A batch that reaches the end of an epoch takes the rest of it and continues with the next
epoch's order, so every example is seen once per epoch and no batch is short.

Under data parallelism every rank draws the same global batch and keeps its own shard
(``shard_for_rank``): ranks never need to agree on anything but the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import torch

__all__ = ["PromptSampler", "shard_for_rank"]

T = TypeVar("T")


class PromptSampler(Generic[T]):
    """Deterministic batches of ``items`` (``next_batch``), with ``state_dict``/``load_state_dict``.

    Args:
        items: The training examples (any sequence; never copied).
        seed: Seeds each epoch's permutation (``trainer.seed``).
        shuffle: Permute each epoch (``data.shuffle``); otherwise the items' order, repeated.
    """

    def __init__(self, items: Sequence[T], seed: int, shuffle: bool = True):
        if len(items) == 0:
            raise ValueError("the training set is empty: no prompts to sample")
        self.items = items
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.index = 0
        self._order: list[int] | None = None

    def _epoch_order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.items)))
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(len(self.items), generator=generator).tolist()

    def next_batch(self, count: int) -> list[T]:
        """The next ``count`` items, crossing into the next epoch when this one runs out."""
        if count < 1:
            raise ValueError(f"count={count} must be >= 1")
        out: list[T] = []
        while len(out) < count:
            if self._order is None:
                self._order = self._epoch_order(self.epoch)
            take = self._order[self.index : self.index + count - len(out)]
            out.extend(self.items[i] for i in take)
            self.index += len(take)
            if self.index >= len(self._order):
                self.epoch += 1
                self.index = 0
                self._order = None
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "index": self.index, "seed": self.seed, "size": len(self.items)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; a different dataset size or seed is an error."""
        if state["size"] != len(self.items) or state["seed"] != self.seed:
            raise ValueError(
                f"the checkpoint's data position is for {state['size']} training examples and seed "
                f"{state['seed']}, but this run has {len(self.items)} examples and seed {self.seed}; "
                "resume with the same data.* and trainer.seed, or start fresh with trainer.resume=never"
            )
        self.epoch, self.index = int(state["epoch"]), int(state["index"])
        self._order = None


def shard_for_rank(items: Sequence[T], rank: int, world_size: int) -> list[T]:
    """Rank ``rank``'s share of a global batch: ``items[rank::world_size]``.

    >>> shard_for_rank(list("abcdef"), 1, 2)
    ['b', 'd', 'f']
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must be in 0..world_size-1={world_size - 1}")
    return list(items[rank::world_size])
