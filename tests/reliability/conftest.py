"""``@pytest.mark.reliability(N)`` ties a test to item N of the plan (``plan.PLAN``); the run ends
with what holds: an item holds when every test marked with it ran and passed."""

from __future__ import annotations

from collections import defaultdict

import pytest

from .plan import PLAN

_outcomes: dict[int, list[str]] = defaultdict(list)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    items = getattr(report, "reliability_items", None)
    if not items:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        for n in items:
            _outcomes[n].append(report.outcome)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    report.reliability_items = [int(n) for m in item.iter_markers("reliability") for n in m.args]


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: pytest.Config) -> None:
    if not _outcomes:
        return
    holds, fails, skipped = [], [], []
    for n in sorted(PLAN):
        seen = _outcomes.get(n, [])
        if not seen:
            continue
        if "failed" in seen:
            fails.append(n)
        elif all(o == "passed" for o in seen):
            holds.append(n)
        else:
            skipped.append(n)
    unseen = [n for n in sorted(PLAN) if n not in _outcomes]
    write = terminalreporter.write_line  # type: ignore[attr-defined]
    write("")
    write(f"reliability plan: {len(holds)} of {len(PLAN)} items hold: {' '.join(map(str, holds)) or '-'}")
    if fails:
        write(f"  failing: {', '.join(f'{n} ({PLAN[n].title})' for n in fails)}")
    if skipped:
        write(f"  skipped (not every test ran): {', '.join(f'{n} ({PLAN[n].title})' for n in skipped)}")
    if unseen:
        write(f"  not run here: {' '.join(map(str, unseen))} (GPU items: tests/gpu, skipped without CUDA)")
