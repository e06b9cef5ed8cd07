"""Templates (the A-GRAE paper's exact wording) and chat messages with image parts in order."""

from __future__ import annotations

import pytest

from mmrl.data.prompts import (
    PlaceholderMismatch,
    build_messages,
    list_templates,
    load_template,
    render_text,
)
from mmrl.errors import UserError

GEO3K_INSTRUCTION = (
    "You FIRST think about the reasoning process as an internal monologue and then provide the final "
    "answer. The reasoning process MUST BE enclosed within <think> </think> tags. The final answer MUST "
    "BE put in \\boxed{}."
)
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


def test_a_grae_templates_are_word_for_word():
    geo = render_text(load_template("think_boxed"), question="<image>Find x.  ")
    assert geo == "<image>Find x. " + GEO3K_INSTRUCTION
    math = render_text(load_template("math_cot_boxed"), question="What is $1+1$?")
    assert math == "What is $1+1$?\n" + MATH_INSTRUCTION


def test_plain_lists_choices_only_when_present():
    plain = load_template("plain")
    assert render_text(plain, question="Pick one.", choices=["red", "blue"]) == "Pick one.\nA. red\nB. blue"
    assert render_text(plain, question="Add 2 and 3.") == "Add 2 and 3."


def test_builtin_template_names():
    assert {"plain", "math_cot_boxed", "think_boxed", "arithmetic"} <= set(list_templates())


def test_template_from_file_sees_every_variable(tmp_path):
    path = tmp_path / "mine.jinja"
    path.write_text("[{{ task }}|{{ meta.level }}|{{ letters | join(',') }}] {{ question }}")
    text = render_text(
        load_template(str(path)), question="Q?", choices=["x", "y"], task="choice", meta={"level": 2}
    )
    assert text == "[choice|2|A,B] Q?"


def test_template_errors_name_the_setting(tmp_path):
    with pytest.raises(UserError, match="data.template='nope' is not a built-in template"):
        load_template("nope")
    with pytest.raises(UserError, match="does not exist"):
        load_template(str(tmp_path / "missing.jinja"))
    bad = tmp_path / "bad.jinja"
    bad.write_text("{{ questoin }}")
    with pytest.raises(UserError, match="questoin"):
        render_text(load_template(str(bad)), question="Q")


def test_text_only_prompt_is_a_plain_user_message():
    messages, images = build_messages("What is 2+3?", [])
    assert messages == [{"role": "user", "content": "What is 2+3?"}] and images == ()


def test_image_parts_sit_where_the_markers_are():
    messages, images = build_messages("Compare <image> with <image>, then answer.", ["a", "b"])
    assert messages[0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image"},
        {"type": "text", "text": "with"},
        {"type": "image"},
        {"type": "text", "text": ", then answer."},
    ]
    assert images == ("a", "b")


def test_images_go_first_without_markers():
    messages, images = build_messages("What is the value of Apples?", ["chart"])
    assert messages[0]["content"] == [
        {"type": "image"},
        {"type": "text", "text": "What is the value of Apples?"},
    ]
    assert images == ("chart",)


def test_numbered_markers_reorder_images_by_appearance():
    messages, images = build_messages("Look at <image2> and <image1>.", ["first", "second"])
    assert images == ("second", "first")
    assert [p["type"] for p in messages[0]["content"]] == ["text", "image", "text", "image", "text"]


@pytest.mark.parametrize(
    ("text", "images", "match"),
    [
        ("<image>Find x.", [], "no image"),
        ("<image>Find x.", ["a", "b"], "1 image marker"),
        ("<image1> and <image3>", ["a", "b"], "do not name images"),
        ("<image> and <image2>", ["a", "b"], "mixes"),
    ],
)
def test_marker_mismatches(text, images, match):
    with pytest.raises(PlaceholderMismatch, match=match):
        build_messages(text, images)
