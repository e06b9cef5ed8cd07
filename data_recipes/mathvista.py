"""MathVista (``AI4Math/MathVista``): ``testmini`` 1,000 rows (``test``'s 5,141 answers are hidden).

Schema: ``pid``, ``question``, ``image`` (a relative path), ``decoded_image`` (the image),
``choices`` (a list, or null), ``unit``, ``precision``, ``answer``, ``question_type``
(``multi_choice`` / ``free_form``), ``answer_type`` (``text``, ``integer``, ``float``, ``list``),
``query`` (the official prompt: hint, question and lettered choices) and ``metadata`` (source,
category, task, context, grade, skills, language).

For multiple choice the gold ``answer`` is the **option text** (e.g. ``145°``), scored by the
``choice`` verifier against ``choices``; free-form items go to the ``math`` verifier with
``answer_type``, ``precision`` and ``unit`` in ``meta`` (the official rule rounds floats to
``precision`` and truncates integers). The question shown is ``query`` when the row has it (its
hint says which answer form is expected), else ``question`` plus the lettered choices.
``meta["category"]`` is ``metadata.task`` (figure QA, geometry problem solving, math word problem...).
"""

from __future__ import annotations

from typing import Any

from data_recipes._text import format_choices
from mmrl.data.recipes import Recipe, RecipeContext, RowError, RowFields, answer_text, register_recipe


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    qtype = row["question_type"]
    choices = tuple(answer_text(c) for c in row.get("choices") or ()) or None
    if qtype == "multi_choice":
        if not choices:
            raise RowError("bad_choices", "a multi_choice row without choices", "choices")
        task = "choice"
    elif qtype == "free_form":
        task = "math"
    else:
        raise RowError("bad_question_type", f"question_type {qtype!r} is not multi_choice or free_form")
    question = row.get("query") or (
        row["question"] + (f"\nChoices:\n{format_choices(choices)}" if choices else "")
    )
    image = row.get("decoded_image") or row.get("image")
    metadata = row.get("metadata") or {}
    precision = row.get("precision")
    meta: dict[str, Any] = {
        "question_type": qtype,
        "answer_type": row["answer_type"],
        "precision": None if precision is None else int(precision),
        "unit": row.get("unit") or None,
        "category": metadata.get("task"),
    }
    for key in ("source", "context", "grade", "skills", "language"):
        if key in metadata:
            meta[key] = metadata[key]
    return RowFields(
        question=question,
        answer=answer_text(row["answer"]),
        task=task,
        images=(image,) if image is not None else (),
        choices=choices if task == "choice" else None,
        native_id=str(row["pid"]),
        meta=meta,
    )


RECIPE = Recipe(
    name="mathvista",
    description="MathVista (AI4Math/MathVista): visual math QA, choice (option text) or free-form",
    splits=("testmini", "test"),
    tasks=("choice", "math"),
    template="think_boxed",
    convert=convert,
    hub_id="AI4Math/MathVista",
    columns=("pid", "question", "answer", "question_type", "answer_type"),
    category="metadata.task (figure question answering, geometry problem solving, ...)",
    modality="image",
)
register_recipe(RECIPE)
