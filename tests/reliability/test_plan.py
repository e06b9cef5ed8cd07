"""Every item of the reliability plan has its tests, in the folder the plan names for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .plan import PLAN

TESTS = Path(__file__).resolve().parents[1]
MARK = re.compile(r"@pytest\.mark\.reliability\((\d+)\)")


def _marked(folder: Path) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for path in sorted(folder.rglob("test_*.py")):
        for n in MARK.findall(path.read_text()):
            found.setdefault(int(n), []).append(path.name)
    return found


@pytest.mark.parametrize("folder", ["reliability", "vllm", "gpu"], ids=lambda f: f"tests-{f}-folder")
def test_every_item_of_the_plan_has_a_test_in_its_folder(folder):
    marked = _marked(TESTS / folder)
    missing = [f"{n} ({item.title})" for n, item in PLAN.items() if item.where == folder and n not in marked]
    assert not missing, f"plan items without a test in tests/{folder}: {missing}"


def test_marked_tests_name_items_of_the_plan_in_their_folder():
    for folder in ("reliability", "vllm", "gpu", "unit", "integration"):
        for n, files in _marked(TESTS / folder).items():
            assert n in PLAN, f"{files} name item {n}, which the plan does not have"
            assert PLAN[n].where == folder, (
                f"{files} in tests/{folder} guard item {n}, planned in tests/{PLAN[n].where}"
            )
