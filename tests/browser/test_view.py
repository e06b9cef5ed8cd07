"""mmrl view in a real browser (headless Chromium): each page kind renders its content, the
filters and the search work across pages, the core tables read without JavaScript, and nothing
is fetched from outside the site."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmrl.eval import EvalResult, ProblemRecord, SampleRecord, write_outputs
from mmrl.testing import synthetic_run
from mmrl.view import build_site

from .conftest import dump_dom

pytestmark = pytest.mark.browser


def _eval_dir(path, label, correct_counts, n=4):
    problems = [
        ProblemRecord(
            f"p{i}",
            "math",
            f"level_{i % 2}",
            "4",
            tuple(
                SampleRecord(f"answer {j}", "stop", 3, float(j < c), j < c, "ok", "4" if j < c else "5")
                for j in range(n)
            ),
            prompt=f"question {i}",
        )
        for i, c in enumerate(correct_counts)
    ]
    write_outputs(
        [EvalResult("bench", n=n, ks=(1, 2, 4), problems=problems)], path, {"model": {"label": label}}
    )
    return path


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    root = tmp_path_factory.mktemp("view")
    run = synthetic_run(root / "run", steps=3, prompts_per_step=40, n=8, validations=(0, 3))
    build_site([run], root / "run-site", progress=False)
    a = _eval_dir(root / "eval-a", "base", [0, 2, 4, 1, 3, 0])
    b = _eval_dir(root / "eval-b", "tuned", [3, 2, 1, 1, 4, 4])
    build_site([a, b], root / "eval-site", progress=False)
    return {"run": run, "run_site": root / "run-site", "eval_site": root / "eval-site", "root": root}


def _records(run, step):
    return [json.loads(line) for line in (run / "rollouts" / f"step_{step}.jsonl").read_text().splitlines()]


def _visible_rows(page):
    return page.eval_on_selector_all(
        "table.samples tbody tr", "rows => rows.filter(r => r.offsetParent !== null).map(r => r.className)"
    )


def test_the_run_page_draws_curves_and_links_every_step(page, sites, expect):
    page.goto((sites["run_site"] / "index.html").as_uri())
    assert page.title() == "run run · mmrl view"
    charts = page.locator("figure.chart")
    assert charts.count() > 15 and page.locator("figure.chart polyline").count() > 15
    assert page.locator("figure.chart svg[aria-label='reward/accuracy']").is_visible()
    assert page.locator("table.steps tbody tr").count() == 3
    page.click("text=320 samples, 40 groups >> nth=1")
    page.wait_for_url("**/steps/step_2/index.html")
    expect(page.locator("h1")).to_have_text("step 2")


def test_a_step_filter_hides_what_does_not_match_and_counts_every_page(page, sites, expect):
    records = _records(sites["run"], 1)
    wrong_positive = [r for r in records if r["correct"] is False and r["advantage"] > 0]
    page.goto((sites["run_site"] / "steps" / "step_1" / "index.html").as_uri())
    assert len(_visible_rows(page)) == 200  # page 1 of 2: 25 groups of 8
    assert page.locator("#filters").is_visible()
    page.select_option("select[data-facet=verdict]", "correct")
    rows = _visible_rows(page)
    assert rows and set(rows) == {"v-correct"}
    correct = sum(r["correct"] is True for r in records)
    assert page.locator("#filter-summary .count").inner_text().startswith(f"{correct} of 320 samples match")
    assert "verdict=correct" in page.url
    # the next page keeps the filter (it is in the address)
    page.click("nav.pager >> text=next →")
    page.wait_for_url("**/p2.html#verdict=correct*")
    # the page applies the filter in the address once its script has run; wait for that, not a time
    expect(page.locator("select[data-facet=verdict]")).to_have_value("correct")
    page.wait_for_function("document.querySelector('#filter-summary .count') !== null")
    assert set(_visible_rows(page)) == {"v-correct"}
    # two filters at once: wrong answers the update still pushed up
    page.select_option("select[data-facet=verdict]", "wrong")
    page.select_option("select[data-facet=advantage]", "pos")
    expected = f"{len(wrong_positive)} of 320 samples match"
    assert page.locator("#filter-summary .count").inner_text().startswith(expected)
    page.click("#filters-clear")
    assert len(_visible_rows(page)) == 120 and page.locator("#filter-summary").inner_text() == ""


def test_the_search_finds_a_prompt_on_another_page(page, sites, expect):
    records = _records(sites["run"], 1)
    last = records[-1]  # on page 2
    question = last["prompt"][0]["content"][1]["text"].split("?")[0]
    page.goto((sites["run_site"] / "steps" / "step_1" / "index.html").as_uri())
    page.fill("input[type=search]", question.lower())
    page.wait_for_function("document.querySelector('#filter-summary .count') !== null")
    summary = page.locator("#filter-summary").inner_text()
    same = sum(question in r["prompt"][0]["content"][1]["text"] for r in records)
    assert summary.startswith(f"{same} of 320 samples match") and "2 (" in summary
    page.click("#filter-summary >> text=next page with a match →")
    expect(page.locator(f"section.group:visible h3 >> text={last['example_id']}")).to_have_count(1)


def test_the_filter_in_the_address_applies_on_load_without_a_driver(chromium, sites, tmp_path):
    url = (sites["run_site"] / "steps" / "step_2" / "index.html").as_uri() + "#verdict=wrong&length=truncated"
    dom = dump_dom(chromium, url, tmp_path)
    rows = re.findall(r'<tr id="g\d+s\d+" class="v-(\w+)"( hidden="")?', dom)
    shown = [verdict for verdict, hidden in rows if not hidden]
    assert len(rows) == 200 and shown and set(shown) == {"wrong"}
    records = _records(sites["run"], 2)
    count = sum(r["correct"] is False and r["finish_reason"] == "length" for r in records)
    assert f"{count} of 320 samples match" in dom


def test_without_javascript_every_table_is_there_and_no_dead_control(no_script_page, sites):
    page = no_script_page
    page.goto((sites["run_site"] / "steps" / "step_1" / "index.html").as_uri())
    assert not page.locator("#filters").is_visible()  # the script that shows it did not run
    assert len(_visible_rows(page)) == 200
    page.click("nav.pager >> text=next →")
    assert page.url.endswith("p2.html") and len(_visible_rows(page)) == 120
    page.goto((sites["run_site"] / "index.html").as_uri())
    assert page.locator("figure.chart svg").count() > 15 and page.locator("table.steps tbody tr").count() == 3
    page.goto((sites["eval_site"] / "compare" / "base--tuned" / "index.html").as_uri())
    assert page.locator("table.problems tbody tr").count() == 6


def test_evaluation_pages_curves_categories_and_the_side_by_side_filter(page, sites):
    site = sites["eval_site"]
    page.goto((site / "index.html").as_uri())
    assert page.locator("table.evaluations tbody tr").count() == 2
    page.click("text=base vs tuned")
    assert page.locator("h1").inner_text() == "base vs tuned"
    assert page.locator("figure.chart").count() == 2
    assert "better in B: 3" in page.locator("section.benchmark p").nth(0).inner_text().replace("\n", " ")
    page.click("text=Side by side, with the samples →")
    page.select_option("select[data-facet=change]", "worse")
    visible = page.eval_on_selector_all(
        "section.pair", "s => s.filter(x => x.offsetParent !== null).map(x => x.id)"
    )
    assert visible == ["g2"]  # p2: 4/4 -> 1/4
    page.goto((site / "evals" / "base" / "index.html").as_uri())
    assert page.locator("figure.chart").count() >= 1
    page.click("section.benchmark table >> text=level_1")
    assert page.locator("section.group").count() == 3 and page.locator("h1").inner_text() == "bench: level_1"


def test_no_request_leaves_the_site(browser_context, sites):
    page = browser_context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    run_site = sites["run_site"]
    pages = [
        run_site / "index.html",
        run_site / "steps" / "step_3" / "index.html",
        run_site / "evals" / "validation-step-3" / "index.html",
        run_site / "compare" / "validation-step-0--validation-step-3" / "val" / "index.html",
    ]
    for path in pages:
        page.goto(path.as_uri())
        page.fill("input[type=search]", "step 1") if page.locator("input[type=search]").count() else None
        page.wait_for_timeout(300)
    page.close()
    root = run_site.resolve().as_uri()
    assert urls and all(u.startswith(root) for u in urls), [u for u in urls if not u.startswith(root)]
    assert any(u.endswith("search.js") for u in urls) and any(u.endswith(".png") for u in urls)


def test_served_over_http_the_filters_work_the_same(page, sites):
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mmrl",
            "view",
            str(sites["run"]),
            "--output",
            str(sites["root"] / "served"),
            "--serve",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(re.search(r"http://127.0.0.1:(\d+)/", server.stdout.readline()).group(1))
        page.goto(f"http://127.0.0.1:{port}/steps/step_3/index.html#length=truncated")
        page.wait_for_function("document.querySelector('#filter-summary .count') !== null")
        truncated = sum(r["finish_reason"] == "length" for r in _records(sites["run"], 3))
        assert (
            page.locator("#filter-summary .count")
            .inner_text()
            .startswith(f"{truncated} of 320 samples match")
        )
        assert 0 < len(_visible_rows(page)) < 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_ten_thousand_rollouts_page_and_filter(page, tmp_path):
    run = synthetic_run(tmp_path / "big", steps=1, prompts_per_step=1250, n=8)
    report = build_site([run], tmp_path / "site", progress=False)
    assert report.steps == 1
    step = tmp_path / "site" / "steps" / "step_1"
    assert len(list(step.glob("*.html"))) == 50  # 10 000 samples, 200 per page
    records = _records(run, 1)
    wrong = sum(r["correct"] is False for r in records)
    page.goto((step / "p37.html").as_uri() + "#verdict=wrong")
    page.wait_for_function("document.querySelector('#filter-summary .count') !== null")
    assert page.locator("#filter-summary .count").inner_text().startswith(f"{wrong} of 10000 samples match")
    assert set(_visible_rows(page)) == {"v-wrong"}
    images = page.locator("img")
    assert images.count() == 25 and images.first.get_attribute("loading") == "lazy"


def test_bench_script_runs_at_a_tiny_size(chromium, playwright):  # the script drives Playwright
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            str(root / "scripts" / "bench_view.py"),
            "--prompts",
            "6",
            "--n",
            "2",
            "--repeats",
            "1",
            "--chromium",
            chromium,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 3 and "mmrl view (200 per page)" in table[1] and "one page for the step" in table[2]
