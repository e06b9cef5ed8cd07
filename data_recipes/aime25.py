"""AIME 2025 (``math-ai/aime25``, split ``test``, 30 problems: I and II); answers are integers 0-999.

Schema: ``problem``, ``answer``, ``id``. One of the A-GRAE paper's text benchmarks.
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
    )


RECIPE = Recipe(
    name="aime25",
    description="AIME 2025 (math-ai/aime25): 30 problems, integer answers",
    splits=("test",),
    tasks=("math",),
    template="math_cot_boxed",
    convert=convert,
    hub_id="math-ai/aime25",
    columns=("problem", "answer"),
)
register_recipe(RECIPE)
