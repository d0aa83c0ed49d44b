"""Time-series cross-validation without leakage: purged k-fold with embargo, walk-forward.

Every sample i has a label interval ``[t0[i], t1[i]]`` (bars, inclusive; by default
``t0 = i``, and ``t1 = LabelSet.t1`` for labels from :mod:`tradebot.ml.labels`). A test
fold is a contiguous block of samples; its interval is ``[T0, T1]`` = ``[t0 of its first
sample, the largest t1 in it]``.

- **Purge**: a training sample whose interval overlaps ``[T0, T1]`` is dropped (its label
  shares prices with a test label).
- **Embargo** (k-fold): training samples starting within ``embargo`` bars *after* ``T1``
  are dropped too, because features computed over the bars just after the test block
  (lagged returns, rolling windows) still carry information from inside it.
- **Walk-forward**: train only on samples before the test block (expanding, or the last
  ``train_size`` samples); the purge keeps ``t1 < T0 - embargo`` (the embargo is a gap).

Folds are never shuffled. The splitters follow scikit-learn's protocol (``split(X, y,
groups)`` yielding index arrays, ``get_n_splits``), so they plug into
``cross_val_score``, ``GridSearchCV`` and friends. ``embargo`` is a number of bars (int)
or a fraction of the samples' time span (float in [0, 1)).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from tradebot.core.errors import UsageError


def _intervals(n: int, t0: Any, t1: Any) -> tuple[np.ndarray, np.ndarray]:
    start = np.arange(n, dtype=np.int64) if t0 is None else np.asarray(t0, dtype=np.int64)
    end = start.copy() if t1 is None else np.asarray(t1, dtype=np.int64)
    if start.shape != (n,) or end.shape != (n,):
        raise UsageError(f"t0/t1 must have one entry per sample ({n}), got {start.shape[0]} and {end.shape[0]}")
    if (end < start).any():
        bad = int(np.argmax(end < start))
        raise UsageError(f"sample {bad}: label end t1={end[bad]} is before its start t0={start[bad]} "
                         "(drop undefined labels before splitting)")
    if n > 1 and (np.diff(start) < 0).any():
        raise UsageError("samples must be in time order (t0 non-decreasing); time series are never shuffled")
    return start, end


def embargo_bars(embargo: float | int, t0: np.ndarray, t1: np.ndarray) -> int:
    """``embargo`` in bars: an int as is, a float as a fraction of the time span."""
    if isinstance(embargo, bool) or not isinstance(embargo, int | float | np.integer | np.floating):
        raise UsageError(f"embargo must be a number of bars or a fraction in [0, 1), got {embargo!r}")
    if isinstance(embargo, int | np.integer):
        if embargo < 0:
            raise UsageError(f"embargo must not be negative, got {embargo}")
        return int(embargo)
    if not 0.0 <= embargo < 1.0:
        raise UsageError(f"embargo as a fraction must be in [0, 1), got {embargo}")
    span = int(t1.max() - t0.min() + 1) if t0.size else 0
    return int(math.ceil(embargo * span))


def purged_train_indices(t0: np.ndarray, t1: np.ndarray, test: np.ndarray, embargo: int = 0,
                         candidates: np.ndarray | None = None) -> np.ndarray:
    """Training indices (from ``candidates``, default all) whose interval neither overlaps
    the test block's ``[T0, T1]`` nor starts within ``embargo`` bars after ``T1``."""
    lo, hi = int(t0[test].min()), int(t1[test].max())
    idx = np.arange(t0.shape[0], dtype=np.int64) if candidates is None else np.asarray(candidates, np.int64)
    keep = (t1[idx] < lo) | (t0[idx] > hi + embargo)
    keep &= ~np.isin(idx, test)
    return idx[keep]


def _check_splits(n_splits: object, minimum: int) -> int:
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < minimum:
        raise UsageError(f"n_splits must be an integer >= {minimum}, got {n_splits!r}")
    return int(n_splits)


class PurgedKFold:
    """K contiguous test folds; training on the rest, purged and embargoed (AFML 7.4)."""

    def __init__(self, n_splits: int = 5, t1: Any = None, t0: Any = None, embargo: float | int = 0.01) -> None:
        self.n_splits = _check_splits(n_splits, 2)
        self.t1, self.t0, self.embargo = t1, t0, embargo

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(X)
        if n < self.n_splits:
            raise UsageError(f"cannot make {self.n_splits} folds of {n} samples")
        t0, t1 = _intervals(n, self.t0, self.t1)
        gap = embargo_bars(self.embargo, t0, t1)
        for test in np.array_split(np.arange(n, dtype=np.int64), self.n_splits):
            train = purged_train_indices(t0, t1, test, gap)
            if train.size == 0:
                raise UsageError("a purged fold has no training samples left: use fewer folds, a shorter "
                                 "label horizon or a smaller embargo")
            yield train, test

    def __repr__(self) -> str:
        return f"PurgedKFold(n_splits={self.n_splits}, embargo={self.embargo!r})"


class WalkForwardSplit:
    """``n_splits`` consecutive test blocks at the end of the data, each trained on the
    samples before it: all of them (``train_size=None``, expanding) or the last
    ``train_size`` (rolling), purged so no training label reaches into the test block
    (and ``embargo`` bars before it)."""

    def __init__(self, n_splits: int = 5, t1: Any = None, t0: Any = None, test_size: int | None = None,
                 train_size: int | None = None, min_train_size: int = 1, embargo: float | int = 0) -> None:
        self.n_splits = _check_splits(n_splits, 1)
        for name, value in (("test_size", test_size), ("train_size", train_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UsageError(f"{name} must be a positive number of samples, got {value!r}")
        if isinstance(min_train_size, bool) or not isinstance(min_train_size, int) or min_train_size < 1:
            raise UsageError(f"min_train_size must be a positive number of samples, got {min_train_size!r}")
        self.t1, self.t0, self.embargo = t1, t0, embargo
        self.test_size, self.train_size, self.min_train_size = test_size, train_size, min_train_size

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(X)
        t0, t1 = _intervals(n, self.t0, self.t1)
        gap = embargo_bars(self.embargo, t0, t1)
        size = self.test_size or n // (self.n_splits + 1)
        first = n - self.n_splits * size
        if size < 1 or first < 1:
            raise UsageError(f"{self.n_splits} walk-forward test blocks of {size} samples do not fit "
                             f"in {n} samples with room to train")
        for k in range(self.n_splits):
            a = first + k * size
            test = np.arange(a, a + size, dtype=np.int64)
            lo = 0 if self.train_size is None else max(0, a - self.train_size)
            cand = np.arange(lo, a, dtype=np.int64)
            train = cand[t1[cand] < t0[a] - gap]
            if train.size < self.min_train_size:
                raise UsageError(f"walk-forward fold {k + 1} has {train.size} training samples after purging "
                                 f"(needs {self.min_train_size}): use fewer splits or a shorter label horizon")
            yield train, test

    def __repr__(self) -> str:
        mode = "expanding" if self.train_size is None else f"rolling {self.train_size}"
        return f"WalkForwardSplit(n_splits={self.n_splits}, {mode}, embargo={self.embargo!r})"
