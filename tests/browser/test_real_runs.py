"""mmrl view in a real browser on what the real code writes, not on ``synthetic_run``: a tiny
vision-language run trained by ``fit`` on synthetic geometry diagrams, a text run of the demo's
shape (``run_demo`` itself, with a tiny model in place of SmolLM2), and two ``mmrl eval`` outputs
of a tiny VL model side by side. Each is built once per module (about 10 s in all on 2 cores)."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mmrl.cli import main
from mmrl.testing import save_tiny_text_model, save_tiny_vl_model
from mmrl.train import fit
from mmrl.train.demo import QUICK, run_demo
from mmrl.view import build_site
from tests.integration.train.helpers import COIN_VERIFIER, read_rollouts, tiny_text_config

pytestmark = pytest.mark.browser

#: The VL policy resizes every picture to 56 x 56 (min = max pixels); the site shows those pixels.
SIDE = 56
PIXELS = [f"data.min_pixels={SIDE * SIDE}", f"data.max_pixels={SIDE * SIDE}"]


@pytest.fixture(scope="module")
def vl_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vl-run")
    model = save_tiny_vl_model(root / "model", "qwen2_vl")
    run = root / "run"
    cfg = tiny_text_config(
        model,
        run,
        "data.recipe=synthetic_geometry",
        "data.options={num_examples: 8, image_size: 112}",
        *PIXELS,
        "trainer.max_steps=2",
        "eval.before_train=true",
        "eval.every=2",
        "eval.limit=2",
        "eval.n=2",
        "eval.k=[1,2]",
    )
    fit(cfg)
    build_site([run], run / "view", progress=False)
    return run


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    """``mmrl demo --quick``'s code path and plan with a tiny random text model; responses stop at a
    space and a coin-flip verifier scores them, so groups get mixed rewards. The site is built by the
    command the demo prints last."""
    root = tmp_path_factory.mktemp("demo")
    model = save_tiny_text_model(root / "model")
    run = root / "run"
    overrides = [
        f"model.path={model}",
        "rollout.engine=hf",
        "rollout.max_new_tokens=6",
        "rollout.stop=[' ']",
        f"reward.verifier={COIN_VERIFIER}",
        "eval.limit=4",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
    ]
    printed = io.StringIO()
    run_demo(QUICK, run, overrides, out=printed)
    command = printed.getvalue().rstrip().splitlines()[-1].split(": ", 1)[1]
    assert command == f"mmrl view {run}"
    assert main(shlex.split(command)[1:]) == 0
    return run


@pytest.fixture(scope="module")
def eval_dirs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Two ``mmrl eval`` runs of one tiny VL model on 4 synthetic geometry problems x 4 samples (seeds
    0 and 1, a coin-flip verifier), and the site comparing them: (A, B, site)."""
    root = tmp_path_factory.mktemp("evals")
    model = save_tiny_vl_model(root / "model", "qwen2_vl")
    outs = []
    for seed in (0, 1):
        out = root / f"eval-{seed}"
        args = ["eval", "--model", str(model), "--benchmarks", "synthetic_geometry", "--limit", "4"]
        args += ["--verifier", COIN_VERIFIER, "--n", "4", "--k", "1,2,4", "--seed", str(seed)]
        args += ["--label", f"seed{seed}", "--output", str(out), "--engine", "hf", "--max-new-tokens", "6"]
        args += ["--reward-workers", "0", "--min-pixels", str(SIDE * SIDE), "--max-pixels", str(SIDE * SIDE)]
        args += ["rollout.stop=[' ']", "data.options={image_size: 112}"]
        assert main(args) == 0
        outs.append(out)
    site = root / "site"
    build_site(outs, site, progress=False)
    return outs[0], outs[1], site


def _loaded_images(page) -> list[tuple[str, int, int]]:
    """Every <img> of the page once loaded (they load lazily: each is scrolled into view first), as
    (file name, natural width, natural height); a broken image has width 0."""
    images = page.locator("img")
    found = []
    for i in range(images.count()):
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        size = image.evaluate(
            """img => img.complete ? [img.naturalWidth, img.naturalHeight]
                : new Promise(resolve => {
                    img.addEventListener('load', () => resolve([img.naturalWidth, img.naturalHeight]));
                    img.addEventListener('error', () => resolve([0, 0]));
                })"""
        )
        found.append((Path(image.get_attribute("src")).name, *size))
    return found


