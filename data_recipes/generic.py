"""Generic recipes ``jsonl`` and ``parquet``: your own rows, your column names.

Rows need a question and an answer; optional: ``task`` (the verifier, else ``data.options.task``),
``image`` (one image) or ``images`` (a list; paths relative to the file, ``{"bytes", "path"}``
structs, or data URIs), ``choices`` (option texts), ``id``. Name your columns with ``data.columns``,
e.g. ``data.columns={question: problem, images: pictures}``; other columns land in ``meta``
(``data.options.category=COLUMN`` copies one into ``meta["category"]`` for per-category pass@k).

Both names read ``.jsonl``, ``.json`` and ``.parquet`` files and directories of them (see
``mmrl.data.sources``); the name says which you usually mean. The default template is ``plain``:
the model sees your question as written (with lettered options when the row has ``choices``).
"""

from __future__ import annotations

from typing import Any

from mmrl.data.recipes import (
    GENERIC_FIELDS,
    Option,
    Recipe,
    RecipeContext,
    RowError,
    RowFields,
    register_recipe,
    standard_row,
)
from mmrl.errors import UserError


def required_columns(ctx: RecipeContext) -> tuple[str, ...]:
    unknown = sorted(set(ctx.columns) - set(GENERIC_FIELDS))
    if unknown:
        raise UserError(
            f"data.columns has {', '.join(map(repr, unknown))}; its keys are mmrl fields "
            f"({', '.join(GENERIC_FIELDS)}) and its values your column names"
        )
    return (ctx.columns.get("question", "question"), ctx.columns.get("answer", "answer"))


def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
    fields = standard_row(row, ctx, default_task=ctx.options["task"])
    category = ctx.options["category"]
    if category is not None:
        if category not in row:
            raise RowError("missing_field", f"data.options.category names column {category!r}", category)
        fields.meta["category"] = row[category]
    return fields


def _generic(name: str, kind: str) -> Recipe:
    return Recipe(
        name=name,
        description=f"your own {kind} rows (data.path), columns mapped by data.columns",
        splits=(),
        tasks=("math", "geometry", "chart", "choice"),
        template="plain",
        convert=convert,
        options={
            "task": Option(
                "math", "Verifier for rows without a task column (math, geometry, chart, choice)."
            ),
            "category": Option(None, "Column copied into meta['category'] for per-category pass@k."),
        },
        required_columns=required_columns,
        category="the column named by data.options.category",
        modality="any",
    )


JSONL = register_recipe(_generic("jsonl", "JSON-lines"))
PARQUET = register_recipe(_generic("parquet", "parquet"))
