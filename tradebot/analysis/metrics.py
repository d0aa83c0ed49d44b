"""Performance metrics: pure functions over numpy arrays of equity, positions and trades.

Conventions
-----------
* Fractions in, fractions out for the building blocks (``total_return`` = 0.12 means +12 %);
  :class:`Metrics` stores percentages in the fields whose name ends in ``_pct``.
* ``None`` (never NaN or inf) stands for "undefined": zero deviation, no trades, no drawdown...
* Time is UTC; ``timestamp`` arrays are int64 milliseconds (candle open times), sorted.
* Risk-adjusted ratios (Sharpe, Sortino, VaR/CVaR, volatility) use **daily** returns of the
  equity: equity is sampled at the last bar of each UTC calendar day, each day's return is
  relative to the previous day's close equity (the first day relative to the initial capital),
  and annualization uses 365 periods (crypto trades every day).
* Max drawdown is the maximum over bars of ``1 - equity[t] / max(equity[0..t])`` — the running
  max is over the equity series only (``equity[0]`` is after bar 0's fills), not the initial
  capital.
* A trade is a win if its net ``pnl > 0``, a loss if ``pnl < 0``, a draw otherwise. Trades
  still open after the last bar (``EXIT_OPEN``, marked at the last close) are counted like
  freqtrade's forced exits, except in the "trades closed that day" count of the daily table.

Only numpy is used; nothing here imports pandas, Rich or SQLAlchemy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from tradebot.core.timeframes import timeframe_ms
from tradebot.engine.result import EXIT_OPEN, EXIT_REASONS, BacktestResult, bars_held

MS_PER_DAY = 86_400_000
DAYS_PER_YEAR = 365
#: Standard deviations below this are treated as zero (ratio undefined -> None).
_STD_EPS = 1e-12

__all__ = [
    "DAYS_PER_YEAR",
    "Metrics",
    "TradeStats",
    "annualized_return",
    "buy_and_hold_return",
    "calmar",
    "compute_metrics",
    "daily_pnl",
    "daily_returns",
    "daily_summary",
    "drawdown_durations",
    "exit_reason_breakdown",
    "exit_reason_name",
    "max_consecutive",
    "max_drawdown",
    "monthly_returns",
    "returns_per_bar",
    "sharpe",
    "sortino",
    "total_return",
    "trade_stats",
    "var_cvar",
    "volatility",
]


# --------------------------------------------------------------------------- helpers


def _f(x: Any) -> float | None:
    """A finite Python float, or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _pct(x: float | None) -> float | None:
    return None if x is None else _f(x * 100.0)


