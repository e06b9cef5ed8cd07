"""ChartQA (``HuggingFaceM4/ChartQA``): train 28,299, val 1,920, test 2,500 chart questions.

Schema: ``image``, ``query``, ``label`` (a list of gold strings, usually one), ``human_or_machine``
(0 = human-written, 1 = machine-generated "augmented" question). The gold is ``label[0]``; all
labels stay in ``meta["labels"]``. Scored by the ``chart`` verifier (relaxed accuracy: numbers within
5%, strings case-insensitive). ``meta["category"]`` is ``human`` or ``augmented``, the two halves the
benchmark reports separately.
"""

from __future__ import annotations

from typing import Any

from mmrl.data.recipes import Recipe, RecipeContext, RowError, RowFields, answer_text, register_recipe

_KIND = {0: "human", 1: "augmented"}


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    label = row["label"]
    labels = [label] if isinstance(label, (str, int, float)) else list(label or [])
    if not labels:
        raise RowError("empty_answer", "label is an empty list", "label")
    kind = row.get("human_or_machine")
    return RowFields(
        question=row["query"],
        answer=answer_text(labels[0], "label"),
        task="chart",
        images=(row["image"],),
        meta={
            "labels": [answer_text(v, "label") for v in labels],
            "category": _KIND.get(kind, kind),
        },
    )


RECIPE = Recipe(
    name="chartqa",
    description="ChartQA (HuggingFaceM4/ChartQA): read values off charts; relaxed accuracy",
    splits=("test", "val", "train"),
    tasks=("chart",),
    template="think_boxed",
    convert=convert,
    hub_id="HuggingFaceM4/ChartQA",
    columns=("image", "query", "label"),
    category="human or augmented question",
    modality="image",
)
register_recipe(RECIPE)
