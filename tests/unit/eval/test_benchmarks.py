"""Benchmark specs, evaluation splits, model resolution and identity, default ks, compare."""

from __future__ import annotations

import json
import os

import pytest

from mmrl.errors import UserError
from mmrl.eval import EvalResult, ProblemRecord, SampleRecord, write_outputs
from mmrl.eval.benchmarks import eval_split, model_identity, parse_benchmarks, resolve_model
from mmrl.eval.compare import compare_runs
from mmrl.eval.suite import default_ks


def test_parse_benchmarks_with_splits_and_local_paths(tmp_path):
    (tmp_path / "geometry3k").mkdir()
    (tmp_path / "gsm8k.jsonl").write_text("")
    specs = parse_benchmarks(
        "geometry3k, gsm8k,mathverse:testmini_text_only,math500",
        paths={"math500": "/data/m500.parquet"},
        data_dir=str(tmp_path),
    )
    assert [(s.label, s.recipe, s.split) for s in specs] == [
        ("geometry3k", "geometry3k", None),
        ("gsm8k", "gsm8k", None),
        ("mathverse:testmini_text_only", "mathverse", "testmini_text_only"),
        ("math500", "math500", None),
    ]
    assert specs[0].path == str(tmp_path / "geometry3k")
    assert specs[1].path == str(tmp_path / "gsm8k.jsonl")
    assert specs[2].path is None  # not in the data dir: the Hub
    assert specs[3].path == "/data/m500.parquet"
    assert specs[2].slug == "mathverse_testmini_text_only"


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("", {}, "empty"),
        ("gsm8k,gsm8k", {}, "more than once"),
        ("gsm8k", {"paths": {"math500": "x"}}, "does not list"),
        (":test", {}, "no recipe name"),
    ],
)
def test_parse_benchmarks_errors(text, kwargs, message):
    with pytest.raises(UserError, match=message):
        parse_benchmarks(text, **kwargs)


def test_eval_splits_of_the_builtin_recipes():
    from mmrl.data import get_recipe

    expected = {
        "geometry3k": "test",
        "gsm8k": "test",
        "math": "test",
        "math500": "test",
        "mathvista": "testmini",
        "mathverse": "testmini",
        "mathvision": "test",
        "chartqa": "test",
        "aime24": "train",
        "synthetic_arithmetic": "test",
        "synthetic_geometry": "test",
    }
    assert {name: eval_split(get_recipe(name)) for name in expected} == expected


def fake_model(directory, weights: bytes = b"w" * 100):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text('{"model_type": "llama"}')
    (directory / "model.safetensors").write_bytes(weights)
    return directory


def checkpoint(run, step, complete=True):
    from mmrl.checkpoints import COMPLETE_MARKER, write_manifest

    path = fake_model(run / "checkpoints" / f"step_{step}")
    write_manifest(path)
    if complete:
        (path / COMPLETE_MARKER).write_text("")
    return path


def test_resolve_model_directory_run_final_and_checkpoints(tmp_path):
    model = fake_model(tmp_path / "plain")
    r = resolve_model(str(model))
    assert (r.path, r.source, r.label) == (str(model), "model directory", "plain")
    assert resolve_model(str(model), label="mine").label == "mine"

    run = tmp_path / "runs" / "geo"
    fake_model(run / "final")
    checkpoint(run, 3)
    r = resolve_model(str(run))  # final/ wins over checkpoints
    assert r.path == str(run / "final") and r.label == "geo/final" and "final/" in r.source

    run2 = tmp_path / "runs" / "math"
    checkpoint(run2, 5)
    checkpoint(run2, 10)
    checkpoint(run2, 20, complete=False)  # a save cut by a crash
    r = resolve_model(str(run2))
    assert r.path == str(run2 / "checkpoints" / "step_10") and r.label == "math/step_10"
    assert "newest complete checkpoint step_10" in r.source and "skipped step_20" in r.source

    (run2 / "checkpoints" / "step_10" / "model.safetensors").write_bytes(b"cut")  # manifest says 100 bytes
    with pytest.raises(UserError, match="newest complete checkpoint is broken"):
        resolve_model(str(run2))


