"""The browser tests' guard: without Chromium or Playwright they skip, except under
``MMRL_REQUIRE_CHROMIUM=1`` (CI), where they fail and say what is missing and how to install it.

Each case runs pytest in a subprocess on two tests that need this directory's fixtures, with
Chromium off the PATH or Playwright hidden; it needs neither installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

NEEDS_BOTH = """
def test_needs_chromium(chromium):
    pass

def test_needs_playwright(playwright):
    pass
"""


def _pytest(tmp_path: Path, *, chromium: bool, playwright: bool, required: bool) -> tuple[int, str]:
    """Run NEEDS_BOTH with this directory's conftest as a plugin; the exit code and the output."""
    (tmp_path / "test_needs_both.py").write_text(NEEDS_BOTH)
    env = {k: v for k, v in os.environ.items() if k not in ("MMRL_CHROMIUM", "MMRL_REQUIRE_CHROMIUM")}
    if required:
        env["MMRL_REQUIRE_CHROMIUM"] = "1"
    if chromium:
        env["MMRL_CHROMIUM"] = sys.executable  # found, never launched: Playwright is hidden below
    else:
        (tmp_path / "bin").mkdir()
        env["PATH"] = str(tmp_path / "bin")  # no chromium, no chromium-browser
    if not playwright:
        hidden = tmp_path / "hidden" / "playwright"
        hidden.mkdir(parents=True)
        (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
        env["PYTHONPATH"] = str(hidden.parent)
    args = [sys.executable, "-m", "pytest", "-p", "tests.browser.conftest", "-p", "no:cacheprovider"]
    args += ["-q", "-rsf", "--rootdir", str(tmp_path), str(tmp_path / "test_needs_both.py")]
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("required", [False, True], ids=["skips", "required"])
def test_without_chromium(tmp_path, required):
    code, output = _pytest(tmp_path, chromium=False, playwright=True, required=required)
    how = "apt-get install -y chromium, or set MMRL_CHROMIUM=/path/to/chromium"
    if required:
        assert code == 1 and "2 errors" in output, output  # a fixture that fails: an error, not a skip
        assert (
            output.count("MMRL_REQUIRE_CHROMIUM=1 but Chromium (no chromium or chromium-browser on PATH") == 2
        )
        assert f"is missing; install it: {how}" in output
    else:
        assert code == 0 and "2 skipped" in output and "failed" not in output, output
        assert (
            f"needs Chromium (no chromium or chromium-browser on PATH, MMRL_CHROMIUM unset): {how}" in output
        )


@pytest.mark.parametrize("required", [False, True], ids=["skips", "required"])
def test_without_playwright(tmp_path, required):
    code, output = _pytest(tmp_path, chromium=True, playwright=False, required=required)
    if required:
        assert code == 1 and "1 passed, 1 error" in output, output
        assert "MMRL_REQUIRE_CHROMIUM=1 but Playwright (hidden by the test) is missing" in output
        assert "install it: pip install -e '.[dev]'" in output
    else:
        assert code == 0 and "1 passed, 1 skipped" in output, output
        assert "needs Playwright (hidden by the test): pip install -e '.[dev]'" in output
