"""SVG curves and the text helpers of the pages (folded reasoning, marked answer, prompt parts)."""

from __future__ import annotations

import doctest
import importlib
import math
import re

import pytest

from mmrl.view.charts import line_chart, nice_ticks, reduce_points
from mmrl.view.render import fmt, mark_answer, prompt_messages, split_reasoning


def test_ticks_are_round_and_cover_the_range():
    for low, high in [(0.0, 1.0), (-0.013, 0.41), (1.0, 200.0), (0.5, 0.5001), (-3.0, -1.0)]:
        ticks = nice_ticks(low, high)
        assert ticks[0] <= low and ticks[-1] >= high
        steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
        assert len(steps) == 1  # evenly spaced
    assert nice_ticks(math.nan, 1.0) == []


def test_reduction_keeps_a_spike():
    points = [(float(i), 1.0) for i in range(10_000)]
    points[7_777] = (7_777.0, 50.0)  # a gradient-norm blow-up
    reduced = reduce_points(points, limit=100)
    assert len(reduced) <= 100 and (7_777.0, 50.0) in reduced
    assert [x for x, _ in reduced] == sorted(x for x, _ in reduced)


def _polylines(svg: str) -> list[str]:
    return re.findall(r'<polyline class="series" stroke="[^"]+" points="([^"]+)"', svg)


def test_a_missing_value_breaks_the_line_and_titles_are_escaped():
    svg = str(line_chart({"a<b": [(1, 0.1), (2, math.nan), (3, 0.3), (4, 0.4)]}, title="x<y & z"))
    lines = _polylines(svg)
    assert len(lines) == 2 and len(lines[0].split()) == 1 and len(lines[1].split()) == 2
    assert "x&lt;y &amp; z" in svg and "a&lt;b" in svg and "<y" not in svg


def test_several_series_get_a_legend_and_a_log2_axis_ticks_each_k():
    svg = str(
        line_chart(
            {"A": [(1, 0.2), (4, 0.5), (16, 0.7)], "B": [(1, 0.3), (4, 0.6), (16, 0.9)]},
            title="pass@k",
            xlabel="k",
            log2_x=True,
            y_range=(0, 1),
        )
    )
    assert len(_polylines(svg)) == 2 and 'class="legend"' in svg
    ticks = re.findall(r'text-anchor="middle">(\d+)</text>', svg)
    assert ticks == ["1", "4", "16"]
    assert "no finite value" in str(line_chart({"a": [(1, math.nan)]}, title="t"))


def test_reasoning_folds_think_blocks_and_long_responses():
    assert split_reasoning("<think>a\nb</think>so \\boxed{3}") == ("a\nb", "so \\boxed{3}")
    assert split_reasoning("<think>cut off") == ("cut off", "")
    long = "\n".join(f"line {i}" for i in range(10))
    reasoning, rest = split_reasoning(long)
    assert reasoning.endswith("line 6") and rest == "line 7\nline 8\nline 9"
    assert split_reasoning("one\ntwo") == (None, "one\ntwo")


def test_the_answer_is_marked_and_model_output_is_never_html():
    out = str(mark_answer("<script>alert(1)</script> so 12, i.e. 12", "12"))
    assert out == "&lt;script&gt;alert(1)&lt;/script&gt; so 12, i.e. <mark>12</mark>"
    assert str(mark_answer("<b>", None)) == "&lt;b&gt;"
    assert str(mark_answer("no answer", "7")) == "no answer"


def test_prompt_parts_place_images_where_the_prompt_puts_them():
    messages = [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "compare"}, {"type": "image"}, {"type": "image"}],
        },
    ]
    out = [(role, [(p.text, p.image) for p in parts]) for role, parts in prompt_messages(messages, 3)]
    assert out == [
        ("system", [("be brief", None)]),
        ("user", [("compare", None), (None, 0), (None, 1), (None, 2)]),  # the unplaced third at the end
    ]
    assert [(p.text, p.image) for p in prompt_messages("a <image> b", 1)[0][1]] == [
        ("a ", None),
        (None, 0),
        (" b", None),
    ]
    assert prompt_messages(None, 0) == []


def test_numbers():
    assert [fmt(v) for v in (None, math.nan, math.inf, 7, 0.5, 1e-9)] == [
        "-",
        "-",
        "inf",
        "7",
        "0.500",
        "1.0e-09",
    ]


@pytest.mark.parametrize(
    "name", ["mmrl.view.charts", "mmrl.view.render", "mmrl.view.site", "mmrl.data.image_store"]
)
def test_module_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
