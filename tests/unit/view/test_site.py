"""build_site on runs and evaluations: every page kind, pagination, escaping, images, rebuilds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from mmrl.cli import main
from mmrl.errors import UserError
from mmrl.eval import EvalResult, ProblemRecord, SampleRecord, write_outputs
from mmrl.testing import synthetic_run
from mmrl.view import build_site


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("run") / "run", steps=3, validations=(0, 3))


@pytest.fixture(scope="module")
def site(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    build_site([run], out, progress=False)
    return out


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr id="(g\d+s\d+)" class="v-(\w+)"', html)


def _index(path) -> dict:
    return json.loads(path.read_text().removeprefix("window.MMRL_INDEX = ").rstrip().rstrip(";"))


def test_a_run_gets_curves_steps_evaluations_and_a_comparison(run, site):
    home = (site / "index.html").read_text()
    for step in (1, 2, 3):
        assert f'href="steps/step_{step}/index.html"' in home
    for key in (
        "reward/mean",
        "reward/accuracy",
        "advantages/omega",
        "actor/entropy_mean",
        "response/length_mean",
        "response/truncated_frac",
        "advantages/abs_sum/p=&lt;bucket&gt;",
        "actor/approx_kl",
        "grad_norm",
        "time/&lt;phase&gt; (seconds)",
        "val/pass@k",
    ):
        assert f'aria-label="{key}"' in home, key
    assert home.index("Key curves") < home.index('aria-label="grad_norm"') < home.index("<h3>advantages</h3>")
    assert (
        'href="evals/validation-step-0/index.html"' in home
        and "validation step 0 vs validation step 3" in home
    )
    assert (site / "compare" / "validation-step-0--validation-step-3" / "val" / "index.html").is_file()
    assert "<script" not in home  # the run page needs no script at all


def test_a_step_page_shows_every_sample_with_its_verdict_reward_and_advantage(run, site):
    records = [json.loads(line) for line in (run / "rollouts" / "step_2.jsonl").read_text().splitlines()]
    page = (site / "steps" / "step_2" / "index.html").read_text()
    assert len(_rows(page)) == len(records)
    for r in records:
        assert r["example_id"] in page
        assert f"{r['advantage']:.3f}" in page
    assert page.count('<details class="reasoning">') == sum("<think>" in r["response"] for r in records)
    assert "success rate p" in page and "Σ|A|" in page and "A-GRAE difficulty ×" in page
    assert "ω (batch accuracy)" in page
    # images: <img src> resolves to a file of the site
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources and all((site / "steps" / "step_2" / s).resolve().is_file() for s in sources)
    index = _index(site / "steps" / "step_2" / "index.js")
    assert len(index["items"]) == len(records) and index["facets"][0] == "verdict"
    verdicts = index["values"][0]
    assert sorted(verdicts[item[2]] for item in index["items"]) == sorted(v for _, v in _rows(page))


def test_evaluation_pages_link_each_category_to_its_problems(run, site):
    page = (site / "evals" / "validation-step-3" / "index.html").read_text()
    assert "pass@k" in page and "By category" in page
    for category in ("circle", "triangle", "bars"):
        listing = site / "evals" / "validation-step-3" / "val" / "category" / category / "index.html"
        assert f'href="val/category/{category}/index.html"' in page
        html = listing.read_text()
        assert html.count('<section class="group"') == 2  # 6 problems, 3 categories
        assert all(f"<dd>{category}</dd>" in section for section in html.split('<section class="group"')[1:])


def test_model_output_and_prompts_are_escaped(tmp_path):
    run = tmp_path / "run"
    (run / "rollouts").mkdir(parents=True)
    row = {
        "example_id": "x<1>",
        "sample_index": 0,
        "task": "math",
        "prompt": "<img src=x onerror=alert(1)>",
        "images": ["../config.yaml", "/etc/passwd"],
        "answer": "4",
        "response": "<script>alert(1)</script>",
        "status": "ok",
        "correct": True,
        "reward": 1.0,
        "advantage": 0.0,
        "extracted": "</td>",
    }
    (run / "rollouts" / "step_1.jsonl").write_text(json.dumps(row) + "\n")
    (run / "config.yaml").write_text("secret: 1\n")
    build_site([run], tmp_path / "site", progress=False)
    html = (tmp_path / "site" / "steps" / "step_1" / "index.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;/td&gt;" in html
    assert not (tmp_path / "site" / "images").exists()  # neither file was copied: not images
    assert html.count("image missing") == 2


def test_a_large_step_is_split_into_pages_of_at_most_200_samples(tmp_path):
    run = synthetic_run(tmp_path / "run", steps=1, prompts_per_step=300, n=8, images=False)
    build_site([run], tmp_path / "site", progress=False)
    step = tmp_path / "site" / "steps" / "step_1"
    pages = sorted(step.glob("*.html"))
    assert len(pages) == 12  # 2400 samples, 25 groups of 8 per page
    counts = [len(_rows(p.read_text())) for p in pages]
    assert sum(counts) == 2400 and max(counts) == 200
    index = _index(step / "index.js")
    assert len(index["items"]) == 2400 and len(index["groups"]) == 300
    names = index["pages"]
    for page, key in index["groups"][:60]:  # each group is on the page the index says
        assert f'id="{key}"' in (step / names[page]).read_text()
    first = (step / "index.html").read_text()
    assert 'href="p2.html"' in first and 'href="p12.html"' in first
    assert '<script src="index.js" defer></script>' in first


def test_a_rebuild_renders_only_changed_steps_and_drops_removed_ones(tmp_path):
    run = synthetic_run(tmp_path / "run", steps=3, prompts_per_step=2, n=2, images=False)
    first = build_site([run], tmp_path / "site", progress=False)
    assert (first.steps, first.steps_reused) == (3, 0)
    again = build_site([run], tmp_path / "site", progress=False)
    assert (again.steps, again.steps_reused) == (0, 3)
    path = run / "rollouts" / "step_2.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")  # a step written again (fewer records)
    (run / "rollouts" / "step_3.jsonl").unlink()
    third = build_site([run], tmp_path / "site", progress=False)
    assert (third.steps, third.steps_reused) == (1, 1)
    assert len(_rows((tmp_path / "site" / "steps" / "step_2" / "index.html").read_text())) == 2
    assert not (tmp_path / "site" / "steps" / "step_3").exists()
    # the metrics line of a step written after its rollouts (the trainer's order) shows up too
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 1, "reward/mean": 0.987654}) + "\n")
    fourth = build_site([run], tmp_path / "site", progress=False)
    assert (fourth.steps, fourth.steps_reused) == (1, 1)
    assert "0.9877" in (tmp_path / "site" / "steps" / "step_1" / "index.html").read_text()


def test_a_directory_that_is_not_a_site_is_not_overwritten(run, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a site written by mmrl view"):
        build_site([run], tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


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
    result = EvalResult("bench", n=n, ks=(1, 2, 4), problems=problems)
    write_outputs([result], path, {"model": {"label": label, "path": f"/models/{label}"}})
    return path


def test_two_evaluations_side_by_side_problem_by_problem(tmp_path):
    a = _eval_dir(tmp_path / "a", "base", [0, 2, 4, 1])
    b = _eval_dir(tmp_path / "b", "tuned", [3, 2, 1, 1])
    report = build_site([a, b], tmp_path / "site", progress=False)
    assert report.evaluations == 2
    home = (tmp_path / "site" / "index.html").read_text()
    assert "base" in home and "tuned" in home and "base vs tuned" in home
    compare = (tmp_path / "site" / "compare" / "base--tuned" / "index.html").read_text()
    assert "better in B: <strong>1</strong>" in compare and "worse in B: <strong>1</strong>" in compare
    assert "the same: <strong>2</strong>" in compare
    ids = re.findall(r'<tr class="change-(\w+)"><td><a href="[^"]+">(p\d)</a>', compare)
    assert ids == [("better", "p0"), ("same", "p1"), ("same", "p3"), ("worse", "p2")]  # by Δ, largest first
    pairs = (tmp_path / "site" / "compare" / "base--tuned" / "bench" / "index.html").read_text()
    assert pairs.count('class="side"') == 8 and "question 0" in pairs
    assert (tmp_path / "site" / "evals" / "base" / "bench" / "category" / "level_0" / "index.html").is_file()


def test_a_single_evaluation_is_the_front_page(tmp_path):
    a = _eval_dir(tmp_path / "a", "base", [0, 2])
    build_site([a], tmp_path / "site", progress=False)
    front = (tmp_path / "site" / "index.html").read_text()
    assert "<h1>base</h1>" in front and 'href="bench/index.html"' in front


def test_unknown_metric_keys_are_drawn_too(tmp_path):
    run = synthetic_run(tmp_path / "run", steps=2, prompts_per_step=1, n=2, images=False)
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 3, "my_probe/sparsity": 0.3, "loss": 0.1}) + "\n")
        f.write(json.dumps({"step": 4, "my_probe/sparsity": 0.5}) + "\n")
    build_site([run], tmp_path / "site", progress=False)
    home = (tmp_path / "site" / "index.html").read_text()
    assert 'aria-label="my_probe/sparsity"' in home and "<h3>my_probe</h3>" in home


def test_the_command_writes_beside_the_run_and_serves_it(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["view", str(copy)]) == 0
    assert f"open {(copy / 'view' / 'index.html').resolve()}" in capsys.readouterr().out
    assert main(["view", str(tmp_path / "nothing")]) == 1
    server = subprocess.Popen(
        [sys.executable, "-m", "mmrl", "view", str(copy), "--serve", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = server.stdout.readline()
        port = int(re.search(r"http://127.0.0.1:(\d+)/", line).group(1))
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/steps/step_1/index.html", timeout=5
                ) as r:
                    assert r.status == 200 and b"step 1" in r.read()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_two_evaluations_of_one_model_are_told_apart_by_their_directories(tmp_path):
    a = _eval_dir(tmp_path / "t0.6", "base", [0, 2])
    b = _eval_dir(tmp_path / "t1.0", "base", [1, 2])
    build_site([a, b], tmp_path / "site", progress=False)
    home = (tmp_path / "site" / "index.html").read_text()
    assert "base (t0.6) vs base (t1.0)" in home


def test_keys_with_one_value_at_every_step_are_listed_not_drawn(tmp_path):
    run = synthetic_run(tmp_path / "run", steps=2, prompts_per_step=1, n=2, images=False)
    with (run / "metrics.jsonl").open("a") as f:
        for step in (3, 4):
            f.write(json.dumps({"step": step, "reward/timeout": 0.0, "actor/approx_kl": 0.0}) + "\n")
    build_site([run], tmp_path / "site", progress=False)
    home = (tmp_path / "site" / "index.html").read_text()
    constants = home[home.index("The same at every step") :]
    assert '<th>reward/timeout</th><td class="num">0.000</td>' in constants
    assert 'aria-label="reward/timeout"' not in home
    assert 'aria-label="actor/approx_kl"' in home  # a key curve is always drawn


def test_a_benchmark_named_like_a_folder_of_the_site_does_not_replace_it(tmp_path):
    problems = [ProblemRecord("p0", "math", None, "4", (SampleRecord("4", "stop", 1, 1.0, True, "ok", "4"),))]
    write_outputs(
        [EvalResult("images", n=1, ks=(1,), problems=problems)], tmp_path / "e", {"model": {"label": "m"}}
    )
    build_site([tmp_path / "e"], tmp_path / "site", progress=False)
    assert (tmp_path / "site" / "assets" / "view.js").is_file()
    assert (tmp_path / "site" / "benchmark-images" / "index.html").is_file()
