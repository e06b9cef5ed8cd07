"""Smoke tests of the rollout and memory benchmark scripts at a tiny budget."""

import importlib.util
import json
from pathlib import Path

from mmrl.testing import save_tiny_text_model

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_rollout_compares_engine_and_plain_loop(tmp_path, capsys):
    model_dir = save_tiny_text_model(tmp_path / "tiny")
    out = tmp_path / "bench.json"
    args = [
        "--model",
        str(model_dir),
        "--prompts",
        "2",
        "--n",
        "2",
        "--max-new-tokens",
        "4",
        "--repeats",
        "1",
    ]
    assert _load("bench_rollout").main([*args, "--dtype", "float32", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["runs"]) == {"plain_generate_loop", "hf_engine"}
    assert result["runs"]["hf_engine"]["tokens"] > 0 and result["hf_engine_over_plain"] > 0
    assert "hf engine / plain generate loop" in capsys.readouterr().out


def test_bench_logprob_memory_chunked_is_smaller(tmp_path):
    out = tmp_path / "memory.json"
    args = ["--tokens", "256", "--vocab", "20000", "--hidden", "32", "--chunk-size", "32", "--out", str(out)]
    assert _load("bench_logprob_memory").main([*args, "--require-ratio", "0.5"]) == 0
    result = json.loads(out.read_text())
    assert set(result["passes"]) == {"forward (no grad)", "forward+backward"}
    assert all(p["naive_bytes"] > 0 for p in result["passes"].values())


def test_bench_hidden_states_memory_prints_both_passes(capsys):
    args = ["--layers", "2", "--hidden", "64", "--vocab", "128", "--batch", "2", "--tokens", "64"]
    assert _load("bench_hidden_states_memory").main(args) == 0
    out = capsys.readouterr().out
    assert "all layers MiB" in out and "final-norm hook MiB" in out
