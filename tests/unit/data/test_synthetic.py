"""Synthetic generators: deterministic by seed, answers re-derived independently and accepted by the
matching verifier (a wrong answer is not), images of the stated size and mode with something drawn."""

from __future__ import annotations

import logging
import re

import pytest

from mmrl.data import load_examples
from mmrl.errors import UserError
from rewards import score


def boxed(answer: str) -> str:
    return f"<think>work</think> The answer is \\boxed{{{answer}}}."


# --------------------------------------------------------------------------------------------
# arithmetic


def solve_word_problem(question: str) -> int:
    """An independent reading of the problem text: apply each sentence's change in order."""
    x = None
    for sentence in re.split(r"(?<=[.?])\s+", question):
        s = sentence.removeprefix("Then ")
        nums = [int(n) for n in re.findall(r"\d+", s)]
        if s.startswith("How many"):
            break
        if x is None:
            (x,) = nums
        elif "bags with" in s:
            x += nums[0] * nums[1]
        elif "half of" in s:
            x //= 2
        elif "doubles" in s:
            x *= 2
        elif "triples" in s:
            x *= 3
        elif re.search(r"\b(buys|finds|gives \w+ \d+|gets)\b", s) and "to a friend" not in s:
            x += nums[0]
        elif re.search(r"\b(gives|loses|uses|sells)\b", s):
            x -= nums[0]
        else:
            raise AssertionError(f"unreadable sentence {s!r}")
    return x


def test_arithmetic_is_deterministic_and_seed_dependent():
    opts = {"num_examples": 40, "difficulty": [1, 2, 3, 4, 5, 6]}
    a = load_examples("synthetic_arithmetic", split="train", options=opts)
    b = load_examples("synthetic_arithmetic", split="train", options=opts)
    c = load_examples("synthetic_arithmetic", split="train", options={**opts, "seed": 1})
    assert [(e.prompt, e.answer) for e in a] == [(e.prompt, e.answer) for e in b]
    assert [e.prompt for e in a] != [e.prompt for e in c]


def test_arithmetic_answers_are_right_and_verified():
    data = load_examples(
        "synthetic_arithmetic", split="test", options={"num_examples": 60, "difficulty": [1, 2, 3, 4, 5, 6]}
    )
    levels = {}
    for ex in data:
        question = ex.prompt[0]["content"].split("\n")[0]
        assert solve_word_problem(question) == int(ex.answer), question
        assert int(ex.answer) >= 0 and ex.task == "math"
        levels.setdefault(ex.meta["level"], []).append(ex.meta["operations"])
        assert score(boxed(ex.answer), ex).correct is True
        assert score(boxed(str(int(ex.answer) + 1)), ex).correct is False
    assert sorted(levels) == [1, 2, 3, 4, 5, 6]
    assert levels[1] == [1] * len(levels[1]) and levels[2] == [1] * len(levels[2])  # one operation
    assert min(levels[5]) >= 3 and min(levels[6]) >= 4  # three / four events


def test_arithmetic_train_never_contains_test_questions():
    opts = {"difficulty": [1]}
    test = {e.prompt[0]["content"] for e in load_examples("synthetic_arithmetic", split="test", options=opts)}
    train = {
        e.prompt[0]["content"] for e in load_examples("synthetic_arithmetic", split="train", options=opts)
    }
    assert len(test) == 128 and len(train) == 512 and not test & train


def test_arithmetic_bad_difficulty_is_a_clear_error():
    with pytest.raises(UserError, match="data.options.difficulty=7"):
        load_examples("synthetic_arithmetic", options={"difficulty": 7})


# --------------------------------------------------------------------------------------------
# geometry