def test_resolve_model_errors(tmp_path):
    run = tmp_path / "run"
    checkpoint(run, 1, complete=False)
    with pytest.raises(UserError, match="without a COMPLETE marker: step_1"):
        resolve_model(str(run))
    with pytest.raises(UserError, match="no such directory"):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="neither a model directory"):
        resolve_model(str(tmp_path / "empty"))


def test_model_identity_fingerprint_follows_the_weights(tmp_path):
    model = fake_model(tmp_path / "m", b"a" * 3_000_000)
    first = model_identity(resolve_model(str(model)))
    assert first["weights_bytes"] == 3_000_000 and first["weight_files"] == ["model.safetensors"]
    assert first == model_identity(resolve_model(str(model)))
    # a change in the last MiB (a retrained head) changes the fingerprint
    (model / "model.safetensors").write_bytes(b"a" * 2_999_999 + b"b")
    assert model_identity(resolve_model(str(model)))["fingerprint"] != first["fingerprint"]


def test_default_ks():
    assert default_ks(16) == [1, 2, 4, 8, 16]
    assert default_ks(6) == [1, 2, 4, 6]
    assert default_ks(1) == [1]


def write_run(directory, label, c: int, n: int = 4, temperature: float = 0.6, benches=("gsm8k", "geo")):
    results = []
    for bench in benches:
        samples = tuple(SampleRecord("r", "stop", 3, float(j < c), j < c, "ok") for j in range(n))
        results.append(
            EvalResult(
                bench, n=n, ks=(1, 2, 4), problems=[ProblemRecord(f"{bench}/0", "math", None, "1", samples)]
            )
        )
    header = {
        "model": {"label": label, "path": f"/m/{label}"},
        "sampling": {"n": n, "temperature": temperature},
    }
    write_outputs(results, directory, header)
    return directory


def test_compare_two_runs_table_and_plot(tmp_path):
    a = write_run(tmp_path / "a", "base", c=1)
    b = write_run(tmp_path / "b", "a_grae", c=2, benches=("gsm8k",))
    comparison = compare_runs([a, b], plot=tmp_path / "cmp.png")
    assert comparison.labels == ["base", "a_grae"]
    # base: c=1 of 4 -> pass@2 = 1 - C(3,2)/C(4,2) = 0.5; a_grae: c=2 -> 1 - C(2,2)/C(4,2) = 5/6
    assert comparison.curves["gsm8k"]["base"] == pytest.approx({1: 0.25, 2: 0.5, 4: 1.0})
    assert comparison.curves["gsm8k"]["a_grae"] == pytest.approx({1: 0.5, 2: 5 / 6, 4: 1.0})
    assert "| a_grae | 0.500 | 0.833 | 1.000 |" in comparison.markdown
    assert "Not evaluated on geo: a_grae." in comparison.markdown
    assert "Warning" not in comparison.markdown
    assert (tmp_path / "cmp.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_labels_and_sampling_warnings(tmp_path):
    a = write_run(tmp_path / "a", "same", c=1)
    b = write_run(tmp_path / "b", "same", c=2, temperature=1.0)
    comparison = compare_runs([a, b])
    assert comparison.labels == ["same (a)", "same (b)"]
    assert "sampled differently" in comparison.markdown and "temperature" in comparison.markdown
    assert compare_runs([a, b], labels=["x", "y"]).labels == ["x", "y"]
    with pytest.raises(UserError, match="2 result directories"):
        compare_runs([a, b], labels=["x"])
    with pytest.raises(UserError, match="at least two"):
        compare_runs([a])
    os.remove(b / "results.json")
    with pytest.raises(UserError, match="no results.json"):
        compare_runs([a, b])
    (b / "results.json").write_text(json.dumps({"x": 1}))
    with pytest.raises(UserError, match="not written by `mmrl eval`"):
        compare_runs([a, b])
