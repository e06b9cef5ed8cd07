"""What mmrl view reads: groups from rollouts files, metrics, evaluation directories, and errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mmrl.algos import a_grae_advantages, success_rate
from mmrl.errors import UserError
from mmrl.eval import EvalResult
from mmrl.testing import synthetic_run
from mmrl.view.sources import (
    RunSource,
    Sample,
    add_a_grae_factors,
    load_source,
    read_metrics,
    read_step,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("run") / "run", steps=3, validations=(0, 3))


def _row(example_id, index, reward, correct, advantage=0.0, **extra):
    return {
        "example_id": example_id,
        "sample_index": index,
        "task": "math",
        "prompt": "2+2?",
        "images": [],
        "answer": "4",
        "response": "4",
        "status": "ok" if reward is not None else "timeout",
        "correct": correct,
        "reward": "nan" if reward is None else reward,
        "advantage": advantage,
        **extra,
    }


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_groups_are_runs_of_one_example_and_p_is_the_trainers_success_rate(tmp_path):
    rows = [
        _row("a", 0, 1.0, True),
        _row("a", 1, 0.0, False),
        _row("a", 2, None, None),  # unscored: out of p
        _row("b", 0, 0.5, None),  # no correct indicator: p from the reward
        _row("b", 1, 1.0, None),
        _row("a", 0, 1.0, True),  # the same example again later in the step: a new group
    ]
    groups = read_step(_write(tmp_path / "step_1.jsonl", rows))
    assert [(g.example_id, len(g.samples)) for g in groups] == [("a", 3), ("b", 2), ("a", 1)]
    # p = 1/2 (the unscored sample left out), (0.5 + 1.0)/2 = 0.75, 1
    assert [g.success_rate for g in groups] == [0.5, 0.75, 1.0]
    rewards = torch.tensor([1.0, 0.0, math.nan, 0.5, 1.0, 1.0], dtype=torch.float64)
    correct = torch.tensor([1.0, 0.0, math.nan, math.nan, math.nan, 1.0])
    expected = success_rate(rewards, torch.tensor([0, 0, 0, 1, 1, 2]), correct)
    assert [g.success_rate for g in groups] == [expected[0].item(), expected[3].item(), expected[5].item()]
    assert [s.verdict for s in groups[0].samples] == ["correct", "wrong", "unscored"]
    assert groups[1].samples[0].verdict == "unknown"


def test_ranks_split_groups_of_the_same_example(tmp_path):
    rows = [_row("a", 0, 1.0, True, rank=0), _row("a", 0, 0.0, False, rank=1)]
    assert len(read_step(_write(tmp_path / "step_1.jsonl", rows))) == 2


def test_sample_facets():
    s = Sample(0, "x", "length", 5, "ok", False, 0.0, advantage=-0.25)
    assert (s.verdict, s.truncated, s.advantage_sign) == ("wrong", True, "neg")
    assert Sample(0, "x", "stop", 5, "ok", True, 1.0, advantage=float("nan")).advantage_sign == "nan"
    assert Sample(0, "x", "stop", 5, "ok", True, 1.0).advantage_sign is None  # an eval sample


def test_weight_of_a_group_is_the_sum_of_its_advantage_magnitudes(tmp_path):
    rows = [_row("a", 0, 1.0, True, 0.75), _row("a", 1, 0.0, False, -0.5)]
    [group] = read_step(_write(tmp_path / "step_1.jsonl", rows))
    assert group.stats["Σ|A|"] == 1.25


def test_a_grae_factors_are_the_estimators_own(tmp_path):
    rows = [_row("a", i, float(i < 1), i < 1) for i in range(4)]  # p = 1/4
    [group] = read_step(_write(tmp_path / "step_1.jsonl", rows))
    omega, alpha = 0.6, 0.5
    add_a_grae_factors([group], omega, alpha, "sqrt_one_minus_p")
    # (ω/2)/√p + ((1−ω)/2)/√(1−p) = 0.3/0.5 + 0.2/√0.75 = 0.6 + 0.23094 = 0.83094
    assert group.stats["A-GRAE difficulty ×"] == pytest.approx(0.6 + 0.2 / math.sqrt(0.75))
    assert group.stats["A-GRAE positives ×"] == 1.0  # min(1, 0.6/0.5)
    base = torch.tensor([1.0, -1.0, -1.0, -1.0])
    applied = a_grae_advantages(
        base,
        torch.tensor([1.0, 0, 0, 0]),
        torch.zeros(4, dtype=torch.long),
        batch_accuracy=omega,
        alpha=alpha,
    )
    assert applied[1].item() == pytest.approx(-group.stats["A-GRAE difficulty ×"])


def test_a_line_cut_by_a_crash_is_skipped_and_counted(tmp_path, caplog):
    path = _write(tmp_path / "step_1.jsonl", [_row("a", 0, 1.0, True)])
    with path.open("a") as f:
        f.write('{"example_id": "a", "sample_in')
    assert len(read_step(path)[0].samples) == 1
    assert "skipped 1 line" in caplog.text and "step_1.jsonl" in caplog.text


def test_a_record_without_a_field_names_the_file_line_and_field(tmp_path):
    rows = [_row("a", 0, 1.0, True), {"example_id": "a", "sample_index": 1}]
    with pytest.raises(UserError, match=r"step_1.jsonl line 2 has no 'response'"):
        read_step(_write(tmp_path / "step_1.jsonl", rows))


def test_metrics_keep_nan_and_the_last_line_of_a_repeated_step(tmp_path):
    lines = [
        {"step": 1, "time": 1.0, "loss": 0.5, "grad_norm": "nan", "note": "text"},
        {"step": 2, "loss": 0.4},
        {"step": 1, "loss": 0.7},  # written again after a resume
    ]
    rows = read_metrics(_write(tmp_path / "metrics.jsonl", lines))
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0] == {"step": 1, "loss": 0.7}
    bad = _write(tmp_path / "bad.jsonl", [{"loss": 1.0}])
    with pytest.raises(UserError, match="line 1 has no integer 'step'"):
        read_metrics(bad)


def test_a_run_has_its_steps_metrics_config_and_validations(run):
    source = load_source(run)
    assert isinstance(source, RunSource)
    assert [s.step for s in source.steps] == [1, 2, 3]
    assert [m["step"] for m in source.metrics] == [0, 1, 2, 3]
    assert source.config.algorithm.name == "grpo+a_grae" and "algorithm" in source.config_text
    assert source.a_grae() == (0.5, "sqrt_one_minus_p")
    assert [(e.label, e.step) for e in source.evaluations] == [
        ("validation step 0", 0),
        ("validation step 3", 3),
    ]
    [group, *_] = read_step(source.steps[0].path)
    assert group.images[0].path is not None and group.images[0].path.is_file()


def test_an_evaluation_reports_the_numbers_mmrl_eval_wrote(run):
    source = load_source(run / "validation" / "step_3")
    written = json.loads((run / "validation" / "step_3" / "results.json").read_text())["benchmarks"]["val"]
    result = source.results["val"]
    assert isinstance(result, EvalResult)
    assert result.metrics()["overall"]["pass@k"] == {
        int(k): v for k, v in written["metrics"]["overall"]["pass@k"].items()
    }
    groups = source.groups("val")
    assert [g.example_id for g in groups] == [p["id"] for p in written["problems"]]
    assert all(g.success_rate == p["c"] / p["n"] for g, p in zip(groups, written["problems"], strict=True))
    assert groups[0].prompt is not None and groups[0].images[0].path.is_file()  # ../images/<digest>.png


def test_other_directories_are_refused_with_what_was_expected(tmp_path):
    with pytest.raises(UserError, match="neither a training run"):
        load_source(tmp_path)
    with pytest.raises(UserError, match="not a directory"):
        load_source(tmp_path / "missing")
    (tmp_path / "results.json").write_text("[1, 2]")
    (tmp_path / "samples.jsonl").write_text("")
    with pytest.raises(UserError, match="not an mmrl eval results file"):
        load_source(tmp_path)
