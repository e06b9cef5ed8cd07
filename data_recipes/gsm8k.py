"""GSM8K (``openai/gsm8k``, config ``main``): train 7,473 / test 1,319 grade-school word problems.

Schema: ``question``, ``answer`` (a rationale ending in ``#### N``). The gold is ``N`` with thousands
separators removed, as the usual scorer reads it; the rationale is kept in ``meta["rationale"]``.
"""

from __future__ import annotations

from typing import Any

from mmrl.data.recipes import Recipe, RecipeContext, RowError, RowFields, register_recipe


def gsm8k_gold(answer: str) -> str:
    """The number after ``####`` without commas or a trailing period.

    >>> gsm8k_gold("Natalia sold 48/2 = 24 clips.\\n#### 1,072")
    '1072'
    """
    if "####" not in answer:
        raise RowError("no_final_answer", "the answer has no '#### N' line", "answer")
    return answer.rsplit("####", 1)[1].strip().replace(",", "").rstrip(".")


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    answer = row["answer"]
    if not isinstance(answer, str):
        raise RowError("bad_answer", f"answer must be text, got {type(answer).__name__}", "answer")
    return RowFields(
        question=row["question"],
        answer=gsm8k_gold(answer),
        task="math",
        meta={"rationale": answer.rsplit("####", 1)[0].strip()},
    )


RECIPE = Recipe(
    name="gsm8k",
    description="GSM8K (openai/gsm8k, main): grade-school word problems with integer answers",
    splits=("train", "test"),
    tasks=("math",),
    template="math_cot_boxed",
    convert=convert,
    hub_id="openai/gsm8k",
    hub_configs={"train": "main", "test": "main"},
    columns=("question", "answer"),
)
register_recipe(RECIPE)
