"""Rich rendering of reports and run lists."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from tradebot.analysis.metrics import compute_metrics
from tradebot.analysis.report import build_report
from tradebot.cli.render import (
    SYNTHETIC_WARNING,
    fmt_duration,
    fmt_money,
    fmt_num,
    fmt_pct,
    render_report,
    render_run_list,
)
from tradebot.engine.result import (
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    TRADE_DTYPE,
    BacktestResult,
)

HOUR = 3_600_000
T0 = 1_706_659_200_000  # 2024-01-31 00:00 UTC: the run spans January and February


def _report(source: str, with_trades: bool = True) -> dict:
    n = 96
    rng = np.random.default_rng(3)
    ts = T0 + np.arange(n, dtype=np.int64) * HOUR
    equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.003, n)))
    trades = np.zeros(3 if with_trades else 0, dtype=TRADE_DTYPE)
    if with_trades:
        trades["entry_idx"] = [2, 30, 60]
        trades["exit_idx"] = [12, 50, 80]
        trades["direction"] = 1
        trades["units"] = 1.0
        trades["entry_fee"] = trades["exit_fee"] = 1.5
        trades["pnl"] = [1234.5, -300.25, 80.0]
        trades["return_pct"] = [12.3, -3.0, 0.8]
        trades["exit_reason"] = [EXIT_TAKE_PROFIT, EXIT_STOP_LOSS, EXIT_SIGNAL]
    res = BacktestResult(ts, np.full(n, 100.0), equity, trades, 10_000.0)
    m = compute_metrics(res, "1h", daily_target=50.0)
    header = {
        "strategy": "rsi",
        "exchange": "sim",
        "symbol": "BTC/USDT",
        "timeframe": "1h",
        "data_source": source,
        "params": {"period": 14},
        "run_id": "run-42",
        "gaps": 0,
    }
    return build_report(m, header, res.trades, res.timestamp)


def _render(report: dict) -> str:
    console = Console(record=True, width=140)
    render_report(report, console)
    return console.export_text()


def test_render_report_key_strings():
    text = _render(_report("sim: built-in synthetic market"))
    assert SYNTHETIC_WARNING in text
    assert "synthetic" in text and "not real prices" in text
    for s in (
        "Results per pair",
        "BTC/USDT",
        "Sharpe",
        "Sortino",
        "Calmar",
        "Max drawdown",
        "Win rate",
        "Profit factor",
        "Days meeting target",
        "Monthly returns",
        "Jan",
        "Feb",
        "2024",
        "Exit reasons",
        "take_profit",
        "stop_loss",
        "exit_signal",
        "run-42",
        "10,000.00 USDT",
        "Tot Profit USDT",
        "1,014.25",
    ):
        assert s in text, s


def test_real_data_has_no_synthetic_warning():
    text = _render(_report("cache: /data/binance/BTC_USDT-1h.parquet"))
    assert "not real prices" not in text
    assert "cache: /data/binance/BTC_USDT-1h.parquet" in text


def test_render_report_without_trades():
    text = _render(_report("sim", with_trades=False))
    assert "No trades." in text and "not real prices" in text
    assert "–" in text  # undefined metrics shown as a dash


def test_render_run_list():
    console = Console(record=True, width=140)
    runs = [
        {
            "id": "a1b2",
            "created_at": "2024-05-01T12:30:00Z",
            "strategy": "rsi",
            "symbol": "BTC/USDT",
            "timeframe": "1h",
            "trades": 1234,
            "total_return_pct": 12.345,
            "max_drawdown_pct": 4.5,
            "sharpe": 1.234,
            "data_source": "sim",
        },
        {
            "run_id": "c3d4",
            "date": "2024-05-02",
            "strategy": "macd",
            "symbol": "ETH/USDT",
            "timeframe": "4h",
            "trades": 0,
            "return_pct": None,
            "max_dd_pct": None,
            "sharpe": None,
            "source": "cache: eth.parquet",
        },
    ]
    render_run_list(runs, console)
    text = console.export_text()
    for s in (
        "a1b2",
        "2024-05-01 12:30",
        "rsi",
        "1,234",
        "12.35%",
        "4.50%",
        "1.23",
        "synthetic",
        "c3d4",
        "macd",
        "cache: eth.parquet",
        "–",
    ):
        assert s in text, s
    empty = Console(record=True, width=140)
    render_run_list([], empty)
    assert "No stored runs" in empty.export_text()


def test_formatters():
    assert fmt_pct(12.345) == "12.35%" and fmt_pct(None) == "–"
    assert fmt_pct(float("nan")) == "–" and fmt_pct(1.5, sign=True) == "+1.50%"
    assert fmt_money(1234567.891) == "1,234,567.89" and fmt_money(-5, "USDT") == "-5.00 USDT"
    assert fmt_money(None) == "–"
    assert fmt_num(1234) == "1,234" and fmt_num(1.5) == "1.50" and fmt_num(None) == "–"
    assert fmt_duration(93784) == "1d 02:03:04" and fmt_duration(59) == "00:00:59"
    assert fmt_duration(None) == "–"
