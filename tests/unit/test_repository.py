"""The repository's own rules: GPU tests live in tests/gpu, and nothing cites files outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("mmrl", "rewards", "data_recipes", "scripts", "tests", "docs")


def text_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for top in SOURCES:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in (".py", ".md", ".yaml", ".sh", ".jinja")]
    return [p for p in files if "__pycache__" not in p.parts]


def test_gpu_marked_tests_live_in_tests_gpu():
    marker = re.compile(r"pytest\.mark\." + "gpu" + r"\b")
    outside = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("*.py")
        if (ROOT / "tests" / "gpu") not in p.parents and marker.search(p.read_text())
    ]
    assert outside == []


def test_nothing_cites_the_developer_notes():
    # the notes are not part of the repository: what users need from them is in docs/
    cites = re.compile(r"research" + r"/\w+\.md|\.\./" + r"shared|/work/" + r"shared")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in text_files()
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if cites.search(line)
    ]
    assert offenders == []


def _long_functions(top: str, limit: int) -> list[str]:
    import ast

    found = []
    for path in sorted((ROOT / top).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_functions_fit_on_a_screen():
    # the train step's stages stay readable in one screen; nothing in the library grows past 100 lines
    assert _long_functions("mmrl/train", 60) == []
    assert _long_functions("mmrl", 100) == []


def test_engines_do_not_branch_on_the_modality():
    # what differs between text and vision policies is the policy's to say (engine_request,
    # generation_inputs, processor_kwargs, auto_static_cache): an engine serves both alike
    branch = re.compile(r"\bis_vision\b|\bVisionPolicy\b|\bTextPolicy\b")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in (ROOT / "mmrl" / "rollout").rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if branch.search(line)
    ]
    assert offenders == []
