"""Prompt templates (Jinja, in ``data_recipes/templates/``) and rendering into chat messages.

A template turns a problem into the user's text. It sees these variables:

* ``question``: the problem text, with ``<image>`` / ``<imageN>`` markers where images go;
* ``choices``: the option texts (an empty list for free-form problems), ``letters``: ``A``, ``B``, ...;
* ``task``: the verifier name; ``meta``: the example's extras (``meta.level``, ``meta.unit``, ...).

``data.template`` (or ``template=``) is a template name (``mmrl data list`` prints them) or the
path of a ``.jinja`` file. Undefined variables are errors, not empty strings.

The rendered text becomes one user message. Without images its content is the text; with images
the content is a list of parts: one ``{"type": "image"}`` per image at the positions of the
markers, text parts in between (stripped, empty ones dropped), or all images first and then the
text when the question has no markers. Numbered markers (MathVision's ``<image1>``) refer to
images by number, so the images are reordered into the order their markers appear.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmrl.errors import UserError
from mmrl.types import Message

__all__ = [
    "IMAGE_MARKER",
    "PlaceholderMismatch",
    "build_messages",
    "count_image_markers",
    "list_templates",
    "load_template",
    "render_text",
]

#: ``<image>`` or ``<imageN>`` (N >= 1): where an image goes in a question.
IMAGE_MARKER = re.compile(r"<image(\d*)>")


class PlaceholderMismatch(ValueError):
    """The question's image markers do not match its images (count, or numbering)."""


def _template_dir() -> Path:
    import data_recipes

    # __path__ rather than __file__: an editable install may present the package as a namespace.
    for root in data_recipes.__path__:
        if (Path(root) / "templates").is_dir():
            return Path(root) / "templates"
    raise RuntimeError(f"data_recipes/templates is missing from {list(data_recipes.__path__)}")


def list_templates() -> list[str]:
    """Names of the built-in templates (``data_recipes/templates/*.jinja``)."""
    return sorted(p.stem for p in _template_dir().glob("*.jinja"))


@functools.lru_cache(maxsize=64)
def load_template(name_or_path: str) -> Any:
    """A compiled Jinja template from a built-in name or a ``.jinja`` file path."""
    import jinja2

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False, trim_blocks=True
    )
    path = Path(name_or_path).expanduser()
    looks_like_path = name_or_path.endswith((".jinja", ".j2", ".txt")) or "/" in name_or_path
    if not looks_like_path:
        path = _template_dir() / f"{name_or_path}.jinja"
        if not path.is_file():
            raise UserError(
                f"data.template={name_or_path!r} is not a built-in template ({', '.join(list_templates())}); "
                "give a name from that list or the path of a .jinja file"
            )
    elif not path.is_file():
        raise UserError(f"data.template={name_or_path!r}: template file {path} does not exist")
    try:
        return env.from_string(path.read_text(encoding="utf-8"))
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"data.template: {path} line {exc.lineno}: {exc.message}") from None


def render_text(
    template: Any,
    *,
    question: str,
    choices: Sequence[str] | None = None,
    task: str = "math",
    meta: dict[str, Any] | None = None,
) -> str:
    """The user text ``template`` makes of one problem (surrounding whitespace stripped).

    >>> render_text(load_template("math_cot_boxed"), question="What is 2+3?")
    'What is 2+3?\\nPlease reason step by step, and put your final answer within \\\\boxed{}.'
    """
    import jinja2

    choices = list(choices or [])
    try:
        text = template.render(
            question=question,
            choices=choices,
            letters=list(string.ascii_uppercase[: len(choices)]),
            task=task,
            meta=meta or {},
        )
    except jinja2.UndefinedError as exc:
        raise UserError(
            f"data.template: {exc.message}; the variables are question, choices, letters, task, meta"
        ) from None
    return text.strip()


def count_image_markers(text: str) -> int:
    return len(IMAGE_MARKER.findall(text))


def build_messages(text: str, images: Sequence[Any]) -> tuple[list[Message], tuple[Any, ...]]:
    """``(messages, images in marker order)`` for a rendered text and its images.

    Raises ``PlaceholderMismatch`` when the markers and the images disagree.

    >>> msgs, imgs = build_messages("<image>Find x.", ["img0"])
    >>> msgs
    [{'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'Find x.'}]}]
    >>> build_messages("Add 2 and 3.", [])[0]
    [{'role': 'user', 'content': 'Add 2 and 3.'}]
    """
    markers = list(IMAGE_MARKER.finditer(text))
    images = tuple(images)
    if not images:
        if markers:
            raise PlaceholderMismatch(
                f"the question has {len(markers)} image marker(s) but the row has no image"
            )
        return [{"role": "user", "content": text}], ()
    if not markers:
        parts: list[dict[str, Any]] = [{"type": "image"} for _ in images]
        if text.strip():
            parts.append({"type": "text", "text": text.strip()})
        return [{"role": "user", "content": parts}], images
    if len(markers) != len(images):
        raise PlaceholderMismatch(
            f"the question has {len(markers)} image marker(s) ({', '.join(m.group(0) for m in markers)}) "
            f"but the row has {len(images)} image(s)"
        )
    ordered = _images_in_marker_order(markers, images)
    parts = []
    pos = 0
    for m in markers:
        chunk = text[pos : m.start()].strip()
        if chunk:
            parts.append({"type": "text", "text": chunk})
        parts.append({"type": "image"})
        pos = m.end()
    tail = text[pos:].strip()
    if tail:
        parts.append({"type": "text", "text": tail})
    return [{"role": "user", "content": parts}], ordered


def _images_in_marker_order(markers: list[re.Match[str]], images: tuple[Any, ...]) -> tuple[Any, ...]:
    numbers = [m.group(1) for m in markers]
    if not any(numbers):
        return images
    if not all(numbers):
        raise PlaceholderMismatch("the question mixes <image> and numbered <imageN> markers")
    indices = [int(n) for n in numbers]
    if sorted(indices) != list(range(1, len(images) + 1)):
        raise PlaceholderMismatch(
            f"numbered markers {[f'<image{i}>' for i in indices]} do not name images 1..{len(images)} once each"
        )
    return tuple(images[i - 1] for i in indices)
