"""MATH-500 (``HuggingFaceH4/MATH-500``, split ``test``, 500 rows): PRM800K's subset of the MATH test set.

Schema: ``problem``, ``solution``, ``answer`` (the gold: LaTeX expression, number, interval, matrix
or text), ``subject``, ``level`` (an int), ``unique_id`` (e.g. ``test/precalculus/807.json``).
"""

from __future__ import annotations

from typing import Any

from mmrl.data.recipes import Recipe, RecipeContext, RowFields, answer_text, register_recipe


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    return RowFields(
        question=row["problem"],
        answer=answer_text(row["answer"]),
        task="math",
        native_id=None if row.get("unique_id") is None else str(row["unique_id"]),
        meta={"category": row.get("subject"), "subject": row.get("subject"), "level": row.get("level")},
    )


RECIPE = Recipe(
    name="math500",
    description="MATH-500 (HuggingFaceH4/MATH-500): 500 MATH test problems with short gold answers",
    splits=("test",),
    tasks=("math",),
    template="math_cot_boxed",
    convert=convert,
    hub_id="HuggingFaceH4/MATH-500",
    columns=("problem", "answer"),
    category="subject",
)
register_recipe(RECIPE)
