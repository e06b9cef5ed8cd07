"""The Python examples in ``docs/verifiers.md`` run as written (so the worked example cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "verifiers.md"


def test_docs_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) >= 3
    namespace = {"__name__": "docs_verifiers_example"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    from rewards import get_verifier

    assert get_verifier("yes_no") is namespace["yes_no"]


def test_docs_table_lists_every_builtin_verifier():
    from rewards.registry import VERIFIERS, is_builtin

    table = DOC.read_text().split("## The built-in verifiers", 1)[1].split("###", 1)[0]
    names = set(re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE))
    assert names == {name for name, fn in VERIFIERS.registered().items() if is_builtin(fn)}


def test_docs_claims_about_mathruler_hold_on_the_corpus():
    # "Which verifier": math/geometry label every corpus case as its rule says; mathruler accepts
    # wrong answers (its known false positives).
    from mathruler.grader import extract_boxed_content, grade_answer

    from rewards import score
    from tests.unit.verifiers.conftest import make_example
    from tests.unit.verifiers.corpus import CASES

    ours = [score(c.response, make_example(c.task, c.gold, choices=c.choices)).correct for c in CASES]
    assert ours == [c.expected for c in CASES]
    ruler = [bool(grade_answer(extract_boxed_content(c.response), c.gold)) for c in CASES]
    false_positives = sum(r and not c.expected for r, c in zip(ruler, CASES, strict=True))
    text = DOC.read_text()
    assert f"accepts {false_positives} wrong answers" in text
