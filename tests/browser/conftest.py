"""Headless Chromium for the browser tests: the system's (Debian package ``chromium``), driven by
Playwright, which is never allowed to download a browser of its own.

The tests are skipped when Chromium or Playwright is missing, except under
``MMRL_REQUIRE_CHROMIUM=1`` (``.ci/run`` sets it, after installing Chromium), where a missing one
fails every browser test with what is missing and how to install it: CI cannot pass without
having run them. ``apt-get install -y chromium`` installs the browser; ``playwright`` is in the
``dev`` extra. ``MMRL_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

#: Flags of every launch: no sandbox (root in containers), no GPU, and nothing that reaches out.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    return os.environ.get("MMRL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def missing(what: str, install: str) -> NoReturn:
    """Skip the test for want of ``what``; under ``MMRL_REQUIRE_CHROMIUM=1``, fail it instead."""
    if os.environ.get("MMRL_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"MMRL_REQUIRE_CHROMIUM=1 but {what} is missing; install it: {install}", pytrace=False)
    pytest.skip(f"needs {what}: {install}")


def playwright_api() -> Any:
    """``playwright.sync_api``, or the test skips (fails under ``MMRL_REQUIRE_CHROMIUM=1``)."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    try:
        from playwright import sync_api
    except ImportError as exc:
        problem = str(exc)
    else:
        return sync_api
    missing(f"Playwright ({problem})", "pip install -e '.[dev]'")  # outside the except: no chained trace


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        missing(
            "Chromium (no chromium or chromium-browser on PATH, MMRL_CHROMIUM unset)",
            "apt-get install -y chromium, or set MMRL_CHROMIUM=/path/to/chromium",
        )
    return path


@pytest.fixture(scope="session")
def playwright(chromium):
    with playwright_api().sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def expect(playwright):
    """Playwright's ``expect`` (assertions that wait for the page)."""
    return playwright_api().expect


def _context(playwright, chromium, profile, **options):
    """A browser context of the system Chromium with a fresh profile."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium,
        headless=True,
        args=[f for f in CHROMIUM_FLAGS if f != "--headless"],  # Playwright adds its own
        viewport={"width": 1280, "height": 900},
        **options,
    )


@pytest.fixture(scope="session")
def browser_context(playwright, chromium, tmp_path_factory):
    context = _context(playwright, chromium, tmp_path_factory.mktemp("chromium-profile"))
    yield context
    context.close()


@pytest.fixture
def no_script_page(playwright, chromium, tmp_path):
    """A page of a Chromium with JavaScript switched off."""
    context = _context(playwright, chromium, tmp_path / "profile", java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    page.close()
    assert not errors, f"the page reported errors: {errors}"


def dump_dom(chromium: str, url: str, tmp_path: Path) -> str:
    """The DOM after the page's scripts ran (``chromium --dump-dom``), with a fresh profile."""
    profile = tmp_path / "dump-profile"
    result = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout
