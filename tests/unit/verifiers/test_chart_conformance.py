"""Conformance of ``chart`` and ``chart_official`` to ChartQA's relaxed accuracy (``docs/verifiers.md``, Benchmark rules)."""

from __future__ import annotations

import pytest

from rewards import check_gold
from rewards.chart import chart, chart_official, pix2struct_relaxed_correctness
from tests.unit.verifiers.conftest import make_example

# (response, gold, chart, chart_official, rule)
CASES = [
    ("45", "45", True, True, "exact number"),
    ("47", "45", True, True, "benchmark card ChartQA: within 5% relative error"),
    ("47.25", "45", True, True, "exactly 5% is still right (<=)"),
    ("47.3", "45", False, False, "just over 5%"),
    ("42.75", "45", True, True, "5% below"),
    (
        "45%",
        "45",
        True,
        False,
        "benchmark card ChartQA quirk: pix2struct reads 45% as 0.45; our chart strips %",
    ),
    ("1,234", "1234", True, False, "benchmark card ChartQA quirk: pix2struct cannot parse 1,234"),
    ("$12.5", "12.5", True, False, "a leading $ is stripped by chart only"),
    ("0", "0", True, True, "ChartQA rule: gold 0 -> exact"),
    ("0.01", "0", False, False, "gold 0 needs exactly 0 (pix2struct: string compare)"),
    ("Yes", "yes", True, True, "text: case-insensitive"),
    ("Democratic Party", "democratic party", True, True, "text: case-insensitive"),
    ("Republican", "Democratic", False, False, "text: different"),
    (
        "2015",
        "2012",
        True,
        True,
        "benchmark card ChartQA quirk: years get the 5% tolerance (kept, as official)",
    ),
    ("0.45", "45%", False, True, "pix2struct divides a trailing % by 100; chart compares 45 vs 0.45"),
    ("\\boxed{48}", "50", True, True, "boxed answer, 4% off"),
    ("The answer is 60.", "50", False, False, "20% off"),
]


@pytest.mark.parametrize("response,gold,relaxed,official,rule", CASES, ids=[c[4] for c in CASES])
def test_chart_modes(response, gold, relaxed, official, rule):
    ex = make_example("chart", gold)
    assert chart(response, ex).correct is relaxed, f"chart {response!r} vs {gold!r} ({rule})"
    assert chart_official(response, ex).correct is official, (
        f"chart_official {response!r} vs {gold!r} ({rule})"
    )


def _pix2struct_reference(target: str, prediction: str, max_relative_change: float = 0.05) -> bool:
    """A line-by-line transcription of pix2struct/metrics.py::relaxed_correctness, for the test."""

    def _to_float(text):
        try:
            if text.endswith("%"):
                return float(text.rstrip("%")) / 100.0
            else:
                return float(text)
        except ValueError:
            return None

    prediction_float = _to_float(prediction)
    target_float = _to_float(target)
    if prediction_float is not None and target_float:
        relative_change = abs(prediction_float - target_float) / abs(target_float)
        return relative_change <= max_relative_change
    else:
        return prediction.lower() == target.lower()


STRINGS = [
    "45",
    "45%",
    "45%%",
    " 45 ",
    "0",
    "0.0",
    "-3",
    "1e3",
    "1_000",
    "1,000",
    "nan",
    "inf",
    "Yes",
    "YES",
    "",
    "%",
    "12.5",
    "13.1",
    "100",
    "104",
    "105.0001",
    "-0",
    "0%",
    "2012",
    "2015",
    "abc",
]


@pytest.mark.parametrize("target", STRINGS)
def test_official_equals_pix2struct_on_every_pair(target):
    for prediction in STRINGS:
        assert pix2struct_relaxed_correctness(target, prediction) is _pix2struct_reference(
            target, prediction
        ), (
            target,
            prediction,
        )


def test_hedged_chart_answers_are_wrong():
    ex = make_example("chart", "12")
    # Both are within 5% of the gold, but two different final answers are a hedge (hedge rule).
    result = chart("\\boxed{12} or \\boxed{12.3}", ex)
    assert result.correct is False and "ambiguous" in result.message


def test_empty_gold_is_unparsable():
    assert chart("12", make_example("chart", " ")).status == "unparsable_gold"


def test_any_of_the_gold_labels():
    # benchmark card ChartQA: "The score is the max over gold labels"; the chartqa recipe keeps them in meta.
    ex = make_example("chart", "Yes", labels=["Yes", "True"])
    assert chart("true", ex).correct is True and chart_official("True", ex).correct is True
    assert chart("No", ex).correct is False
    assert chart("1", make_example("chart", "1", labels="oops")).status == "unparsable_gold"


@pytest.mark.parametrize(
    "gold,needle",
    [
        # str(None), str(float("nan")), str(float("inf")): each used to match itself as text.
        ("None", "serialised missing or float value"),
        ("nan", "serialised missing or float value"),
        ("inf", "serialised missing or float value"),
        ("-inf", "serialised missing or float value"),
        ("N/A", "serialised missing or float value"),
        ("NaN%", "serialised missing or float value"),  # after the % chart strips
        ("$inf", "serialised missing or float value"),  # after the $ chart strips
        # Numbers that float() reads as an infinity: official pix2struct compares inf - inf = nan.
        ("Infinity", "is not a finite number (inf)"),
        ("1e999", "is not a finite number (inf)"),
        ("-1e400%", "is not a finite number (-inf)"),
    ],
)
@pytest.mark.parametrize("task", ["chart", "chart_official"])
def test_check_gold_rejects_missing_and_non_finite_golds(task, gold, needle):
    reason = check_gold(make_example(task, gold))
    assert reason is not None and needle in reason and repr(gold) in reason, reason
    # Scored, the row is unscorable (reward None, masked), never right or wrong.
    result = (chart if task == "chart" else chart_official)(gold, make_example(task, gold))
    assert (result.reward, result.status) == (None, "unparsable_gold")


@pytest.mark.parametrize("task", ["chart", "chart_official"])
def test_check_gold_rejects_a_missing_label_and_names_the_labels(task):
    reason = check_gold(make_example(task, "5", labels=["5", "nan"]))
    assert reason == (
        "meta['labels'] ['5', 'nan']: gold answer 'nan' is a serialised missing or float value, not an answer"
    )


@pytest.mark.parametrize("gold", ["45", "1e308", "1_000", "1,000,000", "none of the above", "Infinite", "0"])
@pytest.mark.parametrize("task", ["chart", "chart_official"])
def test_check_gold_keeps_finite_numbers_and_words(task, gold):
    # 1e308 is finite; "none of the above" and "Infinite" are words, not serialised values;
    # chart_official reads 1,000,000 as text (pix2struct's float() cannot), which matches itself.
    assert check_gold(make_example(task, gold)) is None
