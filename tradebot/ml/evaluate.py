"""Honest evaluation of a model: purged (or walk-forward) cross-validation, baselines, trading.

:func:`cross_validate` fits the pipeline of :mod:`tradebot.ml.pipeline` on each training
fold and scores the fold's test block, which the fit never saw:

* classification: log loss, ROC AUC, balanced accuracy (threshold 0.5) and Brier score of
  P(up) against the labels of the test samples;
* trading: the fold's predictions become signals on every bar of the test block (enter
  long when P(up) >= ``enter``, exit when it falls below ``exit``) and run through the real
  engine (:func:`tradebot.engine.backtest.run_signals`) with the configured fees, slippage
  and sizing, from the initial capital;
* baselines beside them: the majority class of the training fold (a constant probability,
  the training fold's weighted share of "up"), buy and hold over the fold (one entry at the
  first bar, through the same engine and costs), and the same model on shuffled labels:
  ``shuffles`` runs in which the labels are permuted within each training fold (the test
  folds, features and weights unchanged).

Meta labels (``method="meta"``, :mod:`tradebot.ml.meta`): the samples are the base
strategy's entry signals, and each fold trades the base strategy *gated* by the model (its
entries taken only where P(profitable) >= ``enter``, its own exits); the base strategy
alone over the same bars is one more baseline, and the verdict asks the model to beat it.

The rule that turns these into a verdict is :func:`tradebot.ml.verdict.verdict`
(docs/decisions/0014-model-registry.md). Labels are binary here: 1 = "up" (forward return
above the dead zone, or the profit barrier first), 0 otherwise; forward-return labels in
the dead zone are left out of fitting and scoring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.core.signals import Signals
from tradebot.ml.cv import PurgedKFold, WalkForwardSplit
from tradebot.ml.features import FeatureMatrix
from tradebot.ml.importance import ImportanceSettings
from tradebot.ml.labels import LabelSet, forward_return_labels, sample_weights, triple_barrier_labels
from tradebot.ml.pipeline import ModelSettings, fit_pipeline, positive_proba

if TYPE_CHECKING:
    from tradebot.engine.config import EngineConfig

Progress = Callable[[str], None]
LABEL_METHODS = ("forward", "triple_barrier", "meta")
CV_SCHEMES = ("purged", "walk-forward")
#: fewest samples a training or test fold may have
MIN_FOLD_SAMPLES = 20


@dataclass(frozen=True)
class LabelSettings:
    method: str = "forward"
    horizon: int = 12
    dead_zone: float = 0.0  # forward: |return| at or below it is left out
    profit: float | None = 2.0  # triple barrier: ATR multiples
    stop: float | None = 1.0
    atr_period: int = 14
    base: str = ""  # meta: the built-in strategy whose trades the model filters
    base_params: dict[str, Any] | None = None  # meta: all its parameters (resolved here)
    cost: float = 0.0  # meta: fee + slippage per side a trade must beat (the train service sets it)

    def __post_init__(self) -> None:
        if self.method not in LABEL_METHODS:
            raise UsageError(f"label method must be one of {', '.join(LABEL_METHODS)}, got {self.method!r}")
        if self.method == "meta":
            from tradebot.ml.meta import resolved_params

            object.__setattr__(self, "base_params", resolved_params(self.base, self.base_params))
        elif self.base or self.base_params:
            raise UsageError(f"--base and base parameters go with --label meta, not --label {self.method}")

    @property
    def meta(self) -> bool:
        return self.method == "meta"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.method == "meta":
            return {"method": "meta", "base": self.base, "base_params": dict(self.base_params or {}),
                    "cost": self.cost, "exit": "base strategy's next exit signal"}
        for k in ("base", "base_params", "cost"):
            d.pop(k)
        if self.method == "forward":
            for k in ("profit", "stop", "atr_period"):
                d.pop(k)
        else:
            d.pop("dead_zone")
        return d


@dataclass(frozen=True)
class CVSettings:
    scheme: str = "purged"
    folds: int = 5
    embargo: float | int = 0.01
    shuffles: int = 19
    enter: float = 0.55  # P(up) at or above it: enter long
    exit: float = 0.5  # P(up) below it: exit

    def __post_init__(self) -> None:
        if self.scheme not in CV_SCHEMES:
            raise UsageError(f"cv must be one of {', '.join(CV_SCHEMES)}, got {self.scheme!r}")
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise UsageError(f"folds must be an integer >= 2, got {self.folds!r}")
        if isinstance(self.shuffles, bool) or not isinstance(self.shuffles, int) or not 0 <= self.shuffles <= 10_000:
            raise UsageError(f"shuffles must be an integer in [0, 10000], got {self.shuffles!r}")
        if not 0.0 < self.exit <= self.enter < 1.0:
            raise UsageError(f"thresholds must satisfy 0 < exit <= enter < 1, got enter {self.enter}, "
                             f"exit {self.exit}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Dataset:
    """The samples a model sees: rows with settled features and a defined label."""

    X: np.ndarray  # (samples, features)
    y: np.ndarray  # int64, 1 = up
    w: np.ndarray  # uniqueness weights, mean 1
    t0: np.ndarray  # bar index of each sample (features known at its close)
    t1: np.ndarray  # last bar its label depends on
    columns: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.y.shape[0])


def make_labels(candles: Candles, settings: LabelSettings) -> LabelSet:
    if settings.method == "meta":
        from tradebot.ml.labels import base_exit_labels

        base = base_signals_of(candles, settings)
        assert base is not None
        return base_exit_labels(candles, base.entries, base.exits, settings.cost)
    if settings.method == "forward":
        return forward_return_labels(candles.close, settings.horizon, settings.dead_zone, binary=True)
    return triple_barrier_labels(candles, settings.horizon, settings.profit, settings.stop, settings.atr_period)


def make_dataset(features: FeatureMatrix, labels: LabelSet) -> Dataset:
    """Rows whose features are all finite (warm-up and gaps dropped) and whose label is
    defined; labels as 1 (up) / 0, weights by average uniqueness."""
    if features.values.shape[0] != len(labels):
        raise UsageError(f"features have {features.values.shape[0]} rows, labels {len(labels)}")
    w_all = sample_weights(labels)
    rows = np.flatnonzero(features.valid_rows() & labels.valid)
    if rows.size < 2 * MIN_FOLD_SAMPLES:
        raise UsageError(f"only {rows.size} bars have both settled features and a defined label: "
                         "use more data, a shorter horizon or a spec with less warm-up")
    y = (labels.label[rows] > 0).astype(np.int64)
    if np.unique(y).size < 2:
        raise UsageError(f"every one of the {rows.size} labels is {'up' if y[0] else 'not up'}: "
                         "nothing to learn (check the dead zone or barriers)")
    w = w_all[rows]
    w = w * (w.size / w.sum()) if w.sum() > 0 else np.ones_like(w)
    return Dataset(np.ascontiguousarray(features.values[rows]), y, w, rows.astype(np.int64),
                   labels.t1[rows].astype(np.int64), tuple(features.columns))


def base_signals_of(candles: Candles, settings: LabelSettings) -> Signals | None:
    """The base strategy's signals of a meta model (None for other labels)."""
    if not settings.meta:
        return None
    from tradebot.ml.meta import base_signals

    return base_signals(candles, settings.base, settings.base_params)


