"""Automatic hyperparameter tuning (``tradebot train --tune N``): Optuna over a declared space.

Each built-in model declares its search space (:data:`SEARCH_SPACES`); a model given by a
dotted path has none, so it cannot be tuned (one clear error). A trial fits the pipeline on
each training fold of the *same* purged (or walk-forward) split the evaluation uses and is
scored on the test folds only: the objective is the mean fold **log loss** (a proper
scoring rule, lower is better). Each trial's predictions are also traded through the engine
on the test blocks, so every configuration tried has an out-of-sample daily Sharpe ratio;
those Sharpe ratios are what the verdict's Deflated Sharpe Ratio deflates for
(docs/decisions/0021-model-tuning-and-retraining.md): picking the best of N trials on the
same folds is a selection, and the record says how many were tried.

Determinism: Optuna's TPE sampler seeded with the training seed, trials run one after
another in this process, every fit seeded: the same seed and data give the same trials,
the same choice and the same record, whatever ``--jobs`` is (jobs only spread the
shuffled-label runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import UsageError
from tradebot.ml.pipeline import ModelSettings

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.engine.config import EngineConfig
    from tradebot.ml.evaluate import CVSettings, Dataset
    from tradebot.ml.features import FeatureMatrix

Progress = Callable[[str], None]

#: most trials one training may run
MAX_TRIALS = 1000

#: per built-in model: parameter → ("float"|"int", low, high, log) or ("cat", choices)
SEARCH_SPACES: dict[str, dict[str, tuple[Any, ...]]] = {
    "logreg": {"C": ("float", 1e-4, 10.0, True)},
    "rf": {
        "n_estimators": ("int", 50, 300, False),
        "max_depth": ("int", 2, 12, False),
        "min_samples_leaf": ("int", 10, 400, True),
        "max_features": ("cat", ("sqrt", "log2", None)),
    },
    "hgb": {
        "max_iter": ("int", 50, 300, False),
        "learning_rate": ("float", 0.01, 0.3, True),
        "max_leaf_nodes": ("int", 4, 63, True),
        "min_samples_leaf": ("int", 10, 400, True),
        "l2_regularization": ("float", 1e-6, 10.0, True),
    },
}


def check_trials(n: object) -> int:
    """``--tune N``: an integer in [1, MAX_TRIALS]."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TRIALS:
        raise UsageError(f"--tune must be a number of trials from 1 to {MAX_TRIALS}, got {n!r}")
    return n


def search_space(model: str) -> dict[str, tuple[Any, ...]]:
    """The declared space of ``model``; a model without one cannot be tuned."""
    if model not in SEARCH_SPACES:
        raise UsageError(f"--tune: model {model!r} has no declared search space (built-in models: "
                         f"{', '.join(SEARCH_SPACES)}); give its parameters yourself or drop --tune")
    return SEARCH_SPACES[model]


def space_dict(space: Mapping[str, tuple[Any, ...]]) -> dict[str, Any]:
    """The space as JSON-able data (stored in the record)."""
    out: dict[str, Any] = {}
    for name, dim in space.items():
        if dim[0] == "cat":
            out[name] = {"choices": list(dim[1])}
        else:
            out[name] = {"type": dim[0], "low": dim[1], "high": dim[2], "log": dim[3]}
    return out


