"""Metrics against hand-computed cases and independent (pandas) computations."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tradebot.analysis.metrics import (
    Metrics,
    annualized_return,
    buy_and_hold_return,
    calmar,
    compute_metrics,
    daily_pnl,
    daily_returns,
    daily_summary,
    drawdown_durations,
    exit_reason_breakdown,
    max_consecutive,
    max_drawdown,
    monthly_returns,
    returns_per_bar,
    sharpe,
    sortino,
    total_return,
    trade_stats,
    var_cvar,
    volatility,
)
from tradebot.engine.result import (
    EXIT_OPEN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    TRADE_DTYPE,
    BacktestResult,
)

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
T0 = int(pd.Timestamp("2024-01-01", tz="UTC").value // 1_000_000)


def make_trades(rows: list[tuple]) -> np.ndarray:
    """rows: (entry_idx, exit_idx, pnl, return_pct, exit_reason[, entry_fee, exit_fee])."""
    tr = np.zeros(len(rows), dtype=TRADE_DTYPE)
    for i, r in enumerate(rows):
        tr[i]["entry_idx"], tr[i]["exit_idx"] = r[0], r[1]
        tr[i]["pnl"], tr[i]["return_pct"], tr[i]["exit_reason"] = r[2], r[3], r[4]
        tr[i]["direction"] = 1
        tr[i]["units"] = 1.0
        tr[i]["entry_price"] = tr[i]["exit_price"] = 100.0
        if len(r) > 5:
            tr[i]["entry_fee"], tr[i]["exit_fee"] = r[5], r[6]
    return tr


def make_result(ts, equity, initial=100.0, close=None, trades=None):
    ts = np.asarray(ts, dtype=np.int64)
    equity = np.asarray(equity, dtype=np.float64)
    return BacktestResult(
        timestamp=ts,
        close=np.asarray(close if close is not None else np.full(ts.size, 100.0), dtype=float),
        equity=equity,
        trades=trades if trades is not None else np.zeros(0, dtype=TRADE_DTYPE),
        initial_capital=initial,
    )


# --------------------------------------------------------------------------- returns


def test_total_and_annualized_return():
    eq = np.array([100.0, 110.0, 121.0])
    assert total_return(eq, 100.0) == pytest.approx(0.21)
    assert annualized_return(eq, 100.0, 730) == pytest.approx(0.10)
    assert annualized_return(eq, 100.0, 365) == pytest.approx(0.21)
    assert annualized_return(eq, 100.0, 0) is None
    assert annualized_return(np.array([0.0]), 100.0, 10) == -1.0
    # a big gain over an hour overflows: undefined, not inf
    assert annualized_return(np.array([1e6]), 1.0, 1 / 24) is None


def test_returns_per_bar_first_bar_vs_initial():
    r = returns_per_bar(np.array([110.0, 99.0, 99.0]), 100.0)
    np.testing.assert_allclose(r, [0.1, -0.1, 0.0])
    assert returns_per_bar(np.array([]), 100.0).size == 0


def test_buy_and_hold():
    assert buy_and_hold_return(np.array([100.0, 50.0, 150.0])) == pytest.approx(0.5)
    assert buy_and_hold_return(np.array([])) is None


# --------------------------------------------------------------------------- drawdown


def test_max_drawdown_hand_case():
    eq = np.array([100.0, 110.0, 99.0, 105.0, 121.0, 115.0, 120.0])
    # running max 100 110 110 110 121 121 121 -> dd 0 0 .1 .0455 0 .0496 .0083
    dd, bars, peak, trough = max_drawdown(eq, 100.0)
    assert dd == pytest.approx(0.1)
    assert (peak, trough) == (1, 2)
    # stretches: peak 1 -> recovered at 4 (3 bars); peak 4 -> end 6 (2 bars)
    assert bars == 3


def test_max_drawdown_ignores_initial_capital():
    eq = np.array([90.0, 99.0, 89.1])
    # initial 100 is NOT in the running max: dd = 1 - 89.1/99
    dd, bars, peak, trough = max_drawdown(eq, 100.0)
    assert dd == pytest.approx(0.1)
    assert (peak, trough, bars) == (1, 2, 1)


def test_drawdown_not_recovered_runs_to_end():
    eq = np.array([100.0, 90.0, 95.0, 99.0])
    dd, bars, peak, trough = max_drawdown(eq)
    assert dd == pytest.approx(0.1)
    assert (peak, trough, bars) == (0, 1, 3)


def test_drawdown_recovery_at_equal_peak():
    eq = np.array([100.0, 80.0, 100.0, 100.0])
    dd, bars, peak, trough = max_drawdown(eq)
    assert dd == pytest.approx(0.2)
    assert bars == 2


def test_drawdown_flat_and_rising():
    assert max_drawdown(np.full(5, 100.0)) == (0.0, 0, 0, 0)
    assert max_drawdown(np.arange(1.0, 6.0)) == (0.0, 0, 0, 0)
    assert max_drawdown(np.array([])) == (0.0, 0, 0, 0)


def test_drawdown_durations_in_time_with_gap():
    eq = np.array([100.0, 90.0, 101.0, 95.0, 96.0])
    ts = np.array([0, 60, 7200, 7260, 7320]) * 1000  # a 2h gap inside the first stretch
    bars, secs = drawdown_durations(eq, ts)
    assert bars == 2  # first: 0 -> 2 (2 bars); second: 2 -> end 4 (2 bars)
    assert secs == 7200.0  # the first stretch is the longest in time


def test_drawdown_matches_pandas_on_random_walk():
    rng = np.random.default_rng(7)
    eq = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, 5000)))
    s = pd.Series(eq)
    ref = (1 - s / s.cummax()).max()
    dd, _, peak, trough = max_drawdown(eq, 1000.0)
    assert dd == pytest.approx(ref, rel=1e-12)
    assert eq[peak] == s.iloc[: trough + 1].max()


# --------------------------------------------------------------------------- ratios


def test_volatility_sharpe_sortino_formulas():
    rng = np.random.default_rng(1)
    r = rng.normal(0.001, 0.02, 300)
    assert volatility(r, 365) == pytest.approx(np.std(r, ddof=1) * math.sqrt(365))
    assert sharpe(r, 365) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365))
    dd = math.sqrt(np.mean(np.minimum(r, 0) ** 2))
    assert sortino(r, 365) == pytest.approx(r.mean() / dd * math.sqrt(365))
    rf = 0.05
    ex = r - rf / 365
    assert sharpe(r, 365, rf) == pytest.approx(ex.mean() / ex.std(ddof=1) * math.sqrt(365))


def test_ratios_undefined_return_none():
    flat = np.zeros(10)
    assert sharpe(flat, 365) is None
    assert sortino(flat, 365) is None
    assert sortino(np.array([0.01, 0.02, 0.0]), 365) is None  # no downside
    assert sharpe(np.array([0.01]), 365) is None
    assert volatility(np.array([0.01]), 365) is None
    assert sharpe(np.full(10, 0.001), 365) is None  # constant: std ~ 0
    assert calmar(0.2, 0.0) is None
    assert calmar(None, 0.1) is None
    assert calmar(0.2, 0.1) == pytest.approx(2.0)


def test_var_cvar_hand_case():
    r = np.arange(-10, 10) / 100.0  # -0.10 .. 0.09, 20 values
    var, cvar = var_cvar(r, 0.95)
    # linear quantile at 0.05: position 0.95 between -0.10 and -0.09
    assert var == pytest.approx(0.0905)
    assert cvar == pytest.approx(0.10)
    assert var == pytest.approx(-pd.Series(r).quantile(0.05))
    assert var_cvar(np.array([])) == (None, None)


# --------------------------------------------------------------------------- trades


def test_trade_stats_hand_case():
    ts = np.arange(20, dtype=np.int64) * HOUR
    trades = make_trades(
        [
            (0, 2, 10.0, 1.0, EXIT_TAKE_PROFIT, 0.5, 0.5),
            (2, 3, 20.0, 2.0, EXIT_TAKE_PROFIT, 0.5, 0.5),
            (4, 8, -5.0, -0.5, EXIT_STOP_LOSS, 0.5, 0.5),
            (8, 9, 0.0, 0.0, EXIT_SIGNAL, 0.5, 0.5),
            (10, 11, -5.0, -0.5, EXIT_STOP_LOSS, 0.5, 0.5),
            (12, 13, -5.0, -0.5, EXIT_STOP_LOSS, 0.5, 0.5),
            (14, 19, 15.0, 1.5, EXIT_OPEN, 0.5, 0.0),
        ]
    )
    st = trade_stats(trades, ts, 20)
    assert (st.count, st.wins, st.draws, st.losses, st.open_trades) == (7, 3, 1, 3, 1)
    assert st.win_rate_pct == pytest.approx(300 / 7)
    assert st.gross_profit == 45.0 and st.gross_loss == 15.0
    assert st.profit_factor == pytest.approx(3.0)
    assert st.expectancy == pytest.approx(30 / 7)
    assert st.expectancy_pct == pytest.approx(3.0 / 7)
    assert st.avg_win == pytest.approx(15.0) and st.avg_loss == pytest.approx(-5.0)
    assert st.avg_win_pct == pytest.approx(1.5) and st.avg_loss_pct == pytest.approx(-0.5)
    assert st.best_trade_pct == 2.0 and st.worst_trade_pct == -0.5
    assert st.max_consecutive_wins == 2 and st.max_consecutive_losses == 2
    durations = np.array([2, 1, 4, 1, 1, 1, 5], dtype=float)
    assert st.avg_trade_duration_bars == pytest.approx(durations.mean())
    assert st.median_trade_duration_bars == 1.0
    assert st.avg_trade_duration_s == pytest.approx(durations.mean() * 3600)
    assert st.median_trade_duration_s == 3600.0
    # held closes: 2 + 1 + 4 + 1 + 1 + 1 + 6 (the open trade holds through bar 19) = 16
    assert st.exposure_pct == pytest.approx(80.0)
    assert st.total_fees == pytest.approx(6.5)


def test_trade_stats_streaks_follow_exit_order():
    # array order W L W, but by exit: W W L
    trades = make_trades([(0, 1, 1.0, 1.0, 0), (2, 9, -1.0, -1.0, 0), (3, 4, 1.0, 1.0, 0)])
    st = trade_stats(trades)
    assert st.max_consecutive_wins == 2 and st.max_consecutive_losses == 1
    assert st.avg_trade_duration_s is None and st.exposure_pct is None


def test_trade_stats_no_losses_and_no_trades():
    st = trade_stats(make_trades([(0, 1, 5.0, 1.0, 0)]))
    assert st.profit_factor is None and st.avg_loss is None and st.win_rate_pct == 100.0
    empty = trade_stats(np.zeros(0, dtype=TRADE_DTYPE), None, 4)
    assert empty.count == 0 and empty.win_rate_pct is None and empty.expectancy is None
    assert empty.profit_factor is None and empty.exposure_pct == 0.0
    assert trade_stats(None).count == 0


def test_max_consecutive():
    assert max_consecutive(np.array([1, 1, 0, 1, 1, 1, 0], bool)) == 3
    assert max_consecutive(np.array([], bool)) == 0
    assert max_consecutive(np.array([0, 0], bool)) == 0
    assert max_consecutive(np.array([1, 1], bool)) == 2


def test_exit_reason_breakdown():
    trades = make_trades(
        [
            (0, 1, 10.0, 1.0, EXIT_TAKE_PROFIT),
            (1, 2, -4.0, -0.4, EXIT_STOP_LOSS),
            (2, 3, -6.0, -0.6, EXIT_STOP_LOSS),
            (3, 4, 2.0, 0.2, EXIT_SIGNAL),
            (4, 5, 0.0, 0.0, 9),
        ]
    )
    rows = exit_reason_breakdown(trades)
    assert [r["reason"] for r in rows] == ["stop_loss", "exit_signal", "take_profit", "reason_9"]
    sl = rows[0]
    assert sl == {
        "reason": "stop_loss",
        "count": 2,
        "wins": 0,
        "draws": 0,
        "losses": 2,
        "avg_return_pct": pytest.approx(-0.5),
        "total_pnl": pytest.approx(-10.0),
    }
    assert rows[3]["draws"] == 1
    assert exit_reason_breakdown(np.zeros(0, dtype=TRADE_DTYPE)) == []


# --------------------------------------------------------------------------- daily / monthly


def test_daily_aggregation_across_utc_midnight():
    start = T0 + 22 * HOUR  # 2024-01-01 22:00 UTC
    ts = start + np.arange(4) * HOUR  # 22:00, 23:00 | 00:00, 01:00 (Jan 2)
    ts = np.append(ts, T0 + 2 * DAY + 5 * MIN)  # Jan 3 00:05
    eq = np.array([101.0, 102.0, 99.0, 104.0, 109.2])
    trades = make_trades(
        [
            (0, 1, 1.0, 1.0, EXIT_SIGNAL),  # closes Jan 1 23:00
            (1, 2, -1.0, -1.0, EXIT_STOP_LOSS),  # closes Jan 2 00:00
            (2, 3, 1.0, 1.0, EXIT_SIGNAL),  # closes Jan 2 01:00
            (3, 4, 5.0, 5.0, EXIT_OPEN),  # still open: not counted
        ]
    )
    rows = daily_pnl(ts, eq, 100.0, trades, target=2.0)
    assert [r["day"] for r in rows] == [date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)]
    assert [r["equity"] for r in rows] == [102.0, 104.0, 109.2]
    np.testing.assert_allclose([r["pnl"] for r in rows], [2.0, 2.0, 5.2])
    np.testing.assert_allclose([r["return_pct"] for r in rows], [2.0, 2 / 102 * 100, 5.0])
    assert [r["trades"] for r in rows] == [1, 2, 0]
    assert [r["target_met"] for r in rows] == [True, True, True]
    np.testing.assert_allclose(daily_returns(ts, eq, 100.0), [0.02, 2 / 102, 0.05])

    s = daily_summary(rows)
    assert s["days"] == 3 and s["target_days"] == 3 and s["target_days_pct"] == 100.0
    assert s["avg_daily_pnl"] == pytest.approx(9.2 / 3)
    assert s["best_day"] == date(2024, 1, 3) and s["best_day_pnl"] == pytest.approx(5.2)
    assert s["worst_day"] == date(2024, 1, 1)
    s3 = daily_summary(rows, target=3.0)
    assert s3["target_days"] == 1 and s3["target_days_pct"] == pytest.approx(100 / 3)
    assert daily_summary([])["avg_daily_pnl"] is None


def test_monthly_compounding():
    days = pd.date_range("2024-01-01", "2024-03-31", freq="D", tz="UTC")
    ts = days.as_unit("ms").asi8.astype(np.int64)
    eq = np.full(ts.size, 100.0)
    eq[days.month == 1] = 105.0
    eq[days == pd.Timestamp("2024-01-31", tz="UTC")] = 110.0
    eq[days.month == 2] = 99.0
    eq[days.month == 3] = 120.0
    eq[-1] = 108.9
    m = monthly_returns(ts, eq, 100.0)
    assert [(y, mo) for y, mo, _ in m] == [(2024, 1), (2024, 2), (2024, 3)]
    np.testing.assert_allclose([r for *_, r in m], [0.10, -0.10, 0.10])
    assert np.prod([1 + r for *_, r in m]) - 1 == pytest.approx(total_return(eq, 100.0))


# --------------------------------------------------------------------------- pandas reference


@pytest.fixture(scope="module")
def random_run():
    """A few days of 1m bars starting mid-day, with trades."""
    rng = np.random.default_rng(42)
    n = 5 * 1440 + 377
    ts = T0 + 13 * HOUR + 37 * MIN + np.arange(n, dtype=np.int64) * MIN
    eq = 10_000 * np.exp(np.cumsum(rng.normal(0, 5e-4, n)))
    close = 50_000 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    entries = np.sort(rng.choice(n - 100, 40, replace=False))
    rows = [
        (
            int(e),
            int(e) + int(rng.integers(1, 90)),
            float(p),
            float(p) / 10,
            int(rng.integers(0, 4)),
            0.2,
            0.2,
        )
        for e, p in zip(entries, rng.normal(0.5, 10, 40), strict=True)
    ]
    return make_result(ts, eq, 10_000.0, close, make_trades(rows))


def _pandas_daily(res: BacktestResult) -> pd.Series:
    idx = pd.to_datetime(res.timestamp, unit="ms", utc=True)
    day_eq = pd.Series(res.equity, index=idx).resample("D").last().dropna()
    prev = day_eq.shift(1)
    prev.iloc[0] = res.initial_capital
    return day_eq / prev - 1


def test_against_pandas_reference(random_run):
    res = random_run
    m = compute_metrics(res, "1m", daily_target=5.0)
    ref = _pandas_daily(res)
    np.testing.assert_allclose(daily_returns(res.timestamp, res.equity, 10_000.0), ref.values)
    assert m.days == len(ref) == 6
    assert m.sharpe == pytest.approx(ref.mean() / ref.std() * math.sqrt(365))
    down = np.sqrt((ref.clip(upper=0) ** 2).mean())
    assert m.sortino == pytest.approx(ref.mean() / down * math.sqrt(365))
    assert m.volatility_pct == pytest.approx(ref.std() * math.sqrt(365) * 100)
    assert m.var_95_pct == pytest.approx(-ref.quantile(0.05) * 100)
    assert m.cvar_95_pct == pytest.approx(-ref[ref <= ref.quantile(0.05)].mean() * 100)

    eq = pd.Series(res.equity)
    assert m.max_drawdown_pct == pytest.approx((1 - eq / eq.cummax()).max() * 100)
    assert m.total_return_pct == pytest.approx((res.equity[-1] / 10_000 - 1) * 100)
    span = (res.timestamp[-1] - res.timestamp[0] + MIN) / DAY
    cagr = (res.equity[-1] / 10_000) ** (365 / span) - 1
    assert m.cagr_pct == pytest.approx(cagr * 100)
    assert m.calmar == pytest.approx(cagr / (m.max_drawdown_pct / 100))
    assert m.buy_and_hold_return_pct == pytest.approx((res.close[-1] / res.close[0] - 1) * 100)
    held = sum(int(t["exit_idx"] - t["entry_idx"]) for t in res.trades)  # none still open
    assert m.exposure_pct == pytest.approx(held / res.equity.size * 100)

    idx = pd.to_datetime(res.timestamp, unit="ms", utc=True)
    day_eq = pd.Series(res.equity, index=idx).resample("D").last()
    pnl = day_eq.diff()
    pnl.iloc[0] = day_eq.iloc[0] - 10_000
    assert [r["pnl"] for r in m.daily] == pytest.approx(list(pnl.values))
    assert m.avg_daily_pnl == pytest.approx(pnl.mean())
    assert m.target_days_pct == pytest.approx((pnl >= 5.0).mean() * 100)
    exits = pd.Series(1, index=idx[res.trades["exit_idx"][res.trades["exit_reason"] != EXIT_OPEN]])
    closed = exits.resample("D").sum().reindex(day_eq.index, fill_value=0)
    assert [r["trades"] for r in m.daily] == list(closed.values)

    month_eq = pd.Series(res.equity, index=idx).resample("ME").last()
    mprev = month_eq.shift(1)
    mprev.iloc[0] = 10_000
    assert [r["return_pct"] for r in m.monthly] == pytest.approx(
        list((month_eq / mprev - 1).values * 100)
    )

    pnl_t = res.trades["pnl"]
    assert m.trades == 40
    assert m.win_rate_pct == pytest.approx((pnl_t > 0).mean() * 100)
    assert m.profit_factor == pytest.approx(pnl_t[pnl_t > 0].sum() / -pnl_t[pnl_t < 0].sum())
    assert m.total_fees == pytest.approx(40 * 0.4)
    assert sum(r["count"] for r in m.exit_reasons) == 40


# --------------------------------------------------------------------------- edge cases


def test_no_trades_flat_equity():
    ts = T0 + np.arange(3 * 1440, dtype=np.int64) * MIN
    m = compute_metrics(make_result(ts, np.full(ts.size, 100.0)), "1m", 1.0)
    assert m.trades == 0 and m.win_rate_pct is None and m.profit_factor is None
    assert m.expectancy is None and m.best_trade_pct is None and m.exit_reasons == []
    assert m.sharpe is None and m.sortino is None and m.calmar is None
    assert m.max_drawdown_pct == 0.0 and m.max_drawdown_duration_bars == 0
    assert m.max_drawdown_peak_ms is None
    assert m.total_return_pct == 0.0 and m.cagr_pct == 0.0 and m.volatility_pct == 0.0
    assert m.days == 3 and m.target_days == 0 and m.avg_daily_pnl == 0.0
    assert m.exposure_pct == 0.0 and m.total_fees == 0.0
    assert [r["return_pct"] for r in m.monthly] == [0.0]


def test_single_bar():
    m = compute_metrics(make_result([T0], [101.0]), "1h", 0.5)
    assert m.bars == 1 and m.days == 1 and m.span_days == pytest.approx(1 / 24)
    assert m.total_return_pct == pytest.approx(1.0)
    assert m.sharpe is None and m.volatility_pct is None and m.max_drawdown_pct == 0.0
    assert m.daily[0]["pnl"] == pytest.approx(1.0) and m.daily[0]["target_met"]
    assert m.monthly == [{"year": 2024, "month": 1, "return_pct": pytest.approx(1.0)}]
    json.dumps(m.to_dict(), allow_nan=False)


def test_empty_result():
    m = compute_metrics(make_result([], []), "1m")
    assert m.bars == 0 and m.start_ms is None and m.final_equity == 100.0
    assert m.daily == [] and m.monthly == [] and m.total_return_pct is None
    assert Metrics.from_dict(json.loads(json.dumps(m.to_dict(), allow_nan=False))) == m


def test_wiped_out_account_has_no_nan():
    ts = T0 + np.arange(4, dtype=np.int64) * DAY
    m = compute_metrics(make_result(ts, [50.0, 0.0, 0.0, 0.0]), "1d")
    assert m.max_drawdown_pct == 100.0 and m.cagr_pct == -100.0
    json.dumps(m.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------- serialization


def test_to_dict_from_dict_round_trip(random_run):
    m = compute_metrics(random_run, "1m", daily_target=5.0)
    d = m.to_dict()
    text = json.dumps(d, allow_nan=False)  # raises on NaN/inf
    assert "NaN" not in text and "Infinity" not in text
    assert d["start"].startswith("2024-01-01T13:37:00") and d["start"].endswith("Z")
    assert isinstance(d["best_day"], str) and isinstance(d["daily"][0]["day"], str)
    assert set(Metrics.scalar_fields()) <= set(d)
    back = Metrics.from_dict(json.loads(text))
    assert back == m
    assert isinstance(back.daily[0]["day"], date) and isinstance(back.best_day, date)


def test_from_dict_tolerates_missing_and_extra_keys():
    m = Metrics.from_dict({"timeframe": "1h", "bars": 0, "unknown": 1})
    assert m.timeframe == "1h" and m.sharpe is None and m.monthly == []
