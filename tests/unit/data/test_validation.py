"""Row validation at load: the skip policy keeps the good rows, which come out as Examples; columns,
options and remote images.

Every kind of bad row reported with its index (and path), the threshold and the fail policy are
item 19 of the reliability plan: ``tests/reliability/test_dataset_schema.py``, which builds its
rows with ``write_mixed_rows``.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
from PIL import Image

from mmrl.config import load_config
from mmrl.data import DataValidationError, load_examples, load_from_config
from mmrl.errors import UserError
from tests.unit.data.test_images import png_header_only


def png(color=(0, 128, 255), size=(32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def write_mixed_rows(folder) -> str:
    """Fourteen rows in ``folder/rows.jsonl``: four good, then one of each problem (row 10 repeats
    row 0's id); image files live next to the jsonl."""
    (folder / "img").mkdir()
    (folder / "img" / "ok.png").write_bytes(png())
    (folder / "img" / "empty.png").write_bytes(b"")
    (folder / "img" / "corrupt.png").write_bytes(b"GIF89a but not really")
    (folder / "img" / "bomb.png").write_bytes(png_header_only(20000, 20000))
    rows = [
        {"id": "g0", "question": "What is 2+2?", "answer": "4"},
        {
            "id": "g1",
            "question": "<image>What color is the box?",
            "answer": "blue",
            "images": ["img/ok.png"],
            "task": "chart",
        },
        {
            "id": "g2",
            "question": "Pick the prime.",
            "answer": "B",
            "choices": ["4", "5", "6"],
            "task": "choice",
        },
        {"id": "g3", "question": "Solve for x: 2x=1.", "answer": "\\frac{1}{2}"},
        {"id": "b4", "question": "", "answer": "1"},
        {"id": "b5", "question": "Half of 10?", "answer": None},
        {"id": "b6", "question": "<image>Find x.", "answer": "3", "images": ["img/empty.png"]},
        {"id": "b7", "question": "<image>Find x.", "answer": "3", "images": ["img/corrupt.png"]},
        {"id": "b8", "question": "<image>Find x.", "answer": "3", "images": ["img/missing.png"]},
        {"id": "b9", "question": "<image><image>Find x.", "answer": "3", "images": ["img/ok.png"]},
        {"id": "g0", "question": "What is 3+3?", "answer": "6"},
        {"id": "b11", "question": "Which?", "answer": "Z", "choices": ["1", "2"], "task": "choice"},
        {"id": "b12", "question": "Read the chart.", "answer": "1", "image": "https://example.com/c.png"},
        {"id": "b13", "question": "<image>Find x.", "answer": "3", "images": ["img/bomb.png"]},
    ]
    return write_jsonl(folder / "rows.jsonl", rows)


@pytest.fixture
def mixed_rows(tmp_path):
    return write_mixed_rows(tmp_path)


def test_skip_within_threshold_keeps_the_good_rows(mixed_rows, caplog):
    with caplog.at_level(logging.WARNING, logger="mmrl.data"):
        loaded = load_examples("jsonl", path=mixed_rows, max_bad_fraction=0.75)
    assert [ex.meta["row_index"] for ex in loaded] == [0, 1, 2, 3]
    assert loaded.report.ok and not loaded.report.clean
    assert "some rows were skipped" in caplog.text and "duplicate_id" in caplog.text
    chart = loaded[1]
    assert chart.task == "chart" and chart.images[0].mode == "RGB" and chart.images[0].size == (32, 24)
    assert chart.prompt == [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What color is the box?"}]}
    ]
    assert chart.meta["image_refs"][0].endswith("img/ok.png")
    choice = loaded[2]
    assert choice.choices == ("4", "5", "6")
    assert choice.prompt[0]["content"] == "Pick the prime.\nA. 4\nB. 5\nC. 6"


def test_limit_counts_valid_rows_and_stops_reading(mixed_rows):
    loaded = load_examples("jsonl", path=mixed_rows, limit=3)
    assert len(loaded) == 3 and loaded.report.rows_read == 3 and loaded.report.clean


def test_columns_mapping_category_and_default_task(tmp_path):
    rows = [
        {"problem": "1+1?", "solution": 2, "pics": None, "topic": "add", "extra": "kept"},
        {"problem": "<image>Shown?", "solution": "yes", "pics": ["a.png"], "topic": "look"},
    ]
    (tmp_path / "a.png").write_bytes(png())
    path = write_jsonl(tmp_path / "mine.jsonl", rows)
    loaded = load_examples(
        "jsonl",
        path=path,
        columns={"question": "problem", "answer": "solution", "images": "pics"},
        options={"task": "chart", "category": "topic"},
    )
    assert [ex.answer for ex in loaded] == ["2", "yes"]
    assert all(ex.task == "chart" for ex in loaded)
    assert loaded[0].meta["category"] == "add" and loaded[0].meta["extra"] == "kept"
    assert len(loaded[1].images) == 1


def test_columns_keys_must_be_mmrl_fields(tmp_path):
    path = write_jsonl(tmp_path / "r.jsonl", [{"question": "1+1?", "answer": "2"}])
    with pytest.raises(UserError, match="data.columns has 'problem'; its keys are mmrl fields"):
        load_examples("jsonl", path=path, columns={"problem": "question"})


def test_a_file_without_the_needed_columns_fails_at_once(tmp_path):
    path = write_jsonl(tmp_path / "wrong.jsonl", [{"prompt": "1+1?", "label": "2"}])
    with pytest.raises(UserError, match=r"no column 'question', 'answer'.*'prompt', 'label'.*data.columns"):
        load_examples("jsonl", path=path)


def test_nothing_usable_fails_even_when_skipping(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"question": "q", "answer": ""}])
    with pytest.raises(DataValidationError, match="no usable rows"):
        load_examples("jsonl", path=path, max_bad_fraction=1.0)


def test_policy_arguments_are_checked():
    with pytest.raises(UserError, match="on_bad_row"):
        load_examples("synthetic_arithmetic", on_bad_row="ignore")
    with pytest.raises(UserError, match="max_bad_fraction"):
        load_examples("synthetic_arithmetic", max_bad_fraction=2.0)
    with pytest.raises(UserError, match="split 'validation' is not one of them"):
        load_examples("synthetic_arithmetic", split="validation")


def test_remote_images_are_fetched_only_when_allowed(tmp_path, monkeypatch):
    import mmrl.data.images as images

    monkeypatch.setattr(images, "_fetch", lambda url, max_bytes: png((1, 2, 3)))
    path = write_jsonl(
        tmp_path / "r.jsonl", [{"question": "Color?", "answer": "1", "image": "https://x.org/a.png"}]
    )
    with pytest.raises(DataValidationError, match="image_remote_refused"):
        load_examples("jsonl", path=path)
    loaded = load_examples("jsonl", path=path, allow_remote_images=True)
    assert loaded[0].images[0].getpixel((0, 0)) == (1, 2, 3)


def test_load_from_config_uses_the_data_section(mixed_rows):
    cfg = load_config(None, ["data.recipe=jsonl", f"data.path={mixed_rows}", "data.limit=2"])
    loaded = load_from_config(cfg.data)
    assert len(loaded) == 2 and loaded.split == "train" and loaded.template == "plain"
