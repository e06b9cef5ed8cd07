"""`mmrl data list | show | validate`: output, saved images and exit codes (0 good, 1 bad rows)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from mmrl.cli import main
from tests.integration.data import hub_fixtures

REPO = Path(__file__).resolve().parents[3]


def test_list_names_every_recipe_and_template(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "geometry3k",
        "mathverse",
        "synthetic_arithmetic",
        "jsonl",
        "hiyouga/geometry3k",
        "think_boxed",
    ):
        assert name in out


def test_show_prints_prompts_and_saves_images(tmp_path, capsys):
    out_dir = tmp_path / "imgs"
    code = main(
        ["data", "show", "synthetic_geometry", "data.options.num_examples=3", "--split", "test", "--n", "2",
         "--save-images", str(out_dir)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("task=geometry") == 2 and "You FIRST think" in out and "image 0: RGB 336x336" in out
    saved = sorted(out_dir.glob("*.png"))
    assert len(saved) == 2 and Image.open(saved[0]).size == (336, 336)


def test_show_picks_the_recipes_own_split(tmp_path, capsys):
    root = hub_fixtures.mathvista(tmp_path)
    assert main(["data", "show", "mathvista", f"data.path={root}", "--n", "1"]) == 0
    assert "mathvista [testmini]" in capsys.readouterr().out


def test_validate_exits_0_on_a_good_fixture(tmp_path, capsys):
    root = hub_fixtures.geometry3k(tmp_path)
    assert main(["data", "validate", "geometry3k", f"data.path={root}"]) == 0
    out = capsys.readouterr().out
    assert "kept       3" in out and "ok: every row is valid" in out


def test_validate_exits_1_and_reports_row_and_path_on_a_bad_fixture(tmp_path, capsys, caplog):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rows = [
        {"question": "1+1?", "answer": "2"},
        {"question": "<image>Find x.", "answer": "3", "image": "broken.png"},
        {"question": "2+2?", "answer": ""},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["data", "validate", "jsonl", f"data.path={path}", "data.max_bad_fraction=0.9"]) == 1
    out = capsys.readouterr().out
    assert "image_corrupt" in out and str(tmp_path / "broken.png") in out and "empty_answer" in out
    lines = [line.split() for line in out.splitlines()]
    assert [w for w in lines if "image_corrupt" in w and w[0] == "1"][0][:2] == ["1", "image_corrupt"]
    # One report with the configured threshold, not also the load's provisional one (threshold 1.0).
    assert "max_bad_fraction 0.9" in out and "1.0" not in caplog.text and "skipped" not in caplog.text


def test_validate_of_a_missing_path_is_a_user_error(tmp_path, capsys):
    assert main(["data", "validate", "geometry3k", f"data.path={tmp_path / 'absent'}"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_exit_codes_through_a_real_process(tmp_path):
    good = hub_fixtures.chartqa(tmp_path / "good")
    bad = tmp_path / "bad"
    (bad / "data").mkdir(parents=True)
    (bad / "data" / "test.jsonl").write_text(
        json.dumps({"image": "nope.png", "query": "q", "label": ["1"]}) + "\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    run = [sys.executable, "-m", "mmrl", "data", "validate", "--split", "test", "chartqa"]
    ok = subprocess.run([*run, f"data.path={good}"], cwd=REPO, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = subprocess.run([*run, f"data.path={bad}"], cwd=REPO, env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and "image_missing" in failed.stdout
