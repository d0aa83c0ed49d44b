"""The HTML report pages (tradebot.analysis.html_*): self-contained, plotly.js once, and the
figures hold the report's own numbers. Built from a real engine run on the sim market, a
study summary and a paper account report shaped as the services return them."""

from __future__ import annotations

import re

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from tradebot.analysis.html_downsample import MAX_CANDLES, MAX_LINE_POINTS, group_candles, line_indices
from tradebot.analysis.html_page import figures_in
from tradebot.analysis.html_report import AccountSeries, Extras, RunSeries, account_page, run_page
from tradebot.analysis.html_study import study_page
from tradebot.analysis.metrics import compute_metrics
from tradebot.analysis.report import build_report
from tradebot.engine.backtest import run_strategy
from tradebot.engine.config import EngineConfig
from tradebot.exchanges.sim import sim_candles
from tradebot.strategies.registry import Registry

DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01


def assert_self_contained(page: str) -> None:
    """No URL a browser would fetch; plotly.js inlined exactly once."""
    banner = get_plotlyjs()[:60]
    assert page.count(banner) == 1
    assert not re.search(r"<(script|link|img|iframe|source|video|audio)\b[^>]*\b(src|href)\s*=", page, re.I)
    outside_js = page.replace(get_plotlyjs(), "")
    assert not re.search(r"https?://", outside_js), re.findall(r"https?://\S{0,40}", outside_js)
    assert "@import" not in outside_js and "url(" not in outside_js
    assert "cdn." not in outside_js


def trace(fig: dict, role: str) -> dict:
    found = [t for t in fig["data"] if (t.get("meta") or {}).get("role") == role]
    assert len(found) == 1, [t.get("meta") for t in fig["data"]]
    return found[0]


@pytest.fixture(scope="module")
def backtest():  # type: ignore[no-untyped-def]
    candles = sim_candles("BTC/USDT", "1h", since_ms=T0, until_ms=T0 + 200 * DAY, seed=7)
    strategy = Registry().create("rsi", {})
    cfg = EngineConfig(initial_capital=10_000.0, stop_loss_pct=3.0, take_profit_pct=6.0)
    result = run_strategy(candles, strategy, cfg)
    metrics = compute_metrics(result, "1h", 5.0)
    report = build_report(metrics, {"strategy": "rsi", "symbol": "BTC/USDT", "run_id": 7}, result.trades,
                          result.timestamp)
    return candles, result, metrics, report


def test_downsampled_lines_keep_extremes_and_the_last_point() -> None:
    rng = np.random.default_rng(1)
    v = np.cumsum(rng.normal(size=100_003))
    idx = line_indices(v)
    assert idx.size <= MAX_LINE_POINTS + 2 and np.all(np.diff(idx) > 0)
    kept = v[idx]
    assert kept.max() == v.max() and kept.min() == v.min() and kept[-1] == v[-1] and kept[0] == v[0]
    short = np.arange(10.0)
    assert line_indices(short).tolist() == list(range(10))


def test_grouped_candles_keep_the_range() -> None:
    c = sim_candles("BTC/USDT", "5m", since_ms=T0, until_ms=T0 + 30 * DAY, seed=3)
    g = group_candles(c.timestamp, c.open, c.high, c.low, c.close)
    assert g.timestamp.size <= MAX_CANDLES and g.per > 1 and g.note
    assert g.high.max() == c.high.max() and g.low.min() == c.low.min()
    assert g.open[0] == c.open[0] and g.close[-1] == c.close[-1]


