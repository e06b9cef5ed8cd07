"""Geometry3K as converted by EasyR1 (``hiyouga/geometry3k``): train 2,101, validation 300, test 601.

Schema: ``images`` (a list with one image), ``problem`` (``"<image>" + text``, no choices in it),
``answer`` (the value of the correct choice in InterGPS LaTeX, e.g. ``2 \\sqrt { 221 }``), and,
when present, ``id``, ``choices`` (4 option values) and ``ground_truth`` (the correct letter).
The gold is ``answer`` (free-form, scored by the ``geometry`` verifier) as in EasyR1 and verl;
``choices`` and ``ground_truth`` are kept for reports. When the problem asks for rounding ("Round to
the nearest tenth."), ``meta["rounding"]`` holds the decimal places for the verifier's tolerance. The default prompt is the A-GRAE paper's
Geo3K template (think in ``<think>``, answer in ``\\boxed{}``).
"""

from __future__ import annotations

from typing import Any

from data_recipes._text import rounding_places
from mmrl.data.recipes import Recipe, RecipeContext, RowFields, answer_text, register_recipe


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    choices = row.get("choices")
    meta: dict[str, Any] = {}
    if row.get("ground_truth") is not None:
        meta["ground_truth"] = row["ground_truth"]
    places = rounding_places(row["problem"] or "")
    if places is not None:
        meta["rounding"] = places
    return RowFields(
        question=row["problem"],
        answer=answer_text(row["answer"]),
        task="geometry",
        images=tuple(row["images"] or ()),
        choices=tuple(answer_text(c) for c in choices) if choices else None,
        native_id=None if row.get("id") is None else str(row["id"]),
        meta=meta,
    )


RECIPE = Recipe(
    name="geometry3k",
    description="Geometry3K (hiyouga/geometry3k): diagram + question, free-form value; A-GRAE's Geo3K",
    splits=("train", "validation", "test"),
    tasks=("geometry",),
    template="think_boxed",
    convert=convert,
    hub_id="hiyouga/geometry3k",
    columns=("images", "problem", "answer"),
    modality="image",
)
register_recipe(RECIPE)
