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
