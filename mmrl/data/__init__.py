"""Data: recipes -> validated ``Example`` rows with rendered chat prompts and decoded images.

The two calls the trainer and the evaluator make::

    from mmrl.data import load_examples, load_from_config

    train = load_from_config(cfg.data)                            # cfg.data.split, options, policy
    test = load_examples("mathverse", split="testmini", path="/data/MathVerse", limit=200)
    for ex in test:                                               # LoadedData is a sequence of Example
        ex.prompt, ex.images, ex.answer, ex.task, ex.meta["category"]
    print(test.report.table())                                    # what was skipped, and why

``list_recipes()`` gives every recipe with its splits, verifier names (``tasks``), default template
and what ``meta["category"]`` holds. ``register_recipe`` adds one; ``data.recipe`` may also be
``pkg.module:NAME``, ``path/to/file.py:NAME`` or an entry point of the group ``mmrl.recipes`` (see
``mmrl.data.recipes``; ``RECIPES`` is the registry).

Images come out as RGB ``PIL.Image.Image`` objects, not resized (the policy adapter resizes them).
"""

from mmrl.data.images import ImageProblem, decode_image
from mmrl.data.loading import GoldCheck, LoadedData, load_examples, load_from_config
from mmrl.data.prompts import build_messages, list_templates, load_template, render_text
from mmrl.data.recipes import (
    RECIPES,
    Option,
    Recipe,
    RecipeContext,
    RowError,
    RowFields,
    get_recipe,
    list_recipes,
    register_recipe,
    standard_row,
)
from mmrl.data.validation import DataValidationError, RowIssue, ValidationReport

__all__ = [
    "DataValidationError",
    "GoldCheck",
    "ImageProblem",
    "LoadedData",
    "RECIPES",
    "Option",
    "Recipe",
    "RecipeContext",
    "RowError",
    "RowFields",
    "RowIssue",
    "ValidationReport",
    "build_messages",
    "decode_image",
    "get_recipe",
    "list_recipes",
    "list_templates",
    "load_examples",
    "load_from_config",
    "load_template",
    "register_recipe",
    "render_text",
    "standard_row",
]