def splitter(settings: CVSettings, ds: Dataset) -> PurgedKFold | WalkForwardSplit:
    if settings.scheme == "purged":
        return PurgedKFold(settings.folds, t1=ds.t1, t0=ds.t0, embargo=settings.embargo)
    return WalkForwardSplit(settings.folds, t1=ds.t1, t0=ds.t0, embargo=settings.embargo,
                            min_train_size=MIN_FOLD_SAMPLES)


# ------------------------------------------------------------------ scores


def classification_scores(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    """Log loss, ROC AUC (NaN with one class), balanced accuracy and Brier score."""
    from sklearn.metrics import balanced_accuracy_score, brier_score_loss, log_loss, roc_auc_score

    p = np.clip(p, 1e-15, 1 - 1e-15)
    both = np.unique(y).size == 2
    return {
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "auc": float(roc_auc_score(y, p)) if both else math.nan,
        "balanced_accuracy": float(balanced_accuracy_score(y, (p >= 0.5).astype(np.int64))) if both else math.nan,
        "brier": float(brier_score_loss(y, p, pos_label=1)),
    }


@dataclass(frozen=True)
class Trading:
    """The engine's result of one fold's signals."""

    total_return: float
    trades: int
    daily_returns: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"return": self.total_return, "trades": self.trades}


def trade_fold(candles: Candles, first: int, last: int, proba: np.ndarray, config: EngineConfig,
               enter: float, exit: float, base: Signals | None = None) -> Trading:
    """Run P(up) per bar of ``candles[first:last+1]`` (NaN: no signal) through the engine;
    with ``base`` (a meta model, signals over all of ``candles``): the base strategy's
    entries where P >= ``enter``, its own exits."""
    bars = candles.slice(first, last + 1)
    if base is not None:
        from tradebot.ml.meta import gated_signals

        part = Signals(base.entries[first:last + 1], base.exits[first:last + 1])
        return _run(bars, gated_signals(part, proba, enter), config)
    with np.errstate(invalid="ignore"):
        entries = proba >= enter
        exits = proba < exit
    return _run(bars, Signals(entries, exits), config)


