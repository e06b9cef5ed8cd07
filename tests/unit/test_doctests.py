"""The doctests in the pure-function modules are part of the suite (they document the formulas)."""

import doctest
import importlib

import pytest

MODULES = [
    "mmrl.eval.passk",
    "mmrl.config",
    "mmrl.plugins",
    "mmrl.algos.groups",
    "mmrl.train.resume",
    "mmrl.train.trainer",
    "rewards.functions",
    "rewards.scoring",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    )
    assert result.attempted > 0, f"{name} has no doctest"
    assert result.failed == 0
