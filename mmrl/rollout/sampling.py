"""Sampling settings shared by every engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Sampling"]


@dataclass(frozen=True)
class Sampling:
    """How to sample responses; the same meaning in every engine.

    Attributes:
        temperature: Divides the logits; 0 means greedy decoding.
        top_p: Nucleus threshold; 1.0 disables it.
        top_k: Keep the k most likely tokens; 0 disables it.
        max_new_tokens: Response budget in tokens; a response that reaches it ends with
            ``finish_reason="length"``.
        stop: Extra stop strings; the response (ids and text) includes the stop string, and
            ends with ``finish_reason="stop"``, as on the end-of-sequence token.
        seed: Seeds the sampling of one ``generate`` call (same seed, same inputs, same
            samples on one engine and device); ``None`` draws from the global generator.
        logprobs: Return each sampled token's log-probability (training needs them; evaluation
            does not, and on vLLM they cost a full-vocabulary log-softmax per token).

    The per-token log-probabilities the engines return are those of the distribution actually
    sampled from: ``log softmax((logits + ban) / temperature)`` restricted to the top-k/top-p
    set, where ``ban`` is ``-inf`` on the vision placeholder tokens. With ``top_p=1`` and
    ``top_k=0`` this is exactly what the trainer's ``policy.logprobs(batch, temperature=...)``
    computes (it excludes the same banned tokens); greedy decoding reports temperature-1
    log-probabilities.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 512
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None
    logprobs: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.stop, (list, str)):
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str) else tuple(self.stop))
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature} must be >= 0 (0 means greedy)")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p={self.top_p} must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError(f"top_k={self.top_k} must be >= 0 (0 disables it)")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens={self.max_new_tokens} must be >= 1")
        if any(not s for s in self.stop):
            raise ValueError("stop strings must be non-empty")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def logprob_temperature(self) -> float:
        """The temperature the trainer re-scores with to match the engine's log-probabilities."""
        return 1.0 if self.greedy else self.temperature

    @classmethod
    def from_rollout(cls, rollout: Any, seed: int | None = None, *, logprobs: bool = True) -> Sampling:
        """Sampling from ``cfg.rollout``; training keeps the log-probabilities (the sync probe and
        the importance ratio read them), evaluation passes ``logprobs=False``."""
        return cls(
            temperature=rollout.temperature,
            top_p=rollout.top_p,
            top_k=rollout.top_k,
            max_new_tokens=rollout.max_new_tokens,
            stop=tuple(rollout.stop),
            seed=seed,
            logprobs=logprobs,
        )

    @classmethod
    def from_eval(cls, eval_cfg: Any, rollout: Any, seed: int | None = None) -> Sampling:
        """Evaluation sampling from ``cfg.eval`` (budget and stop strings fall back to ``cfg.rollout``)."""
        max_new = eval_cfg.max_new_tokens if eval_cfg.max_new_tokens is not None else rollout.max_new_tokens
        return cls(
            temperature=eval_cfg.temperature,
            top_p=eval_cfg.top_p,
            top_k=0,
            max_new_tokens=max_new,
            stop=tuple(rollout.stop),
            seed=seed,
            logprobs=False,
        )
