"""How fast ``mmrl view`` builds and how fast its step page opens in Chromium, for one step of many
rollouts: pages of at most 200 samples (what ``mmrl view`` writes) vs one page holding every
sample of the step (the naive layout), both built from the same synthetic run in the same process.

For each layout: build seconds, the HTML bytes the browser loads first, the time until the page's
``load`` event, and the time a filter (``verdict=wrong``) takes to apply and count the matches on
every page. Chromium is the system's (``apt-get install chromium``), driven by Playwright.

    python scripts/bench_view.py                       # one step of 10 000 rollouts (1 250 prompts x 8)
    python scripts/bench_view.py --prompts 2500 --n 8  # 20 000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def measure_page(context, url: str, repeats: int) -> tuple[float, float]:
    """Median seconds to the ``load`` event, and to a filter's count, over ``repeats`` fresh loads."""
    loads, filters = [], []
    for _ in range(repeats):
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="load")
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()
        page.select_option("select[data-facet=verdict]", "wrong")
        page.wait_for_function("document.querySelector('#filter-summary .count') !== null")
        filters.append(time.perf_counter() - started)
        page.close()
    return sorted(loads)[len(loads) // 2], sorted(filters)[len(filters) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--prompts", type=int, default=1250, help="prompts in the step (default 1250)")
    parser.add_argument("--n", type=int, default=8, help="samples per prompt (default 8)")
    parser.add_argument("--repeats", type=int, default=5, help="page loads per layout (default 5)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from mmrl.testing import synthetic_run
    from mmrl.view import build_site

    root = Path(tempfile.mkdtemp(prefix="bench_view_"))
    try:
        started = time.perf_counter()
        run = synthetic_run(root / "run", steps=1, prompts_per_step=args.prompts, n=args.n)
        print(
            f"synthetic run: {args.prompts * args.n} rollouts in one step ({time.perf_counter() - started:.1f} s)"
        )
        layouts = {"mmrl view (200 per page)": 200, "one page for the step": 10**9}
        rows = []
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(root / "profile"),
                executable_path=args.chromium,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            for name, per_page in layouts.items():
                site = root / f"site-{per_page}"
                started = time.perf_counter()
                build_site([run], site, progress=False, samples_per_page=per_page)
                build = time.perf_counter() - started
                first = site / "steps" / "step_1" / "index.html"
                pages = len(list(first.parent.glob("*.html")))
                load, apply = measure_page(context, first.as_uri(), args.repeats)
                rows.append((name, build, pages, first.stat().st_size, load, apply))
            context.close()
        print()
        print("| layout | build (s) | pages | first page (MB) | page load (s) | filter verdict=wrong (s) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, build, pages, size, load, apply in rows:
            print(f"| {name} | {build:.1f} | {pages} | {size / 1e6:.2f} | {load:.2f} | {apply:.2f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
