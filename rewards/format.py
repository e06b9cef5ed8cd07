"""The format check: a thought in ``<think>..</think>``, then exactly one final answer.

``format_score(response)`` is 1.0 when all of these hold, else 0.0:

* exactly one ``</think>``, and at most one ``<think>``; when present, ``<think>`` opens the
  response (only whitespace before it). A response without ``<think>`` but with ``</think>`` is
  accepted: chat templates that prefill ``<think>`` in the prompt (TRL#6966) would otherwise
  score 0 on every sample;
* the thought is not empty;
* after ``</think>`` there is exactly one final answer by the rules of
  ``rewards.extraction`` (one distinct candidate; none means no answer, several mean a hedge).

``rewards.score`` combines it with accuracy as ``accuracy_weight * accuracy + format_weight *
format`` (0.9/0.1 by default, as EasyR1's math reward and the A-GRAE Geometry3K runs). The
registered ``format`` verifier returns the format score as its accuracy, for format-only rewards.
"""

from __future__ import annotations

from mmrl.types import Example, Score
from rewards.extraction import THINK_CLOSE_RE, THINK_OPEN_RE, extract_answer
from rewards.registry import register_verifier
from rewards.verdicts import judged

__all__ = ["format_score", "think_format"]


def format_score(response: str) -> float:
    """1.0 for ``<think>thought</think>`` followed by one final answer, else 0.0.

    >>> format_score("<think>2+2=4</think> \\\\boxed{4}"), format_score("\\\\boxed{4}")
    (1.0, 0.0)
    >>> format_score("2+2=4</think> The answer is 4.")  # <think> prefilled by the chat template
    1.0
    """
    closes = list(THINK_CLOSE_RE.finditer(response))
    if len(closes) != 1:
        return 0.0
    close = closes[0]
    head = response[: close.start()]
    opens = list(THINK_OPEN_RE.finditer(response))
    if len(opens) > 1:
        return 0.0
    if opens:
        opening = opens[0]
        if opening.start() > close.start() or head[: opening.start()].strip():
            return 0.0
        thought = head[opening.end() :]
    else:
        thought = head
    if not thought.strip():
        return 0.0
    found = extract_answer(response[close.end() :])
    return 1.0 if found.answer is not None and len(found.candidates) == 1 else 0.0


@register_verifier("format")
def think_format(response: str, example: Example) -> Score:
    """The format score as the accuracy (for a format-only reward); ``example`` is not read."""
    ok = format_score(response) == 1.0
    return judged(ok, None, None if ok else "not <think>..</think> followed by one final answer")
