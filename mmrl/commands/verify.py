"""``mmrl verify [--task TASK] [--output OUT.jsonl] FILE.jsonl [reward.x=y ...]``: score saved outputs.

Each input line is a JSON object::

    {"response": str, "answer": str, "choices": [str] | null, "task": str,   # task optional
     "meta": {...}, "truncated": bool, "id": str}                             # all optional

``task`` (a verifier name, ``pkg.module:fn`` or ``file.py:fn``) overrides ``--task``. Each output
line, in input order, is ``{"reward", "correct", "status", "extracted", "message"}``. A bad input
line (invalid JSON, a missing or mistyped field, an unknown task) is reported on stderr with its
line number, written as ``status: "error"`` with the reason, and does not stop the rest; the exit
code is then 1, as it is when the verifier fails (raises or times out) on every line. A summary
(accuracy, counts per status) goes to stderr.

Scoring runs through ``rewards.RewardRunner`` (worker processes, hard timeout). ``reward.*``
overrides tune it, e.g. ``reward.timeout_s=2 reward.format_weight=0``. Here
``reward.max_error_rate`` defaults to 1.0 so that verifier failures are reported per line instead of
stopping the run; set it to make the command fail fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BATCH_LINES = 4096


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="score model outputs saved as JSONL with the verifiers (math, geometry, chart, choice, ...)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="input JSONL: one {response, answer, choices?, task?} object per line")
    parser.add_argument("overrides", nargs="*", metavar="reward.x=y", help="reward config overrides")
    parser.add_argument(
        "--task", default=None, help="verifier for lines without a 'task' field (e.g. math, chart, choice)"
    )
    parser.add_argument(
        "--output", "-o", default=None, help="write the JSONL verdicts here (default: stdout)"
    )
    parser.set_defaults(func=run_verify)


def _example_from(obj: Any, number: int, default_task: str | None) -> tuple[Any, str, bool]:
    """``(Example, response, truncated)`` from one parsed line; raises ValueError with the reason."""
    from mmrl.types import Example
    from rewards import get_verifier

    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [key for key in ("response", "answer") if key not in obj]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    response = obj["response"]
    if not isinstance(response, str):
        raise ValueError(f"'response' must be a string, got {type(response).__name__}")
    answer = obj["answer"]
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str):
        raise ValueError(f"'answer' must be a string, got {type(answer).__name__}")
    choices = obj.get("choices")
    if choices is not None and (
        not isinstance(choices, list) or not all(isinstance(c, str) for c in choices)
    ):
        raise ValueError("'choices' must be a list of strings or null")
    task = obj.get("task", default_task)
    if not isinstance(task, str) or not task:
        raise ValueError("no task: give the line a 'task' field or pass --task")
    get_verifier(task)  # an unknown name fails here with the nearest known one
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError("'meta' must be an object")
    truncated = obj.get("truncated", False)
    if not isinstance(truncated, bool):
        raise ValueError("'truncated' must be true or false")
    ident = str(obj.get("id", f"line{number}"))
    example = Example(id=ident, task=task, prompt="", answer=answer, choices=choices, meta=meta)
    return example, response, truncated


def run_verify(args: argparse.Namespace) -> int:
    from mmrl.config import load_config
    from mmrl.errors import UserError
    from rewards import RewardRunner

    path = Path(args.file)
    if not path.is_file():
        raise UserError(f"input file not found: {path}")
    overrides = list(args.overrides)
    bad_keys = [o for o in overrides if not o.startswith("reward.")]
    if bad_keys:
        raise UserError(f"only reward.* overrides apply to `mmrl verify`, got {bad_keys}")
    if not any(o.startswith("reward.max_error_rate=") for o in overrides):
        overrides.insert(0, "reward.max_error_rate=1.0")
    cfg = load_config(None, overrides).reward

    rows: list[dict[str, Any] | None] = []
    jobs: list[tuple[int, Any, str, bool]] = []
    bad = 0
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                example, response, truncated = _example_from(json.loads(line), number, args.task)
            except (ValueError, UserError) as exc:
                kind = "invalid JSON: " if isinstance(exc, json.JSONDecodeError) else ""
                reason = f"line {number}: {kind}{exc}"
                print(f"mmrl verify: {reason}", file=sys.stderr)
                rows.append(_row(None, None, "error", None, reason))
                bad += 1
                continue
            jobs.append((len(rows), example, response, truncated))
            rows.append(None)

    counts: dict[str, int] = {}
    with RewardRunner(cfg) as runner:
        for start in range(0, len(jobs), BATCH_LINES):
            chunk = jobs[start : start + BATCH_LINES]
            result = runner.score([j[2] for j in chunk], [j[1] for j in chunk], [j[3] for j in chunk])
            for (slot, *_), s in zip(chunk, result.scores, strict=True):
                rows[slot] = _row(s.reward, s.correct, s.status, s.extracted, s.message)
            for key, value in result.counters.items():
                counts[key] = counts.get(key, 0) + value

    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    _summary(len(jobs), bad, counts)
    failed = counts.get("error", 0) + counts.get("timeout", 0)
    if jobs and failed == len(jobs):
        first = next(r for r in rows if r is not None and r["status"] in ("error", "timeout"))
        print(
            f"mmrl verify: the verifier failed on every line ({counts.get('error', 0)} errors, "
            f"{counts.get('timeout', 0)} timeouts); the first: {first['message']}",
            file=sys.stderr,
        )
        return 1
    return 1 if bad else 0


def _row(
    reward: float | None, correct: bool | None, status: str, extracted: str | None, message: str | None
) -> dict:
    return {
        "reward": reward,
        "correct": correct,
        "status": status,
        "extracted": extracted,
        "message": message,
    }


def _summary(scored: int, bad: int, counts: dict[str, int]) -> None:
    correct = counts.get("correct", 0)
    accuracy = correct / scored if scored else 0.0
    statuses = ", ".join(
        f"{key} {counts.get(key, 0)}"
        for key in ("ok", "unparsable_pred", "unparsable_gold", "timeout", "error")
    )
    print(
        f"mmrl verify: {scored} lines scored, accuracy {accuracy:.4f} ({correct} correct); {statuses}; "
        f"bad input lines {bad}",
        file=sys.stderr,
    )
