"""The portfolio part of a report: the per-pair table, exposure by asset over time and the
correlation of the pairs' returns (pure functions over arrays; the whole portfolio's
metrics are the usual :func:`~tradebot.analysis.metrics.compute_metrics` of its equity).

Conventions:

- prices are marked at each market's last real close (:func:`forward_fill`): a market
  without a candle at a bar keeps its previous close, none is made up before its first;
- ``profit`` of a pair is the net P&L of its trades (both fees; a still-open trade of a
  backtest counts at the last close); ``contribution_pct`` is that profit in percent of
  the initial capital (the pairs' contributions add up to the portfolio's trade P&L in
  percent); ``share_pct`` its share of the sum of the pairs' profits;
- ``exposure_pct`` of a pair: share of the bars at whose close it held a position;
  exposure by asset over time: ``|units × close| / equity`` in percent, at the last bar of
  each UTC day;
- correlation: Pearson over UTC days, of the markets' daily close-to-close returns
  (``markets``) and of the pairs' daily P&L (``strategy``); None where a series is
  constant (a pair that never traded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DAY_MS = 86_400_000


def forward_fill(close: np.ndarray) -> np.ndarray:
    """(m, n) closes with NaN where a market had no candle -> each NaN replaced by the last
    real close before it (NaN before a market's first candle)."""
    c = np.asarray(close, dtype=np.float64)
    if c.ndim == 1:
        c = c[None, :]
    n = c.shape[1]
    idx = np.where(np.isnan(c), 0, np.arange(n)[None, :])
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = np.take_along_axis(c, idx, axis=1)
    first_real = np.argmax(~np.isnan(c), axis=1)
    none = np.all(np.isnan(c), axis=1)
    cols = np.arange(n)[None, :]
    out[(cols < first_real[:, None]) | none[:, None]] = np.nan
    return out


def equal_weight_index(close_ff: np.ndarray) -> np.ndarray:
    """An equal-weight buy-and-hold index of the markets (1.0 at the start; each market
    enters at its first close), for the report's buy-and-hold comparison."""
    c = np.asarray(close_ff, dtype=np.float64)
    first = np.array([row[~np.isnan(row)][0] if np.any(~np.isnan(row)) else np.nan for row in c])
    rel = c / first[:, None]
    rel = np.where(np.isnan(rel), 1.0, rel)
    return np.asarray(rel.mean(axis=0), dtype=np.float64)


def day_ends(timestamp: np.ndarray) -> np.ndarray:
    """Index of the last bar of each UTC day."""
    ts = np.asarray(timestamp, dtype=np.int64)
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64)
    day = ts // DAY_MS
    return np.append(np.flatnonzero(np.diff(day)), ts.size - 1).astype(np.int64)


