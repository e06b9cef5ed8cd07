"""MATH (Hendrycks et al.): train 7,500 / test 5,000, from ``DigitalLearningGmbH/MATH-lighteval``.

That repository is the mirror verl's ``examples/data_preprocess/math_dataset.py`` reads (the old
``lighteval/MATH`` and ``hendrycks/competition_math`` are gone). Schema: ``problem``, ``solution``,
``level`` (``"Level 3"``), ``type`` (the subject, e.g. ``"Algebra"``). The gold answer is the last
``\\boxed{}`` of ``solution``, as in verl; a file that already has an ``answer`` column (e.g.
``hiyouga/math12k``) uses that column instead. The default prompt is the A-GRAE paper's MATH
template. ``meta["category"]`` is the subject; ``meta["level"]`` the level as an int.
"""

from __future__ import annotations

import re
from typing import Any

from data_recipes._text import last_boxed
from mmrl.data.recipes import Option, Recipe, RecipeContext, RowError, RowFields, answer_text, register_recipe


def math_level(value: Any) -> int | None:
    """``"Level 3"`` / ``3`` -> 3; anything else (``"Level ?"``) -> None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = re.search(r"\d+", str(value or ""))
    return int(match.group(0)) if match else None


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields | None:
    level = math_level(row.get("level"))
    levels = ctx.options["levels"]
    if levels and level not in set(levels):
        return None
    if row.get("answer") is not None:
        answer = answer_text(row["answer"])
    else:
        boxed = last_boxed(row["solution"] or "")
        if boxed is None:
            raise RowError("no_boxed_answer", "the solution has no \\boxed{} final answer", "solution")
        answer = boxed
    subject = row.get("type") or row.get("subject")
    return RowFields(
        question=row["problem"],
        answer=answer,
        task="math",
        native_id=None if row.get("unique_id") is None else str(row["unique_id"]),
        meta={"category": subject, "subject": subject, "level": level},
    )


RECIPE = Recipe(
    name="math",
    description="MATH competition problems (DigitalLearningGmbH/MATH-lighteval); A-GRAE's text training set",
    splits=("train", "test"),
    tasks=("math",),
    template="math_cot_boxed",
    convert=convert,
    hub_id="DigitalLearningGmbH/MATH-lighteval",
    columns=("problem",),
    options={"levels": Option(None, "Keep only these difficulty levels (e.g. [3, 4, 5]); null keeps all.")},
    category="subject (Algebra, Geometry, ...)",
)
register_recipe(RECIPE)