def base_alone(candles: Candles, first: int, last: int, config: EngineConfig, base: Signals) -> Trading:
    """The base strategy of a meta model, unfiltered, over the same bars and costs."""
    return _run(candles.slice(first, last + 1), Signals(base.entries[first:last + 1], base.exits[first:last + 1]),
                config)


def _run(bars: Candles, signals: Signals, config: EngineConfig) -> Trading:
    from tradebot.analysis.metrics import daily_returns
    from tradebot.engine.backtest import run_signals

    res = run_signals(bars, signals, config)
    initial = config.initial_capital
    total = float(res.equity[-1] / initial - 1.0) if res.equity.size else 0.0
    return Trading(total, int(res.trades.shape[0]), daily_returns(bars.timestamp, res.equity, initial))


def buy_and_hold(candles: Candles, first: int, last: int, config: EngineConfig) -> Trading:
    n = last - first + 1
    proba = np.full(n, np.nan)
    proba[0] = 1.0
    return trade_fold(candles, first, last, proba, config, 0.5, 0.5)


@dataclass(frozen=True)
class Fold:
    """One test block's out-of-sample results."""

    index: int
    train_samples: int
    test_samples: int
    first_bar: int
    last_bar: int
    start_ms: int
    end_ms: int
    scores: dict[str, float]
    trading: Trading
    buy_hold: Trading
    majority: dict[str, float]
    base: Trading | None = None  # meta: the base strategy alone over the same bars

    def to_dict(self) -> dict[str, Any]:
        d = {"fold": self.index, "train_samples": self.train_samples, "test_samples": self.test_samples,
             "start_ms": self.start_ms, "end_ms": self.end_ms, **self.scores,
             "return": self.trading.total_return, "trades": self.trading.trades,
             "buy_hold_return": self.buy_hold.total_return,
             "majority": self.majority}
        if self.base is not None:
            d["base_return"], d["base_trades"] = self.base.total_return, self.base.trades
        return d


@dataclass(frozen=True)
class ShuffleRun:
    mean_auc: float
    total_return: float
    mean_log_loss: float


