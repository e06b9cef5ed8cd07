"""Verifiers: score a response against an ``Example``'s answer, by the benchmarks' rules.

Public API::

    from rewards import score, check_gold, RewardRunner, register_verifier, get_verifier

    score(response, example)            # one response, in this process -> mmrl.types.Score
    check_gold(example)                 # None, or why the gold answer cannot be scored
    RewardRunner(cfg.reward).score(responses, examples, truncated)   # a batch, in workers, with timeouts
    @register_verifier("my_task")       # a custom verifier: fn(response, example) -> Score | float | None

Built-in verifiers (``Example.task``): ``math``, ``geometry``, ``chart``, ``chart_official``,
``choice``, ``format``, and ``mathruler`` (the A-GRAE paper's Geometry3K reward, as verl computes
it); each registers itself in its module, and the registry imports the modules of this package
before its first lookup. Custom ones: ``@register_verifier``, ``pkg.module:fn``,
``path/to/file.py:fn``, or the entry-point group ``mmrl.verifiers`` (``docs/verifiers.md``).

Modules: ``extraction`` (where the final answer is), ``latex`` (spelling normalisation),
``expr`` and ``answers`` (values and shapes of answers), ``math_verifier``, ``choice``,
``chart``, ``format``, ``mathruler_verifier`` (the verifiers), ``scoring`` (``score``/``check_gold``), ``registry``,
``runner``.
"""

from rewards.extraction import Extraction, extract_answer
from rewards.format import format_score
from rewards.registry import (
    ENTRY_POINT_GROUP,
    VERIFIERS,
    UnknownVerifierError,
    get_verifier,
    list_verifiers,
    register_verifier,
)
from rewards.runner import COUNTER_KEYS, RewardError, RewardRunner, RunnerResult
from rewards.scoring import check_gold, score

__all__ = [
    "COUNTER_KEYS",
    "ENTRY_POINT_GROUP",
    "Extraction",
    "RewardError",
    "RewardRunner",
    "RunnerResult",
    "VERIFIERS",
    "UnknownVerifierError",
    "check_gold",
    "extract_answer",
    "format_score",
    "get_verifier",
    "list_verifiers",
    "register_verifier",
    "score",
]