def _groups_on_page(page) -> list[dict[str, Any]]:
    """What a listing shows per group: its id, prompt text, picture files and rows."""
    return page.eval_on_selector_all(
        "section.group",
        """sections => sections.map(s => ({
            id: s.querySelector('h3').innerText,
            prompt: Array.from(s.querySelectorAll('.prompt .text')).map(t => t.innerText).join(' '),
            images: Array.from(s.querySelectorAll('.prompt img')).map(i => i.getAttribute('src').split('/').pop()),
            rows: Array.from(s.querySelectorAll('table.samples tbody tr')).map(r => ({
                cells: Array.from(r.cells).map(c => c.innerText.trim()),
                response: r.querySelector('pre.final').innerText,
            })),
        }))""",
    )


def _visible_rows(page) -> list[str]:
    return page.eval_on_selector_all(
        "table.samples tbody tr", "rows => rows.filter(r => r.offsetParent !== null).map(r => r.id)"
    )


def _prompt_text(record: dict[str, Any]) -> str:
    content = record["prompt"][-1]["content"]
    return content if isinstance(content, str) else " ".join(p["text"] for p in content if "text" in p)


def _changes(a: dict[str, int], b: dict[str, int]) -> str:
    """The comparison's count line for the correct counts ``a`` and ``b`` of each problem (same n)."""
    change = Counter("better" if b[i] > a[i] else "worse" if b[i] < a[i] else "same" for i in a)
    labels = (("better", "better in B"), ("worse", "worse in B"), ("same", "the same"))
    return " · ".join(f"{label}: {change[key]}" for key, label in labels if change[key]) + "."


def _changes_line(page) -> str:
    text = page.locator("section.benchmark p").nth(0).inner_text()
    return " ".join(text.split("Side by side")[0].split())


def _assert_step_page_shows(page, records: list[dict[str, Any]], *, with_images: bool) -> None:
    """The step page lists every group of the step in the trainer's order with its prompt (and
    picture), and per sample the record's verdict, reward, advantage and response."""
    groups = _groups_on_page(page)
    order = list(dict.fromkeys(r["example_id"] for r in records))
    assert [g["id"] for g in groups] == order
    for group in groups:
        mine = [r for r in records if r["example_id"] == group["id"]]
        # the prompt as the model got it (the browser folds runs of white space)
        assert " ".join(group["prompt"].split()) == " ".join(_prompt_text(mine[0]).split())
        assert group["images"] == ([Path(mine[0]["images"][0]).name] if with_images else [])
        shown = [
            (row["cells"][0], row["cells"][1], row["cells"][3], row["cells"][4]) for row in group["rows"]
        ]
        verdicts = ["correct" if r["correct"] else "wrong" for r in mine]
        expected = [
            (str(r["sample_index"]), v, f"{r['reward']:.3f}", f"{r['advantage']:.3f}")
            for r, v in zip(mine, verdicts, strict=True)
        ]
        assert shown == expected
        # responses as written (HTML parsing drops a NUL; tiny random models write some)
        for row, r in zip(group["rows"], mine, strict=True):
            assert row["response"] == r["response"].replace("\x00", "")
    if with_images:
        images = _loaded_images(page)
        assert [name for name, *_ in images] == [g["images"][0] for g in groups]
        assert all((w, h) == (SIDE, SIDE) for _, w, h in images), images  # the pixels the model saw


def _assert_filter_narrows(page, records: list[dict[str, Any]], facet: str, value: str, keep) -> None:
    """Choosing ``facet=value`` shows exactly the samples ``keep`` accepts, and counts them."""
    page.select_option(f"select[data-facet={facet}]", value)
    matching = [r for r in records if keep(r)]
    assert 0 < len(matching) < len(records)  # the filter changes what is visible
    assert len(_visible_rows(page)) == len(matching)
    count = page.locator("#filter-summary .count").inner_text()
    assert count.startswith(f"{len(matching)} of {len(records)} samples match"), count
    page.click("#filters-clear")
    assert len(_visible_rows(page)) == len(records)


