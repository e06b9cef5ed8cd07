"""Text helpers of the pages: a response split into folded reasoning and its answer part, the
extracted answer marked in it, a prompt as message parts, and numbers as short text.

Every function returns plain values or ``markupsafe.Markup`` built from escaped pieces: a
response is model output and is never trusted as HTML.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

__all__ = ["MessagePart", "fmt", "mark_answer", "prompt_messages", "split_reasoning"]

#: A response longer than this many lines shows only its last ``_TAIL_LINES`` unfolded.
_FOLD_LINES = 6
_TAIL_LINES = 3
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_IMAGE_MARKER = "<image>"


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell: ``-`` for missing or NaN, an ``int`` as it is, a float with
    ``digits`` decimals (scientific notation when that would show nothing but zeros).

    >>> fmt(0.12345), fmt(3), fmt(1.0), fmt(None), fmt(float("nan")), fmt(-0.5, 2), fmt(2e-7)
    ('0.123', '3', '1.000', '-', '-', '-0.50', '2.0e-07')
    """
    if value is None or isinstance(value, str):
        return "-" if value is None else value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and abs(value) < 0.5 * 10**-digits:
        return f"{value:.1e}"
    return f"{value:.{digits}f}"


def split_reasoning(response: str) -> tuple[str | None, str]:
    """``(reasoning, rest)``: what a reader folds, and what stays open.

    A ``<think>...</think>`` block is the reasoning (an unclosed one runs to the end); otherwise a
    response of more than 6 lines folds all but its last 3. ``reasoning`` is ``None`` when nothing
    is folded.

    >>> split_reasoning("<think>2+2 is 4</think> \\\\boxed{4}")
    ('2+2 is 4', ' \\\\boxed{4}')
    >>> split_reasoning("short answer: 4")
    (None, 'short answer: 4')
    """
    match = _THINK.search(response)
    if match:
        rest = response[: match.start()] + response[match.end() :]
        return match.group(1).strip("\n"), rest
    lines = response.splitlines()
    if len(lines) > _FOLD_LINES:
        return "\n".join(lines[:-_TAIL_LINES]), "\n".join(lines[-_TAIL_LINES:])
    return None, response


def mark_answer(text: str, extracted: str | None) -> Markup:
    """``text`` escaped, with the last occurrence of the extracted answer in ``<mark>``.

    >>> str(mark_answer("x < 3, so 3", "3"))
    'x &lt; 3, so <mark>3</mark>'
    """
    if extracted:
        at = text.rfind(extracted)
        if at >= 0:
            end = at + len(extracted)
            return (
                escape(text[:at])
                + Markup("<mark>")
                + escape(text[at:end])
                + Markup("</mark>")
                + escape(text[end:])
            )
    return escape(text)


@dataclass(frozen=True)
class MessagePart:
    """A piece of a prompt: text, or the image with this index in the prompt's images."""

    text: str | None = None
    image: int | None = None


def _parts_of_text(text: str, next_image: int) -> tuple[list[MessagePart], int]:
    parts: list[MessagePart] = []
    pieces = text.split(_IMAGE_MARKER)
    for i, piece in enumerate(pieces):
        if i > 0:
            parts.append(MessagePart(image=next_image))
            next_image += 1
        if piece:
            parts.append(MessagePart(text=piece))
    return parts, next_image


def prompt_messages(prompt: Any, image_count: int) -> list[tuple[str, list[MessagePart]]]:
    """``[(role, parts)]`` of ``Example.prompt`` (text, or chat messages with ``{"type": "image"}``
    parts or ``<image>`` markers), images numbered in order; images the prompt does not place are
    appended to the last message.

    >>> [(r, [(p.text, p.image) for p in ps]) for r, ps in prompt_messages("<image>Area?", 1)]
    [('user', [(None, 0), ('Area?', None)])]
    """
    if prompt is None:
        messages: list[Any] = []
    elif isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = list(prompt)
    out: list[tuple[str, list[MessagePart]]] = []
    next_image = 0
    for message in messages:
        if not isinstance(message, dict):
            out.append(("?", [MessagePart(text=str(message))]))
            continue
        content = message.get("content")
        parts: list[MessagePart] = []
        if isinstance(content, str):
            parts, next_image = _parts_of_text(content, next_image)
        elif isinstance(content, list):
            for item in content:
                kind = item.get("type") if isinstance(item, dict) else None
                if kind == "image":
                    parts.append(MessagePart(image=next_image))
                    next_image += 1
                elif kind == "text":
                    more, next_image = _parts_of_text(str(item.get("text", "")), next_image)
                    parts.extend(more)
                else:
                    parts.append(MessagePart(text=str(item)))
        elif content is not None:
            parts.append(MessagePart(text=str(content)))
        out.append((str(message.get("role", "?")), parts))
    if next_image < image_count:
        if not out:
            out.append(("user", []))
        out[-1][1].extend(MessagePart(image=i) for i in range(next_image, image_count))
    return out
