"""Hostile dataset rows: each is a bad row with its index and a reason, never a crash without one."""

from __future__ import annotations

import json

import pytest

from mmrl.data import DataValidationError, load_examples


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("images", [5, 2.5, True])
def test_row_with_images_as_a_number_is_a_bad_row_with_its_index(tmp_path, images):
    rows = [{"question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(3)]
    rows.insert(1, {"question": "<image>What is shown?", "answer": "1", "images": images})
    data = load_examples("jsonl", path=write_jsonl(tmp_path / "rows.jsonl", rows), max_bad_fraction=0.5)
    assert data.report.bad_rows == 1 and data.report.kept == 3
    (issue,) = data.report.issues
    assert (issue.row_index, issue.reason, issue.field) == (1, "bad_images", "images")
    assert "must be a list of images" in issue.detail
    assert "bad_images" in data.report.table()


def test_row_with_images_as_int_fails_the_load_naming_the_row_with_on_bad_row_fail(tmp_path):
    rows = [{"question": "q", "answer": "1"}, {"question": "q", "answer": "2", "images": 5}]
    with pytest.raises(DataValidationError, match=r"bad_images") as info:
        load_examples("jsonl", path=write_jsonl(tmp_path / "rows.jsonl", rows), on_bad_row="fail")
    assert [i.row_index for i in info.value.report.issues] == [1]


def test_a_recipe_that_crashes_on_a_row_says_which_row(tmp_path):
    from mmrl.data.recipes import Recipe

    def convert(row, ctx):
        return row["question"].upper(1)  # a bug in the recipe: TypeError

    recipe = Recipe("buggy", "a recipe with a bug", (), ("math",), "plain", convert)
    rows = [{"question": "q", "answer": "1"}]
    with pytest.raises(TypeError) as info:
        load_examples(recipe, path=write_jsonl(tmp_path / "rows.jsonl", rows))
    assert "while recipe 'buggy' converted row 0" in "".join(info.value.__notes__)
