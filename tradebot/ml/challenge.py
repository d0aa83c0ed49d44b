"""Champion/challenger: does a newly trained model beat the champion on the newest data?

The window is the challenger's **last test fold** (the most recent block of the data). The
challenger is the pipeline fitted on that fold's training samples only (exactly as in its
cross-validation; with purged k-fold and the last fold, the past only), so its predictions
there are out of sample. The champion predicts the same bars from its own feature spec.
Both are scored on the same samples: the window's labelled rows (the challenger's labels)
where both feature sets are settled, by ROC AUC, and both are traded through the engine on
the window's bars with the configured costs.

The challenger **wins** when its AUC is at least the champion's plus ``margin``. The
champion's numbers are out of sample only if it was trained on data that ended before the
window starts; otherwise they are (partly) in sample, which favours the champion, and the
comparison says so (``champion_in_sample``): a challenger still has to beat it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import UsageError

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.engine.config import EngineConfig
    from tradebot.ml.evaluate import CVSettings, Dataset
    from tradebot.ml.features import FeatureMatrix
    from tradebot.ml.pipeline import ModelSettings

DEFAULT_MARGIN = 0.01


def check_margin(margin: object) -> float:
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not (0.0 <= float(margin) < 0.5):
        raise UsageError(f"--promote-margin must be an AUC difference in [0, 0.5), got {margin!r}")
    return float(margin)


@dataclass(frozen=True)
class Comparison:
    window_start_ms: int
    window_end_ms: int
    samples: int
    challenger_auc: float
    champion_auc: float
    challenger_return: float
    champion_return: float
    margin: float
    champion_in_sample: bool

    @property
    def wins(self) -> bool:
        return math.isfinite(self.challenger_auc) and (
            not math.isfinite(self.champion_auc) or self.challenger_auc >= self.champion_auc + self.margin)

    def to_dict(self) -> dict[str, Any]:
        def f(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {"window_start_ms": self.window_start_ms, "window_end_ms": self.window_end_ms,
                "samples": self.samples, "metric": "auc", "margin": self.margin,
                "challenger": {"auc": f(self.challenger_auc), "return": f(self.challenger_return)},
                "champion_scores": {"auc": f(self.champion_auc), "return": f(self.champion_return)},
                "champion_in_sample": self.champion_in_sample, "wins": self.wins}


def compare(candles: Candles, features: FeatureMatrix, ds: Dataset, model: ModelSettings, settings: CVSettings,
            config: EngineConfig, seed: int, champion: Any, champion_features: FeatureMatrix,
            champion_end_ms: int, margin: float) -> Comparison:
    """Score the challenger (refitted on its last fold's training samples) and the fitted
    ``champion`` on the challenger's last test fold (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    from tradebot.ml.evaluate import classification_scores, splitter, trade_fold
    from tradebot.ml.pipeline import fit_pipeline, positive_proba

    if champion_features.values.shape[0] != features.values.shape[0]:
        raise UsageError("champion and challenger features cover different bars")
    folds = list(splitter(settings, ds).split(ds.X))
    # the most recent test block (purged k-fold: the last fold; walk-forward: the last step)
    train, test = max(folds, key=lambda f: int(ds.t0[f[1][-1]]))
    first, last = int(ds.t0[test[0]]), int(ds.t0[test[-1]])
    with threadpool_limits(limits=1):
        fitted = fit_pipeline(model, ds.columns, seed, ds.X[train], ds.y[train], ds.w[train],
                              ds.t0[train], ds.t1[train])
    cx = champion_features.values
    both = np.isfinite(cx[ds.t0[test]]).all(axis=1)
    rows = test[both]
    y = ds.y[rows]
    p_new = positive_proba(fitted, ds.X[rows]) if rows.size else np.zeros(0)
    p_old = positive_proba(champion, cx[ds.t0[rows]]) if rows.size else np.zeros(0)
    auc_new = classification_scores(y, p_new)["auc"] if rows.size else math.nan
    auc_old = classification_scores(y, p_old)["auc"] if rows.size else math.nan

    def traded(predict: Any, X: np.ndarray) -> float:
        block = X[first:last + 1]
        ok = np.isfinite(block).all(axis=1)
        proba = np.full(last - first + 1, np.nan)
        if ok.any():
            proba[ok] = positive_proba(predict, block[ok])
        return trade_fold(candles, first, last, proba, config, settings.enter, settings.exit).total_return

    ret_new = traded(fitted, features.values)
    ret_old = traded(champion, cx)
    start_ms = int(candles.timestamp[first])
    return Comparison(start_ms, int(candles.timestamp[last]), int(rows.size), auc_new, auc_old, ret_new, ret_old,
                      margin, champion_end_ms >= start_ms)


def comparison_line(d: dict[str, Any], new_ref: str, old_ref: str) -> str:
    """One line: the comparison and its outcome."""
    import datetime as dt

    def day(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")

    def num(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    def pct(x: Any) -> str:
        return "n/a" if x is None else f"{x:+.2%}"

    if not d.get("comparable", True):
        return f"Champion/challenger: not compared ({d['reason']}): {new_ref} stays candidate."
    if d.get("champion") is None:
        return (f"Champion/challenger: no champion yet; {new_ref} "
                + ("becomes the champion (verdict: edge)." if d["wins"] else
                   "stays candidate (a first champion needs the verdict edge; `tradebot models promote` "
                   "overrides)."))
    ch, cp = d["challenger"], d["champion_scores"]
    note = " (the champion's numbers are partly in sample: it was trained on this window)" \
        if d["champion_in_sample"] else ""
    outcome = (f"{new_ref} wins and becomes the champion" if d["wins"]
               else f"{new_ref} stays candidate, {old_ref} stays champion")
    return (f"Champion/challenger on the most recent window {day(d['window_start_ms'])} to "
            f"{day(d['window_end_ms'])} ({d['samples']:,} samples): AUC {num(ch['auc'])} ({new_ref}) vs "
            f"{num(cp['auc'])} ({old_ref}), needs +{d['margin']:.3f}; return {pct(ch['return'])} vs "
            f"{pct(cp['return'])}{note}: {outcome}.")
