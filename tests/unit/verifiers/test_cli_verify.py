"""``mmrl verify`` (issue 3 item 10): JSONL in, one verdict per line out, bad lines reported."""

from __future__ import annotations

import json

from mmrl.cli import main


def _write(tmp_path, lines):
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_verify_scores_each_line_in_order(tmp_path, capsys):
    path = _write(
        tmp_path,
        [
            {"response": "\\boxed{0.5}", "answer": "\\frac{1}{2}", "task": "math"},
            {"response": "45%", "answer": "45"},
            {"response": "(B)", "answer": "140°", "choices": ["40°", "140°"], "task": "choice"},
            {"response": "\\boxed{3} or \\boxed{5}", "answer": "5", "task": "math"},
            {"response": "12", "answer": "", "task": "math"},
            {"response": "\\boxed{5}", "answer": 5, "task": "math", "truncated": True},
        ],
    )
    out = tmp_path / "out.jsonl"
    code = main(["verify", "--task", "chart", "--output", str(out), str(path), "reward.num_workers=0"])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in rows] == [True, True, True, False, None, False]
    assert [r["status"] for r in rows] == [
        "ok",
        "ok",
        "ok",
        "unparsable_pred",
        "unparsable_gold",
        "unparsable_pred",
    ]
    assert rows[0] == {"reward": 0.9, "correct": True, "status": "ok", "extracted": "0.5", "message": None}
    assert rows[4]["reward"] is None
    err = capsys.readouterr().err
    assert "6 lines scored, accuracy 0.5000 (3 correct)" in err and "unparsable_gold 1" in err


def test_verify_reports_bad_lines_and_keeps_going(tmp_path, capsys):
    path = _write(
        tmp_path,
        [
            "{not json",
            {"answer": "1", "task": "math"},
            {"response": "1", "answer": "1", "task": "choise"},
            {"response": "1", "answer": "1"},
            ["a list"],
            {"response": "\\boxed{1}", "answer": "1", "task": "math"},
        ],
    )
    code = main(["verify", str(path), "reward.format_weight=0", "reward.accuracy_weight=1"])
    assert code == 1
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == 6
    assert [r["status"] for r in rows] == ["error"] * 5 + ["ok"]
    assert rows[5]["reward"] == 1.0
    for number, needle in [
        (1, "invalid JSON"),
        (2, "missing field"),
        (3, "did you mean 'choice'"),
        (4, "no task"),
        (5, "JSON object"),
    ]:
        assert f"line {number}: " in rows[number - 1]["message"] and needle in rows[number - 1]["message"]
        assert f"mmrl verify: line {number}: " in captured.err
    assert "bad input lines 5" in captured.err


def test_verify_refuses_other_overrides_and_missing_files(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.jsonl")]) == 1
    path = _write(tmp_path, [{"response": "1", "answer": "1", "task": "math"}])
    assert main(["verify", str(path), "trainer.max_steps=3"]) == 1
    assert "only reward.* overrides" in capsys.readouterr().err


def test_verify_fails_when_the_verifier_fails_on_every_line(tmp_path, capsys):
    checks = tmp_path / "raising_checks.py"
    checks.write_text("def raising(response, example):\n    raise KeyError('no such field')\n")
    lines = [{"response": str(i), "answer": "1", "task": f"{checks}:raising"} for i in range(3)]
    code = main(["verify", str(_write(tmp_path, lines)), "reward.num_workers=1"])
    captured = capsys.readouterr()
    assert code == 1
    assert [json.loads(line)["status"] for line in captured.out.splitlines()] == ["error"] * 3
    assert "the verifier failed on every line (3 errors, 0 timeouts)" in captured.err
    assert "KeyError" in captured.err


def test_verify_succeeds_when_only_some_lines_fail_in_the_verifier(tmp_path, capsys):
    checks = tmp_path / "picky.py"
    checks.write_text("def picky(response, example):\n    return 1.0 if response == 'ok' else {}['x']\n")
    lines = [{"response": r, "answer": "1", "task": f"{checks}:picky"} for r in ("ok", "bad")]
    assert main(["verify", str(_write(tmp_path, lines)), "reward.num_workers=1"]) == 0
    assert "error 1" in capsys.readouterr().err
