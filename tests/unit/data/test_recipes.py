"""The recipe registry (built-ins, registered, module:NAME, file.py:fn) and the recipes' text helpers."""

from __future__ import annotations

import pytest

from data_recipes._text import last_boxed, parse_inline_choices
from data_recipes.gsm8k import gsm8k_gold
from data_recipes.math import math_level
from mmrl.data import (
    Recipe,
    RecipeContext,
    RowFields,
    get_recipe,
    list_recipes,
    load_examples,
    register_recipe,
)
from mmrl.data.recipes import answer_text
from mmrl.errors import UserError

HUB_RECIPES = {
    "geometry3k": "hiyouga/geometry3k",
    "math": "DigitalLearningGmbH/MATH-lighteval",
    "math500": "HuggingFaceH4/MATH-500",
    "gsm8k": "openai/gsm8k",
    "mathvista": "AI4Math/MathVista",
    "mathverse": "AI4Math/MathVerse",
    "mathvision": "MathLLMs/MathVision",
    "chartqa": "HuggingFaceM4/ChartQA",
    "aime24": "HuggingFaceH4/aime_2024",
    "aime25": "math-ai/aime25",
    "amc23": "math-ai/amc23",
}


def test_every_issue_recipe_is_built_in_with_its_hub_id():
    recipes = {r.name: r for r in list_recipes()}
    for name, hub_id in HUB_RECIPES.items():
        assert recipes[name].hub_id == hub_id
    for name in ("synthetic_arithmetic", "synthetic_geometry", "synthetic_charts"):
        assert recipes[name].generate is not None and recipes[name].hub_id is None
    # the built-ins are exactly the recipes the modules of data_recipes register
    built_in = {name for name, r in recipes.items() if r.convert.__module__.startswith("data_recipes.")}
    assert built_in == set(HUB_RECIPES) | {
        "synthetic_arithmetic",
        "synthetic_geometry",
        "synthetic_charts",
        "jsonl",
        "parquet",
    }
    for recipe in recipes.values():
        assert recipe.tasks and recipe.template and recipe.description


def test_unknown_recipe_suggests_the_nearest_name():
    with pytest.raises(UserError, match=r"did you mean 'geometry3k'\?\)"):
        get_recipe("geometry3")


def test_unknown_option_is_an_error_naming_the_valid_ones():
    with pytest.raises(UserError, match=r"'difficulty'.*did you mean 'difficulty'|does not take"):
        get_recipe("synthetic_arithmetic").resolve_options({"dificulty": 2})
    assert get_recipe("synthetic_arithmetic").resolve_options({"seed": 3})["seed"] == 3


def test_registered_recipe_loads_like_a_built_in():
    def convert(row, ctx: RecipeContext) -> RowFields:
        return RowFields(
            question=f"What is {row['a']} + {row['b']}?", answer=str(row["a"] + row["b"]), task="math"
        )

    recipe = Recipe(
        name="test_sums",
        description="sums",
        splits=("train",),
        tasks=("math",),
        template="plain",
        convert=convert,
        generate=lambda ctx: [{"a": i, "b": 2 * i} for i in range(4)],
    )
    register_recipe(recipe, replace=True)
    with pytest.raises(UserError, match="already registered"):
        register_recipe(Recipe(**{**recipe.__dict__}))
    loaded = load_examples("test_sums")
    assert [ex.answer for ex in loaded] == ["0", "3", "6", "9"]
    assert loaded[1].prompt == [{"role": "user", "content": "What is 1 + 2?"}]
    assert loaded[1].id == "test_sums/train/1"


def test_file_function_and_module_recipes(tmp_path, monkeypatch):
    (tmp_path / "my_rows.py").write_text(
        "def rows(split, options):\n"
        "    '''Squares.'''\n"
        "    for i in range(options.get('n', 3)):\n"
        "        yield {'question': f'What is {i} squared?', 'answer': i * i, 'level': i}\n"
    )
    loaded = load_examples(f"{tmp_path / 'my_rows.py'}:rows", options={"n": 5})
    assert [ex.answer for ex in loaded] == ["0", "1", "4", "9", "16"]
    assert loaded[2].task == "math" and loaded[2].meta["level"] == 2

    (tmp_path / "my_recipes.py").write_text(
        "from data_recipes.generic import _generic\nRECIPE = _generic('my_jsonl', 'jsonl')\nOTHER = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_recipe("my_recipes").name == "my_jsonl"
    assert get_recipe("my_recipes:RECIPE").name == "my_jsonl"
    with pytest.raises(UserError, match="must be a Recipe or a function"):
        get_recipe("my_recipes:OTHER")
    with pytest.raises(UserError, match="no attribute 'NOPE'"):
        get_recipe("my_recipes:NOPE")
    with pytest.raises(UserError, match="does not exist"):
        get_recipe(f"{tmp_path / 'absent.py'}:rows")


def test_answer_text():
    assert answer_text(27.0) == "27"
    assert answer_text(2.5) == "2.5"
    assert answer_text(7) == "7"
    assert answer_text(None) == "" and answer_text(float("nan")) == ""
    assert answer_text("  12 \\pi ") == "12 \\pi"


def test_last_boxed_matches_braces_and_takes_the_last():
    assert last_boxed("first \\boxed{1}, then \\boxed{\\frac{2}{3}}.") == "\\frac{2}{3}"
    assert last_boxed("$\\boxed{ \\{1, 2\\} }$") == "\\{1, 2\\}"
    assert last_boxed("\\fbox{7}") == "7"
    assert last_boxed("\\boxed{unclosed") is None
    assert last_boxed("nothing") is None


def test_inline_choices_of_mathverse():
    question = "As shown in the figure, find the angle.\nChoices:\nA:40°\nB:60°\nC:80°\nD:100°"
    assert parse_inline_choices(question) == ("40°", "60°", "80°", "100°")
    assert parse_inline_choices("Choices:\n(A) 1\n(B) 2") == ("1", "2")
    assert parse_inline_choices("Choices:\nA:1\nC:2") is None  # letters must run A, B, C
    assert parse_inline_choices("No options here.") is None


def test_gsm8k_gold_and_math_level():
    assert gsm8k_gold("She has 3+4=<<3+4=7>>7.\n#### 7") == "7"
    assert gsm8k_gold("#### 1,234,567") == "1234567"
    assert math_level("Level 4") == 4 and math_level(2) == 2 and math_level("Level ?") is None
