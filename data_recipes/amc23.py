"""AMC 2023 (``math-ai/amc23``, split ``test``, 40 problems).

Schema: ``id``, ``question``, ``answer`` (stored as a **float**, e.g. ``27.0``), ``url``. Integral
answers are written without ``.0`` (``27``), so an integer prediction matches exactly; the stored
value stays in ``meta["answer_raw"]``. One of the A-GRAE paper's text benchmarks.
"""

from __future__ import annotations

import re
from typing import Any

from mmrl.data.recipes import Recipe, RecipeContext, RowFields, answer_text, register_recipe


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    raw = row["answer"]
    answer = answer_text(raw)
    if isinstance(raw, str) and re.fullmatch(r"-?\d+(\.\d+)?", raw.strip()):
        answer = answer_text(float(raw))
    return RowFields(
        question=row["question"],
        answer=answer,
        task="math",
        native_id=None if row.get("id") is None else str(row["id"]),
        meta={"answer_raw": raw},
    )


RECIPE = Recipe(
    name="amc23",
    description="AMC 2023 (math-ai/amc23): 40 problems, numeric answers",
    splits=("test",),
    tasks=("math",),
    template="math_cot_boxed",
    convert=convert,
    hub_id="math-ai/amc23",
    columns=("question", "answer"),
)
register_recipe(RECIPE)
