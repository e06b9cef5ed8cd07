"""What a data recipe is, and the one registry that finds recipes by name.

A recipe says where a dataset's rows come from and how one row becomes the fields of an
``Example``; ``mmrl.data.load_examples`` does the rest (reading files or the Hub, decoding images,
rendering the prompt, validating, reporting). Built-in recipes live one module per dataset in
``data_recipes/``, each defining ``RECIPE = Recipe(...)``.

How a name is resolved (``get_recipe``; ``RECIPES`` is a ``mmrl.plugins.Registry``), in this order:

1. a recipe registered with ``register_recipe``: a user's own, or a built-in (every module of
   ``data_recipes`` registers its ``RECIPE``; the registry imports them before its first lookup);
2. ``pkg.module:NAME`` or ``path/to/file.py:NAME``, where ``NAME`` is either a ``Recipe`` or a
   function ``fn(split: str, options: dict) -> Iterable[dict]`` yielding rows in the generic schema
   (``question``, ``answer``, optional ``task``, ``image``/``images``, ``choices``, ``id``, ``meta``);
3. an entry point of the group ``mmrl.recipes`` naming a ``Recipe`` or such a function;
4. ``pkg.module`` or ``path/to/file.py``: a module that defines ``RECIPE``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mmrl.errors import UserError
from mmrl.plugins import PluginError, Registry

__all__ = [
    "RECIPES",
    "Option",
    "Recipe",
    "RecipeContext",
    "RowError",
    "RowFields",
    "answer_text",
    "function_recipe",
    "get_recipe",
    "list_recipes",
    "register_recipe",
    "standard_row",
]


class RowError(Exception):
    """A recipe's way to reject one row; the loader reports it with the row index.

    ``reason`` is a short code for the report table (e.g. ``missing_field``, ``bad_choices``).
    """

    def __init__(self, reason: str, detail: str, field: str | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.field = reason, detail, field


@dataclass(frozen=True)
class RowFields:
    """One row as a recipe understood it, before images are decoded and the prompt is rendered.

    Attributes:
        question: The problem text the template wraps; ``<image>`` / ``<imageN>`` markers mark where
            the images go (without markers, the images go before the text).
        answer: The gold answer as the verifier expects it.
        task: The verifier name (``math``, ``geometry``, ``chart``, ``choice``, or a custom one).
        images: Raw image values in order (see ``mmrl.data.images.decode_image``).
        choices: Option texts for multiple-choice items, ``choices[0]`` being option ``A``.
        native_id: The dataset's own id, if it has one; the row index is used otherwise.
        meta: Extras for verifiers and reports (``category``, ``level``, ``precision``, ...).
    """

    question: str
    answer: str
    task: str
    images: tuple[Any, ...] = ()
    choices: tuple[str, ...] | None = None
    native_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """A recipe option (set through ``data.options``): its default and a one-line doc."""

    default: Any
    doc: str


@dataclass(frozen=True)
class RecipeContext:
    """What a recipe's functions may read: the split, its resolved options and ``data.columns``."""

    recipe: str
    split: str
    options: Mapping[str, Any]
    columns: Mapping[str, str] = field(default_factory=dict)


Convert = Callable[[dict[str, Any], RecipeContext], "RowFields | None"]
Generate = Callable[[RecipeContext], Iterable[dict[str, Any]]]


