"""The strategy-selection model: which candidate to follow in the next window.

Walk-forward (expanding window): before window ``w`` the model is fitted on the windows whose
returns were fully known when ``w`` starts (windows ``0 .. w-1``: window ``w-1`` ends at the
close the decision is taken at) and predicts every candidate's return in ``w`` from

* the context at ``w``'s start (the regime features of the bar before it) and
* every candidate's return in the window before (how each has been doing lately).

The model is a scikit-learn ``ExtraTreesRegressor`` (one multi-output forest of 30 trees with
leaves of at least 5 windows, seeded): it predicts each candidate's next-window return; the
choice is the highest prediction, except
that the selector keeps its current candidate unless another is predicted to beat it by more
than ``switch_cost`` (the return a switch costs: closing and opening fees and slippage). The
first ``min_train_windows`` windows, and windows whose context is not defined yet, are flat.

Other methods (contextual bandits, Q-learning) live in :mod:`tradebot.ml.agents`;
:func:`walk_forward_choices` dispatches to them by name when that package is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import UsageError

if TYPE_CHECKING:
    from tradebot.ml.select.record import CandidateRecord

MODEL = "model"
DEFAULT_MIN_TRAIN_WINDOWS = 8
N_TREES = 30
MIN_LEAF = 5  # leaves of at least 5 windows: per-window returns are noisy


def agent_methods() -> tuple[str, ...]:
    """The agent methods of :mod:`tradebot.ml.agents`."""
    from tradebot.ml.agents import AGENTS

    return tuple(AGENTS)


def methods() -> tuple[str, ...]:
    return (MODEL, *agent_methods())


def check_method(method: str) -> str:
    known = methods()
    if method not in known:
        raise UsageError(f"--method {method!r}: unknown selection method (known: {', '.join(known)})")
    return method


def design(record: CandidateRecord) -> np.ndarray:
    """``(W, F + C)`` inputs: the context at each window's start and every candidate's return
    in the window before (NaN for the first window)."""
    lagged = np.full_like(record.returns, np.nan)
    lagged[1:] = record.returns[:-1]
    return np.column_stack([record.context, lagged])


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import ExtraTreesRegressor

    model = ExtraTreesRegressor(n_estimators=N_TREES, min_samples_leaf=MIN_LEAF, random_state=seed, n_jobs=1)
    model.fit(x_train, y_train)
    return np.asarray(model.predict(x[None, :]), dtype=np.float64).reshape(-1)


def model_choices(record: CandidateRecord, *, seed: int = 0, switch_cost: float = 0.0,
                  min_train_windows: int = DEFAULT_MIN_TRAIN_WINDOWS, flat: int = 0,
                  predictions: list[Any] | None = None) -> np.ndarray:
    """Chosen candidate per window (``flat`` until the model has ``min_train_windows``
    training windows). ``predictions``: when a list, each window's predicted returns are
    appended (None where the selector stayed flat untrained)."""
    x = design(record)
    y = record.returns
    w_count = record.n_windows
    choices = np.full(w_count, flat, dtype=np.int64)
    ok = np.isfinite(x).all(axis=1)
    current = flat
    for w in range(w_count):
        train = np.flatnonzero(ok[:w])
        if w < min_train_windows or train.size < min_train_windows or not ok[w]:
            choices[w] = current = flat
            if predictions is not None:
                predictions.append(None)
            continue
        pred = _fit_predict(x[train], y[train], x[w], seed + w)
        best = int(np.argmax(pred))
        if pred[best] - pred[current] > switch_cost:
            current = best
        choices[w] = current
        if predictions is not None:
            predictions.append([float(v) for v in pred])
    return choices


def walk_forward_choices(record: CandidateRecord, method: str = MODEL, *, seed: int = 0,
                         switch_cost: float = 0.0,
                         min_train_windows: int = DEFAULT_MIN_TRAIN_WINDOWS) -> np.ndarray:
    """Chosen candidate index per window by ``method``: ``model`` here, or an agent of
    :mod:`tradebot.ml.agents` (its ``AgentRun.choices``); the first ``min_train_windows``
    windows are flat (index 0, the ``flat`` candidate) whatever the method."""
    check_method(method)
    if method == MODEL:
        return model_choices(record, seed=seed, switch_cost=switch_cost, min_train_windows=min_train_windows)
    from tradebot.ml.agents import walk_forward_choices as agent_choices

    run = agent_choices(record, method, seed=seed, switch_cost=switch_cost, warmup=min_train_windows)
    choices = np.asarray(run.choices, dtype=np.int64).copy()
    choices[:min_train_windows] = 0
    return choices
