"""A scripted rollout engine for evaluation tests: no model, deterministic answers, counted calls."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from mmrl.types import Example, Rollout


def math_example(
    i: int, answer: str | None = None, category: str | None = None, task: str = "math"
) -> Example:
    meta = {} if category is None else {"category": category}
    return Example(id=f"p{i}", task=task, prompt=f"What is {i} + 1?", answer=answer or str(i + 1), meta=meta)


class ScriptedEngine:
    """Answers right with probability ``accuracy`` (seeded per example and sample), else ``\\boxed{-1}``.

    ``calls`` holds the example ids of every ``generate`` call, so tests can count what was generated.
    """

    name = "scripted"

    def __init__(self, accuracy: float = 0.5, truncate_every: int = 0):
        self.accuracy = accuracy
        self.truncate_every = truncate_every
        self.calls: list[list[str]] = []

    @property
    def generated_ids(self) -> list[str]:
        return [i for call in self.calls for i in call]

    def generate(self, prompts: Sequence[Any], n: int, sampling: Any) -> list[Rollout]:
        examples = [p if isinstance(p, Example) else p.example for p in prompts]
        self.calls.append([e.id for e in examples])
        out = []
        for ex in examples:
            for j in range(n):
                rng = random.Random(f"{sampling.seed}/{ex.id}/{j}")
                right = rng.random() < self.accuracy
                text = f"<think>ok</think> \\boxed{{{ex.answer if right else -1}}}"
                finish = "length" if self.truncate_every and j % self.truncate_every == 0 else "stop"
                out.append(Rollout(ex, j, (1, 2), tuple(range(len(text) // 4)), text, finish))
        return out

    def sync_weights(self, model: Any) -> float:
        return 0.0

    def close(self) -> None:
        pass