def expected_geometry_answer(meta: dict) -> str:
    g = meta["given"]
    kind = meta["kind"]
    if kind == "rectangle":
        return str(g["width"] * g["height"] if meta["measure"] == "area" else 2 * (g["width"] + g["height"]))
    if kind == "vertical_angles":
        return str(g["angle"])
    if kind == "circle_diameter":
        return str(2 * g["radius"])
    if kind == "circle_measure":
        r = g["radius"]
        return f"{r * r}\\pi" if meta["measure"] == "area" else f"{2 * r}\\pi"
    if kind == "triangle_angles":
        return str(180 - sum(g["angles"]))
    if kind == "isosceles":
        return str((180 - g["apex"]) // 2)
    if kind == "right_triangle":
        if "h" not in g:  # x is the hypotenuse
            return str(round((g["a"] ** 2 + g["b"] ** 2) ** 0.5))
        leg = g["a"] if "a" in g else g["b"]
        return str(round((g["h"] ** 2 - leg**2) ** 0.5))
    if kind == "parallel_lines":
        # the four angles at a crossing alternate angle, 180 - angle around the point
        order = ["upper right", "upper left", "lower left", "lower right"]
        same = (order.index(g["angle_region"]) - order.index(g["x_region"])) % 2 == 0
        return str(g["angle"] if same else 180 - g["angle"])
    raise AssertionError(kind)


def test_geometry_is_deterministic_renders_and_verifies():
    opts = {"num_examples": 24, "image_size": 224}
    a = load_examples("synthetic_geometry", split="test", options=opts)
    b = load_examples("synthetic_geometry", split="test", options=opts)
    assert [e.images[0].tobytes() for e in a] == [e.images[0].tobytes() for e in b]
    assert [e.answer for e in a] == [e.answer for e in b]
    c = load_examples("synthetic_geometry", split="test", options={**opts, "seed": 5})
    assert [e.images[0].tobytes() for e in a] != [e.images[0].tobytes() for e in c]
    kinds = set()
    for ex in a:
        kinds.add(ex.meta["kind"])
        img = ex.images[0]
        assert img.mode == "RGB" and img.size == (224, 224)
        assert img.getextrema()[0][0] < 100  # something dark was drawn on the white canvas
        assert ex.answer == expected_geometry_answer(ex.meta)
        assert ex.task == "geometry" and ex.prompt[0]["content"][0] == {"type": "image"}
        assert score(boxed(ex.answer), ex).correct is True
        assert score(boxed("1000"), ex).correct is False
    assert len(kinds) >= 6


# --------------------------------------------------------------------------------------------
# charts


def test_charts_are_deterministic_render_and_verify():
    opts = {"num_examples": 9, "image_width": 336, "image_height": 252}
    a = load_examples("synthetic_charts", split="test", options=opts)
    b = load_examples("synthetic_charts", split="test", options=opts)
    assert [e.images[0].tobytes() for e in a] == [e.images[0].tobytes() for e in b]
    assert {e.meta["kind"] for e in a} == {"bar", "line", "pie"}
    assert {e.meta["level"] for e in a} == {1, 2, 3}
    for ex in a:
        img = ex.images[0]
        assert img.mode == "RGB" and img.size == (336, 252)
        values = ex.meta["values"]
        qkind = ex.meta["question_kind"]
        if qkind == "value":
            assert int(ex.answer) in values.values()
        elif qkind in ("max", "min"):
            pick = max if qkind == "max" else min
            assert ex.answer == pick(values, key=values.get)
        else:
            named = [label for label in values if label in ex.prompt[0]["content"][1]["text"]]
            pair = [values[label] for label in named]
            assert int(ex.answer) == (sum(pair) if qkind == "sum" else max(pair) - min(pair))
        if ex.meta["kind"] == "pie":
            assert sum(values.values()) == 100
        assert ex.task == "chart"
        assert score(boxed(ex.answer), ex).correct is True
        wrong = "Nothing" if not ex.answer.isdigit() else str(int(ex.answer) * 2 + 10)
        assert score(boxed(wrong), ex).correct is False


def test_chart_rendering_logs_nothing(caplog):
    # Year labels ("2001") drawn as categorical x values made matplotlib log one INFO line per label
    # and draw call: thousands of lines in `mmrl data show synthetic_charts` and in training logs.
    from data_recipes.synthetic_charts import render_chart

    with caplog.at_level(logging.DEBUG, logger="matplotlib"):
        for kind in ("bar", "line", "pie"):
            render_chart(kind, ["2001", "2002", "2003"], [10, 20, 30], "Sales", (224, 168))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("matplotlib.category")] == []
