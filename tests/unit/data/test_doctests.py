"""The examples in the data modules' docstrings are true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "mmrl.data.images",
    "mmrl.data.prompts",
    "mmrl.data.recipes",
    "data_recipes._text",
    "data_recipes.gsm8k",
    "data_recipes.synthetic_arithmetic",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