def _asf(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _day_of(ms: int) -> date:
    return date(1970, 1, 1) + timedelta(days=int(ms // MS_PER_DAY))


def _ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (a wiped-out account stays at 0 %)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


# --------------------------------------------------------------------------- returns


def total_return(equity: np.ndarray, initial: float) -> float:
    """``equity[-1] / initial - 1`` (0.0 for an empty series)."""
    equity = _asf(equity)
    if equity.size == 0 or initial == 0:
        return 0.0
    return float(equity[-1] / initial - 1.0)


def annualized_return(equity: np.ndarray, initial: float, n_days: float) -> float | None:
    """CAGR over a calendar span of ``n_days`` days (365-day years).

    None when the span or the initial capital is not positive, or the result overflows
    (e.g. a large gain over a few hours); -1.0 when the account is wiped out.
    """
    equity = _asf(equity)
    if equity.size == 0 or n_days <= 0 or initial <= 0:
        return None
    growth = float(equity[-1]) / initial
    if not math.isfinite(growth):
        return None
    if growth <= 0:
        return -1.0
    try:
        return _f(math.exp(math.log(growth) * DAYS_PER_YEAR / n_days) - 1.0)
    except OverflowError:
        return None


def returns_per_bar(equity: np.ndarray, initial: float) -> np.ndarray:
    """Simple return of every bar; bar 0 is relative to ``initial``."""
    equity = _asf(equity)
    if equity.size == 0:
        return np.empty(0, dtype=np.float64)
    prev = np.empty_like(equity)
    prev[0] = initial
    prev[1:] = equity[:-1]
    return _safe_ratio(equity - prev, prev)


def buy_and_hold_return(close: np.ndarray) -> float | None:
    """``close[-1] / close[0] - 1`` — the honest baseline; None if undefined."""
    close = _asf(close)
    if close.size == 0 or not close[0] > 0:
        return None
    return _f(close[-1] / close[0] - 1.0)


# --------------------------------------------------------------------------- risk


def volatility(ret: np.ndarray, periods_per_year: float) -> float | None:
    """Annualized standard deviation (ddof=1); None with fewer than 2 periods."""
    ret = _asf(ret)
    if ret.size < 2:
        return None
    return _f(ret.std(ddof=1) * math.sqrt(periods_per_year))


def sharpe(ret: np.ndarray, periods_per_year: float, rf: float = 0.0) -> float | None:
    """Annualized Sharpe ratio; ``rf`` is an annual rate. None if the std is 0 or n < 2."""
    ret = _asf(ret)
    if ret.size < 2:
        return None
    excess = ret - rf / periods_per_year
    sd = excess.std(ddof=1)
    if not sd > _STD_EPS:
        return None
    return _f(excess.mean() / sd * math.sqrt(periods_per_year))


def sortino(ret: np.ndarray, periods_per_year: float, rf: float = 0.0) -> float | None:
    """Annualized Sortino ratio.

    Downside deviation = root-mean-square of ``min(r - rf/periods, 0)`` over *all* periods
    (target 0 excess return). None if there is no downside or fewer than 2 periods.
    """
    ret = _asf(ret)
    if ret.size < 2:
        return None
    excess = ret - rf / periods_per_year
    downside = np.minimum(excess, 0.0)
    dd = math.sqrt(float(np.mean(downside * downside)))
    if not dd > _STD_EPS:
        return None
    return _f(excess.mean() / dd * math.sqrt(periods_per_year))


def calmar(cagr: float | None, max_dd: float | None) -> float | None:
    """CAGR / max drawdown (both fractions); None without a drawdown or a CAGR."""
    if cagr is None or max_dd is None or not max_dd > 0:
        return None
    return _f(cagr / max_dd)


def var_cvar(ret: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    """Historical Value-at-Risk and Conditional VaR (expected shortfall) at ``level``.

    Both are returned as positive loss fractions per period: ``VaR = -quantile(ret, 1 - level)``
    (linear interpolation, as numpy/pandas), ``CVaR = -mean(ret[ret <= quantile])``.
    (None, None) for an empty series.
    """
    ret = _asf(ret)
    if ret.size == 0:
        return None, None
    q = float(np.quantile(ret, 1.0 - level))
    tail = ret[ret <= q]
    cvar = -float(tail.mean()) if tail.size else -q
    return _f(-q), _f(cvar)


def _drawdown(
    equity: np.ndarray, timestamp: np.ndarray | None = None
) -> tuple[float, int, int, int, float | None, float]:
    """(max_dd, longest_bars, peak_idx, trough_idx, longest_seconds, dd_abs)."""
    n = equity.size
    if n == 0:
        return 0.0, 0, 0, 0, (0.0 if timestamp is not None else None), 0.0
    runmax = np.maximum.accumulate(equity)
    dd = _safe_ratio(equity, runmax)
    np.subtract(1.0, dd, out=dd)
    dd[runmax == 0] = 0.0
    trough = int(np.argmax(dd))
    max_dd = float(dd[trough])
    if max_dd > 0:
        peak = int(np.argmax(equity[: trough + 1]))
        dd_abs = float(runmax[trough] - equity[trough])
    else:
        max_dd, peak, trough, dd_abs = 0.0, 0, 0, 0.0

    # Underwater stretches: runs of bars below the running max. Bar 0 is never underwater,
    # so the bar before a run is its peak; the first bar after it is the recovery.
    underwater = equity < runmax
    edges = np.flatnonzero(underwater[1:] != underwater[:-1]) + 1
    if edges.size == 0:
        return max_dd, 0, peak, trough, (0.0 if timestamp is not None else None), dd_abs
    starts = edges[0::2]
    ends = edges[1::2]  # recovery bar of each run that recovered
    if ends.size < starts.size:
        ends = np.append(ends, n - 1)  # not recovered: to the end
    peaks = starts - 1
    longest_bars = int((ends - peaks).max())
    longest_s: float | None = None
    if timestamp is not None:
        ts = np.asarray(timestamp, dtype=np.int64)
        longest_s = float((ts[ends] - ts[peaks]).max()) / 1000.0
    return max_dd, longest_bars, peak, trough, longest_s, dd_abs


def max_drawdown(equity: np.ndarray, initial: float | None = None) -> tuple[float, int, int, int]:
    """``(max_dd_fraction, duration_bars, peak_idx, trough_idx)``.

    ``max_dd`` is the maximum over bars of ``1 - equity[t] / max(equity[0..t])``; ``initial``
    is deliberately *not* part of the running max (it is accepted for symmetry with the other
    functions). ``duration_bars`` is the longest peak-to-recovery stretch, measured from the
    peak bar to the first bar back at or above the peak (or to the last bar if never
    recovered) — it need not be the stretch of the deepest drawdown. ``peak_idx``/``trough_idx``
    locate the deepest drawdown (0, 0 when there is none).
    """
    max_dd, bars, peak, trough, _, _ = _drawdown(_asf(equity))
    return max_dd, bars, peak, trough


def drawdown_durations(equity: np.ndarray, timestamp: np.ndarray) -> tuple[int, float]:
    """Longest underwater stretch as ``(bars, seconds)`` (each maximized separately)."""
    _, bars, _, _, secs, _ = _drawdown(_asf(equity), np.asarray(timestamp, dtype=np.int64))
    return bars, float(secs or 0.0)


# --------------------------------------------------------------------------- daily / monthly


@dataclass(frozen=True)
class _Daily:
    """One row per UTC calendar day that has bars (computed once, reused)."""

    day: np.ndarray  # int64 days since 1970-01-01
    last_idx: np.ndarray  # index of the day's last bar
    equity: np.ndarray  # equity at the day's last bar
    pnl: np.ndarray  # equity change over the day (first day vs initial capital)
    ret: np.ndarray  # pnl / previous day's equity


def _daily(timestamp: np.ndarray, equity: np.ndarray, initial: float) -> _Daily:
    ts = np.asarray(timestamp, dtype=np.int64)
    equity = _asf(equity)
    if ts.size == 0:
        e = np.empty(0, dtype=np.int64)
        z = np.empty(0, dtype=np.float64)
        return _Daily(e, e, z, z, z)
    days = ts // MS_PER_DAY
    last_idx = np.append(np.flatnonzero(days[1:] != days[:-1]), ts.size - 1)
    day_eq = equity[last_idx]
    prev = np.empty_like(day_eq)
    prev[0] = initial
    prev[1:] = day_eq[:-1]
    pnl = day_eq - prev
    return _Daily(days[last_idx], last_idx, day_eq, pnl, _safe_ratio(pnl, prev))


def daily_returns(timestamp: np.ndarray, equity: np.ndarray, initial: float) -> np.ndarray:
    """Daily returns of the equity sampled at the last bar of each UTC day (see module doc)."""
    return _daily(timestamp, equity, initial).ret


def _monthly(d: _Daily, initial: float) -> list[tuple[int, int, float]]:
    if d.day.size == 0:
        return []
    months = d.day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    last = np.append(np.flatnonzero(months[1:] != months[:-1]), months.size - 1)
    m_eq = d.equity[last]
    prev = np.empty_like(m_eq)
    prev[0] = initial
    prev[1:] = m_eq[:-1]
    rets = _safe_ratio(m_eq - prev, prev)
    return [
        (1970 + int(m) // 12, int(m) % 12 + 1, float(r))
        for m, r in zip(months[last], rets, strict=True)
    ]


def monthly_returns(
    timestamp: np.ndarray, equity: np.ndarray, initial: float
) -> list[tuple[int, int, float]]:
    """``[(year, month, return_fraction)]`` from month-end equity (UTC), compounded.

    Each month is relative to the previous month's last equity, the first month relative
    to ``initial``, so ``prod(1 + r) - 1 == total_return``.
    """
    return _monthly(_daily(timestamp, equity, initial), initial)


def _closed_per_day(d: _Daily, timestamp: np.ndarray, trades: np.ndarray | None) -> np.ndarray:
    counts = np.zeros(d.day.size, dtype=np.int64)
    if trades is None or len(trades) == 0 or d.day.size == 0:
        return counts
    closed = trades["exit_reason"] != EXIT_OPEN
    exit_idx = trades["exit_idx"][closed]
    if exit_idx.size == 0:
        return counts
    exit_day = np.asarray(timestamp, dtype=np.int64)[exit_idx] // MS_PER_DAY
    pos = np.searchsorted(d.day, exit_day)
    np.add.at(counts, np.clip(pos, 0, d.day.size - 1), 1)
    return counts


def _daily_rows(d: _Daily, closed: np.ndarray, target: float) -> list[dict[str, Any]]:
    start = date(1970, 1, 1)
    return [
        {
            "day": start + timedelta(days=int(day)),
            "equity": float(eq),
            "pnl": float(p),
            "return_pct": float(r) * 100.0,
            "trades": int(c),
            "target_met": bool(p >= target),
        }
        for day, eq, p, r, c in zip(
            d.day.tolist(),
            d.equity.tolist(),
            d.pnl.tolist(),
            d.ret.tolist(),
            closed.tolist(),
            strict=True,
        )
    ]


def daily_pnl(
    timestamp: np.ndarray,
    equity: np.ndarray,
    initial: float,
    trades: np.ndarray | None,
    target: float,
) -> list[dict[str, Any]]:
    """One dict per UTC day with bars.

    Keys: ``day`` (``datetime.date``), ``equity`` (at the day's last bar), ``pnl`` (equity
    change over the day; the first day vs ``initial``), ``return_pct``, ``trades`` (trades
    closed that day; still-open trades excluded), ``target_met`` (``pnl >= target``).
    """
    d = _daily(timestamp, equity, initial)
    return _daily_rows(d, _closed_per_day(d, timestamp, trades), target)


def daily_summary(daily: list[dict[str, Any]], target: float | None = None) -> dict[str, Any]:
    """Summary of :func:`daily_pnl` rows.

    Keys: ``days``, ``target``, ``avg_daily_pnl``, ``target_days`` (count),
    ``target_days_pct``, ``best_day``/``worst_day`` (dates) and ``best_day_pnl``/``worst_day_pnl``.
    If ``target`` is given it re-evaluates the rows against it, else uses ``target_met``.
    """
    n = len(daily)
    out: dict[str, Any] = {
        "days": n,
        "target": target,
        "avg_daily_pnl": None,
        "target_days": 0,
        "target_days_pct": None,
        "best_day": None,
        "best_day_pnl": None,
        "worst_day": None,
        "worst_day_pnl": None,
    }
    if n == 0:
        return out
    pnl = np.array([r["pnl"] for r in daily], dtype=np.float64)
    met = (
        pnl >= target
        if target is not None
        else np.array([bool(r["target_met"]) for r in daily], dtype=bool)
    )
    best, worst = int(np.argmax(pnl)), int(np.argmin(pnl))
    hits = int(np.count_nonzero(met))
    out.update(
        avg_daily_pnl=_f(pnl.mean()),
        target_days=hits,
        target_days_pct=hits / n * 100.0,
        best_day=daily[best]["day"],
        best_day_pnl=_f(pnl[best]),
        worst_day=daily[worst]["day"],
        worst_day_pnl=_f(pnl[worst]),
    )
    return out


# --------------------------------------------------------------------------- trades


def exit_reason_name(code: int) -> str:
    """Name of an exit-reason code (``EXIT_REASONS``), ``reason_<code>`` if unknown."""
    return EXIT_REASONS.get(int(code), f"reason_{int(code)}")


def max_consecutive(mask: np.ndarray) -> int:
    """Length of the longest run of True in a boolean array."""
    m = np.asarray(mask, dtype=bool)
    if m.size == 0 or not m.any():
        return 0
    padded = np.concatenate(([False], m, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return int((edges[1::2] - edges[0::2]).max())


@dataclass(frozen=True)
class TradeStats:
    """Statistics over round trips. Money in quote currency, ``*_pct`` in percent."""

    count: int = 0
    open_trades: int = 0
    wins: int = 0
    draws: int = 0
    losses: int = 0
    win_rate_pct: float | None = None
    gross_profit: float = 0.0
    gross_loss: float = 0.0  # positive number
    total_profit: float = 0.0
    profit_factor: float | None = None
    expectancy: float | None = None
    expectancy_pct: float | None = None
    avg_win: float | None = None
    avg_loss: float | None = None  # negative number
    avg_win_pct: float | None = None
    avg_loss_pct: float | None = None
    best_trade_pct: float | None = None
    worst_trade_pct: float | None = None
    avg_trade_duration_bars: float | None = None
    median_trade_duration_bars: float | None = None
    avg_trade_duration_s: float | None = None
    median_trade_duration_s: float | None = None
    max_consecutive_wins: int = 0
    max_consecutive_losses: int = 0
    exposure_pct: float | None = None
    total_fees: float = 0.0


def trade_stats(
    trades: np.ndarray | None,
    timestamp: np.ndarray | None = None,
    n_bars: int | None = None,
) -> TradeStats:
    """Trade statistics from a ``TRADE_DTYPE`` array.

    Durations in seconds need ``timestamp`` (``timestamp[exit_idx] - timestamp[entry_idx]``);
    exposure (share of closes with a position held) needs ``n_bars``. Streaks follow the
    order of exits.
    """
    exposure = None
    if n_bars:
        held = bars_held(trades) if trades is not None else 0
        exposure = held / n_bars * 100.0
    if trades is None or len(trades) == 0:
        return TradeStats(exposure_pct=exposure)

    pnl = np.asarray(trades["pnl"], dtype=np.float64)
    rp = np.asarray(trades["return_pct"], dtype=np.float64)
    entry_idx = np.asarray(trades["entry_idx"], dtype=np.int64)
    exit_idx = np.asarray(trades["exit_idx"], dtype=np.int64)
    n = pnl.size
    win, loss = pnl > 0, pnl < 0
    n_win, n_loss = int(win.sum()), int(loss.sum())
    gross_profit = float(pnl[win].sum())
    gross_loss = float(-pnl[loss].sum())

    order = np.argsort(exit_idx, kind="stable")
    dur_bars = (exit_idx - entry_idx).astype(np.float64)
    avg_s = med_s = None
    if timestamp is not None:
        ts = np.asarray(timestamp, dtype=np.int64)
        dur_s = (ts[exit_idx] - ts[entry_idx]).astype(np.float64) / 1000.0
        avg_s, med_s = float(dur_s.mean()), float(np.median(dur_s))

    return TradeStats(
        count=n,
        open_trades=int(np.count_nonzero(trades["exit_reason"] == EXIT_OPEN)),
        wins=n_win,
        draws=n - n_win - n_loss,
        losses=n_loss,
        win_rate_pct=n_win / n * 100.0,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        total_profit=float(pnl.sum()),
        profit_factor=_f(gross_profit / gross_loss) if gross_loss > 0 else None,
        expectancy=_f(pnl.mean()),
        expectancy_pct=_f(rp.mean()),
        avg_win=_f(pnl[win].mean()) if n_win else None,
        avg_loss=_f(pnl[loss].mean()) if n_loss else None,
        avg_win_pct=_f(rp[win].mean()) if n_win else None,
        avg_loss_pct=_f(rp[loss].mean()) if n_loss else None,
        best_trade_pct=_f(rp.max()),
        worst_trade_pct=_f(rp.min()),
        avg_trade_duration_bars=float(dur_bars.mean()),
        median_trade_duration_bars=float(np.median(dur_bars)),
        avg_trade_duration_s=avg_s,
        median_trade_duration_s=med_s,
        max_consecutive_wins=max_consecutive(win[order]),
        max_consecutive_losses=max_consecutive(loss[order]),
        exposure_pct=exposure,
        total_fees=float(trades["entry_fee"].sum() + trades["exit_fee"].sum()),
    )


def exit_reason_breakdown(trades: np.ndarray | None) -> list[dict[str, Any]]:
    """One dict per exit reason present, most frequent first.

    Keys: ``reason`` (name), ``count``, ``wins``, ``draws``, ``losses``, ``avg_return_pct``,
    ``total_pnl``.
    """
    if trades is None or len(trades) == 0:
        return []
    codes = np.asarray(trades["exit_reason"], dtype=np.int64)
    pnl = np.asarray(trades["pnl"], dtype=np.float64)
    rp = np.asarray(trades["return_pct"], dtype=np.float64)
    rows: list[dict[str, Any]] = []
    for code in np.unique(codes):
        sel = codes == code
        p = pnl[sel]
        wins, losses = int((p > 0).sum()), int((p < 0).sum())
        rows.append(
            {
                "reason": exit_reason_name(int(code)),
                "count": int(p.size),
                "wins": wins,
                "draws": int(p.size) - wins - losses,
                "losses": losses,
                "avg_return_pct": float(rp[sel].mean()),
                "total_pnl": float(p.sum()),
            }
        )
    rows.sort(key=lambda r: -r["count"])  # stable: ties keep code order
    return rows


# --------------------------------------------------------------------------- Metrics


@dataclass(frozen=True)
class Metrics:
    """Every scalar metric of one run, plus the monthly, daily and exit-reason tables.

    Units: money in quote currency; ``*_pct`` in percent; ``*_s`` in seconds; ``*_ms`` epoch
    milliseconds (UTC). ``None`` means undefined. Lists: ``monthly`` rows
    ``{"year", "month", "return_pct"}``; ``daily`` rows as :func:`daily_pnl`; ``exit_reasons``
    rows as :func:`exit_reason_breakdown`.
    """

    # span
    timeframe: str
    start_ms: int | None
    end_ms: int | None
    bars: int
    span_days: float
    days: int
    # returns
    initial_capital: float
    final_equity: float
    total_return_pct: float | None
    cagr_pct: float | None
    buy_and_hold_return_pct: float | None
    # risk
    volatility_pct: float | None
    max_drawdown_pct: float
    max_drawdown_abs: float
    max_drawdown_peak_ms: int | None
    max_drawdown_trough_ms: int | None
    max_drawdown_duration_bars: int
    max_drawdown_duration_s: float
    var_95_pct: float | None
    cvar_95_pct: float | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    # trades
    trades: int
    open_trades: int
    wins: int
    draws: int
    losses: int
    win_rate_pct: float | None
    gross_profit: float
    gross_loss: float
    total_profit: float
    profit_factor: float | None
    expectancy: float | None
    expectancy_pct: float | None
    avg_win: float | None
    avg_loss: float | None
    avg_win_pct: float | None
    avg_loss_pct: float | None
    best_trade_pct: float | None
    worst_trade_pct: float | None
    avg_trade_duration_bars: float | None
    median_trade_duration_bars: float | None
    avg_trade_duration_s: float | None
    median_trade_duration_s: float | None
    max_consecutive_wins: int
    max_consecutive_losses: int
    exposure_pct: float | None
    total_fees: float
    # daily target
    daily_target: float
    avg_daily_pnl: float | None
    target_days: int
    target_days_pct: float | None
    best_day: date | None
    best_day_pnl: float | None
    worst_day: date | None
    worst_day_pnl: float | None
    # tables
    monthly: list[dict[str, Any]] = field(default_factory=list)
    daily: list[dict[str, Any]] = field(default_factory=list)
    exit_reasons: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def scalar_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name not in _TABLES)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict: finite floats or None, dates as ISO strings.

        Also carries ``start``/``end`` as ISO datetimes (ignored by :meth:`from_dict`).
        """
        out: dict[str, Any] = {}
        for name in self.scalar_fields():
            out[name] = _json_scalar(getattr(self, name))
        out["start"] = _ms_to_iso(self.start_ms)
        out["end"] = _ms_to_iso(self.end_ms)
        out["monthly"] = [{k: _json_scalar(v) for k, v in r.items()} for r in self.monthly]
        out["daily"] = [{k: _json_scalar(v) for k, v in r.items()} for r in self.daily]
        out["exit_reasons"] = [
            {k: _json_scalar(v) for k, v in r.items()} for r in self.exit_reasons
        ]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        """Rebuild from :meth:`to_dict` output (unknown keys ignored, missing ones None)."""
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in _TABLES:
                continue
            v = data.get(f.name)
            if f.name in ("best_day", "worst_day") and isinstance(v, str):
                v = date.fromisoformat(v)
            kw[f.name] = v
        daily = []
        for r in data.get("daily") or []:
            r = dict(r)
            if isinstance(r.get("day"), str):
                r["day"] = date.fromisoformat(r["day"])
            daily.append(r)
        return cls(
            **kw,
            monthly=[dict(r) for r in data.get("monthly") or []],
            daily=daily,
            exit_reasons=[dict(r) for r in data.get("exit_reasons") or []],
        )


_TABLES = frozenset({"monthly", "daily", "exit_reasons"})


def _json_scalar(v: Any) -> Any:
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, date):  # also datetime
        return v.isoformat()
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return _f(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def compute_metrics(result: BacktestResult, timeframe: str, daily_target: float = 0.0) -> Metrics:
    """All metrics of a backtest (or paper/live equity curve) in one pass.

    The calendar span for CAGR is ``end - start + one bar``. ``daily_target`` is a P&L per
    UTC day in quote currency; a day meets it when its equity change is ``>= daily_target``.
    """
    ts = np.asarray(result.timestamp, dtype=np.int64)
    equity = _asf(result.equity)
    close = _asf(result.close)
    initial = float(result.initial_capital)
    trades = result.trades
    n = int(equity.size)
    tf_ms = timeframe_ms(timeframe)

    start_ms = int(ts[0]) if n else None
    end_ms = int(ts[-1]) if n else None
    span_days = (
        (end_ms - start_ms + tf_ms) / MS_PER_DAY
        if start_ms is not None and end_ms is not None  # i.e. n > 0
        else 0.0
    )

    d = _daily(ts, equity, initial)
    rows = _daily_rows(d, _closed_per_day(d, ts, trades), daily_target)
    dsum = daily_summary(rows, daily_target)

    tr = total_return(equity, initial) if n else None
    cagr = annualized_return(equity, initial, span_days)
    max_dd, dd_bars, peak, trough, dd_s, dd_abs = _drawdown(equity, ts)
    var95, cvar95 = var_cvar(d.ret, 0.95)
    st = trade_stats(trades, ts, int(result.equity.shape[0]))

    return Metrics(
        timeframe=timeframe,
        start_ms=start_ms,
        end_ms=end_ms,
        bars=n,
        span_days=span_days,
        days=int(d.day.size),
        initial_capital=initial,
        final_equity=float(equity[-1]) if n else initial,
        total_return_pct=_pct(tr),
        cagr_pct=_pct(cagr),
        buy_and_hold_return_pct=_pct(buy_and_hold_return(close)),
        volatility_pct=_pct(volatility(d.ret, DAYS_PER_YEAR)),
        max_drawdown_pct=max_dd * 100.0,
        max_drawdown_abs=dd_abs,
        max_drawdown_peak_ms=int(ts[peak]) if max_dd > 0 else None,
        max_drawdown_trough_ms=int(ts[trough]) if max_dd > 0 else None,
        max_drawdown_duration_bars=dd_bars,
        max_drawdown_duration_s=float(dd_s or 0.0),
        var_95_pct=_pct(var95),
        cvar_95_pct=_pct(cvar95),
        sharpe=sharpe(d.ret, DAYS_PER_YEAR),
        sortino=sortino(d.ret, DAYS_PER_YEAR),
        calmar=calmar(cagr, max_dd),
        trades=st.count,
        open_trades=st.open_trades,
        wins=st.wins,
        draws=st.draws,
        losses=st.losses,
        win_rate_pct=st.win_rate_pct,
        gross_profit=st.gross_profit,
        gross_loss=st.gross_loss,
        total_profit=st.total_profit,
        profit_factor=st.profit_factor,
        expectancy=st.expectancy,
        expectancy_pct=st.expectancy_pct,
        avg_win=st.avg_win,
        avg_loss=st.avg_loss,
        avg_win_pct=st.avg_win_pct,
        avg_loss_pct=st.avg_loss_pct,
        best_trade_pct=st.best_trade_pct,
        worst_trade_pct=st.worst_trade_pct,
        avg_trade_duration_bars=st.avg_trade_duration_bars,
        median_trade_duration_bars=st.median_trade_duration_bars,
        avg_trade_duration_s=st.avg_trade_duration_s,
        median_trade_duration_s=st.median_trade_duration_s,
        max_consecutive_wins=st.max_consecutive_wins,
        max_consecutive_losses=st.max_consecutive_losses,
        exposure_pct=st.exposure_pct,
        total_fees=st.total_fees,
        daily_target=float(daily_target),
        avg_daily_pnl=dsum["avg_daily_pnl"],
        target_days=dsum["target_days"],
        target_days_pct=dsum["target_days_pct"],
        best_day=dsum["best_day"],
        best_day_pnl=dsum["best_day_pnl"],
        worst_day=dsum["worst_day"],
        worst_day_pnl=dsum["worst_day_pnl"],
        monthly=[
            {"year": y, "month": m, "return_pct": r * 100.0} for y, m, r in _monthly(d, initial)
        ],
        daily=rows,
        exit_reasons=exit_reason_breakdown(trades),
    )
