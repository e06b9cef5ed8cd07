"""mmrl view on what the real commands write: a tiny vision-language training run and two
`mmrl eval` output directories of a tiny VL model (images stored as files, then shown)."""

from __future__ import annotations

import json
import re

from mmrl.cli import main
from mmrl.testing import save_tiny_vl_model, tiny_image
from mmrl.train import fit
from tests.integration.train.helpers import tiny_text_config

FAST = ["--max-new-tokens", "8", "--reward-workers", "0", "--max-prompt-length", "1024"]


def _images_resolve(page_path) -> list[str]:
    sources = re.findall(r'<img src="([^"]+)"', page_path.read_text())
    assert all((page_path.parent / s).resolve().is_file() for s in sources), sources
    return sources


def test_view_of_a_tiny_vision_language_run(tmp_path, capsys):
    model = save_tiny_vl_model(tmp_path / "vl", "qwen2_vl")
    run = tmp_path / "run"
    cfg = tiny_text_config(
        model,
        run,
        "data.recipe=synthetic_geometry",
        "data.options={num_examples: 8, image_size: 112}",
        f"data.min_pixels={28 * 28 * 4}",
        f"data.max_pixels={28 * 28 * 4}",
        "trainer.max_steps=2",
        "eval.every=2",
        "eval.before_train=true",
        "eval.limit=2",
        "eval.n=2",
        "eval.k=[1,2]",
    )
    fit(cfg)
    assert main(["view", str(run)]) == 0
    site = run / "view"
    for step in (1, 2):
        page = site / "steps" / f"step_{step}" / "index.html"
        records = [json.loads(x) for x in (run / "rollouts" / f"step_{step}.jsonl").read_text().splitlines()]
        sources = _images_resolve(page)
        assert len(sources) == len({r["example_id"] for r in records})  # one picture per prompt
        assert len(re.findall(r'<tr id="g\d+s\d+"', page.read_text())) == len(records)
    # the validations (before and after) with their pictures, and the two side by side
    _images_resolve(site / "evals" / "validation-step-0" / "val" / "index.html")
    pairs = site / "compare" / "validation-step-0--validation-step-2" / "val" / "index.html"
    assert pairs.read_text().count('class="side"') == 4
    home = (site / "index.html").read_text()
    assert 'aria-label="reward/mean"' in home and 'aria-label="grad_norm"' in home


def test_view_of_two_eval_directories(tmp_path, capsys):
    model = save_tiny_vl_model(tmp_path / "vl", "qwen2_vl")
    geo = tmp_path / "data" / "geometry3k"
    geo.mkdir(parents=True)
    rows = []
    for i in range(3):
        tiny_image(seed=i, size=(56, 56)).save(geo / f"img{i}.png")
        rows.append({"images": [f"img{i}.png"], "problem": f"<image>Find x. Case {i}.", "answer": str(3 + i)})
    (geo / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    outs = []
    for seed in (0, 1):
        out = tmp_path / f"eval-{seed}"
        args = [
            "eval",
            "--model",
            str(model),
            "--benchmarks",
            "geometry3k",
            "--data-dir",
            str(tmp_path / "data"),
        ]
        args += ["--n", "2", "--seed", str(seed), "--label", f"seed{seed}", "--output", str(out), *FAST]
        assert main(args) == 0, capsys.readouterr().err
        samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
        assert all(s["prompt"] and (out / s["images"][0]).is_file() for s in samples)
        outs.append(out)
    assert main(["view", *map(str, outs), "--output", str(tmp_path / "site")]) == 0
    site = tmp_path / "site"
    sources = _images_resolve(site / "evals" / "seed0" / "geometry3k" / "index.html")
    assert (
        len(sources) == 3
        and "Find x. Case 2." in (site / "evals" / "seed0" / "geometry3k" / "index.html").read_text()
    )
    compare = (site / "compare" / "seed0--seed1" / "index.html").read_text()
    assert compare.count('<tr class="change-') == 3
    _images_resolve(site / "compare" / "seed0--seed1" / "geometry3k" / "index.html")