@dataclass(frozen=True)
class Recipe:
    """A dataset: where its rows come from and how a row becomes ``RowFields``.

    Attributes:
        name: What users type (``data.recipe=NAME``).
        description: One line for ``mmrl data list``.
        splits: Known split names, the default first; empty means "whatever the file holds".
        tasks: The verifier names its examples use (for listings; each row sets its own).
        template: The default prompt template (a name in ``data_recipes/templates``).
        convert: ``(row, ctx) -> RowFields | None``; ``None`` drops the row on purpose (an option
            filtered it out, counted as ``filtered``, not as bad). Raise ``RowError`` (or let a
            ``KeyError`` for a missing field escape) to report the row as bad.
        hub_id: The Hugging Face dataset id; ``None`` for recipes that need ``data.path``.
        hub_configs: Split name -> Hub config name, for datasets whose splits live in configs.
        columns: Columns every source row must have, checked once before reading (a wrong file
            fails at once with the list of its columns instead of as 100% bad rows).
        generate: For synthetic recipes, ``ctx -> rows`` (generic schema); they take no ``data.path``.
        options: The options ``data.options`` may set, with defaults and docs.
        category: What ``Example.meta["category"]`` holds (for per-category pass@k), or ``None``.
        modality: ``text``, ``image``, or ``any`` (generic recipes).
        required_columns: For recipes whose columns depend on ``data.columns``: ``ctx -> columns``.
        any_options: Pass every ``data.options`` key through unchecked (function recipes).
    """

    name: str
    description: str
    splits: tuple[str, ...]
    tasks: tuple[str, ...]
    template: str
    convert: Convert
    hub_id: str | None = None
    hub_configs: Mapping[str, str] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    generate: Generate | None = None
    options: Mapping[str, Option] = field(default_factory=dict)
    category: str | None = None
    modality: Literal["text", "image", "any"] = "text"
    required_columns: Callable[[RecipeContext], tuple[str, ...]] | None = None
    any_options: bool = False

    @property
    def default_split(self) -> str:
        return self.splits[0] if self.splits else "train"

    def resolve_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults overlaid with ``given``; an unknown option is an error naming the valid ones."""
        given = dict(given or {})
        if self.any_options:
            return given
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            valid = ", ".join(sorted(self.options)) or "none"
            near = difflib.get_close_matches(unknown[0], list(self.options), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise UserError(
                f"data.options has {', '.join(repr(k) for k in unknown)}, which recipe {self.name!r} "
                f"does not take{hint} (its options: {valid})"
            )
        return {**{k: opt.default for k, opt in self.options.items()}, **given}

    def source_columns(self, ctx: RecipeContext) -> tuple[str, ...]:
        return self.required_columns(ctx) if self.required_columns is not None else self.columns


# --------------------------------------------------------------------------------------------
# Helpers recipes share
# --------------------------------------------------------------------------------------------


def answer_text(value: Any, field_name: str = "answer") -> str:
    """A gold answer value as text: ints as digits, integral floats without ``.0``, ``None``/NaN -> "".

    >>> answer_text(27.0), answer_text(3), answer_text(" 2 \\\\sqrt { 221 } "), answer_text(float("nan"))
    ('27', '3', '2 \\\\sqrt { 221 }', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        raise RowError("bad_answer", f"{field_name} is a boolean ({value}); write it as text", field_name)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value.strip()
    raise RowError(
        "bad_answer", f"{field_name} is a {type(value).__name__}, expected text or a number", field_name
    )


def _as_str_list(value: Any, field_name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise RowError(
            "bad_choices", f"{field_name} must be a list of option texts, got a string", field_name
        )
    try:
        items = list(value)
    except TypeError:
        raise RowError(
            "bad_choices",
            f"{field_name} must be a list of option texts, got {type(value).__name__}",
            field_name,
        ) from None
    return tuple(answer_text(v, field_name) for v in items) or None


#: The generic row schema: mmrl field -> column name, when ``data.columns`` does not say otherwise.
GENERIC_FIELDS: tuple[str, ...] = ("question", "answer", "task", "image", "images", "choices", "id")


def standard_row(row: Mapping[str, Any], ctx: RecipeContext, *, default_task: str) -> RowFields:
    """A row in the generic schema (after the ``data.columns`` mapping) as ``RowFields``.

    Columns: ``question`` and ``answer`` (required), ``task`` (else ``default_task``), ``image``
    (one image) or ``images`` (a list), ``choices`` (a list), ``id``, and ``meta`` (a dict). Every
    other column is kept in ``meta`` under its own name.
    """
    cols = {name: ctx.columns.get(name, name) for name in GENERIC_FIELDS}
    question = row[cols["question"]]
    if not isinstance(question, str):
        raise RowError(
            "bad_question",
            f"column {cols['question']!r} must hold text, got {type(question).__name__}",
            cols["question"],
        )
    images: tuple[Any, ...] = ()
    if row.get(cols["images"]) is not None:
        images = _as_images(row[cols["images"]], cols["images"])
    elif row.get(cols["image"]) is not None:
        images = (row[cols["image"]],)
    task = row.get(cols["task"]) or default_task
    if not isinstance(task, str):
        raise RowError("bad_task", f"column {cols['task']!r} must name a verifier", cols["task"])
    meta: dict[str, Any] = {}
    used = {cols[name] for name in GENERIC_FIELDS} | {"meta"}
    for key, value in row.items():
        if key not in used and not _is_binary(value):
            meta[key] = value
    if isinstance(row.get("meta"), Mapping):
        meta.update(row["meta"])
    native = row.get(cols["id"])
    return RowFields(
        question=question,
        answer=answer_text(row[cols["answer"]], cols["answer"]),
        task=task,
        images=images,
        choices=_as_str_list(row.get(cols["choices"]), cols["choices"]),
        native_id=None if native is None else str(native),
        meta=meta,
    )


def _as_images(value: Any, field_name: str) -> tuple[Any, ...]:
    """The ``images`` column as a tuple: one image value (a path, bytes, a struct) or a list of them.

    >>> _as_images("a.png", "images"), _as_images(["a.png", "b.png"], "images")
    (('a.png',), ('a.png', 'b.png'))
    """
    if isinstance(value, (str, bytes, bytearray, Mapping)):
        return (value,)
    if isinstance(value, (bool, int, float)) or not isinstance(value, Iterable):
        raise RowError(
            "bad_images",
            f"{field_name} must be a list of images (paths, bytes or {{bytes, path}} structs), "
            f"got {type(value).__name__} {value!r:.60}",
            field_name,
        )
    return tuple(value)


def _is_binary(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray)) or (isinstance(value, dict) and "bytes" in value)


def function_recipe(fn: Callable[..., Iterable[Mapping[str, Any]]], name: str) -> Recipe:
    """Wrap ``fn(split, options) -> rows`` (generic schema) as a recipe named ``name``."""

    def generate(ctx: RecipeContext) -> Iterable[dict[str, Any]]:
        return (dict(row) for row in fn(split=ctx.split, options=dict(ctx.options)))

    def convert(row: dict[str, Any], ctx: RecipeContext) -> RowFields:
        return standard_row(row, ctx, default_task="math")

    return Recipe(
        name=name,
        description=(fn.__doc__ or f"rows from {name}").strip().splitlines()[0],
        splits=(),
        tasks=("math",),
        template="plain",
        convert=convert,
        generate=generate,
        any_options=True,
    )


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


def _as_recipe(obj: Any, spec: str) -> Recipe:
    if isinstance(obj, Recipe):
        return obj
    if callable(obj):
        return function_recipe(obj, spec)
    raise PluginError(
        f"data.recipe={spec!r} points at a {type(obj).__name__}; it must be a Recipe or a function "
        "fn(split, options) -> rows"
    )


#: Every recipe by name; the built-ins are the modules of ``data_recipes``, each registering its own.
RECIPES: Registry[Recipe] = Registry(
    "data recipe",
    group="mmrl.recipes",
    builtins="data_recipes",
    adapt=_as_recipe,
    default_attr="RECIPE",
    decorator="mmrl.data.register_recipe(Recipe(...))",
)


def register_recipe(recipe: Recipe, *, replace: bool = False) -> Recipe:
    """Make ``recipe`` loadable by its name; returns it (``RECIPE = register_recipe(Recipe(...))``)."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"register_recipe expects a Recipe, got {type(recipe).__name__}")
    return RECIPES.register(recipe.name, recipe, replace=replace)


def list_recipes() -> list[Recipe]:
    """Every registered and installed recipe, by name."""
    return [RECIPES.resolve(name) for name in RECIPES.names()]


def get_recipe(spec: str) -> Recipe:
    """The recipe a name, ``module:NAME``, ``file.py:NAME``, ``module`` or ``file.py`` stands for."""
    if not isinstance(spec, str) or not spec.strip():
        raise UserError("data.recipe is empty; name a recipe (see `mmrl data list`)")
    return RECIPES.resolve(spec.strip())
