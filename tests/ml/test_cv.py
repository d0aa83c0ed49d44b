"""Purged k-fold and walk-forward splits: no overlap, embargo, scikit-learn protocol, and a
series on which leakage inflates the score measurably."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot.core.errors import UsageError
from tradebot.ml.cv import PurgedKFold, WalkForwardSplit, embargo_bars
from tradebot.ml.labels import forward_return_labels


@st.composite
def intervals(draw):
    n = draw(st.integers(12, 80))
    steps = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    t0 = np.cumsum(steps).astype(np.int64)
    t1 = t0 + np.array(draw(st.lists(st.integers(0, 12), min_size=n, max_size=n)), dtype=np.int64)
    return t0, t1


def _overlaps(a0, a1, b0, b1):
    return not (a1 < b0 or b1 < a0)


@settings(max_examples=60, deadline=None)
@given(intervals(), st.integers(2, 5), st.integers(0, 6))
def test_purged_kfold_no_overlap_embargo_and_maximal(iv, k, embargo):
    t0, t1 = iv
    n = t0.size
    cv = PurgedKFold(k, t1=t1, t0=t0, embargo=embargo)
    seen = []
    try:
        splits = list(cv.split(np.zeros((n, 1))))
    except UsageError as e:  # every sample purged: allowed to refuse, never to leak
        assert "no training samples left" in str(e)
        return
    assert len(splits) == cv.get_n_splits() == k
    for train, test in splits:
        seen.extend(test.tolist())
        assert np.array_equal(test, np.arange(test[0], test[-1] + 1))  # contiguous, in order
        assert not set(train) & set(test)
        hi = t1[test].max()
        for i in range(n):
            if i in set(test):
                continue
            clash = any(_overlaps(t0[i], t1[i], t0[j], t1[j]) for j in test)
            in_embargo = hi < t0[i] <= hi + embargo
            inside = t0[test[0]] <= t0[i] <= hi  # starts inside the test block's span
            assert (i in set(train)) == (not clash and not in_embargo and not inside), (i, train, test)
    assert seen == list(range(n))  # the test folds partition the samples, in time order


@settings(max_examples=40, deadline=None)
@given(intervals(), st.integers(1, 4), st.integers(0, 4), st.one_of(st.none(), st.integers(3, 30)))
def test_walk_forward_trains_only_on_the_purged_past(iv, k, gap, train_size):
    t0, t1 = iv
    n = t0.size
    cv = WalkForwardSplit(k, t1=t1, t0=t0, embargo=gap, train_size=train_size)
    try:
        splits = list(cv.split(np.zeros(n)))
    except UsageError:
        return
    size = n // (k + 1)
    for f, (train, test) in enumerate(splits):
        assert np.array_equal(test, np.arange(n - (k - f) * size, n - (k - f - 1) * size))
        assert train.size and train.max() < test[0]
        assert (t1[train] < t0[test[0]] - gap).all()
        if train_size is not None:
            assert train.min() >= test[0] - train_size
        for j in test:
            assert not any(_overlaps(t0[i], t1[i], t0[j], t1[j]) for i in train)


def test_purged_kfold_on_label_intervals_by_hand():
    t1 = np.arange(20) + 3  # forward labels over 3 bars
    folds = list(PurgedKFold(4, t1=t1, embargo=2).split(np.zeros(20)))
    train, test = folds[1]  # test samples 5..9, interval [5, 12]
    assert test.tolist() == [5, 6, 7, 8, 9]
    assert train.tolist() == [0, 1] + list(range(15, 20))  # t1 < 5 on the left; t0 > 12 + 2 on the right


def test_embargo_as_fraction_or_bars():
    t0 = np.arange(100)
    assert embargo_bars(0.01, t0, t0 + 9) == 2  # ceil(0.01 * 109)
    assert embargo_bars(5, t0, t0) == 5 and embargo_bars(0.0, t0, t0) == 0
    for bad in (-1, 1.0, 1.5, "x", True):
        with pytest.raises(UsageError):
            embargo_bars(bad, t0, t0)


def test_splitters_work_with_scikit_learn():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, cross_val_score

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = (X[:, 0] + 0.5 * rng.standard_normal(200) > 0).astype(int)
    t1 = np.minimum(np.arange(200) + 5, 199)
    scores = cross_val_score(LogisticRegression(), X, y, cv=PurgedKFold(5, t1=t1), scoring="roc_auc")
    assert scores.shape == (5,) and scores.mean() > 0.7
    wf = cross_val_score(LogisticRegression(), X, y, cv=WalkForwardSplit(3, t1=t1, train_size=80))
    assert wf.shape == (3,)
    grid = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=PurgedKFold(3, t1=t1)).fit(X, y)
    assert grid.best_params_["C"] in (0.1, 1.0)
    assert "PurgedKFold(n_splits=5" in repr(PurgedKFold(5)) and "expanding" in repr(WalkForwardSplit())


@pytest.mark.parametrize(("make", "message"), [
    (lambda: list(PurgedKFold(3, t1=[0, 0, 5, 1]).split(np.zeros(4))), "sample 1: label end t1=0 is before"),
    (lambda: list(PurgedKFold(2, t0=[0, 2, 1, 3]).split(np.zeros(4))), "must be in time order"),
    (lambda: list(PurgedKFold(2, t1=[1, 2]).split(np.zeros(4))), "one entry per sample (4)"),
    (lambda: list(PurgedKFold(5).split(np.zeros(3))), "cannot make 5 folds of 3 samples"),
    (lambda: PurgedKFold(1), "n_splits must be an integer >= 2"),
    (lambda: list(PurgedKFold(2, t1=np.full(10, 9)).split(np.zeros(10))), "no training samples left"),
    (lambda: list(WalkForwardSplit(5).split(np.zeros(4))), "do not fit in 4 samples"),
    (lambda: list(WalkForwardSplit(2, t1=np.arange(30) + 20).split(np.zeros(30))), "fold 1 has 0 training"),
    (lambda: WalkForwardSplit(2, train_size=0), "train_size must be a positive number"),
])
def test_bad_split_settings_are_usage_errors(make, message):
    with pytest.raises(UsageError) as e:
        make()
    assert message in str(e.value)


def _oof_auc(cv, X, y):
    from sklearn.metrics import roc_auc_score
    from sklearn.neighbors import KNeighborsClassifier

    p = np.full(y.size, np.nan)
    for train, test in cv.split(X):
        p[test] = KNeighborsClassifier(3).fit(X[train], y[train]).predict_proba(X[test])[:, 1]
    return roc_auc_score(y, p)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leakage_inflates_the_score_without_purge_and_embargo(seed):
    """Labels are overlapping 40-bar forward returns of a driftless random walk (nothing to
    learn); the feature is the bar's time, so a nearest-neighbour model finds the adjacent
    bars, whose labels share most of their returns with the test label. Without purge and
    embargo it "predicts" well; with the default purge and embargo it is at chance."""
    rng = np.random.default_rng(seed)
    h, n = 40, 1200
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n + h)))
    lab = forward_return_labels(close, h, binary=True)
    t0 = np.flatnonzero(lab.valid)
    y, t1 = lab.label[t0].astype(int), lab.t1[t0]
    X = t0.reshape(-1, 1).astype(np.float64)
    leaky = _oof_auc(PurgedKFold(60, embargo=0), X, y)  # no label intervals: nothing purged
    honest = _oof_auc(PurgedKFold(60, t1=t1, t0=t0), X, y)  # the defaults: purge + 1% embargo
    assert leaky > 0.75, leaky
    assert abs(honest - 0.5) < 0.15, honest
    assert leaky - honest > 0.2
