"""Rows whose image cannot be read (a 0-byte file, a truncated JPEG, bytes that are no image, a path
to nothing) are reported at load once each, with the row index and the path, then skipped and
counted; too many of them, or any in an evaluation set under ``eval.on_bad_row=fail``, fail the
load loudly instead."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from mmrl.config import load_config
from mmrl.data import DataValidationError, load_examples
from mmrl.testing import tiny_image
from tests.unit.data.test_images import assert_image_problem, png_bytes, write_file


def jpeg_bytes(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    tiny_image(0, size).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.reliability(7)
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: str(d / "missing.png"), "image_missing"),
        (lambda d: write_file(d / "empty.png", b""), "image_empty"),
        (lambda d: write_file(d / "noise.png", b"this is not an image at all"), "image_corrupt"),
        (
            lambda d: write_file(d / "cut.png", png_bytes(Image.new("RGB", (64, 64), (9, 9, 9)))[:-40]),
            "image_corrupt",
        ),
        (lambda d: write_file(d / "cut.jpg", jpeg_bytes()[:-200]), "image_corrupt"),
    ],
)
def test_an_unreadable_image_file_has_its_reason_and_names_the_file(tmp_path, make, reason):
    assert_image_problem(make(tmp_path), tmp_path, reason)


#: Row index -> (image file, reason) of the unreadable rows among the 20 of ``rows``.
BAD = {
    3: ("empty.jpg", "image_empty"),
    7: ("cut.jpg", "image_corrupt"),
    11: ("notes.jpg", "image_corrupt"),
    15: ("gone.jpg", "image_missing"),
}


@pytest.fixture
def rows(tmp_path):
    """``rows.jsonl``: 20 image rows, the four of ``BAD`` unreadable (4 of 20 = 20% bad)."""
    img = tmp_path / "img"
    img.mkdir()
    tiny_image(0, (56, 56)).save(img / "ok.jpg")
    (img / "empty.jpg").write_bytes(b"")
    (img / "cut.jpg").write_bytes(jpeg_bytes()[:-200])
    (img / "notes.jpg").write_bytes(b"%PDF-1.4\nnot a picture of anything\n")
    names = {i: BAD[i][0] if i in BAD else "ok.jpg" for i in range(20)}
    lines = [
        {"id": f"r{i}", "question": f"<image>What is {i} + 1?", "answer": str(i + 1), "image": f"img/{name}"}
        for i, name in names.items()
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


@pytest.mark.reliability(7)
def test_unreadable_image_rows_are_reported_once_at_load_with_row_and_path_then_skipped_and_counted(
    rows, caplog
):
    with caplog.at_level(logging.WARNING):
        data = load_examples("jsonl", path=str(rows), max_bad_fraction=0.25)
    report = data.report
    assert (report.rows_read, report.bad_rows, report.kept) == (20, 4, 16)
    assert report.counts_by_reason() == {"image_corrupt": 2, "image_empty": 1, "image_missing": 1}
    assert {i.row_index: (Path(i.path).name, i.reason) for i in report.issues} == BAD
    assert all(i.path == str(rows.parent / "img" / BAD[i.row_index][0]) for i in report.issues)
    kept = [ex.meta["row_index"] for ex in data]
    assert kept == [i for i in range(20) if i not in BAD]
    assert all(ex.images[0].size == (56, 56) for ex in data)
    # one warning for the load; in it, each bad file on one line, the line of its row
    (warning,) = [r.getMessage() for r in caplog.records]
    for index, (name, reason) in BAD.items():
        (line,) = [line for line in warning.splitlines() if name in line]
        assert line.split()[:2] == [str(index), reason]


@pytest.mark.reliability(7)
def test_too_many_unreadable_image_rows_fail_the_load_naming_each_row_path_and_the_threshold(rows):
    with pytest.raises(DataValidationError) as info:
        load_examples("jsonl", path=str(rows))  # data.max_bad_fraction's default: 0.05
    message = str(info.value)
    assert "20.0% of rows are bad, above data.max_bad_fraction=0.05" in message
    assert "fix the rows or raise the threshold" in message
    for index, (name, reason) in BAD.items():
        (line,) = [line for line in message.splitlines() if name in line]
        assert line.split()[:2] == [str(index), reason]


@pytest.mark.reliability(7)
def test_an_unreadable_image_row_in_the_held_out_split_fails_training_validation_loudly(rows):
    from mmrl.train.validation import load_eval_examples

    overrides = ["eval.recipe=jsonl", f"eval.path={rows}", "data.max_bad_fraction=0.25"]
    assert len(load_eval_examples(load_config(None, overrides))) == 16
    with pytest.raises(DataValidationError) as info:
        load_eval_examples(load_config(None, [*overrides, "eval.on_bad_row=fail"]))
    message = str(info.value)
    assert "4 bad row(s) and data.on_bad_row=fail" in message
    assert all(str(rows.parent / "img" / name) in message for name, _ in BAD.values())


@pytest.mark.reliability(7)
def test_an_unreadable_image_row_in_a_benchmark_fails_mmrl_eval_strict_before_the_model_loads(
    rows, tmp_path, capsys
):
    from mmrl.cli import main

    model = tmp_path / "model"  # a config and no weights: loading it would fail another way
    model.mkdir()
    (model / "config.json").write_text("{}")
    out = tmp_path / "eval"
    argv = ["eval", "--model", str(model), "--benchmarks", "jsonl", "--path", f"jsonl={rows}"]
    assert main([*argv, "--output", str(out), "--strict", "data.max_bad_fraction=0.25"]) == 1
    err = capsys.readouterr().err
    assert "benchmark 'jsonl': 4 bad rows" in err and "--strict (eval.on_bad_row=fail)" in err
    for index, (name, reason) in BAD.items():
        (line,) = [line for line in err.splitlines() if name in line]
        assert line.split()[:2] == [str(index), reason]
    assert not out.exists()