def test_a_vision_language_step_shows_each_picture_with_its_samples(vl_run, page):
    for step in (1, 2):
        records = read_rollouts(vl_run, step)
        page.goto((vl_run / "view" / "steps" / f"step_{step}" / "index.html").as_uri())
        _assert_step_page_shows(page, records, with_images=True)
        assert page.locator("section.group dt", has_text="A-GRAE positives ×").count() == 2
    records = read_rollouts(vl_run, 1)  # step 1 has right and wrong answers (step 2 only wrong ones)
    page.goto((vl_run / "view" / "steps" / "step_1" / "index.html").as_uri())
    _assert_filter_narrows(page, records, "verdict", "correct", lambda r: r["correct"])
    _assert_filter_narrows(page, records, "advantage", "neg", lambda r: r["advantage"] < 0)
    _assert_filter_narrows(page, records, "length", "truncated", lambda r: r["finish_reason"] == "length")


def test_a_vision_language_run_page_draws_its_curves_and_links_its_validations(vl_run, page, expect):
    metrics = [json.loads(line) for line in (vl_run / "metrics.jsonl").read_text().splitlines()]
    page.goto((vl_run / "view" / "index.html").as_uri())
    for key in ("reward/mean", "reward/accuracy", "grad_norm", "response/length_mean"):
        assert key in metrics[-1], key
        chart = page.locator(f"figure.chart svg[aria-label='{key}']")
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box["width"] > 100 and box["height"] > 50
        points = chart.locator("polyline").first.get_attribute("points").split()
        assert len(points) == 2, (key, points)  # steps 1 and 2
    assert page.locator("figure.chart polyline").count() > 10
    assert page.locator("table.steps tbody tr").count() == 2
    # the first validation (before training) with its pictures, then both side by side
    page.goto((vl_run / "view" / "evals" / "validation-step-0" / "val" / "index.html").as_uri())
    assert page.locator("section.group").count() == 2
    assert [(w, h) for _, w, h in _loaded_images(page)] == [(SIDE, SIDE)] * 2
    page.goto(
        (vl_run / "view" / "compare" / "validation-step-0--validation-step-2" / "val" / "index.html").as_uri()
    )
    assert page.locator("section.pair").count() == 2 and page.locator("section.pair .side").count() == 4
    assert all(w > 0 for _, w, _ in _loaded_images(page))


def test_a_demo_step_shows_the_prompt_its_samples_and_the_a_grae_weights(demo_run, page):
    records = read_rollouts(demo_run, 1)
    assert len(records) == QUICK.prompts_per_step * QUICK.group_size
    page.goto((demo_run / "view" / "steps" / "step_1" / "index.html").as_uri())
    _assert_step_page_shows(page, records, with_images=False)
    assert page.locator("img").count() == 0
    assert page.locator("section.group .prompt .text").first.inner_text().startswith("Here is an example.")
    facts = page.locator("section.group").first.locator("dl.facts").inner_text()
    assert "A-GRAE difficulty ×" in facts and "A-GRAE positives ×" in facts
    _assert_filter_narrows(page, records, "verdict", "wrong", lambda r: r["correct"] is False)
    _assert_filter_narrows(page, records, "advantage", "pos", lambda r: r["advantage"] > 0)
    # the search finds the second prompt's question
    question = _prompt_text(records[-1]).split("Question: ")[-1].split("?")[0]
    page.fill("input[type=search]", question)
    page.wait_for_function("document.querySelector('#filter-summary .count') !== null")
    same = sum(question in _prompt_text(r) for r in records)
    assert (
        page.locator("#filter-summary .count")
        .inner_text()
        .startswith(f"{same} of {len(records)} samples match")
    )
    assert len(_visible_rows(page)) == same


