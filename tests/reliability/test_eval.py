"""Evaluation over fewer problems than the benchmark has must say so where people read it, and
``--strict`` (``eval.on_bad_row=fail``) makes it an error."""

from __future__ import annotations

import json
import re

import pytest

from mmrl.cli import main
from mmrl.testing import save_tiny_text_model

FAST = ["--engine", "hf", "--max-new-tokens", "4", "--reward-workers", "0", "--n", "2", "--k", "1,2"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A gsm8k copy of 5 rows, one with a null answer (the bad row), and a tiny text model."""
    root = tmp_path_factory.mktemp("eval-bad-row")
    save_tiny_text_model(root / "model", seed=0)
    rows = [{"question": f"What is {i} plus 2?", "answer": f"{i} + 2\n#### {i + 2}"} for i in range(5)]
    rows[2]["answer"] = None
    (root / "data").mkdir()
    (root / "data" / "gsm8k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _eval(workdir, out, *extra):
    return main(
        [
            "eval",
            "--model",
            str(workdir / "model"),
            "--benchmarks",
            "gsm8k",
            "--data-dir",
            str(workdir / "data"),
            "--output",
            str(out),
            *FAST,
            *extra,
            "data.max_bad_fraction=0.5",
        ]
    )


def test_a_benchmark_row_dropped_at_load_appears_in_report_md(workdir, capsys):
    out = workdir / "lenient"
    assert _eval(workdir, out) == 0
    report = (out / "report.md").read_text()
    assert "**1 rows of the benchmark were bad and not evaluated**: {'bad_answer': 1}" in report
    assert "| gsm8k | 4 |" in report  # pass@k over the 4 problems that were evaluated
    info = json.loads((out / "results.json").read_text())["benchmarks"]["gsm8k"]["info"]
    assert info["rows"]["bad_rows"] == 1 and info["bad_rows_by_reason"] == {"bad_answer": 1}


@pytest.mark.parametrize("flag", ["--strict", "eval.on_bad_row=fail"])
def test_eval_strict_fails_on_a_bad_row_naming_it(workdir, capsys, flag):
    out = workdir / f"strict{flag[:3]}"
    assert _eval(workdir, out, flag) == 1
    err = capsys.readouterr().err
    assert "benchmark 'gsm8k': 1 bad rows" in err and "--strict (eval.on_bad_row=fail)" in err
    assert re.search(r"\n +2 +bad_answer +answer: answer must be text", err)  # the row, by index
    assert not (out / "report.md").exists()


def test_eval_strict_fails_on_prompts_over_the_budget(workdir, capsys):
    out = workdir / "strict-budget"
    # --limit 2: the first two rows, both good; their prompts are longer than 12 tokens
    assert _eval(workdir, out, "--strict", "--limit", "2", "--max-prompt-length", "12") == 1
    assert "0 bad rows; 2 prompts over the prompt budget (--max-prompt-length)" in capsys.readouterr().err


def test_eval_on_bad_row_fail_refuses_a_bad_held_out_row_in_training_validation(workdir):
    from mmrl.config import load_config
    from mmrl.data import DataValidationError
    from mmrl.train.validation import load_eval_examples

    overrides = [
        "eval.recipe=gsm8k",
        f"eval.path={workdir / 'data' / 'gsm8k.jsonl'}",
        "data.max_bad_fraction=0.5",
    ]
    assert len(load_eval_examples(load_config(None, overrides))) == 4
    with pytest.raises(DataValidationError, match="bad_answer"):
        load_eval_examples(load_config(None, [*overrides, "eval.on_bad_row=fail"]))