@dataclass(frozen=True)
class CVResult:
    folds: list[Fold]
    shuffles: list[ShuffleRun]
    settings: CVSettings
    splitter: str
    importance: dict[str, Any] | None = None  # tradebot.ml.importance.summarise, out of sample
    calibration: dict[str, Any] | None = None  # tradebot.ml.reliability.reliability_table of the test folds

    @property
    def mean_auc(self) -> float:
        return _nanmean([f.scores["auc"] for f in self.folds])

    @property
    def total_return(self) -> float:
        return _compound([f.trading.total_return for f in self.folds])

    @property
    def buy_hold_return(self) -> float:
        return _compound([f.buy_hold.total_return for f in self.folds])

    @property
    def base_return(self) -> float | None:
        """Meta: the base strategy alone over the test folds (compounded); None otherwise."""
        if not self.folds or any(f.base is None for f in self.folds):
            return None
        return _compound([f.base.total_return for f in self.folds if f.base is not None])

    @property
    def daily_returns(self) -> np.ndarray:
        return np.concatenate([f.trading.daily_returns for f in self.folds]) if self.folds else np.zeros(0)

    def summary(self) -> dict[str, Any]:
        def mean(key: str) -> float:
            return _nanmean([f.scores[key] for f in self.folds])

        from tradebot.optimize.overfit import sharpe_per_period

        sh = self.shuffles
        out = {
            "model": {"auc": self.mean_auc, "log_loss": mean("log_loss"), "brier": mean("brier"),
                      "balanced_accuracy": mean("balanced_accuracy"), "return": self.total_return,
                      "trades": sum(f.trading.trades for f in self.folds),
                      "daily_sharpe": _finite(sharpe_per_period(self.daily_returns)),
                      "days": int(self.daily_returns.size)},
            "majority": {"auc": 0.5, "balanced_accuracy": 0.5,
                         "log_loss": _nanmean([f.majority["log_loss"] for f in self.folds]),
                         "brier": _nanmean([f.majority["brier"] for f in self.folds])},
            "buy_hold": {"return": _compound([f.buy_hold.total_return for f in self.folds])},
            "shuffled": {
                "runs": len(sh),
                "auc_mean": _nanmean([s.mean_auc for s in sh]), "auc_sd": _nansd([s.mean_auc for s in sh]),
                "auc_max": _nanmax([s.mean_auc for s in sh]),
                "log_loss_mean": _nanmean([s.mean_log_loss for s in sh]),
                "return_mean": _nanmean([s.total_return for s in sh]),
                "return_sd": _nansd([s.total_return for s in sh]),
                "return_max": _nanmax([s.total_return for s in sh]),
            },
        }
        if self.base_return is not None:
            out["base"] = {"return": self.base_return,
                           "trades": sum(f.base.trades for f in self.folds if f.base is not None)}
        return out


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _nanmean(xs: Sequence[float]) -> float:
    a = np.asarray(xs, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else math.nan


def _nansd(xs: Sequence[float]) -> float:
    a = np.asarray(xs, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.std(ddof=1)) if a.size > 1 else math.nan


def _nanmax(xs: Sequence[float]) -> float:
    a = np.asarray(xs, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else math.nan


def _compound(rs: Sequence[float]) -> float:
    return float(np.prod(1.0 + np.asarray(rs, dtype=np.float64)) - 1.0) if len(rs) else 0.0


# ------------------------------------------------------------------ cross-validation


def shifted_labels(y: np.ndarray, rng: np.random.Generator, min_shift: int) -> np.ndarray:
    """The labels rotated by a random offset in ``[min_shift, n - min_shift]`` (a circular
    shift): the pairing of features and labels is broken while the labels keep their class
    mix, their runs and their autocorrelation (a plain permutation would destroy those and
    make the null too easy to beat on overlapping labels)."""
    n = y.shape[0]
    lo = min(max(1, min_shift), n // 2)
    return np.roll(y, int(rng.integers(lo, n - lo + 1)))


def _fold_bars(features: FeatureMatrix, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``[first, last]`` with settled features (the bars the fold trades on)."""
    block = features.values[first:last + 1]
    ok = np.isfinite(block).all(axis=1)
    return np.flatnonzero(ok), block[ok]


def cross_validate(candles: Candles, features: FeatureMatrix, ds: Dataset, model: ModelSettings,
                   settings: CVSettings, config: EngineConfig, seed: int,
                   progress: Progress | None = None, jobs: int = 1,
                   importance: ImportanceSettings | None = None, base: Signals | None = None) -> CVResult:
    """Out-of-sample scores per fold, the baselines and the shuffled-label runs (``jobs``
    processes for those; the results do not depend on it); with ``importance``, the
    features' importance on the test folds too (:mod:`tradebot.ml.importance`, computed in
    this process, so it does not depend on ``jobs`` either); with ``base`` (a meta model's
    base signals over all of ``candles``), every fold trades the gated base strategy."""
    from threadpoolctl import threadpool_limits

    if isinstance(jobs, bool) or not isinstance(jobs, int) or not (jobs >= 1 or jobs == -1):
        raise UsageError(f"jobs must be a positive number of processes or -1 (all cores), got {jobs!r}")
    with threadpool_limits(limits=1):
        return _cross_validate(candles, features, ds, model, settings, config, seed, progress, jobs, importance,
                               base)


def _cross_validate(candles: Candles, features: FeatureMatrix, ds: Dataset, model: ModelSettings,
                    settings: CVSettings, config: EngineConfig, seed: int,
                    progress: Progress | None, jobs: int,
                    importance: ImportanceSettings | None = None, base: Signals | None = None) -> CVResult:
    from tradebot.ml.importance import FoldImportance, feature_groups, fold_importance, summarise

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    split = splitter(settings, ds)
    folds_idx = list(split.split(ds.X))
    for k, (train, test) in enumerate(folds_idx, 1):
        if train.size < MIN_FOLD_SAMPLES or test.size < MIN_FOLD_SAMPLES:
            raise UsageError(f"fold {k} has {train.size} training and {test.size} test samples (needs "
                             f"{MIN_FOLD_SAMPLES} each): use fewer folds, a shorter horizon or more data")
        if np.unique(ds.y[train]).size < 2:
            raise UsageError(f"fold {k}: the training samples hold one class only; use fewer folds or more data")
    # what every fold trades on, fixed before any fit
    blocks = []
    for _train, test in folds_idx:
        first, last = int(ds.t0[test[0]]), int(ds.t0[test[-1]])
        rows, Xb = _fold_bars(features, first, last)
        blocks.append((first, last, rows, Xb))
    n = len(folds_idx)
    folds: list[Fold] = []
    groups = feature_groups(ds.X, importance.threshold) if importance is not None else []
    fold_imp: list[FoldImportance] = []
    oos_p: list[np.ndarray] = []
    oos_y: list[np.ndarray] = []
    for k, ((train, test), (first, last, rows, Xb)) in enumerate(zip(folds_idx, blocks, strict=True), 1):
        fitted = fit_pipeline(model, ds.columns, seed, ds.X[train], ds.y[train], ds.w[train],
                              ds.t0[train], ds.t1[train])
        p_test = positive_proba(fitted, ds.X[test])
        scores = classification_scores(ds.y[test], p_test)
        oos_p.append(p_test)
        oos_y.append(ds.y[test])
        proba = np.full(last - first + 1, np.nan)
        proba[rows] = positive_proba(fitted, Xb)
        trading = trade_fold(candles, first, last, proba, config, settings.enter, settings.exit, base)
        bh = buy_and_hold(candles, first, last, config)
        alone = None if base is None else base_alone(candles, first, last, config, base)
        prior = float(np.average(ds.y[train], weights=ds.w[train]))
        majority = classification_scores(ds.y[test], np.full(test.size, prior))
        fold = Fold(k, int(train.size), int(test.size), first, last, int(candles.timestamp[first]),
                    int(candles.timestamp[last]), scores, trading, bh,
                    {"log_loss": majority["log_loss"], "brier": majority["brier"], "p_up": prior}, alone)
        folds.append(fold)
        if importance is not None:
            fold_imp.append(fold_importance(fitted, ds.X[train], ds.X[test], ds.y[test], groups, importance,
                                            seed, k))
        say(f"fold {k}/{n} (out of sample): AUC {_fmt(scores['auc'])}, log loss {scores['log_loss']:.4f}, "
            f"return {trading.total_return:+.2%} in {trading.trades} trades, buy and hold {bh.total_return:+.2%}"
            + ("" if alone is None else f", base strategy alone {alone.total_return:+.2%}"))
    shuffles: list[ShuffleRun] = []
    span = int(np.median(ds.t1 - ds.t0)) + 1
    args = (candles, ds, folds_idx, blocks, model, settings, config, seed, span, base)
    if jobs == 1 or settings.shuffles < 2:
        runs: Any = (_shuffle_run(s, *args) for s in range(settings.shuffles))
    else:
        from joblib import Parallel, delayed

        runs = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_shuffle_run)(s, *args) for s in range(settings.shuffles))
    for s, run in enumerate(runs, 1):
        shuffles.append(run)
        say(f"shuffled labels {s}/{settings.shuffles}: AUC {_fmt(run.mean_auc)}, return {run.total_return:+.2%}")
    imp = summarise(ds.columns, groups, fold_imp, importance, seed) if importance is not None else None
    from tradebot.ml.reliability import reliability_table

    cal = reliability_table(np.concatenate(oos_p), np.concatenate(oos_y))
    return CVResult(folds, shuffles, settings, repr(split), imp, cal)


def _shuffle_run(s: int, candles: Candles, ds: Dataset, folds_idx: list[tuple[np.ndarray, np.ndarray]],
                 blocks: list[tuple[int, int, np.ndarray, np.ndarray]], model: ModelSettings, settings: CVSettings,
                 config: EngineConfig, seed: int, span: int, base: Signals | None = None) -> ShuffleRun:
    """Shuffled-label run ``s``: its own random stream (``[seed, s]``), so the result does
    not depend on which process runs it or in which order."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng([seed, s])
    aucs, rets, losses = [], [], []
    with threadpool_limits(limits=1):
        for (train, test), (first, last, rows, Xb) in zip(folds_idx, blocks, strict=True):
            min_shift = max(2 * span, train.size // 10)
            y_perm = shifted_labels(ds.y[train], rng, min_shift)
            fitted = fit_pipeline(model, ds.columns, seed, ds.X[train], y_perm, ds.w[train],
                                  ds.t0[train], ds.t1[train])
            sc = classification_scores(ds.y[test], positive_proba(fitted, ds.X[test]))
            aucs.append(sc["auc"])
            losses.append(sc["log_loss"])
            proba = np.full(last - first + 1, np.nan)
            proba[rows] = positive_proba(fitted, Xb)
            rets.append(trade_fold(candles, first, last, proba, config, settings.enter, settings.exit,
                                   base).total_return)
    return ShuffleRun(_nanmean(aucs), _compound(rets), _nanmean(losses))


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3f}"
