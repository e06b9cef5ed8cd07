"""Every item of the reliability plan has its tests: the CPU items here, the CUDA ones in tests/gpu."""

from __future__ import annotations

import re
from pathlib import Path

from .plan import PLAN

TESTS = Path(__file__).resolve().parents[1]
MARK = re.compile(r"@pytest\.mark\.reliability\((\d+)\)")


def _marked(folder: Path) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for path in sorted(folder.rglob("test_*.py")):
        for n in MARK.findall(path.read_text()):
            found.setdefault(int(n), []).append(path.name)
    return found


def test_every_cpu_item_of_the_plan_has_a_test_in_tests_reliability():
    marked = _marked(TESTS / "reliability")
    missing = [f"{n} ({item.title})" for n, item in PLAN.items() if not item.gpu and n not in marked]
    assert not missing, f"plan items without a test in tests/reliability: {missing}"
    assert not [n for n in marked if n not in PLAN], "a test names an item the plan does not have"


def test_every_gpu_item_of_the_plan_has_a_test_in_tests_gpu():
    marked = _marked(TESTS / "gpu")
    missing = [f"{n} ({item.title})" for n, item in PLAN.items() if item.gpu and n not in marked]
    assert not missing, f"CUDA plan items without a test in tests/gpu: {missing}"
