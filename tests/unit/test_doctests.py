"""The doctests in the pure-function modules are part of the suite (they document the formulas), and
so are the pages of ``docs/`` written as doctests (they must run as written)."""

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MODULES = [
    "mmrl.eval.passk",
    "mmrl.config",
    "mmrl.plugins",
    "mmrl.algos.groups",
    "mmrl.policy.base",
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


#: Pages of docs/ whose examples are doctests (``>>>``); each trains or evaluates a tiny model.
DOCS = ["docs/python.md"]


@pytest.mark.parametrize("page", DOCS)
def test_docs_doctests(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(
        str(ROOT / page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    )
    assert result.attempted > 0, f"{page} has no doctest"
    assert result.failed == 0
