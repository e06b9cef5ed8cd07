"""Every Hub recipe loads rows written in its dataset's real schema (through data.path), with the
right verifier, gold answer, choices, images and prompt; the Hub path fails offline naming data.path."""

from __future__ import annotations

import pytest

from mmrl.data import get_recipe, load_examples
from mmrl.errors import UserError
from tests.integration.data import hub_fixtures

GEO3K = "You FIRST think about the reasoning process"
MATH = "Please reason step by step, and put your final answer within \\boxed{}."


def text_of(example) -> str:
    content = example.prompt[0]["content"]
    if isinstance(content, str):
        return content
    return "".join("<image>" if p["type"] == "image" else p["text"] for p in content)


def test_geometry3k(tmp_path):
    data = load_examples("geometry3k", split="train", path=str(hub_fixtures.geometry3k(tmp_path)))
    assert [ex.task for ex in data] == ["geometry"] * 3
    assert [ex.answer for ex in data] == ["3", "374.1", "2 \\sqrt { 221 }"]
    first = data[0]
    assert first.id == "geometry3k/train/2101"
    assert first.choices == ("1", "2", "3", "4") and first.meta["ground_truth"] == "C"
    assert first.prompt[0]["content"][0] == {"type": "image"}
    assert first.prompt[0]["content"][1]["text"].startswith("Find x. " + GEO3K)
    assert first.images[0].mode == "RGB" and first.images[0].size == (48, 40)
    assert "rounding" not in first.meta and data[1].meta["rounding"] == 1  # "Round to the nearest tenth."


def test_math_gold_is_the_last_box_of_the_solution_and_levels_filter(tmp_path):
    root = str(hub_fixtures.math_lighteval(tmp_path))
    data = load_examples("math", split="train", path=root)
    assert [ex.answer for ex in data] == ["5", "\\frac{1}{2}", "12\\pi"]
    assert [ex.meta["level"] for ex in data] == [1, 3, 5]
    assert data[1].meta["category"] == "Algebra" and data[1].task == "math"
    assert text_of(data[0]) == "What is $2+3$?\n" + MATH
    hard = load_examples("math", split="train", path=root, options={"levels": [3, 4, 5]})
    assert [ex.answer for ex in hard] == ["\\frac{1}{2}", "12\\pi"] and hard.report.filtered == 1


def test_math500(tmp_path):
    data = load_examples("math500", path=str(hub_fixtures.math500(tmp_path)))
    assert data.split == "test"
    assert data[0].answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert data[0].id == "math500/test/test/precalculus/807.json"
    assert data[0].meta["category"] == "Precalculus" and data[0].meta["level"] == 2


def test_gsm8k_reads_the_main_config_and_strips_commas(tmp_path):
    root = str(hub_fixtures.gsm8k(tmp_path))
    data = load_examples("gsm8k", split="train", path=root)
    assert [ex.answer for ex in data] == ["72", "1234"]
    assert data[0].meta["rationale"].endswith("<<48+24=72>>72.")
    assert len(load_examples("gsm8k", split="test", path=root)) == 1


def test_mathvista_choice_gold_is_the_option_text(tmp_path):
    data = load_examples("mathvista", path=str(hub_fixtures.mathvista(tmp_path)))
    mc, integer, floating = data
    assert data.split == "testmini"
    assert mc.task == "choice" and mc.answer == "145°" and mc.choices == ("45°", "90°", "145°", "180°")
    assert "(C) 145°" in text_of(mc) and text_of(mc).startswith("<image>Hint:")
    assert mc.meta["category"] == "geometry problem solving"
    assert integer.task == "math" and integer.answer == "4" and integer.choices is None
    assert floating.meta["precision"] == 1 and floating.meta["answer_type"] == "float"
    assert len(mc.images) == 1


def test_mathverse_letter_gold_inline_choices_and_versions(tmp_path):
    root = str(hub_fixtures.mathverse(tmp_path))
    data = load_examples("mathverse", split="testmini", path=root)
    dominant, vision_only, free = data
    assert dominant.task == "choice" and dominant.answer == "B"
    assert dominant.choices == ("40°", "60°", "80°", "100°")
    assert vision_only.choices is None and "According to the question shown in the image" in text_of(
        vision_only
    )
    assert free.task == "math" and free.answer == "5"
    assert [ex.meta["category"] for ex in data] == ["Text Dominant", "Vision Only", "Text Lite"]
    only = load_examples("mathverse", split="testmini", path=root, options={"versions": ["Vision Only"]})
    assert [ex.id for ex in only] == ["mathverse/testmini/5"]


