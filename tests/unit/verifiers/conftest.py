"""Helpers for the verifier conformance suites: build an Example and score one response."""

from __future__ import annotations

import pytest

from mmrl.types import Example


def make_example(task: str, answer: str, choices=None, prompt="?", **meta) -> Example:
    return Example(id=f"{task}-case", task=task, prompt=prompt, answer=answer, choices=choices, meta=meta)


@pytest.fixture
def example():
    return make_example
