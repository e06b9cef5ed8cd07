"""MATH-Vision (``MathLLMs/MathVision``): ``test`` 3,040 and ``testmini`` 304 competition problems.

Schema: ``id``, ``question`` (with an ``<image1>`` marker), ``options`` (a list; ``[]`` for
free-form; sometimes just ``['A'..'E']`` when the options are drawn in the image), ``image`` (a
relative path), ``decoded_image`` (the image), ``answer`` (a letter for multiple choice, else a
value such as ``60`` or ``$\\frac{1}{3}$``), ``solution``, ``level`` (1-5), ``subject`` (16 subjects).

Rows with options go to the ``choice`` verifier (gold: the letter; the options are listed under the
question unless they are only letters); the others to ``math``. ``meta["category"]`` is the subject.
"""

from __future__ import annotations

import string
from typing import Any

from data_recipes._text import format_choices, rounding_places
from mmrl.data.recipes import Recipe, RecipeContext, RowFields, answer_text, register_recipe


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    options = tuple(answer_text(o) for o in row.get("options") or ())
    question = row["question"]
    only_letters = options == tuple(string.ascii_uppercase[: len(options)])
    if options and not only_letters:
        question = f"{question}\nChoices:\n{format_choices(options)}"
    image = row.get("decoded_image") or row.get("image")
    meta = {"category": row.get("subject"), "subject": row.get("subject"), "level": row.get("level")}
    places = None if options else rounding_places(row["question"])
    if places is not None:
        meta["rounding"] = places
    return RowFields(
        question=question,
        answer=answer_text(row["answer"]),
        task="choice" if options else "math",
        images=(image,) if image is not None else (),
        choices=options or None,
        native_id=str(row["id"]),
        meta=meta,
    )


RECIPE = Recipe(
    name="mathvision",
    description="MATH-Vision (MathLLMs/MathVision): competition math with figures; choice or free-form",
    splits=("test", "testmini"),
    tasks=("choice", "math"),
    template="think_boxed",
    convert=convert,
    hub_id="MathLLMs/MathVision",
    columns=("id", "question", "answer"),
    category="subject (16 subjects)",
    modality="image",
)
register_recipe(RECIPE)