def test_a_demo_run_page_draws_its_curves_and_the_before_after_comparison(demo_run, page):
    page.goto((demo_run / "view" / "index.html").as_uri())
    assert page.locator("table.steps tbody tr").count() == QUICK.steps
    for key in ("advantages/omega", "reward/accuracy", "val/pass@k"):
        assert page.locator(f"figure.chart svg[aria-label='{key}']").is_visible(), key
    omega = page.locator("figure.chart svg[aria-label='advantages/omega'] polyline").first
    assert len(omega.get_attribute("points").split()) == QUICK.steps
    page.click("text=validation step 0 vs validation step 2")
    assert page.locator("h1").inner_text() == "validation step 0 vs validation step 2"
    before, after = (
        {
            p["id"]: p["c"]
            for p in json.loads((demo_run / "validation" / f"step_{s}" / "results.json").read_text())[
                "benchmarks"
            ]["val"]["problems"]
        }
        for s in (0, QUICK.steps)
    )
    assert _changes_line(page) == _changes(before, after)
    assert page.locator("table.problems tbody tr").count() == 4


def test_two_real_evaluations_side_by_side_with_their_pictures(eval_dirs, page):
    a, b, site = eval_dirs
    results = [
        json.loads((d / "results.json").read_text())["benchmarks"]["synthetic_geometry"] for d in (a, b)
    ]
    page.goto((site / "index.html").as_uri())
    assert page.locator("table.evaluations tbody tr").count() == 2
    # one evaluation: its pass@k curve and table are results.json's numbers
    page.goto((site / "evals" / "seed0" / "index.html").as_uri())
    curve = page.locator("figure.chart svg[aria-label='synthetic_geometry: overall'] polyline").first
    assert len(curve.get_attribute("points").split()) == 3  # k = 1, 2, 4
    row = page.locator("section.benchmark table.data").first.locator("tbody tr").first
    passk = results[0]["metrics"]["overall"]["pass@k"]
    assert row.inner_text().split() == ["pass@k", *(f"{passk[k]:.3f}" for k in ("1", "2", "4"))]
    # a category's problems, each with its picture and prompt
    by_category = Counter(p["category"] for p in results[0]["problems"])
    category, count = by_category.most_common(1)[0]
    page.click(f"section.benchmark table >> text={category}")
    assert page.locator("h1").inner_text() == f"synthetic_geometry: {category}"
    assert page.locator("section.group").count() == count
    assert [(w, h) for _, w, h in _loaded_images(page)] == [(SIDE, SIDE)] * count
    assert all(g["prompt"] for g in _groups_on_page(page))
    # the two side by side: the counts of the change per problem, then the samples filtered by it
    page.goto((site / "compare" / "seed0--seed1" / "index.html").as_uri())
    c = [{p["id"]: p["c"] for p in r["problems"]} for r in results]
    change = {i: "better" if c[1][i] > c[0][i] else "worse" if c[1][i] < c[0][i] else "same" for i in c[0]}
    assert _changes_line(page) == _changes(c[0], c[1])
    assert page.locator("table.problems tbody tr").count() == 4
    page.click("text=Side by side, with the samples →")
    assert page.locator("section.pair").count() == 4 and page.locator("section.pair .side").count() == 8
    assert len(_loaded_images(page)) == 4 and all(w == SIDE for _, w, _ in _loaded_images(page))
    better = sorted(i for i, v in change.items() if v == "better")
    assert 0 < len(better) < 4  # the filter below changes what is visible
    page.select_option("select[data-facet=change]", "better")
    visible = page.eval_on_selector_all(
        "section.pair",
        "s => s.filter(x => x.offsetParent !== null).map(x => x.querySelector('h3').innerText)",
    )
    assert sorted(visible) == better


def test_the_screenshot_script_shows_a_picture_with_its_group(chromium, playwright, tmp_path):
    """scripts/screenshot_view.py (what made docs/view_vl.png): a tiny VL run, a 64-colour PNG."""
    from PIL import Image

    out = tmp_path / "view_vl.png"
    script = Path(__file__).resolve().parents[2] / "scripts" / "screenshot_view.py"
    args = [sys.executable, str(script), "--output", str(out), "--chromium", chromium]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    image = Image.open(out)
    assert image.mode == "P" and image.width == 1200 and 600 < image.height <= 1100
    assert out.stat().st_size < 300_000
    # the group on it: a geometry diagram at the size the policy saw, and its 8 samples
    assert "step 1, synthetic_geometry/train/" in result.stdout
    assert ": 1 picture(s) (280x280), 8 samples" in result.stdout, result.stdout
