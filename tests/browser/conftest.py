"""Headless Chromium for the browser tests: the system's (Debian package ``chromium``), driven by
Playwright, which is never allowed to download a browser of its own.

The tests are skipped when Chromium or Playwright is missing; ``.ci/run`` installs both
(``apt-get install chromium``; ``playwright`` is in the ``dev`` extra). ``MMRL_CHROMIUM`` names
another binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("needs Chromium: apt-get install -y chromium (or set MMRL_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def playwright(chromium):
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as p:
        yield p


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
