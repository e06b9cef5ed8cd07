"""pass@k against brute-force enumeration, edge cases, mean@k and maj@k."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from mmrl.eval.passk import maj_at_k, mean_at_k, pass_at_k, pass_at_k_curve


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    # Enumerate every k-subset of n samples where the first c are correct.
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration_over_all_subsets(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_hand_computed_values():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 = c/n
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2) = 1 - 3/10


def test_edge_cases():
    assert pass_at_k(8, 0, 4) == 0.0  # c = 0
    assert pass_at_k(8, 8, 4) == 1.0  # c = n
    assert pass_at_k(8, 1, 8) == 1.0  # k = n with one correct
    assert pass_at_k(8, 0, 8) == 0.0  # k = n with none correct
    with pytest.raises(ValueError, match="needs at least k samples"):
        pass_at_k(4, 1, 5)  # k > n is rejected loudly
    with pytest.raises(ValueError, match="c=5"):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError, match="k=0"):
        pass_at_k(4, 1, 0)


def test_large_n_is_stable_and_matches_exact_binomials():
    n, c, k = 256, 3, 64
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, rel=1e-12)


def test_monotone_in_k_and_c():
    rng = random.Random(0)
    for _ in range(50):
        n = rng.randint(2, 64)
        c = rng.randint(0, n)
        values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))
        if c < n:
            assert pass_at_k(n, c, 1) <= pass_at_k(n, c + 1, 1)


def test_curve_averages_over_problems():
    curve = pass_at_k_curve([(4, 0), (4, 4), (4, 1)], [1, 2])
    assert curve[1] == pytest.approx((0 + 1 + 0.25) / 3)
    assert curve[2] == pytest.approx((0 + 1 + 0.5) / 3)
    with pytest.raises(ValueError, match="zero problems"):
        pass_at_k_curve([], [1])


def test_mean_at_k():
    assert mean_at_k(8, 2, 4) == 0.25
    with pytest.raises(ValueError):
        mean_at_k(4, 1, 8)


def test_maj_at_k_votes_ties_and_abstentions():
    # correct class 2 votes vs wrong "8" 1 and "9" 1 -> correct wins
    assert maj_at_k(["7", "7", "8", "9"], [True, True, False, False], 4) == 1.0
    # wrong "8" has 2 votes vs correct 1 -> wrong
    assert maj_at_k(["7", "8", "8", "9"], [True, False, False, False], 4) == 0.0
    # a two-way tie counts 1/2, a three-way tie 1/3
    assert maj_at_k(["7", "8"], [True, False], 2) == 0.5
    assert maj_at_k(["7", "8", "9"], [True, False, False], 3) == pytest.approx(1 / 3)
    # abstentions (no answer) do not vote: one correct vote beats nothing
    assert maj_at_k(["7", None, None], [True, False, False], 3) == 1.0
    # differently written correct answers agree with each other ("1/2" and "0.5")
    assert maj_at_k(["1/2", "0.5", "3", "3"], [True, True, False, False], 4) == 0.5
    # two disjoint blocks of k=2: block 1 correct, block 2 wrong -> 0.5
    assert maj_at_k(["7", "7", "8", "8"], [True, True, False, False], 2) == 0.5
    with pytest.raises(ValueError, match="same length"):
        maj_at_k(["7"], [True, False], 1)
