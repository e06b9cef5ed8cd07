"""EvalResult metrics by hand, the masking of unscored samples, grouping and JSON round trips."""

from __future__ import annotations

import json
import math

import pytest

from mmrl.eval import EvalResult, ProblemRecord, SampleRecord, check_ks, group_metrics


def sample(
    correct: bool | None, extracted: str | None = None, finish: str = "stop", tokens: int = 10
) -> SampleRecord:
    if correct is None:
        return SampleRecord("...", finish, tokens, None, None, "timeout", None, "took too long")
    return SampleRecord("...", finish, tokens, float(correct), correct, "ok", extracted)


def problem(
    pid: str, flags: list, task: str = "math", category: str | None = None, answers=None
) -> ProblemRecord:
    answers = answers or [None] * len(flags)
    return ProblemRecord(
        pid, task, category, "4", tuple(sample(f, a) for f, a in zip(flags, answers, strict=True))
    )


def test_hand_computed_pass_mean_and_maj():
    problems = [
        # c=1 of 4; wrong answers 5, 5, 6: the vote over 4 picks "5" -> maj@4 = 0
        problem("a", [True, False, False, False], answers=["4", "5", "5", "6"]),
        problem("b", [True, True, True, True], answers=["4"] * 4),  # always right
    ]
    m = group_metrics(problems, [1, 2, 4])
    # pass@1 = mean(1/4, 1) = 0.625; pass@2 = mean(1 - C(3,2)/C(4,2) = 0.5, 1) = 0.75; pass@4 = 1
    assert m["pass@k"] == pytest.approx({1: 0.625, 2: 0.75, 4: 1.0})
    assert m["mean@k"] == pytest.approx({1: 0.625, 2: 0.625, 4: 0.625})
    # maj@1 = mean(c/n) = 0.625; maj@2: a's blocks (4,5) tie -> 1/2, (5,6) -> 0, so 0.25; b = 1
    assert m["maj@k"] == pytest.approx({1: 0.625, 2: 0.625, 4: 0.5})
    assert (m["problems"], m["samples"], m["unscored"]) == (2, 8, 0)


def test_unscored_samples_are_left_out_not_counted_wrong():
    # 3 scored samples of which 3 correct, one timeout: n = 3, c = 3, so pass@1 = 1 (not 0.75)
    p = problem("a", [True, None, True, True])
    assert (p.n, p.c, p.unscored) == (3, 3, 1)
    m = group_metrics([p, problem("b", [False] * 4)], [1, 4])
    assert m["pass@k"][1] == pytest.approx(0.5)
    # pass@4 needs 4 scored samples: "a" is left out and counted
    assert m["excluded"] == {1: 0, 4: 1}
    assert m["pass@k"][4] == 0.0
    assert m["unscored"] == 1


def test_a_k_no_problem_can_estimate_is_nan_not_zero():
    m = group_metrics([problem("a", [True, None])], [1, 2])
    assert m["pass@k"][1] == 1.0
    assert math.isnan(m["pass@k"][2])
    assert m["excluded"][2] == 1


def test_groups_by_task_and_category():
    result = EvalResult(
        "bench",
        n=2,
        ks=(1, 2),
        problems=[
            problem("a", [True, False], task="math", category="level_1"),
            problem("b", [False, False], task="math", category="level_2"),
            problem("c", [True, True], task="choice", category="level_2"),
            problem("d", [True, True], task="choice"),  # no category: only overall and by task
        ],
    )
    m = result.metrics()
    assert m["overall"]["problems"] == 4
    assert m["by_task"]["math"]["pass@k"] == pytest.approx({1: 0.25, 2: 0.5})
    assert m["by_task"]["choice"]["pass@k"] == pytest.approx({1: 1.0, 2: 1.0})
    assert sorted(m["by_category"]) == ["level_1", "level_2"]
    assert m["by_category"]["level_2"]["pass@k"][1] == pytest.approx(0.5)
    assert result.curve("pass@k", "level_1") == pytest.approx({1: 0.5, 2: 1.0})
    flat = result.flat_metrics("val/")
    assert flat["val/pass@1"] == pytest.approx(0.625)
    assert flat["val/task/math/pass@2"] == pytest.approx(0.5)
    assert flat["val/category/level_2/maj@1"] == pytest.approx(0.5)
    assert flat["val/problems"] == 4.0


@pytest.mark.parametrize(("ks", "n"), [([1, 8], 4), ([0], 4), ([], 4)])
def test_bad_ks_are_rejected(ks, n):
    with pytest.raises(ValueError, match="k"):
        check_ks(ks, n)
    with pytest.raises(ValueError):
        EvalResult("x", n=n, ks=tuple(ks), problems=[problem("a", [True] * n)])


def test_k_above_n_message_says_what_to_do():
    with pytest.raises(ValueError, match=r"k=\[8, 16\] > n=4; raise n to 16"):
        check_ks([1, 8, 16], 4)


def test_json_round_trip_keeps_every_number(tmp_path):
    result = EvalResult(
        "bench",
        n=2,
        ks=(1, 2),
        problems=[problem("a", [True, None], category="x"), problem("b", [False, True])],
        dropped=[{"id": "c", "reason": "over_budget", "message": "too long"}],
        info={"split": "test"},
    )
    path = result.to_json(tmp_path / "r.json")
    data = json.loads(path.read_text())  # strict JSON: the NaN of pass@2 over "a" alone is null
    assert data["metrics"]["overall"]["pass@k"]["1"] == pytest.approx(0.75)
    assert data["metrics"]["by_category"]["x"]["pass@k"]["2"] is None
    assert data["problems"][0]["n"] == 1 and data["problems"][0]["c"] == 1
    back = EvalResult.from_json(path)
    assert back.problems == result.problems
    assert back.metrics()["overall"]["pass@k"] == result.metrics()["overall"]["pass@k"]
    assert back.dropped == result.dropped and back.info == result.info


def test_from_dict_without_samples_says_how_to_rebuild():
    result = EvalResult("bench", n=1, ks=(1,), problems=[problem("a", [True])])
    with pytest.raises(ValueError, match="samples.jsonl"):
        EvalResult.from_dict(result.to_dict(with_samples=False))


def test_sample_record_from_score_follows_the_convention():
    from mmrl.types import Score

    partial = SampleRecord.from_score("r", "stop", 3, Score(0.5, None, "ok"))
    assert partial.correct is False and partial.reward == 0.5  # partial credit is not "correct"
    failed = SampleRecord.from_score("r", "stop", 3, Score(None, None, "error", message="boom"))
    assert failed.correct is None and failed.status == "error"
    right = SampleRecord.from_score("r", "stop", 3, Score(1.0, True, "ok", extracted="4"))
    assert right.correct is True and right.extracted == "4"