def test_mathvision_numbered_marker_and_options(tmp_path):
    data = load_examples("mathvision", split="test", path=str(hub_fixtures.mathvision(tmp_path)))
    letters_only, listed, free = data
    assert letters_only.task == "choice" and letters_only.answer == "C"
    assert "Choices" not in text_of(letters_only)  # the options are drawn in the image
    assert listed.choices == ("3", "4", "5", "6", "7") and "(B) 4" in text_of(listed)
    content = letters_only.prompt[0]["content"]
    assert content[0]["type"] == "text" and content[1] == {"type": "image"}  # <image1> at the end
    assert (
        free.task == "math"
        and free.answer == "$\\frac{1}{3}$"
        and free.meta["category"] == "metric geometry - area"
    )


def test_chartqa(tmp_path):
    data = load_examples("chartqa", split="test", path=str(hub_fixtures.chartqa(tmp_path)))
    assert [ex.task for ex in data] == ["chart"] * 3
    assert [ex.answer for ex in data] == ["46", "2014", "Yes"]
    assert [ex.meta["category"] for ex in data] == ["human", "augmented", "human"]
    assert data[0].prompt[0]["content"][0] == {"type": "image"}


def test_aime_and_amc(tmp_path):
    aime24 = load_examples("aime24", path=str(hub_fixtures.aime24(tmp_path / "a24")))
    assert [ex.answer for ex in aime24] == ["24", "204"] and aime24[0].id == "aime24/train/60"
    aime25 = load_examples("aime25", path=str(hub_fixtures.aime25(tmp_path / "a25")))
    assert [ex.answer for ex in aime25] == ["70", "117"]
    amc = load_examples("amc23", path=str(hub_fixtures.amc23(tmp_path / "amc")))
    assert [ex.answer for ex in amc] == ["27", "0.5"] and amc[0].meta["answer_raw"] == 27.0
    assert all(ex.task == "math" and text_of(ex).endswith(MATH) for ex in [*aime24, *aime25, *amc])


def test_a_single_file_and_a_save_to_disk_directory_load_too(tmp_path):
    from datasets import load_dataset

    root = hub_fixtures.geometry3k(tmp_path / "hub")
    file = root / "data" / "train-00000-of-00001.parquet"
    assert len(load_examples("geometry3k", split="train", path=str(file))) == 3
    ds = load_dataset("parquet", data_files={"train": str(file)}, cache_dir=str(tmp_path / "cache"))
    ds.save_to_disk(str(tmp_path / "saved"))
    data = load_examples("geometry3k", split="train", path=str(tmp_path / "saved"))
    assert [ex.answer for ex in data] == ["3", "374.1", "2 \\sqrt { 221 }"] and data[0].images[0].size == (
        48,
        40,
    )
    with pytest.raises(UserError, match="has splits \\['train'\\], not 'test'"):
        load_examples("geometry3k", split="test", path=str(tmp_path / "saved"))


def test_missing_split_file_lists_what_is_there(tmp_path):
    root = hub_fixtures.geometry3k(tmp_path)
    with pytest.raises(UserError, match=r"(?s)no file for split .test.*train-00000-of-00001.parquet"):
        load_examples("geometry3k", split="test", path=str(root))
    with pytest.raises(UserError, match="does not exist"):
        load_examples("geometry3k", path=str(tmp_path / "nowhere"))


def test_wrong_schema_names_the_missing_columns(tmp_path):
    root = hub_fixtures.chartqa(tmp_path)
    with pytest.raises(UserError, match="no column 'images', 'problem'"):
        load_examples("geometry3k", split="test", path=str(root))


@pytest.mark.parametrize("name", ["geometry3k", "gsm8k", "mathverse"])
def test_hub_loading_offline_fails_naming_data_path(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    recipe = get_recipe(name)
    with pytest.raises(UserError) as info:
        load_examples(name, split=recipe.default_split)
    message = str(info.value)
    assert recipe.hub_id in message and "data.path" in message and "huggingface-cli download" in message