def test_run_page_holds_the_runs_numbers(backtest) -> None:  # type: ignore[no-untyped-def]
    candles, result, metrics, report = backtest
    exposure = np.abs(result.position * result.close) / result.equity * 100
    page = run_page(report, RunSeries(result.timestamp, result.equity, exposure, "per bar"), candles,
                    {"stop_loss_pct": 3.0, "take_profit_pct": 6.0, "trailing_stop_pct": None}, Extras())
    assert_self_contained(page)
    figs = figures_in(page)
    assert set(figs) == {"equity", "candles", "monthly", "pnl", "exposure"}
    eq = trace(figs["equity"], "equity")
    assert eq["y"][-1] == pytest.approx(metrics.final_equity, abs=1e-9)
    assert eq["x"][-1] == result.timestamp[-1]
    dd = trace(figs["equity"], "drawdown")
    assert -min(dd["y"]) == pytest.approx(metrics.max_drawdown_pct, rel=1e-9)
    n = len(report["trades"])
    assert n == metrics.trades > 5 and metrics.open_trades == 1  # the open one is in both
    entries = trace(figs["candles"], "entries")
    assert len(entries["x"]) == n
    assert entries["y"] == pytest.approx([t["entry_price"] for t in report["trades"]])
    closed = [t for t in report["trades"] if t["exit_reason"] != "still_open"]
    assert len(trace(figs["candles"], "exits")["x"]) == len(closed)
    sl = trace(figs["candles"], "stop-loss")
    t0 = report["trades"][0]
    sign = -1 if t0["direction"] == "long" else 1
    assert sl["y"][0] == pytest.approx(t0["entry_price"] * (1 + sign * 0.03))
    c = trace(figs["candles"], "candles")
    assert max(c["high"]) == candles.high.max() and min(c["low"]) == candles.low.min()
    heat = trace(figs["monthly"], "monthly")
    cells = {(int(y), m + 1): v for y, row in zip(heat["y"], heat["z"], strict=True)
             for m, v in enumerate(row) if v is not None}
    assert cells == {(r["year"], r["month"]): pytest.approx(r["return_pct"]) for r in report["monthly"]}
    hist = trace(figs["pnl"], "wins")["x"] + trace(figs["pnl"], "losses")["x"]
    assert sorted(hist) == pytest.approx(sorted(t["return_pct"] for t in closed))
    assert max(trace(figs["exposure"], "exposure %")["y"]) == pytest.approx(exposure.max())
    assert "Final equity" in page and f"{metrics.final_equity:,.2f}" in page


def test_run_page_without_candles_or_bars_says_what_is_missing(backtest) -> None:  # type: ignore[no-untyped-def]
    _, _, metrics, report = backtest
    daily = metrics.daily
    ts = np.array([(d["day"].toordinal() - 719163) * DAY for d in daily], dtype=np.int64)
    extras = Extras(missing=["candles, per-bar equity and exposure are not drawn: cache gone"])
    page = run_page(report, RunSeries(ts, np.array([d["equity"] for d in daily]), None, "per day"), None,
                    {}, extras)
    figs = figures_in(page)
    assert set(figs) == {"equity", "candles", "monthly", "pnl"}
    assert trace(figs["equity"], "equity")["y"][-1] == pytest.approx(metrics.final_equity)
    assert not [t for t in figs["candles"]["data"] if t["type"] == "candlestick"]
    assert len(trace(figs["candles"], "entries")["x"]) == len(report["trades"])
    assert "cache gone" in page and "candles unavailable" in page


def study_report() -> dict:
    windows = [{"window": i, "is_start_ms": T0 + i * 20 * DAY, "is_end_ms": T0 + (i * 20 + 40) * DAY,
                "oos_start_ms": T0 + (i * 20 + 40) * DAY, "oos_end_ms": T0 + (i * 20 + 60) * DAY,
                "best_params": {"period": 7 + i}, "in_sample": {"return_pct": 10.0 + i, "sharpe": 2.0},
                "out_of_sample": {"return_pct": 1.0 - i, "sharpe": 0.5 - i}} for i in range(3)]
    trial = [{"number": i, "params": {"period": 7 + i, "lower": 30.0}, "scores": [3.0 - i, 1.0 + i],
              "metrics": {"return_pct": 5.0, "sharpe": 3.0 - i}, "error": None} for i in range(4)]
    return {"study_id": 4, "status": "done", "strategy": "rsi", "method": "grid", "seed": 42,
            "request": {"objectives": "sharpe,calmar"}, "objectives": "sharpe,calmar", "space": {},
            "exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1h", "data_source": "sim", "data_rows": 4000,
            "data_sha256": "ab", "code_version": "0.1", "created_at": "2026-01-01", "trials": 4, "top": trial,
            "pareto": trial[:3], "importance": {"period": 0.8, "lower": 0.2},
            "chosen": {"params": {"period": 9}, "number": 2, "in_sample": {}, "out_of_sample": {}},
            "honesty": {"dsr": {"dsr": 0.6}, "pbo": {"pbo": 0.1}}, "windows": windows,
            "walk_forward": {"out_of_sample": {"equity": [[T0 + d * DAY, 10_000.0 + d] for d in range(60)],
                                               "total_return_pct": 0.59, "max_dd_pct": 0.0},
                             "in_sample_mean": {"sharpe": 2.0}, "out_of_sample_mean": {"sharpe": -0.5}}}


