"""The context a selector account's agent reads at a window end: the regime features and
rule probabilities of one bar (:func:`tradebot.ml.select.record.window_context`).

Computed over the whole history, the volatility percentile alone compares every bar with
its 2,000 predecessors (a few tenths of a second on a long history), for the one or two rows
a cron run needs. Every column but ADX is a function of a bounded look-back (rolling windows
summed afresh, log returns, the percentile once its window is full), so the row of bar ``t``
is computed from a tail of the candles that covers those look-backs; ADX (Wilder's smoothing
reaches back to the first bar) is taken from the whole history, and the rule probabilities
are computed from the completed row (they are per row). The numbers are those of the whole
history's computation, bit for bit (tests/services/test_paper_selector_speed.py); a run that
closes many windows (a catch-up) computes the whole history once instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tradebot.core.candles import Candles

#: rows taken from tails before one computation over the whole history is cheaper
TAIL_ROWS = 2


def tail_bars() -> int:
    """Candles a tail needs so that every bounded look-back of the features is complete
    (with room to spare)."""
    from tradebot.ml.regime.settings import RegimeSettings

    s = RegimeSettings()
    return (2 * (s.pct_window + s.vol_window) + s.warmup_bars + max(s.horizons) + s.range_window
            + s.trend_horizon + s.adx_period)


def context_row(candles: Candles, bar: int, adx: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """Bar ``bar``'s features and rule probabilities from a tail of ``candles`` (``adx``: the
    whole history's ADX line); None when the history before it is shorter than a tail."""
    from tradebot.ml.regime.features import RegimeFeatures, regime_features
    from tradebot.ml.regime.rules import classify_rules
    from tradebot.ml.regime.settings import RegimeSettings

    s = RegimeSettings()
    size = tail_bars()
    if bar + 1 <= size or bar >= len(candles):
        return None
    feats = regime_features(candles.slice(bar + 1 - size, bar + 1), s)
    row = np.array(feats.values[-1], dtype=np.float64)
    a = float(adx[bar])
    row[feats.columns.index("adx")] = a if np.isfinite(a) else np.nan
    one = RegimeFeatures(row[None, :], feats.columns, feats.warmup_bars)
    probs = classify_rules(one, s).probs[0]
    return np.concatenate([row, probs]), (*feats.columns, *[f"p_{name}" for name in s.names])


class Contexts:
    """The context rows the agent reads in one run: from tails for the first
    :data:`TAIL_ROWS` bars asked, then from one computation over the whole history."""

    def __init__(self, candles: Candles, features: Sequence[str]) -> None:
        self.candles = candles
        self.features = tuple(features)
        self._values: np.ndarray | None = None
        self._cols: tuple[str, ...] = ()
        self._adx: np.ndarray | None = None
        self._tails = 0

    def _row(self, bar: int) -> tuple[np.ndarray, tuple[str, ...]]:
        if self._values is None and self._tails < TAIL_ROWS:
            self._tails += 1
            if self._adx is None:
                from tradebot.indicators import adx as adx_fn
                from tradebot.ml.regime.settings import RegimeSettings

                c = self.candles
                self._adx = np.asarray(adx_fn(c.high, c.low, np.asarray(c.close, dtype=np.float64),
                                              RegimeSettings().adx_period)[0], dtype=np.float64)
            got = context_row(self.candles, bar, self._adx)
            if got is not None:
                return got
        if self._values is None:
            from tradebot.ml.select.record import window_context

            n = len(self.candles)
            bounds = np.column_stack([np.arange(1, n + 1), np.arange(2, n + 2)]).astype(np.int64)
            self._values, self._cols = window_context(self.candles, bounds)
        return self._values[bar], self._cols

    def at(self, bar: int) -> np.ndarray:
        """The features of bar ``bar`` (the close before a window), NaN as 0 (warm-up)."""
        if not self.features:
            return np.zeros(0)
        if bar < 0:
            return np.zeros(len(self.features))
        values, cols = self._row(bar)
        idx = [cols.index(f) for f in self.features]
        return np.nan_to_num(np.asarray(values[idx], dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
