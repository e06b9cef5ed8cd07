"""The four outputs: results.json, samples.jsonl, report.md and a real PNG plot."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import json
import struct

import pytest

from mmrl.eval import (
    EvalResult,
    ProblemRecord,
    SampleRecord,
    plot_passk_curves,
    plot_passk_panels,
    read_samples,
    report_markdown,
    write_outputs,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def make_result(name: str, flags: list[list[bool | None]], categories=None) -> EvalResult:
    problems = []
    for i, row in enumerate(flags):
        samples = tuple(
            SampleRecord(
                f"answer {j}",
                "stop",
                5,
                None if f is None else float(f),
                f,
                "ok" if f is not None else "error",
            )
            for j, f in enumerate(row)
        )
        problems.append(
            ProblemRecord(f"{name}/{i}", "math", categories[i] if categories else None, "1", samples)
        )
    return EvalResult(
        name, n=len(flags[0]), ks=(1, 2, 4), problems=problems, info={"recipe": name, "split": "test"}
    )


HEADER = {
    "model": {"path": "/models/m", "label": "m", "fingerprint": "ab" * 32, "weights_bytes": 10},
    "sampling": {"temperature": 0.6, "top_p": 0.95, "n": 4},
    "mmrl_version": "0.1.0",
}


@pytest.mark.parametrize("name", ["mmrl.eval.report", "mmrl.eval.results"])
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_write_outputs_writes_all_four(tmp_path):
    results = [
        make_result("gsm", [[True, False, False, False], [True, True, False, None]], ["easy", "hard"]),
        make_result("geo", [[False] * 4, [True] * 4]),
    ]
    paths = write_outputs(results, tmp_path / "out", HEADER)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "passk.png",
        "report.md",
        "results.json",
        "samples.jsonl",
    ]
    doc = json.loads(paths["results"].read_text())
    assert doc["model"]["label"] == "m" and doc["sampling"]["temperature"] == 0.6
    gsm = doc["benchmarks"]["gsm"]
    # gsm: problem 0 c=1/4, problem 1 c=2/3 scored -> pass@1 = (0.25 + 2/3) / 2
    assert gsm["metrics"]["overall"]["pass@k"]["1"] == pytest.approx((0.25 + 2 / 3) / 2)
    assert gsm["metrics"]["overall"]["excluded"]["4"] == 1
    assert gsm["metrics"]["by_category"]["hard"]["problems"] == 1
    assert [p["c"] for p in gsm["problems"]] == [1, 2]

    lines = paths["samples"].read_text().splitlines()
    assert len(lines) == 16
    first = json.loads(lines[0])
    assert first["benchmark"] == "gsm" and first["response"] == "answer 0" and first["correct"] is True
    back = read_samples(paths["samples"])
    assert back["gsm"] == results[0].problems and back["geo"] == results[1].problems

    report = paths["report"].read_text()
    assert "| gsm | 2 |" in report and "| geo | 2 |" in report
    assert "### By category" in report and "| hard | 1 |" in report
    assert "1 samples could not be scored" in report
    width, height = png_size(paths["plot"])
    assert width > 200 and height > 200
    assert paths["plot"].stat().st_size > 5000


def test_plot_passk_curves_is_a_valid_png(tmp_path):
    path = plot_passk_curves(
        {"before": {1: 0.2, 4: 0.45, 16: 0.7}, "after": {1: 0.3, 4: 0.5, 16: 0.66}},
        tmp_path / "sub" / "curves.png",
        title="demo",
    )
    width, height = png_size(path)
    assert (width, height) == (552, 432)  # 4.6 x 3.6 inches at 120 dpi
    assert path.stat().st_size > 5000


def test_panels_lay_out_one_panel_per_benchmark(tmp_path):
    panels = {f"bench{i}": {"m": {1: 0.1 * i, 2: 0.1 * i + 0.05}} for i in range(4)}
    width, height = png_size(plot_passk_panels(panels, tmp_path / "p.png"))
    assert (width, height) == (3 * 552, 2 * 432)
    with pytest.raises(ValueError):
        plot_passk_panels({}, tmp_path / "none.png")


def test_report_names_dropped_problems():
    result = make_result("gsm", [[True, True, True, True]])
    result.dropped.append({"id": "gsm/9", "reason": "over_budget", "message": "long"})
    text = report_markdown([result], HEADER)
    assert "1 problems were not evaluated" in text and "over_budget" in text
    assert "weights fingerprint: `abababababababab`" in text


def test_a_validation_report_header_names_the_step_not_a_none_model():
    header = {"model": {"label": "step 3", "source": "the policy trained in runs/x from m"}}
    text = report_markdown([make_result("val", [[True, False, True, True]])], header)
    assert "- model: step 3\n" in text and "None" not in text
    assert "- resolved from: the policy trained in runs/x from m" in text


def test_samples_keep_the_rendered_prompt(tmp_path):
    result = make_result("gsm", [[True, False, True, True]])
    result.problems[0] = dataclasses.replace(
        result.problems[0], prompt="2+2?", rendered_prompt="<user>2+2?</user>"
    )
    write_outputs([result], tmp_path, HEADER)
    row = json.loads((tmp_path / "samples.jsonl").read_text().splitlines()[0])
    assert (row["prompt"], row["rendered_prompt"]) == ("2+2?", "<user>2+2?</user>")
    assert read_samples(tmp_path / "samples.jsonl")["gsm"][0].rendered_prompt == "<user>2+2?</user>"


def test_equal_curves_stay_visible():
    from mmrl.eval.report import _draw, _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots()
    same = {1: 0.25, 2: 0.4, 4: 0.5}
    _draw(ax, {"base": same, "grpo": dict(same), "a_grae": {1: 0.3, 2: 0.45, 4: 0.6}}, "gsm8k", "pass@k")
    base, grpo, a_grae = ax.lines
    assert list(base.get_ydata()) == list(grpo.get_ydata())
    assert all(g > b for b, g in zip(base.get_xdata(), grpo.get_xdata(), strict=True))  # shifted along k
    assert len({line.get_marker() for line in ax.lines}) == 3
    assert len({line.get_linestyle() for line in ax.lines}) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["base", "grpo (= base)", "a_grae"]
    assert list(a_grae.get_xdata()) == [1, 2, 4]  # a curve unlike the others stays at its k
    plt.close(fig)
