"""AIME 2024 (``HuggingFaceH4/aime_2024``, split ``train``, 30 problems); answers are integers 0-999.

Schema: ``id``, ``problem``, ``solution``, ``answer``, ``url``, ``year``. Usually reported as
avg@k (mean pass@1 over k samples).
"""

from __future__ import annotations

from typing import Any

from mmrl.data.recipes import Recipe, RecipeContext, RowFields, answer_text, register_recipe


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    return RowFields(
        question=row["problem"],
        answer=answer_text(row["answer"]),
        task="math",
        native_id=None if row.get("id") is None else str(row["id"]),
        meta={"url": row.get("url")} if row.get("url") else {},
    )


RECIPE = Recipe(
    name="aime24",
    description="AIME 2024 (HuggingFaceH4/aime_2024): 30 problems, integer answers",
    splits=("train",),
    tasks=("math",),
    template="math_cot_boxed",
    convert=convert,
    hub_id="HuggingFaceH4/aime_2024",
    columns=("problem", "answer"),
)
register_recipe(RECIPE)
