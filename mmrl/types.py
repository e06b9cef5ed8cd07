"""The three records every stage of mmrl passes along: ``Example``, ``Rollout`` and ``Score``.

They are plain dataclasses with no behaviour beyond small conveniences, so that a data recipe,
a rollout engine, a verifier and the trainer can each be called alone in a test.

Data flow (see DESIGN.md)::

    recipe -> Example -> engine.generate -> Rollout -> verifier -> Score -> advantages -> update
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: What a verifier can say about one response. ``ok`` and ``unparsable_pred`` carry a reward
#: (an unparsable prediction is a wrong answer); the other three mean "could not score" and carry
#: ``reward=None``, which the trainer masks out of group statistics instead of treating as 0.
ScoreStatus = Literal["ok", "unparsable_pred", "unparsable_gold", "timeout", "error"]
SCORE_STATUSES: tuple[str, ...] = ("ok", "unparsable_pred", "unparsable_gold", "timeout", "error")

FinishReason = Literal["stop", "length"]

#: A chat message: ``{"role": "user", "content": "text"}`` or, with images,
#: ``{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "..."}]}``.
Message = dict[str, Any]


@dataclass(frozen=True)
class Example:
    """One prompt with its ground truth.

    Attributes:
        id: Unique within its dataset; used in logs, rollouts files and error messages.
        task: The verifier that scores it (a registered name such as ``"math"`` or ``"chart"``).
        prompt: Either plain text, or chat messages. Images are referenced in order: by
            ``{"type": "image"}`` content parts in messages, or by ``<image>`` markers in text.
        answer: The ground-truth answer as a string (a letter or option text for choice tasks).
        images: The images the prompt refers to, in order: ``PIL.Image.Image`` objects or paths.
        choices: Option texts for multiple-choice items (``choices[0]`` is option ``A``).
        meta: Free-form extras passed to verifiers and kept in reports (e.g. ``category``,
            ``level``, ``precision``, ``rounding``).
    """

    id: str
    task: str
    prompt: str | list[Message]
    answer: str
    images: tuple[Any, ...] = ()
    choices: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Accept lists from callers but store tuples so an Example is safe to share.
        if isinstance(self.images, list):
            object.__setattr__(self, "images", tuple(self.images))
        if isinstance(self.choices, list):
            object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def has_images(self) -> bool:
        return len(self.images) > 0


@dataclass(frozen=True)
class Rollout:
    """One sampled response to one example.

    Attributes:
        example: The prompt it answers.
        sample_index: Which of the ``n`` samples of that example it is (0-based).
        prompt_ids: Token ids of the rendered prompt, image placeholder tokens included; the same
            ids the trainer uses to re-score the response.
        response_ids: Generated token ids, the stop token included when generation stopped on it.
        response_text: The decoded response (special tokens removed).
        finish_reason: ``"stop"`` (end-of-sequence or a stop string) or ``"length"`` (truncated).
        logprobs: The engine's log-probability of each response token under the sampling
            distribution, or ``None`` when the engine did not return them.
    """

    example: Example
    sample_index: int
    prompt_ids: tuple[int, ...]
    response_ids: tuple[int, ...]
    response_text: str
    finish_reason: FinishReason
    logprobs: tuple[float, ...] | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass(frozen=True)
class Score:
    """A verifier's verdict on one response.

    Attributes:
        reward: The scalar reward, or ``None`` when the response could not be scored
            (``status`` in ``unparsable_gold``, ``timeout``, ``error``). A timeout or error carries
            0.0 instead only when the user asked for that (``reward.on_failure=zero``).
        correct: Whether the final answer is right (``None`` when unknown). A-GRAE's success
            rate reads this indicator when it is present.
        status: One of ``SCORE_STATUSES``; says why ``reward`` is what it is.
        components: Named parts of the reward kept for logging, e.g. ``{"accuracy": 1.0,
            "format": 0.0}``.
        extracted: The final answer the verifier read from the response, if any.
        message: A short human-readable reason (parse error, exception text), if any.
    """

    reward: float | None
    correct: bool | None = None
    status: ScoreStatus = "ok"
    components: dict[str, float] = field(default_factory=dict)
    extracted: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.status not in SCORE_STATUSES:
            raise ValueError(f"Score.status must be one of {SCORE_STATUSES}, got {self.status!r}")
        if self.status == "unparsable_gold" and self.reward is not None:
            raise ValueError(f"Score with status {self.status!r} must have reward=None, got {self.reward!r}")
        if self.status in ("timeout", "error") and self.reward not in (None, 0.0):
            # 0.0 only when the user chose reward.on_failure=zero; the status still says why.
            raise ValueError(
                f"Score with status {self.status!r} must have reward=None (or 0.0 under on_failure=zero), "
                f"got {self.reward!r}"
            )
        if self.status in ("ok", "unparsable_pred") and self.reward is None:
            raise ValueError(f"Score with status {self.status!r} needs a float reward, got None")

    @property
    def scorable(self) -> bool:
        return self.reward is not None