def test_study_page() -> None:
    rep = study_report()
    page = study_page(rep)
    assert_self_contained(page)
    figs = figures_in(page)
    assert set(figs) == {"pareto", "importance", "windows", "windows_return", "windows_sharpe", "oos_equity"}
    front = trace(figs["pareto"], "pareto")
    assert sorted(zip(front["x"], front["y"], strict=True)) == sorted(tuple(t["scores"]) for t in rep["pareto"])
    imp = trace(figs["importance"], "importance")
    assert dict(zip(imp["y"], imp["x"], strict=True)) == rep["importance"]
    is_, oos = trace(figs["windows"], "is"), trace(figs["windows"], "oos")
    assert is_["base"] == [w["is_start_ms"] for w in rep["windows"]]
    assert [b + x for b, x in zip(oos["base"], oos["x"], strict=True)] == [w["oos_end_ms"] for w in rep["windows"]]
    assert trace(figs["windows_return"], "out_of_sample_return_pct")["y"] == [1.0, 0.0, -1.0]
    assert trace(figs["oos_equity"], "out-of-sample equity")["y"][-1] == 10_059.0
    assert "Top trials" in page and "0.10" in page  # PBO in the conclusion table


def test_study_page_single_objective_and_unfinished() -> None:
    rep = {k: v for k, v in study_report().items() if k not in ("windows", "walk_forward", "pareto", "importance")}
    rep["objectives"] = "sharpe"
    rep["status"] = "running"
    page = study_page(rep)
    assert figures_in(page) == {}
    assert "has no finished window" in page and "Top trials" in page


def test_account_page() -> None:
    n = 500
    ts = T0 + np.arange(n, dtype=np.int64) * 3_600_000
    eq = 10_000 + np.cumsum(np.sin(np.arange(n) / 7.0))
    pos = np.where(np.arange(n) % 50 < 25, 0.1, 0.0)
    trades = [{"entry_ts_ms": int(ts[i]), "exit_ts_ms": int(ts[i + 20]), "direction": 1, "units": 0.1,
               "entry_price": 100.0 + i, "exit_price": 101.0 + i, "pnl": 1.0, "return_pct": 1.0,
               "exit_reason": "exit_signal"} for i in range(0, 450, 50)]
    daily = [{"day": f"2024-01-{d + 1:02d}", "pnl": float(d - 10), "equity": 1.0, "trades": 1,
              "target_met": d - 10 >= 5, "return_pct": 0.0} for d in range(21)]
    rep = {"account": "demo", "market": "sim BTC/USDT 1h", "strategy": "macd", "params": {},
           "initial_capital": 10_000.0,
           "equity": float(eq[-1]), "position": 0.0, "entry_price": None, "exposure_pct": 50.0, "trades": trades,
           "balances": [{"asset": "USDT", "amount": float(eq[-1])}, {"asset": "BTC", "amount": 0.0}],
           "positions": [{"symbol": "BTC/USDT", "qty": 0.1, "avg_entry_price": 555.0, "mark_price": 560.0,
                          "entry_ms": int(ts[480]), "unrealized_pnl": 0.5}],
           "risk_events": [{"ts_ms": int(ts[3]), "kind": "limit_reached", "rule": "max_daily_loss",
                            "detail": "loss 50"}],
           "risk_counts": {"limit_reached": {"max_daily_loss": 1}}, "blocked_entries": [],
           "daily": daily, "daily_summary": {"target": 5.0, "days": 21, "target_days": 6}}
    page = account_page(rep, AccountSeries(ts, eq, pos), None, {"stop_loss_pct": None}, Extras(["no candles here"]))
    assert_self_contained(page)
    figs = figures_in(page)
    assert set(figs) == {"equity", "exposure", "candles", "daily", "pnl"}
    assert trace(figs["equity"], "equity")["y"][-1] == pytest.approx(eq[-1])
    assert trace(figs["exposure"], "position")["y"] == pytest.approx(pos.tolist())
    marks = trace(figs["equity"], "risk_events")
    assert marks["x"] == [ts[3]] and marks["y"] == pytest.approx([eq[3]]) and "max_daily_loss" in marks["text"][0]
    assert [t for t in figs["exposure"]["data"] if t["meta"]["role"] == "exposure %"] == []  # needs candles
    assert len(trace(figs["candles"], "entries")["x"]) == len(trades)
    opened = trace(figs["candles"], "open")
    assert opened["x"] == [ts[480]] and opened["y"] == [555.0]
    bars = trace(figs["daily"], "daily_pnl")
    assert bars["y"] == [d["pnl"] for d in daily]
    assert [s["y0"] for s in figs["daily"]["layout"]["shapes"]] == [5.0]
    assert "max_daily_loss" in page and "USDT" in page and "no candles here" in page
