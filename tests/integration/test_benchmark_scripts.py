"""The side-by-side benchmark and the A-GRAE experiment run end to end at a tiny shape.

Both are real runs of the scripts (fresh processes, the same code paths as the full-size runs) on
a tiny random model with the transformers engine; their numbers mean nothing at this size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmrl.testing import save_tiny_text_model

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, cwd=ROOT, timeout=900):
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_bench_vs_trl_smoke(tmp_path):
    pytest.importorskip("trl", reason="TRL is in the bench extra (make setup installs it)")
    out = tmp_path / "bench.json"
    proc = _run(
        "scripts/bench_vs_trl.py", "--tiny", "--rounds", "1", "--warmup", "1", "--steps", "1",
        "--max-new-tokens", "4", "--json", str(out),
    )  # fmt: skip
    doc = json.loads(out.read_text())
    assert doc["ratio"] > 0 and doc["floor"]["step"] > 0
    for trainer in ("trl", "mmrl"):
        phases = doc["phases"][trainer]
        assert phases["timed_steps"] == 1 and phases["step"] > 0
        assert phases["generate"] > 0 and phases["update"] > 0
    assert doc["settings"]["trl"].startswith("TRL 1.16") and "fp32" in doc["settings"]["trl"]
    assert doc["settings"]["mmrl"].startswith("mmrl defaults: engine ")
    assert "mmrl is" in proc.stdout and "Floor on this device" in proc.stdout
    matmuls = doc["matmuls"]
    assert matmuls["update"] > 0 and matmuls["generate"] > 0
    assert matmuls["step"] == pytest.approx(matmuls["update"] + matmuls["generate"])
    assert "matrix products alone" in proc.stdout
    assert all(0 <= s["skipped"] <= 1 for r in doc["raw"]["mmrl"] for s in r["steps"])
    assert "mmrl's timed steps skipped" in proc.stdout


def test_agrae_experiment_runs_resumes_and_reports(tmp_path):
    model = save_tiny_text_model(tmp_path / "tiny", seed=0)
    out, report = tmp_path / "exp", tmp_path / "report"
    args = [
        "scripts/experiments/agrae_vs_grpo.py", "--model", str(model), "--engine", "hf", "--out", str(out),
        "--report", str(report), "--seeds", "0,1", "--steps", "2", "--prompts-per-step", "2", "--group-size", "2",
        "--eval-problems", "4", "--eval-n", "4", "--val-every", "1", "--val-problems", "2", "--val-n", "2",
        "--max-new-tokens", "6", "--difficulty", "1",
    ]  # fmt: skip
    _run(*args)
    for name in ("base", "grpo-seed0", "grpo_a_grae-seed0", "grpo-seed1", "grpo_a_grae-seed1"):
        doc = json.loads((out / "eval" / name / "results.json").read_text())
        assert doc["sampling"]["n"] == 4 and doc["sampling"]["stop"] == ["\n\nQuestion"]
    results = json.loads((report / "agrae_vs_grpo_results.json").read_text())
    assert results["seeds"] == {"base": 1, "grpo": 2, "grpo+a_grae": 2}
    assert set(results["passk"]["grpo"]) == {"1", "2", "4"}
    low, high = results["passk"]["grpo"]["4"][1:]
    assert 0 <= low <= results["passk"]["grpo"]["4"][0] <= high <= 1
    assert "grpo+a_grae - grpo" in results["differences"]
    assert results["curves"]["grpo"]["val/entropy"], "validation entropy was not logged"
    text = (report / "agrae_vs_grpo.md").read_text()
    assert "| GRPO + A-GRAE | 2 |" in text and "## Conclusion (as measured)" in text
    for png in ("agrae_vs_grpo_passk.png", "agrae_vs_grpo_training.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # resumable: a second run trains and evaluates nothing again
    timings = json.loads((out / "timings.json").read_text())
    proc = _run(*args)
    assert "train/" not in proc.stdout and "eval/" not in proc.stdout
    assert json.loads((out / "timings.json").read_text()) == timings
    # a fresh checkout (no run directories) rebuilds the same report from the committed results JSON
    fresh = [a if a != str(out) else str(tmp_path / "fresh") for a in args]
    _run(*fresh, "--report-only")
    again = json.loads((report / "agrae_vs_grpo_results.json").read_text())
    assert again["passk"] == results["passk"] and again["counts"] == results["counts"]
    # ... and running it there trains and evaluates nothing that the report already holds
    proc = _run(*fresh)
    assert "train/" not in proc.stdout and "eval/" not in proc.stdout and "not run again" in proc.stdout


def test_gpu_check_parses_and_refuses_without_cuda(tmp_path):
    import torch

    assert subprocess.run(["bash", "-n", "scripts/gpu_check.sh"], cwd=ROOT).returncode == 0
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: scripts/gpu_check.sh would run for real")
    proc = subprocess.run(
        ["bash", "scripts/gpu_check.sh", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHON": sys.executable},
        timeout=120,
    )
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


def _experiment_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "agrae_vs_grpo", ROOT / "scripts/experiments/agrae_vs_grpo.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_paired_difference_pairs_equal_seeds_and_the_base_with_every_seed():
    import random

    m = _experiment_module()
    problems = ["p1", "p2"]
    base = {"base": {"p1": 0.0, "p2": 0.5}}
    grpo = {"0": {"p1": 1.0, "p2": 0.5}, "1": {"p1": 0.0, "p2": 0.5}}
    agrae = {"0": {"p1": 1.0, "p2": 1.0}, "2": {"p1": 1.0, "p2": 1.0}}
    rng = random.Random(0)
    # by hand: grpo - base = seed 0: (1 + 0) / 2, seed 1: (0 + 0) / 2 -> mean 0.25
    assert m.paired_difference(grpo, base, problems, rng)[0] == pytest.approx(0.25)
    # only seed 0 is on both sides: (0 + 0.5) / 2
    mean, low, high = m.paired_difference(agrae, grpo, problems, rng)
    assert mean == pytest.approx(0.25) and 0.0 <= low <= mean <= high <= 0.5
    # a constant difference has a zero-width interval
    assert m.bootstrap_mean([{"p1": 0.3, "p2": 0.3}], problems, rng) == pytest.approx((0.3, 0.3, 0.3))


def test_control_findings_check_the_papers_three_claims_either_way():
    m = _experiment_module()
    curves = {
        "negative_dominant": {"val/entropy": [(0, 0.6), (30, 0.5)]},
        "positive_dominant": {"val/entropy": [(0, 0.6), (30, 0.2)]},
        # accuracy over steps 1..10 only: step 0 and step 20 do not count
        "easy_focused": {"reward/accuracy": [(0, 0.9), (1, 0.2), (10, 0.4), (20, 0.0)]},
        "hard_focused": {"reward/accuracy": [(1, 0.1), (10, 0.3), (20, 1.0)]},
    }
    result = {"passk": {"easy_focused": {1: (0.30, 0, 1)}, "hard_focused": {1: (0.25, 0, 1)}}}
    entropy, early, final = m.control_findings(result, curves, early_steps=10)
    assert "0.500" in entropy and "0.200" in entropy and "higher, as the paper reports" in entropy
    assert "Easy-Focused 0.300, Hard-Focused 0.200; as the paper reports" in early
    assert "Hard-Focused 0.250, Easy-Focused 0.300; unlike the paper" in final
    curves["negative_dominant"]["val/entropy"][-1] = (30, 0.1)
    assert "not higher, unlike the paper" in m.control_findings(result, curves, 10)[0]
    assert m.control_findings({"passk": {}}, {}, 10) == []  # nothing run, nothing claimed
