"""Pareto front and non-domination ranks against brute-force O(n²) definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradebot.core.errors import UsageError
from tradebot.optimize.pareto import (
    _dominates_nb,
    front_mask_nb,
    non_dominated_ranks,
    pareto_front,
    ranks_sorted_nb,
)

# --------------------------------------------------------------------------- brute force


def dominates(a, b) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def valid_rows(v: np.ndarray) -> list[int]:
    return [i for i in range(v.shape[0]) if not any(math.isnan(x) or x == -math.inf for x in v[i])]


def front_slow(v: np.ndarray, among: list[int]) -> list[int]:
    return [i for i in among if not any(dominates(v[j], v[i]) for j in among if j != i)]


def ranks_slow(v: np.ndarray) -> np.ndarray:
    """Peel fronts off the valid rows; invalid rows get the rank after the last front."""
    ranks = np.zeros(v.shape[0], dtype=np.int64)
    left = valid_rows(v)
    invalid = sorted(set(range(v.shape[0])) - set(left))
    r = 0
    while left:
        f = front_slow(v, left)
        for i in f:
            ranks[i] = r
        left = [i for i in left if i not in f]
        r += 1
    ranks[invalid] = r
    return ranks


def random_values(rng: np.random.Generator, n: int, k: int, *, ints: bool, holes: bool) -> np.ndarray:
    v = rng.integers(0, 6, (n, k)).astype(float) if ints else rng.normal(size=(n, k))
    if holes and n:
        m = rng.random((n, k))
        v[m < 0.04] = np.nan
        v[(m >= 0.04) & (m < 0.07)] = -np.inf
        v[(m >= 0.07) & (m < 0.09)] = np.inf
    return v


CASES = [
    (n, k, ints, holes)
    for n in (0, 1, 2, 7, 60, 150)
    for k in (1, 2, 3, 4)
    for ints in (True, False)
    for holes in (False, True)
]


# --------------------------------------------------------------------------- public API


@pytest.mark.parametrize(("n", "k", "ints", "holes"), CASES)
def test_front_and_ranks_match_brute_force(n, k, ints, holes):
    rng = np.random.default_rng(n * 100 + k * 10 + 2 * ints + holes)
    v = random_values(rng, n, k, ints=ints, holes=holes)
    front = pareto_front(v)
    assert sorted(front.tolist()) == front_slow(v, valid_rows(v))
    np.testing.assert_array_equal(non_dominated_ranks(v), ranks_slow(v))
    # Sorted by the first objective, descending.
    first = v[front, 0]
    assert np.all(first[:-1] >= first[1:])


def test_front_order_and_ties():
    v = np.array([[1.0, 5.0], [3.0, 1.0], [2.0, 2.0], [3.0, 1.0], [1.0, 5.0], [0.0, 0.0], [2.0, 4.0]])
    # Duplicates do not dominate each other; ties on the first objective go by index.
    assert pareto_front(v).tolist() == [1, 3, 6, 0, 4]
    assert non_dominated_ranks(v).tolist() == [0, 0, 1, 0, 0, 2, 0]
    three = np.array([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [1.0, 3.0, 1.0]])
    assert pareto_front(three).tolist() == [1, 0]  # same first objective: second one decides


def test_invalid_rows_are_never_on_the_front():
    v = np.array([[np.nan, 100.0], [5.0, -np.inf], [1.0, 1.0], [np.inf, 0.0], [0.0, 0.5]])
    assert pareto_front(v).tolist() == [3, 2]
    assert non_dominated_ranks(v).tolist() == [2, 2, 0, 0, 1]
    only_bad = np.array([[np.nan, 1.0], [-np.inf, 2.0]])
    assert pareto_front(only_bad).tolist() == []
    assert non_dominated_ranks(only_bad).tolist() == [0, 0]


def test_single_objective_front_is_the_maxima():
    v = np.array([[3.0], [7.0], [7.0], [-1.0]])
    assert pareto_front(v).tolist() == [1, 2]
    assert non_dominated_ranks(v).tolist() == [1, 0, 0, 2]


def test_empty_and_dtypes():
    assert pareto_front(np.empty((0, 2))).dtype == np.intp
    assert pareto_front(np.empty((0, 2))).size == 0
    assert non_dominated_ranks(np.empty((0, 3))).size == 0
    assert pareto_front([[1, 2], [2, 1]]).tolist() == [1, 0]  # ints and lists are accepted


def test_a_chain_gives_one_row_per_rank():
    v = np.column_stack([np.arange(300.0), np.arange(300.0)])
    assert pareto_front(v).tolist() == [299]
    np.testing.assert_array_equal(non_dominated_ranks(v), 299 - np.arange(300))


@pytest.mark.parametrize(("bad", "msg"), [(np.arange(4.0), r"2-D array.*\(4,\)"), (np.empty((3, 0)), "no objective")])
def test_usage_errors(bad, msg):
    with pytest.raises(UsageError, match=msg):
        pareto_front(bad)
    with pytest.raises(UsageError, match=msg):
        non_dominated_ranks(bad)


# --------------------------------------------------------------------------- numba kernels


def test_dominates_nb_matches_python():
    rng = np.random.default_rng(0)
    for _ in range(500):
        a, b = rng.integers(0, 3, (2, 3)).astype(float)
        assert _dominates_nb(a, b) == dominates(a, b)


@pytest.mark.parametrize("seed", range(6))
def test_kernels_match_brute_force_on_sorted_input(seed):
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 5, (120, 1 + seed % 4)).astype(float)
    v = v[np.lexsort([-v[:, j] for j in range(v.shape[1] - 1, -1, -1)])]  # best first, as the wrappers pass it
    rows = list(range(v.shape[0]))
    assert np.flatnonzero(front_mask_nb(v)).tolist() == front_slow(v, rows)
    np.testing.assert_array_equal(ranks_sorted_nb(v), ranks_slow(v))
