"""The causal regime features: row ``t`` uses the candles up to the close of bar ``t`` only.

Columns (``h`` each of the settings' horizons):

* ``adx`` — Wilder's ADX (:func:`tradebot.indicators.adx`);
* ``vol`` — realised volatility: std of the log returns over ``vol_window`` bars;
* ``vol_pct`` — that volatility's percentile among the last ``pct_window`` values (the share
  of them at or below it, 0..1; over all values so far while fewer, from ``pct_min`` on);
* ``ret_h`` — the log return over ``h`` bars; ``z_h`` — that return in units of the
  volatility it would have by chance (``ret_h / (vol · √h)``);
* ``er`` — the efficiency ratio over the trend horizon: |net move| / sum of |moves| (1 a
  straight line, near 0 a range);
* ``range_width`` — (highest high − lowest low) / close over ``range_window`` bars, and
  ``range_norm`` the same in units of ``vol · √range_window``.

Rows before :attr:`RegimeSettings.warmup_bars` are NaN. numpy only (no scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.ml.regime.settings import RegimeSettings

_CHUNK = 8192  # rows per block of the percentile's sliding windows (memory: _CHUNK x pct_window)


@dataclass(frozen=True)
class RegimeFeatures:
    values: np.ndarray  # (bars, columns) float64; NaN during the warm-up
    columns: tuple[str, ...]
    warmup_bars: int

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.columns.index(name)]

    def valid(self) -> np.ndarray:
        return np.isfinite(self.values).all(axis=1)


def feature_columns(settings: RegimeSettings) -> tuple[str, ...]:
    hs = settings.horizons
    return ("adx", "vol", "vol_pct", *[f"ret_{h}" for h in hs], *[f"z_{h}" for h in hs], "er",
            "range_width", "range_norm")


def check_length(settings: RegimeSettings, n: int) -> None:
    need = settings.warmup_bars + 1
    if n < need:
        raise UsageError(f"regime windows need at least {need} bars (warm-up {settings.warmup_bars}: "
                         f"volatility {settings.vol_window} + percentile {settings.pct_min}, trend "
                         f"horizon {settings.trend_horizon}), the data has {n}")


#: longest series the numpy percentile takes when numba is not loaded (as ml.rolling)
NUMPY_MAX_BARS = 200_000


def rolling_percentile(x: np.ndarray, window: int, minimum: int | None = None) -> np.ndarray:
    """Share of ``x[t-window+1 .. t]`` at or below ``x[t]``; before a full window, of the
    values since the first finite one once there are ``minimum`` of them (an expanding
    window); NaN before, and where the window holds a NaN. The compiled kernel
    (:mod:`.percentile_nb`) when numba is loaded or the series is long, else numpy: the
    same numbers (tested bit for bit)."""
    import sys

    a = np.ascontiguousarray(x, dtype=np.float64)
    if "numba" in sys.modules or a.shape[0] > NUMPY_MAX_BARS:
        from tradebot.ml.regime.percentile_nb import rolling_percentile_nb

        return rolling_percentile_nb(a, int(window), int(window if minimum is None else minimum))  # type: ignore[no-any-return]
    return rolling_percentile_np(a, window, minimum)


def rolling_percentile_np(x: np.ndarray, window: int, minimum: int | None = None) -> np.ndarray:
    """:func:`rolling_percentile` in numpy (every window compared afresh)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    finite = np.flatnonzero(np.isfinite(x))
    if minimum is not None and finite.size:
        first = int(finite[0])
        for t in range(first + minimum - 1, min(n, first + window - 1)):
            w = x[first:t + 1]
            out[t] = np.nan if not np.isfinite(w).all() else float((w <= x[t]).mean())
    if n < window:
        return out
    from numpy.lib.stride_tricks import sliding_window_view

    win = sliding_window_view(x, window)  # row i: x[i .. i+window-1], ends at bar i+window-1
    for a in range(0, win.shape[0], _CHUNK):
        w = win[a:a + _CHUNK]
        last = w[:, -1:]
        with np.errstate(invalid="ignore"):
            share = (w <= last).mean(axis=1)
        share[~np.isfinite(w).all(axis=1)] = np.nan
        lo = window - 1 + a
        keep = np.isfinite(share) | ~np.isfinite(out[lo:lo + w.shape[0]])
        out[lo:lo + w.shape[0]] = np.where(keep, share, out[lo:lo + w.shape[0]])
    return out


def _rolling_extreme(x: np.ndarray, window: int, high: bool) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    out = np.full(x.shape[0], np.nan)
    if x.shape[0] >= window:
        win = sliding_window_view(x, window)
        out[window - 1:] = win.max(axis=1) if high else win.min(axis=1)
    return out


def regime_features(candles: Candles, settings: RegimeSettings | None = None) -> RegimeFeatures:
    """The regime feature matrix over ``candles`` (refuses data shorter than the warm-up)."""
    from tradebot.indicators import adx as adx_fn
    from tradebot.ml.rolling import rolling_mean_std, rolling_sum

    s = settings or RegimeSettings()
    n = len(candles)
    check_length(s, n)
    close = np.asarray(candles.close, dtype=np.float64)
    logc = np.log(close)
    r = np.full(n, np.nan)
    r[1:] = np.diff(logc)
    _, vol = rolling_mean_std(r, s.vol_window, 1)
    vol_pct = rolling_percentile(vol, s.pct_window, s.pct_min)
    adx = np.asarray(adx_fn(candles.high, candles.low, close, s.adx_period)[0], dtype=np.float64)
    cols: list[np.ndarray] = [adx, vol, vol_pct]
    rets = []
    for h in s.horizons:
        ret = np.full(n, np.nan)
        ret[h:] = logc[h:] - logc[:-h]
        rets.append(ret)
    cols += rets
    with np.errstate(invalid="ignore", divide="ignore"):
        cols += [ret / (vol * np.sqrt(h)) for ret, h in zip(rets, s.horizons, strict=True)]
        h = s.trend_horizon
        path = rolling_sum(np.abs(r), h)
        cols.append(np.abs(rets[-1]) / path)
        hi = _rolling_extreme(np.asarray(candles.high, dtype=np.float64), s.range_window, True)
        lo = _rolling_extreme(np.asarray(candles.low, dtype=np.float64), s.range_window, False)
        width = (hi - lo) / close
        cols += [width, width / (vol * np.sqrt(s.range_window))]
    values = np.column_stack(cols)
    values[: s.warmup_bars] = np.nan
    values[~np.isfinite(values)] = np.nan
    return RegimeFeatures(values, feature_columns(s), s.warmup_bars)