def pair_table(symbols: Sequence[str], trades: Sequence[Any], position: np.ndarray,
               initial_capital: float, timestamp: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One row per pair: trades, wins, losses, win rate, profit, average profit per trade
    (%), exposure, contribution and share (see the module docstring). ``trades[m]`` are
    TRADE_DTYPE rows (bar indices into ``timestamp``) or stored trade dicts (``pnl``,
    ``return_pct``, ``entry_ts_ms``, ``exit_ts_ms``) of market ``m``; ``position`` (m, n)
    the units held at each close. The rows also carry the keys of the single-market
    per-pair row (``total_profit``, ``total_profit_pct``, ``draws``, ``avg_duration_s``)."""
    pos = np.asarray(position, dtype=np.float64)
    n_bars = pos.shape[1] if pos.ndim == 2 else 0
    profits = [float(np.sum(_col(t, "pnl"))) for t in trades]
    total = float(sum(profits))
    rows = []
    for m, sym in enumerate(symbols):
        pnl = _col(trades[m], "pnl")
        ret = _col(trades[m], "return_pct")
        wins, losses = int(np.sum(pnl > 0)), int(np.sum(pnl < 0))
        dur = _durations_s(trades[m], timestamp)
        held = int(np.count_nonzero(pos[m])) if n_bars else 0
        rows.append({
            "pair": sym,
            "trades": int(pnl.size),
            "wins": wins,
            "losses": losses,
            "win_rate_pct": wins / pnl.size * 100.0 if pnl.size else None,
            "profit": profits[m],
            "avg_profit_pct": float(ret.mean()) if ret.size else None,
            "exposure_pct": held / n_bars * 100.0 if n_bars else None,
            "contribution_pct": profits[m] / initial_capital * 100.0 if initial_capital else None,
            "share_pct": profits[m] / total * 100.0 if total else None,
            "total_profit": profits[m],
            "total_profit_pct": profits[m] / initial_capital * 100.0 if initial_capital else None,
            "draws": int(pnl.size) - wins - losses,
            "avg_duration_s": float(dur.mean()) if dur.size else None,
        })
    return rows


def _durations_s(trades: Any, timestamp: np.ndarray | None) -> np.ndarray:
    if isinstance(trades, np.ndarray):
        if not trades.size or timestamp is None:
            return np.zeros(0)
        ts = np.asarray(timestamp, dtype=np.int64)
        return np.asarray((ts[trades["exit_idx"]] - ts[trades["entry_idx"]]) / 1000.0, dtype=np.float64)
    return np.array([(t["exit_ts_ms"] - t["entry_ts_ms"]) / 1000.0 for t in trades], dtype=np.float64)


def _col(trades: Any, name: str) -> np.ndarray:
    if isinstance(trades, np.ndarray):
        return np.asarray(trades[name], dtype=np.float64) if trades.size else np.zeros(0)
    return np.array([float(t[name]) for t in trades], dtype=np.float64)


def asset_exposure(symbols: Sequence[str], timestamp: np.ndarray, position: np.ndarray,
                   close_ff: np.ndarray, equity: np.ndarray) -> dict[str, Any]:
    """Exposure by asset (the pair's base) at the last bar of each UTC day, in percent of
    equity, with each asset's mean and peak over all bars."""
    pos = np.asarray(position, dtype=np.float64)
    value = np.abs(pos * np.nan_to_num(close_ff, nan=0.0))
    eq = np.asarray(equity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(eq[None, :] > 0, value / eq[None, :] * 100.0, 0.0)
    ends = day_ends(timestamp)
    ts = np.asarray(timestamp, dtype=np.int64)
    assets = [s.partition("/")[0] for s in symbols]
    return {
        "days": [int(ts[i] // DAY_MS * DAY_MS) for i in ends],
        "assets": {a: [float(x) for x in pct[m, ends]] for m, a in enumerate(assets)},
        "mean_pct": {a: float(pct[m].mean()) if pct.shape[1] else 0.0 for m, a in enumerate(assets)},
        "max_pct": {a: float(pct[m].max()) if pct.shape[1] else 0.0 for m, a in enumerate(assets)},
        "total_mean_pct": float(pct.sum(axis=0).mean()) if pct.shape[1] else 0.0,
        "total_max_pct": float(pct.sum(axis=0).max()) if pct.shape[1] else 0.0,
    }


def correlation(symbols: Sequence[str], timestamp: np.ndarray, close_ff: np.ndarray,
                contribution: np.ndarray | None = None) -> dict[str, Any]:
    """Pearson correlation matrices over UTC days: of the markets' close-to-close returns and,
    given each pair's contribution equity (m, n), of the pairs' daily P&L."""
    ends = day_ends(timestamp)
    out: dict[str, Any] = {"symbols": list(symbols), "days": int(ends.size)}
    closes = np.asarray(close_ff, dtype=np.float64)[:, ends]
    with np.errstate(divide="ignore", invalid="ignore"):
        rets = closes[:, 1:] / closes[:, :-1] - 1.0
    out["markets"] = _corr(rets)
    if contribution is not None:
        out["strategy"] = _corr(np.diff(np.asarray(contribution, dtype=np.float64)[:, ends], axis=1))
    return out


def _corr(x: np.ndarray) -> list[list[float | None]]:
    """Pairwise Pearson correlation over the columns where both series are finite."""
    m = x.shape[0]
    out: list[list[float | None]] = [[None] * m for _ in range(m)]
    for i in range(m):
        for j in range(i, m):
            ok = np.isfinite(x[i]) & np.isfinite(x[j])
            a, b = x[i][ok], x[j][ok]
            if a.size < 3 or a.std() == 0 or b.std() == 0:
                continue
            r = float(np.corrcoef(a, b)[0, 1])
            out[i][j] = out[j][i] = r
    return out


def portfolio_section(symbols: Sequence[str], timestamp: np.ndarray, close: np.ndarray,
                      equity: np.ndarray, position: np.ndarray, trades: Sequence[Any],
                      initial_capital: float, contribution: np.ndarray | None = None) -> dict[str, Any]:
    """The report's ``portfolio`` section: ``pairs`` (the per-pair table), ``exposure`` (by
    asset over time) and ``correlation``. ``close`` (m, n) may hold NaN where a market had
    no candle."""
    ff = forward_fill(close)
    return {
        "symbols": list(symbols),
        "pairs": pair_table(symbols, trades, position, initial_capital, timestamp),
        "exposure": asset_exposure(symbols, timestamp, position, ff, equity),
        "correlation": correlation(symbols, timestamp, ff, contribution),
    }
