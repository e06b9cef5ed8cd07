"""Rows that break the dataset's schema are rejected at load, each with its row index and reason.

Missing or null answers, empty prompts, image markers unlike the images, repeated ids and gold
answers the verifier cannot verify against themselves: each is a bad row in the report (a table of
rows per reason, then one line per issue). ``data.on_bad_row`` chooses between skipping them
(failing above ``data.max_bad_fraction``) and failing the load at the first.
"""

from __future__ import annotations

import logging
import re

import pytest

from mmrl.config import load_config
from mmrl.data import DataValidationError, load_examples, load_from_config
from rewards import register_verifier
from tests.unit.data.test_validation import png, write_jsonl, write_mixed_rows


@register_verifier("test_schema_integer")
def integer_answer(response, example):
    """Reads integer golds only (``None`` for any other); the answer is the last ``\\boxed{..}``."""
    if not re.fullmatch(r"-?\d+", example.answer):
        return None
    boxes = re.findall(r"\\boxed\{([^{}]*)\}", response)
    return float(bool(boxes) and boxes[-1] == example.answer)


@pytest.fixture
def mixed_rows(tmp_path):
    return write_mixed_rows(tmp_path)


def issues_of(report) -> list[tuple[int, str, str | None]]:
    return [(i.row_index, i.reason, i.field) for i in report.issues]


@pytest.mark.reliability(19)
def test_every_bad_row_is_reported_with_index_reason_and_path(mixed_rows):
    with pytest.raises(DataValidationError) as info:
        load_examples("jsonl", path=mixed_rows)
    report = info.value.report
    by_row = {}
    for issue in report.issues:
        by_row.setdefault(issue.row_index, set()).add(issue.reason)
    assert by_row == {
        4: {"empty_question"},
        5: {"empty_answer"},
        6: {"image_empty"},
        7: {"image_corrupt"},
        8: {"image_missing"},
        9: {"placeholder_mismatch"},
        10: {"duplicate_id"},
        11: {"unparsable_gold"},
        12: {"image_remote_refused"},
        13: {"image_oversized"},
    }
    paths = {i.row_index: i.path for i in report.issues if i.path}
    assert paths[6].endswith("img/empty.png") and paths[7].endswith("img/corrupt.png")
    assert paths[8].endswith("img/missing.png") and paths[12] == "https://example.com/c.png"
    assert paths[13].endswith("img/bomb.png")
    assert report.rows_read == 14 and report.bad_rows == 10 and report.kept == 4
    table = str(info.value)
    assert "image_corrupt" in table and "img/corrupt.png" in table and "FAILED" in table
    assert "max_bad_fraction=0.05" in table


