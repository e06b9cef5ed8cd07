"""The doctests of the ``rewards`` modules run (each verifier shows one right and one wrong answer)."""

import doctest
import importlib

import pytest

MODULES = [
    "rewards.latex",
    "rewards.expr",
    "rewards.answers",
    "rewards.extraction",
    "rewards.math_verifier",
    "rewards.mathruler_verifier",
    "rewards.choice",
    "rewards.chart",
    "rewards.format",
    "rewards.registry",
    "rewards.scoring",
    "rewards.verdicts",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no doctest"
    assert result.failed == 0
