"""What the optimizer maximizes: per-trial metrics from daily equity, and scores.

The metrics follow :mod:`tradebot.analysis.metrics` exactly (daily returns at the last bar
of each UTC day, the first day against the initial capital; 365-day annualization), so a
trial's Sharpe is the Sharpe that ``tradebot backtest`` reports for the same parameters
and data range. Every score is "higher is better"; a trial whose objective is undefined
(no trades, zero volatility) or that breaks a constraint scores ``-inf``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

from tradebot.core.errors import UsageError

DAYS_PER_YEAR = 365.0
_STD_EPS = 1e-12

#: objective name → (metric it reads, description)
OBJECTIVES: dict[str, str] = {
    "sharpe": "annualized Sharpe ratio of daily returns",
    "sortino": "annualized Sortino ratio of daily returns",
    "calmar": "CAGR / max drawdown",
    "profit": "total profit in quote currency",
    "return": "total return in %",
    "profit_dd": "total profit, only where max drawdown <= --max-dd",
    "daily_target": "share of days whose P&L meets risk.daily_profit_target",
}

#: the columns of a metrics matrix (one row per trial), in order
METRICS = ("sharpe", "sortino", "calmar", "profit", "return_pct", "max_dd_pct", "trades",
           "daily_target_share", "cagr_pct")
M = {name: i for i, name in enumerate(METRICS)}


@dataclass(frozen=True)
class ObjectiveSpec:
    names: tuple[str, ...]
    max_dd_pct: float | None = None  # constraint of profit_dd (and of every objective if set)
    min_trades: int = 0
    daily_target: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"names": list(self.names), "max_dd_pct": self.max_dd_pct,
                "min_trades": self.min_trades, "daily_target": self.daily_target}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ObjectiveSpec:
        names = d["names"]
        assert isinstance(names, list)
        md = d.get("max_dd_pct")
        return cls(tuple(str(n) for n in names), None if md is None else float(str(md)),
                   int(str(d.get("min_trades", 0))), float(str(d.get("daily_target", 0.0))))


def parse_objectives(text: str, max_dd_pct: float | None = None, min_trades: int = 0,
                     daily_target: float = 0.0) -> ObjectiveSpec:
    """``"sharpe"`` or ``"sharpe,calmar"`` → an :class:`ObjectiveSpec`; one-line errors."""
    names = tuple(n.strip() for n in str(text).split(",") if n.strip())
    if not names:
        raise UsageError("--objective: give at least one of " + ", ".join(OBJECTIVES))
    for n in names:
        if n not in OBJECTIVES:
            close = difflib.get_close_matches(n, list(OBJECTIVES), n=2)
            hint = f"; did you mean {', '.join(close)}?" if close else f" (known: {', '.join(OBJECTIVES)})"
            raise UsageError(f"--objective: unknown objective {n!r}{hint}")
    if len(set(names)) != len(names):
        raise UsageError(f"--objective: {text!r} names an objective twice")
    if max_dd_pct is not None and not (0 < max_dd_pct < 100):
        raise UsageError(f"--max-dd {max_dd_pct}: must be a percentage in (0, 100)")
    if "profit_dd" in names and max_dd_pct is None:
        raise UsageError("--objective profit_dd needs --max-dd PCT (the drawdown limit)")
    if min_trades < 0:
        raise UsageError(f"--min-trades {min_trades}: must be >= 0")
    return ObjectiveSpec(names, max_dd_pct, min_trades, daily_target)


def daily_last_index(timestamp: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Indices (absolute) of the last bar of each UTC day in ``[start, stop)``."""
    days = np.asarray(timestamp[start:stop], dtype=np.int64) // 86_400_000
    last = np.append(np.flatnonzero(days[1:] != days[:-1]), days.size - 1)
    return (last + start).astype(np.int64)


def metrics_matrix(daily_equity: np.ndarray, stats: np.ndarray, initial: float, span_days: float,
                   daily_target: float) -> np.ndarray:
    """(n_trials × len(METRICS)) from equity at each day's close and the kernel's
    (trades, final equity, max drawdown) per trial. NaN marks an undefined metric."""
    n = daily_equity.shape[0]
    out = np.full((n, len(METRICS)), np.nan)
    if n == 0:
        return out
    ret = daily_returns(daily_equity, initial)
    k = ret.shape[1]
    final = stats[:, 1]
    max_dd = stats[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        if k >= 2:
            mean = ret.mean(axis=1)
            sd = ret.std(axis=1, ddof=1)
            out[:, M["sharpe"]] = np.where(sd > _STD_EPS, mean / sd * math.sqrt(DAYS_PER_YEAR), np.nan)
            down = np.sqrt(np.mean(np.minimum(ret, 0.0) ** 2, axis=1))
            out[:, M["sortino"]] = np.where(down > _STD_EPS, mean / down * math.sqrt(DAYS_PER_YEAR), np.nan)
        growth = final / initial
        cagr = np.full(n, np.nan)
        if span_days > 0:
            pos = growth > 0
            cagr[pos] = np.exp(np.log(growth[pos]) * DAYS_PER_YEAR / span_days) - 1.0
            cagr[~pos] = -1.0
            cagr[~np.isfinite(cagr)] = np.nan
        out[:, M["calmar"]] = np.where(max_dd > 0, cagr / max_dd, np.nan)
        out[:, M["cagr_pct"]] = cagr * 100.0
        out[:, M["profit"]] = final - initial
        out[:, M["return_pct"]] = (growth - 1.0) * 100.0
        out[:, M["max_dd_pct"]] = max_dd * 100.0
        out[:, M["trades"]] = stats[:, 0]
        pnl = np.diff(np.concatenate([np.full((n, 1), initial), daily_equity], axis=1), axis=1)
        out[:, M["daily_target_share"]] = (pnl >= daily_target).mean(axis=1) if k else np.nan
    return out


def daily_returns(daily_equity: np.ndarray, initial: float) -> np.ndarray:
    """Simple daily returns, the first day against ``initial`` (rows = trials)."""
    n = daily_equity.shape[0]
    prev = np.concatenate([np.full((n, 1), initial), daily_equity[:, :-1]], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(prev != 0, (daily_equity - prev) / prev, 0.0)


_SOURCE = {"sharpe": "sharpe", "sortino": "sortino", "calmar": "calmar", "profit": "profit",
           "return": "return_pct", "profit_dd": "profit", "daily_target": "daily_target_share"}


def scores(metrics: np.ndarray, spec: ObjectiveSpec) -> np.ndarray:
    """(n_trials × n_objectives), maximized; ``-inf`` where undefined or infeasible."""
    out = np.empty((metrics.shape[0], len(spec.names)))
    for j, name in enumerate(spec.names):
        out[:, j] = metrics[:, M[_SOURCE[name]]]
    bad = ~np.isfinite(out).all(axis=1)
    if spec.max_dd_pct is not None:
        bad |= ~(metrics[:, M["max_dd_pct"]] <= spec.max_dd_pct)
    if spec.min_trades:
        bad |= ~(metrics[:, M["trades"]] >= spec.min_trades)
    out[bad] = -np.inf
    return out