@pytest.mark.reliability(19)
@pytest.mark.parametrize("position", [0, 2])
def test_a_row_without_an_answer_is_a_bad_row_with_its_index(tmp_path, position):
    # The first row too: a JSON file has no schema, and one incomplete row is not a wrong column.
    rows = [{"question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(4)]
    del rows[position]["answer"]
    loaded = load_examples("jsonl", path=write_jsonl(tmp_path / "rows.jsonl", rows), max_bad_fraction=0.5)
    assert issues_of(loaded.report) == [(position, "missing_field", "answer")]
    assert loaded.report.kept == 3 and position not in [ex.meta["row_index"] for ex in loaded]


@pytest.mark.reliability(19)
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_null_or_nan_answer_is_a_bad_row_with_its_index(tmp_path, fmt):
    answers = [4.0, None, float("nan"), 8.0]
    rows = [
        {"question": f"What is {i}+{i}?", "answer": a} for i, a in zip((2, 3, 4, 4), answers, strict=True)
    ]
    if fmt == "jsonl":
        path = write_jsonl(tmp_path / "rows.jsonl", rows)  # json writes the NaN as NaN, and reads it back
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = str(tmp_path / "rows.parquet")
        pq.write_table(pa.Table.from_pylist(rows), path)
    loaded = load_examples(fmt, path=path, max_bad_fraction=0.5)
    assert issues_of(loaded.report) == [(1, "empty_answer", "answer"), (2, "empty_answer", "answer")]
    assert [ex.answer for ex in loaded] == ["4", "8"]


@pytest.mark.reliability(19)
@pytest.mark.parametrize(
    "question,images,detail",
    [
        ("<image>Find x.", [], "1 image marker(s) but the row has no image"),
        ("<image>Find x.", ["ok.png", "ok.png"], "1 image marker(s) (<image>) but the row has 2 image(s)"),
        ("<image> and <image>: which is larger?", ["ok.png"], "2 image marker(s)"),
    ],
)
def test_image_markers_unlike_the_images_are_a_bad_row(tmp_path, question, images, detail):
    (tmp_path / "ok.png").write_bytes(png())
    rows = [
        {"question": "<image>What color is it?", "answer": "blue", "images": ["ok.png"], "task": "chart"},
        {"question": question, "answer": "3", "images": images},
    ]
    with pytest.raises(DataValidationError) as info:
        load_examples("jsonl", path=write_jsonl(tmp_path / "rows.jsonl", rows), on_bad_row="fail")
    (issue,) = info.value.report.issues
    assert (issue.row_index, issue.reason, issue.field) == (1, "placeholder_mismatch", "question")
    assert detail in issue.detail


@pytest.mark.reliability(19)
def test_a_gold_the_verifier_cannot_score_against_itself_is_a_bad_row(tmp_path):
    # The gold check scores each gold answer, as a response, against itself with the row's verifier.
    rows = [
        {"question": "How many?", "answer": "12", "task": "test_schema_integer"},
        {"question": "How many?", "answer": "twelve", "task": "test_schema_integer"},
        {"question": "Simplify.", "answer": "\\frac{1}{", "task": "math"},
        {"question": "Simplify.", "answer": "\\frac{1}{2}", "task": "math"},
    ]
    loaded = load_examples("jsonl", path=write_jsonl(tmp_path / "rows.jsonl", rows), max_bad_fraction=0.5)
    assert issues_of(loaded.report) == [(1, "unparsable_gold", "answer"), (2, "unparsable_gold", "answer")]
    assert "'twelve'" in loaded.report.issues[0].detail and "returned None" in loaded.report.issues[0].detail
    assert [ex.answer for ex in loaded] == ["12", "\\frac{1}{2}"]


@pytest.mark.reliability(19)
def test_gold_checker_crash_is_reported_not_hidden(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{"question": "q", "answer": "1"}])

    def broken(example):
        raise ZeroDivisionError("boom")

    with pytest.raises(DataValidationError, match="raised ZeroDivisionError: boom"):
        load_examples("jsonl", path=path, check_gold=broken)


@pytest.mark.reliability(19)
def test_the_report_table_counts_each_reason_with_its_first_rows(tmp_path, caplog):
    rows = [
        {"id": "a", "question": "1+1?", "answer": "2"},
        {"id": "b", "question": "2+2?", "answer": ""},
        {"id": "c", "question": "3+3?", "answer": "6"},
        {"id": "d", "question": "4+4?", "answer": None},
        {"id": "a", "question": "5+5?", "answer": "10"},
        {"id": "f", "question": "  ", "answer": "1"},
    ]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger="mmrl.data"):
        loaded = load_examples("jsonl", path=path, max_bad_fraction=0.75)
    table = loaded.report.table()
    assert re.search(r"bad +4 +\(66\.7%, policy skip", table)
    assert re.search(r"(?m)^ +empty_answer +2 +1, 3$", table)
    assert re.search(r"(?m)^ +duplicate_id +1 +4$", table)
    assert re.search(r"(?m)^ +empty_question +1 +5$", table)
    assert re.search(r"(?m)^ +4 +duplicate_id +id: the same id as row 0 \(id jsonl/train/a\)$", table)
    assert "ok: 4 bad row(s) skipped (66.7% <= 75.0%)" in table
    assert table in caplog.text  # skipped rows are logged with the table
    with pytest.raises(DataValidationError) as info:
        load_examples("jsonl", path=path)
    assert info.value.report.table() in str(info.value)  # a failed load raises with it


@pytest.mark.reliability(19)
def test_threshold_is_a_strict_upper_bound(tmp_path):
    rows = [{"question": f"{i}+1?", "answer": str(i + 1)} for i in range(19)] + [
        {"question": "x", "answer": ""}
    ]
    path = write_jsonl(tmp_path / "r.jsonl", rows)
    assert len(load_examples("jsonl", path=path, max_bad_fraction=0.05)) == 19  # 1/20 = 5%: allowed
    with pytest.raises(DataValidationError, match="5.0% of rows are bad"):
        load_examples("jsonl", path=path, max_bad_fraction=0.04)
    with pytest.raises(DataValidationError, match="on_bad_row=fail"):
        load_examples("jsonl", path=path, on_bad_row="fail")


@pytest.mark.reliability(19)
def test_fail_or_skip_is_chosen_in_the_data_config(mixed_rows):
    def load(*overrides):
        return load_from_config(
            load_config(None, ["data.recipe=jsonl", f"data.path={mixed_rows}", *overrides]).data
        )

    with pytest.raises(DataValidationError, match="10 bad row\\(s\\) and data.on_bad_row=fail"):
        load("data.on_bad_row=fail")
    with pytest.raises(DataValidationError, match="71.4% of rows are bad, above data.max_bad_fraction=0.05"):
        load()  # skip, up to 5% bad rows
    kept = load("data.on_bad_row=skip", "data.max_bad_fraction=0.75")
    assert [ex.meta["row_index"] for ex in kept] == [0, 1, 2, 3] and kept.report.bad_rows == 10
