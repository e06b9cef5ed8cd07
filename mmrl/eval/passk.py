"""pass@k, mean@k and maj@k: pure functions on per-problem sample counts.

All three estimate what a user gets from ``k`` independent samples of one problem, using
``n >= k`` samples of which ``c`` are correct.

pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", eq. 1): the
probability that at least one of ``k`` samples drawn without replacement from the ``n`` is
correct,

    pass@k = 1 - C(n - c, k) / C(n, k)

computed in the numerically stable product form

    pass@k = 1 - prod_{i = n - c + 1}^{n} (1 - k / i),   and 1.0 when n - c < k,

which is exact for any ``n`` (no huge binomials). It is unbiased for the true pass@k of the
sampler. pass@1 = c / n. A benchmark's pass@k is the mean over its problems.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence

__all__ = ["maj_at_k", "mean_at_k", "pass_at_k", "pass_at_k_curve"]


def _check(n: int, c: int, k: int) -> None:
    if n < 1:
        raise ValueError(f"pass@k needs at least one sample per problem, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"the number of correct samples c={c} must be in 0..n={n}")
    if k < 1:
        raise ValueError(f"k={k} must be >= 1")
    if k > n:
        raise ValueError(
            f"pass@{k} needs at least k samples per problem, got n={n}; sample n >= {k} or drop k={k}"
        )


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem from ``n`` samples with ``c`` correct (formula above).

    >>> round(pass_at_k(10, 3, 1), 6)
    0.3
    >>> round(pass_at_k(4, 1, 2), 6)   # 1 - C(3,2)/C(4,2) = 1 - 3/6
    0.5
    >>> pass_at_k(5, 0, 3), pass_at_k(5, 5, 3), pass_at_k(5, 4, 2)
    (0.0, 1.0, 1.0)
    """
    _check(n, c, k)
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def pass_at_k_curve(samples: Iterable[tuple[int, int]], ks: Sequence[int]) -> dict[int, float]:
    """Mean pass@k over problems for each ``k``; ``samples`` holds one ``(n, c)`` per problem.

    Every problem must have ``n >= k`` for every requested ``k`` (raises otherwise); an empty set
    of problems raises too, since a mean over nothing is not 0.
    """
    rows = list(samples)
    if not rows:
        raise ValueError("pass@k over zero problems is undefined")
    return {k: sum(pass_at_k(n, c, k) for n, c in rows) / len(rows) for k in ks}


def mean_at_k(n: int, c: int, k: int) -> float:
    """mean@k: the expected fraction of correct answers among ``k`` samples, i.e. ``c / n``.

    Samples are i.i.d., so the mean over any ``k`` of them has expectation equal to one sample's
    accuracy; ``c / n`` is its unbiased estimate from all ``n`` samples (also called avg@n).
    ``k`` is checked (``1 <= k <= n``) so that the column means what its header says.
    """
    _check(n, c, k)
    return c / n


def maj_at_k(answers: Sequence[Hashable | None], correct: Sequence[bool], k: int) -> float:
    """maj@k: the expected correctness of a majority vote over ``k`` samples.

    Conventions:
      * all correct samples form one answer class (each equals the gold answer, so they agree);
        incorrect samples are grouped by their extracted answer (``answers[i]``, e.g. the
        normalised string); a sample with no answer (``None``) abstains;
      * the vote is won by the largest class among the voting samples; a tie between the correct
        class and ``t`` other classes counts ``1 / (t + 1)`` (the expectation of a random
        tie-break); no voting sample at all counts 0;
      * the ``n`` samples are split into ``floor(n / k)`` disjoint blocks of ``k`` consecutive
        samples and the vote outcome is averaged over blocks. Samples are i.i.d., so every block
        is an independent draw of a k-sample vote and the average is unbiased.

    >>> maj_at_k(["7", "7", "8", "9"], [True, True, False, False], 4)   # 2 correct vs 1 and 1
    1.0
    >>> maj_at_k(["7", "8", "8", "9"], [True, False, False, False], 4)
    0.0
    >>> maj_at_k(["7", "8"], [True, False], 2)                          # a tie of two
    0.5
    """
    n = len(answers)
    if len(correct) != n:
        raise ValueError(f"answers ({n}) and correct ({len(correct)}) must have the same length")
    _check(n, sum(bool(x) for x in correct), k)
    blocks = n // k
    total = 0.0
    for b in range(blocks):
        total += _vote(answers[b * k : (b + 1) * k], correct[b * k : (b + 1) * k])
    return total / blocks


_CORRECT = object()


def _vote(answers: Sequence[Hashable | None], correct: Sequence[bool]) -> float:
    counts: Mapping[object, int] = Counter(
        _CORRECT if ok else answer
        for answer, ok in zip(answers, correct, strict=True)
        if ok or answer is not None
    )
    if _CORRECT not in counts:
        return 0.0
    top = max(counts.values())
    if counts[_CORRECT] < top:
        return 0.0
    tied = sum(1 for v in counts.values() if v == top)
    return 1.0 / tied
