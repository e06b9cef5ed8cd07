"""MathVerse (``AI4Math/MathVerse``): config/split ``testmini`` (3,940 = 788 problems x 5 versions)
and ``testmini_text_only`` (788, the Text Only version).

Schema: ``sample_index``, ``problem_index``, ``problem_version`` (Text Dominant, Text Lite, Vision
Intensive, Vision Dominant, Vision Only, Text Only), ``question`` (multiple-choice options are
written **inside** it: ``Choices:\\nA:40°\\nB:60°...``), ``image``, ``answer`` (the **letter** for
multiple choice), ``question_type`` (``multi-choice`` / ``free-form``), ``metadata`` (split, source,
subject, subfield), ``query_wo`` and ``query_cot``.

Multiple-choice rows go to the ``choice`` verifier with the letter as gold and the options parsed
from the question into ``choices`` (none when they are only in the image); free-form rows go to
``math``. Vision Only rows have an empty ``question`` (the text is in the diagram); they show
``query_cot``, the official instruction for that version. ``meta["category"]`` is the version.
"""

from __future__ import annotations

from typing import Any

from data_recipes._text import parse_inline_choices, rounding_places
from mmrl.data.recipes import Option, Recipe, RecipeContext, RowError, RowFields, answer_text, register_recipe

VERSIONS = ("Text Dominant", "Text Lite", "Vision Intensive", "Vision Dominant", "Vision Only", "Text Only")


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields | None:
    version = row["problem_version"]
    wanted = ctx.options["versions"]
    if wanted:
        unknown = [v for v in wanted if v not in VERSIONS]
        if unknown:
            raise RowError(
                "bad_option", f"data.options.versions has {unknown}; versions are {list(VERSIONS)}"
            )
        if version not in wanted:
            return None
    qtype = row["question_type"]
    if qtype == "multi-choice":
        task = "choice"
    elif qtype == "free-form":
        task = "math"
    else:
        raise RowError("bad_question_type", f"question_type {qtype!r} is not multi-choice or free-form")
    question = row["question"] or ""
    if not question.strip():
        question = row.get("query_cot") or ""
    metadata = row.get("metadata") or {}
    image = row.get("image")
    places = rounding_places(question) if task == "math" else None
    return RowFields(
        question=question,
        answer=answer_text(row["answer"]),
        task=task,
        images=(image,) if image else (),
        choices=parse_inline_choices(row["question"] or "") if task == "choice" else None,
        native_id=str(row["sample_index"]),
        meta={
            "category": version,
            "problem_version": version,
            "problem_index": row.get("problem_index"),
            "question_type": qtype,
            "subject": metadata.get("subject"),
            "subfield": metadata.get("subfield"),
            **({"rounding": places} if places is not None else {}),
        },
    )


RECIPE = Recipe(
    name="mathverse",
    description="MathVerse (AI4Math/MathVerse): diagram math in 5 versions; choice (letter) or free-form",
    splits=("testmini", "testmini_text_only"),
    tasks=("choice", "math"),
    template="think_boxed",
    convert=convert,
    hub_id="AI4Math/MathVerse",
    hub_configs={"testmini": "testmini", "testmini_text_only": "testmini_text_only"},
    columns=("sample_index", "problem_version", "question", "answer", "question_type"),
    options={"versions": Option(None, f"Keep only these problem versions (of {', '.join(VERSIONS)}).")},
    category="problem_version (Text Dominant ... Vision Only)",
    modality="image",
)
register_recipe(RECIPE)
