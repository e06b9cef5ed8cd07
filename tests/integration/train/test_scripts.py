"""Every config in scripts/configs/ and every launch script runs, with a tiny model and a 2-step budget.

The paper's setups need 7B models, Hub datasets and GPUs; the overrides below swap in a tiny
random model, the offline synthetic recipe of the same modality and the ``hf`` engine, and keep
everything else (algorithm, loss, KL, DAPO rules, mini-batches, dual-clip, entropy, reward weights).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmrl.config import load_config
from mmrl.testing import save_tiny_text_model, save_tiny_vl_model
from mmrl.train import fit

from .helpers import COIN_VERIFIER, read_metrics

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = sorted(p for p in (ROOT / "scripts" / "configs").glob("*.yaml") if not p.name.startswith("_"))
PIXELS = 28 * 28 * 4

#: Offline data of the same modality for each config family.
DATA = {
    "math": ["data.recipe=synthetic_arithmetic", "data.template=null"],
    "geo3k": [
        "data.recipe=synthetic_geometry",
        "data.options={num_examples: 4, image_size: 112}",
        f"data.min_pixels={PIXELS}",
        f"data.max_pixels={PIXELS}",
    ],
    "chartqa": [
        "data.recipe=synthetic_charts",
        "data.options={num_examples: 4, image_width: 112, image_height: 112}",
        f"data.min_pixels={PIXELS}",
        f"data.max_pixels={PIXELS}",
    ],
}


def smoke_overrides(family: str, model_dir: Path, out: Path) -> list[str]:
    return [
        f"model.path={model_dir}",
        "model.dtype=float32",
        *DATA[family],
        "data.split=train",
        "data.max_prompt_length=512",
        "rollout.engine=hf",
        "rollout.n=2",
        "rollout.max_new_tokens=4",
        "rollout.stop=[' ']",
        "algorithm.overlong.buffer_length=2",
        "algorithm.dynamic_sampling.max_rounds=2",
        f"reward.verifier={COIN_VERIFIER}",
        "reward.num_workers=0",
        "trainer.max_steps=2",
        "trainer.prompts_per_step=2",
        "trainer.mini_batch_prompts=1",
        "trainer.micro_batch_size=2",
        "trainer.max_tokens_per_micro_batch=4096",
        "trainer.mixed_precision='no'",  # quoted: YAML reads a bare no as false
        "trainer.save_every=0",
        "trainer.save_final=false",
        f"trainer.output_dir={out}",
        "eval.every=2",
        "eval.recipe=null",
        "eval.limit=2",
        "eval.max_new_tokens=4",
        "logging.tensorboard=false",
        "logging.progress_bar=false",
    ]


def _family(path: Path) -> str:
    return path.name.split("_", 1)[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return {
        "text": save_tiny_text_model(tmp_path_factory.mktemp("tiny-text")),
        "vision": save_tiny_vl_model(tmp_path_factory.mktemp("tiny-vl"), "qwen2_5_vl"),
    }


def test_every_family_has_configs():
    assert {_family(p) for p in CONFIGS} == set(DATA)
    assert len([p for p in CONFIGS if _family(p) == "math"]) == 6
    assert len([p for p in CONFIGS if p.name.startswith("geo3k_qwen2_5_vl_3b")]) == 6


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_smoke_runs_two_steps(config, models, tmp_path):
    family = _family(config)
    model_dir = models["text" if family == "math" else "vision"]
    paper = load_config(config)  # the file itself resolves (no override hides an error in it)
    cfg = load_config(config, smoke_overrides(family, model_dir, tmp_path / "run"))
    assert cfg.algorithm.name == paper.algorithm.name and cfg.algorithm.kl_coef == paper.algorithm.kl_coef
    result = fit(cfg)
    metrics = read_metrics(tmp_path / "run")
    assert result.steps == 2 and [m["step"] for m in metrics] == [1, 2]
    if cfg.algorithm.name.startswith("dapo"):
        assert metrics[0]["dynamic_sampling/rounds"] >= 1
    else:
        assert metrics[0]["optimizer/steps"] == 2  # two mini-batches of one prompt each
    assert "val/pass@1" in metrics[-1]


SCRIPTS = {
    "run_math_qwen2_5_math_7b.sh": ("grpo_agrae", "math", "synthetic_arithmetic"),
    "run_geo3k_qwen2_5_vl.sh": ("3b_dr_grpo_agrae", "geo3k", "synthetic_geometry"),
    "run_chartqa_qwen2_5_vl_3b.sh": (None, "chartqa", "synthetic_charts"),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_launch_script_smoke_runs(script, models, tmp_path):
    arg, family, bench = SCRIPTS[script]
    model_dir = models["text" if family == "math" else "vision"]
    out = tmp_path / "run"
    mmrl = f"{sys.executable} -m mmrl"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "MMRL": mmrl,
        # the math script goes through `accelerate launch` (one CPU process), the others call mmrl directly
        "LAUNCH": (
            f"{sys.executable} -m accelerate.commands.launch --cpu --num_processes 1 --num_machines 1 "
            "--mixed_precision no --dynamo_backend no -m mmrl"
            if family == "math"
            else mmrl
        ),
        "EVAL_BENCHMARKS": bench,
        "EVAL_ARGS": f"--n 2 --k 1,2 --limit 2 --max-new-tokens 4 --engine hf --reward-workers 0 "
        f"--min-pixels {PIXELS} --max-pixels {PIXELS}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    args = [
        "bash",
        str(ROOT / "scripts" / script),
        *([arg] if arg else []),
        *smoke_overrides(family, model_dir, out),
    ]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert [m["step"] for m in read_metrics(out)] == [1, 2]
    assert (out / "eval" / "results.json").is_file()  # evaluated the run's newest checkpoint


def test_launch_script_rejects_an_unknown_algorithm():
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "run_math_qwen2_5_math_7b.sh"), "ppo"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "no config" in proc.stderr


def _bench_step(argv):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_step", ROOT / "scripts" / "bench_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_bench_step_prints_a_phase_table(models, tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["--model", str(models["text"]), "--prompts", "2", "--n", "2", "--max-new-tokens", "4"]
    assert _bench_step([*argv, "--warmup", "0", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for phase in ("generate", "score", "logprob", "update", "sync", "**step**"):
        assert f"| {phase} |" in printed
    import json

    assert set(json.loads(out.read_text())["phases"]) == {"generate", "score", "logprob", "update", "sync"}
