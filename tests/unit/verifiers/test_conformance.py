"""Every case of the conformance corpus (``corpus.py``) scores as labelled: right answers accepted,
wrong ones rejected. A rejected case must score exactly 0 (a wrong answer never becomes right)."""

from __future__ import annotations

import pytest

from rewards import check_gold, score
from tests.unit.verifiers.conftest import make_example
from tests.unit.verifiers.corpus import CASES


def _id(case) -> str:
    return f"{case.task}: {case.rule}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_corpus_case(case):
    example = make_example(case.task, case.gold, choices=case.choices, **case.meta)
    assert check_gold(example) is None, f"the gold {case.gold!r} must be readable"
    result = score(case.response, example)
    assert result.reward is not None
    assert result.correct is case.expected, f"{case.response!r} vs {case.gold!r} ({case.rule}): {result}"
    assert result.components["accuracy"] == (1.0 if case.expected else 0.0)


def test_corpus_has_both_verdicts_in_every_class():
    tasks = {c.task for c in CASES}
    for task in tasks:
        verdicts = {c.expected for c in CASES if c.task == task}
        assert verdicts == {True, False}, task
    assert len({(c.task, c.response, c.gold) for c in CASES}) == len(CASES), "duplicate cases"