def _suggest(trial: Any, space: Mapping[str, tuple[Any, ...]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, dim in space.items():
        if dim[0] == "float":
            params[name] = trial.suggest_float(name, dim[1], dim[2], log=dim[3])
        elif dim[0] == "int":
            params[name] = trial.suggest_int(name, dim[1], dim[2], log=dim[3])
        else:
            params[name] = trial.suggest_categorical(name, list(dim[1]))
    return params


@dataclass(frozen=True)
class TrialScore:
    number: int
    params: dict[str, Any]
    log_loss: float
    auc: float
    daily_sharpe: float | None  # out of sample, through the engine; None: undefined
    trade_return: float

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "params": self.params, "log_loss": self.log_loss, "auc": self.auc,
                "daily_sharpe": self.daily_sharpe, "return": self.trade_return}


@dataclass(frozen=True)
class TuningResult:
    space: dict[str, Any]
    trials: list[TrialScore]
    best: int  # index into trials
    requested_params: dict[str, Any]  # the parameters given before tuning (kept unless tuned)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.trials[self.best].params)

    def other_sharpes(self) -> list[float | None]:
        """The Sharpe ratios of every trial but the chosen one (the verdict adds that one)."""
        return [t.daily_sharpe for i, t in enumerate(self.trials) if i != self.best]

    def to_dict(self) -> dict[str, Any]:
        return {"objective": "mean test-fold log loss (lower is better)", "sampler": "optuna TPE (seeded)",
                "requested_params": self.requested_params,
                "space": self.space, "n_trials": len(self.trials), "best_trial": self.trials[self.best].number,
                "best_params": self.best_params, "trials": [t.to_dict() for t in self.trials]}


def score_params(candles: Candles, features: FeatureMatrix, ds: Dataset, model: ModelSettings,
                 settings: CVSettings, config: EngineConfig, seed: int,
                 folds_idx: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float, float | None, float]:
    """Mean test-fold log loss and AUC, the daily Sharpe and compounded return of the
    test blocks traded through the engine, for one configuration."""
    from tradebot.ml.evaluate import _compound, _fold_bars, _nanmean, classification_scores, trade_fold
    from tradebot.ml.pipeline import fit_pipeline, positive_proba
    from tradebot.optimize.overfit import sharpe_per_period

    losses, aucs, rets, daily = [], [], [], []
    for train, test in folds_idx:
        fitted = fit_pipeline(model, ds.columns, seed, ds.X[train], ds.y[train], ds.w[train],
                              ds.t0[train], ds.t1[train])
        sc = classification_scores(ds.y[test], positive_proba(fitted, ds.X[test]))
        losses.append(sc["log_loss"])
        aucs.append(sc["auc"])
        first, last = int(ds.t0[test[0]]), int(ds.t0[test[-1]])
        rows, Xb = _fold_bars(features, first, last)
        proba = np.full(last - first + 1, np.nan)
        proba[rows] = positive_proba(fitted, Xb)
        tr = trade_fold(candles, first, last, proba, config, settings.enter, settings.exit)
        rets.append(tr.total_return)
        daily.append(tr.daily_returns)
    d = np.concatenate(daily) if daily else np.zeros(0)
    sh = sharpe_per_period(d) if d.size >= 2 else math.nan
    return _nanmean(losses), _nanmean(aucs), (float(sh) if math.isfinite(sh) else None), _compound(rets)


def tune(candles: Candles, features: FeatureMatrix, ds: Dataset, model: ModelSettings, settings: CVSettings,
         config: EngineConfig, seed: int, n_trials: int, progress: Progress | None = None) -> TuningResult:
    """Run ``n_trials`` seeded TPE trials over the model's space; the chosen trial has the
    lowest mean test-fold log loss (ties: the earliest)."""
    import optuna
    from threadpoolctl import threadpool_limits

    from tradebot.ml.evaluate import splitter

    check_trials(n_trials)
    space = search_space(model.model)
    folds_idx = list(splitter(settings, ds).split(ds.X))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=int(seed)))
    trials: list[TrialScore] = []

    def objective(trial: Any) -> float:
        params = {**dict(model.params), **_suggest(trial, space)}
        loss, auc, sharpe, ret = score_params(candles, features, ds, replace(model, params=params), settings,
                                              config, seed, folds_idx)
        trials.append(TrialScore(trial.number, params, loss, auc, sharpe, ret))
        best = min(t.log_loss for t in trials if math.isfinite(t.log_loss)) if any(
            math.isfinite(t.log_loss) for t in trials) else math.nan
        if progress is not None:
            progress(f"tuning trial {trial.number + 1}/{n_trials}: log loss {loss:.4f} (best {best:.4f}), "
                     f"AUC {auc:.3f}, {_params_text(params)}")
        return loss if math.isfinite(loss) else float("inf")

    with threadpool_limits(limits=1):
        study.optimize(objective, n_trials=n_trials, n_jobs=1, show_progress_bar=False)
    finite = [i for i, t in enumerate(trials) if math.isfinite(t.log_loss)]
    if not finite:
        raise UsageError("--tune: no trial gave a finite log loss on the test folds")
    best = min(finite, key=lambda i: (trials[i].log_loss, i))
    return TuningResult(space_dict(space), trials, best, dict(model.params))


def _params_text(params: Mapping[str, Any]) -> str:
    def one(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={one(v)}" for k, v in sorted(params.items()))
