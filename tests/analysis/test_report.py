"""The JSON report model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tradebot.analysis.metrics import compute_metrics
from tradebot.analysis.report import (
    HEADER_KEYS,
    build_report,
    is_synthetic_source,
    json_safe,
    report_to_json,
)
from tradebot.engine.result import (
    EXIT_OPEN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    TRADE_DTYPE,
    BacktestResult,
)

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def _result() -> BacktestResult:
    n = 72
    ts = T0 + np.arange(n, dtype=np.int64) * HOUR
    equity = 1000 + np.concatenate(
        [np.linspace(0, 30, 24), np.linspace(30, -10, 24), np.linspace(-10, 20, 24)]
    )
    trades = np.zeros(3, dtype=TRADE_DTYPE)
    trades["entry_idx"] = [1, 20, 60]
    trades["exit_idx"] = [10, 40, 71]
    trades["direction"] = [1, -1, 1]
    trades["units"] = 0.01
    trades["entry_price"] = [100.0, 110.0, 90.0]
    trades["exit_price"] = [110.0, 120.0, 95.0]
    trades["entry_fee"] = 0.1
    trades["exit_fee"] = [0.1, 0.1, 0.0]
    trades["pnl"] = [20.0, -12.0, 5.0]
    trades["return_pct"] = [2.0, -1.2, 0.5]
    trades["exit_reason"] = [EXIT_SIGNAL, EXIT_STOP_LOSS, EXIT_OPEN]
    return BacktestResult(ts, np.linspace(100, 95, n), equity, trades, 1000.0)


HEADER = {
    "strategy": "rsi",
    "version": "1",
    "params": {"period": 14, "oversold": 30.0},
    "exchange": "sim",
    "symbol": "BTC/USDT",
    "data_source": "sim: built-in synthetic market",
    "run_id": "r-1",
    "seed": 42,
    "fees": 0.001,
    "slippage": 0.0005,
    "extra_note": "kept",
}


@pytest.fixture(scope="module")
def report():
    res = _result()
    m = compute_metrics(res, "1h", daily_target=10.0)
    return build_report(m, HEADER, res.trades, res.timestamp)


def test_report_sections(report):
    assert list(report) == [
        "report_version",
        "header",
        "summary",
        "per_pair",
        "monthly",
        "daily_summary",
        "exit_reasons",
        "trades",
    ]
    hdr = report["header"]
    assert list(hdr)[: len(HEADER_KEYS)] == list(HEADER_KEYS)
    assert hdr["timeframe"] == "1h" and hdr["rows"] == 72 and hdr["gaps"] is None
    assert hdr["data_range"] == {"start": "2024-01-01T00:00:00Z", "end": "2024-01-03T23:00:00Z"}
    assert hdr["extra_note"] == "kept" and hdr["params"]["period"] == 14
    s = report["summary"]
    assert "monthly" not in s and "daily" not in s and s["trades"] == 3
    assert s["sharpe"] is None or isinstance(s["sharpe"], float)
    assert "daily" not in report
    assert report["daily_summary"]["days"] == 3
    assert report["daily_summary"]["target"] == 10.0
    assert isinstance(report["daily_summary"]["best_day"], str)
    assert report["monthly"] == [{"year": 2024, "month": 1, "return_pct": pytest.approx(2.0)}]


def test_per_pair_row(report):
    (row,) = report["per_pair"]
    assert row["pair"] == "BTC/USDT" and row["trades"] == 3
    assert row["avg_profit_pct"] == pytest.approx(1.3 / 3)
    assert row["total_profit"] == pytest.approx(13.0)
    assert row["total_profit_pct"] == pytest.approx(1.3)
    assert (row["wins"], row["draws"], row["losses"]) == (2, 0, 1)
    assert row["avg_duration_s"] == pytest.approx((9 + 20 + 11) / 3 * 3600)


def test_trades_list(report):
    t0, t1, t2 = report["trades"]
    assert t0["entry_time"] == "2024-01-01T01:00:00Z" and t0["exit_time"] == "2024-01-01T10:00:00Z"
    assert t0["exit_reason"] == "exit_signal" and t0["direction"] == "long"
    assert t1["exit_reason"] == "stop_loss" and t1["direction"] == "short"
    assert t2["exit_reason"] == "still_open" and t2["duration_s"] == 11 * 3600
    names = {r["reason"] for r in report["exit_reasons"]}
    assert names == {"exit_signal", "stop_loss", "still_open"}


def test_optional_parts():
    res = _result()
    m = compute_metrics(res, "1h")
    r = build_report(m, {}, None, None, include_daily=True)
    assert r["trades"] is None and len(r["daily"]) == 3
    assert r["per_pair"][0]["pair"] == "?"
    assert r["header"]["strategy"] is None
    no_ts = build_report(m, {}, res.trades, None)
    assert no_ts["trades"][0]["entry_time"] is None


def test_report_to_json_stable_and_nan_free(report):
    text = report_to_json(report)
    assert text == report_to_json(json.loads(text))  # stable through a storage round trip
    assert "NaN" not in text and "Infinity" not in text
    parsed = json.loads(text)
    assert list(parsed) == sorted(parsed)
    assert json.loads(report_to_json(report, indent=2)) == parsed
    # non-finite values anywhere become null, never NaN
    bad = dict(report, header=dict(report["header"], fees=float("nan"), seed=np.int64(3)))
    out = json.loads(report_to_json(bad))
    assert out["header"]["fees"] is None and out["header"]["seed"] == 3


def test_json_safe_converts_numpy_and_specials():
    from datetime import UTC, date, datetime

    v = json_safe(
        {
            "a": np.float64("inf"),
            "b": np.arange(3),
            "c": (1, 2.5),
            "d": date(2024, 1, 2),
            "e": datetime(2024, 1, 2, 3, tzinfo=UTC),
            "f": np.bool_(True),
            "g": -math.inf,
        }
    )
    assert v == {
        "a": None,
        "b": [0, 1, 2],
        "c": [1, 2.5],
        "d": "2024-01-02",
        "e": "2024-01-02T03:00:00Z",
        "f": True,
        "g": None,
    }


def test_is_synthetic_source():
    assert is_synthetic_source("sim")
    assert is_synthetic_source("sim: built-in synthetic market")
    assert not is_synthetic_source("cache: /data/binance/BTC_USDT-1h.parquet")
    assert not is_synthetic_source("simple.csv")
    assert not is_synthetic_source(None)
