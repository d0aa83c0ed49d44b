"""Chaos through the CLI: ``tradebot paper --source exchange`` against the replay exchange
serving a history with holes. The run says how many candles are missing and the account
never trades or marks at a candle the exchange did not serve."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from tradebot.cli.app import main
from tradebot.data.csv_io import read_candles_csv
from tradebot.testing.replay_exchange import ReplayExchange, ReplayMarket

from .conftest import ledger_snapshot
from .test_paper import SHARED, need

UNITTEST = SHARED / "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz"  # 13,681 rows, 717 missing
MIN = 60_000


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("TRADEBOT_"):
            monkeypatch.delenv(key)
    h = tmp_path / "home"
    monkeypatch.setenv("TRADEBOT_HOME", str(h))
    monkeypatch.setenv("COLUMNS", "200")
    return h


def test_missing_candles_from_the_exchange_are_reported_never_traded(
        home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    src = read_candles_csv(need(UNITTEST))
    served = set(src.timestamp.tolist())
    first, last = int(src.timestamp[0]), int(src.timestamp[-1])
    holes = (last - first) // MIN + 1 - len(src)
    assert holes == 717
    with ReplayExchange(ReplayMarket("UNITTEST/BTC", UNITTEST, "1m"), now_ms=last + MIN) as server:
        monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__BASE_URL", server.url)
        monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__RATE_LIMIT", "false")
        code, out, err = cli(capsys, "paper", "--account", "gappy", "--source", "exchange",
                             "--since", iso(first), "--exchange", "binance", "--symbol", "UNITTEST/BTC",
                             "--timeframe", "1m", "--strategy", "rsi")
        assert code == 0, err
        assert f"gappy: {len(src)} candle(s) via exchange" in out
        assert f"{holes} missing candles (not invented)" in out, out
        code, out2, err = cli(capsys, "paper", "--account", "gappy", "--source", "exchange")
        assert code == 0, err
        assert "up to date" in out2
    snap = ledger_snapshot(home / "tradebot.db")
    equity_ts = [row[1] for row in snap["paper_equity"]]
    assert equity_ts == src.timestamp.tolist()  # one mark per served candle, none invented
    fills = snap["paper_fills"]
    assert len(fills) > 10
    assert {row[3] for row in fills} <= served
    orders = snap["paper_orders"]
    assert {ms for row in orders for ms in (row[2], row[3], row[4])} <= served
    trades = snap["paper_trades"]
    assert {ms for row in trades for ms in (row[2], row[3])} <= served
    assert {row[2] for row in snap["paper_risk_events"]} <= served
    # some trades did span a hole: it was skipped over, not filled in
    ts = src.timestamp
    spans_gap = [(a, b) for _, _, a, b, *_ in trades
                 if np.any(np.diff(ts[(ts >= a) & (ts <= b)]) > MIN)]
    assert spans_gap
    code, out, err = cli(capsys, "report", "--account", "gappy", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["last_bar_ms"] == last and {f["ts_ms"] for f in rep["fills"]} <= served
