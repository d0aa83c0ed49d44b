"""Parity: a live account stepping over a replayed history decides what the backtest of the
same candles decides — the same entries and exits, on the same bars and markets, with the
same sizes up to the market's lot step — for one market (the one-market backtest) and for
two (the portfolio backtest, one wallet).

The live account (real orders on the replay exchange, no faults) is run once per bar
(the exchange's clock at the bar's close), through the CLI in this process; then
``tradebot backtest`` runs over the candles the live runs fetched into the cache, from the
account's history start. The history rises one tick a bar before the account's first bar
(RSI 100: no entry of the mean-reversion strategy in the warm-up, where the live account
did not trade yet), then walks at random. On this data each bar opens at the previous
close, so the exchange's market fills (at the next open) are the backtest's fill prices;
the step's report lists each order's engine price and fill price, and the ledger each
fill's fee in its currency.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.data.validation import format_ts
from tradebot.testing.live_harness import LiveHarness, ledger_snapshot, walk

FIRST, LAST, BARS = 60, 79, 90
TF = 60_000
STEP = 1e-5  # the lot step of the replayed markets (volumes on 1e-5)
STRATEGY = ["--strategy", "rsi", "-p", "period=2", "-p", "lower=45", "-p", "upper=55"]


def history(symbol: str, seed: int, price: float) -> Candles:
    """A random walk from bar FIRST on; before it a one-tick-a-bar rise ending at bar
    FIRST's open."""
    c = walk(symbol, BARS, seed=seed, price=price)
    o, hi, lo, cl = c.open.copy(), c.high.copy(), c.low.copy(), c.close.copy()
    cl[:FIRST] = np.round(o[FIRST] - 0.01 * np.arange(FIRST - 1, -1, -1), 2)
    o[:FIRST] = np.round(np.concatenate([[cl[0] - 0.01], cl[:FIRST - 1]]), 2)
    hi[:FIRST] = np.round(cl[:FIRST] + 0.01, 2)
    lo[:FIRST] = np.round(o[:FIRST] - 0.01, 2)
    return dataclasses.replace(c, open=o, high=hi, low=lo, close=cl)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from tradebot.cli.app import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    assert code == 0, f"tradebot {' '.join(args)}: exit {code}\n{out.out}\n{out.err}"
    return code, out.out


def run_live_and_backtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                          symbols: list[str]) -> dict[str, Any]:
    hist = [history(s, 21 + i, 30_000.0 / (1 + 14 * i)) for i, s in enumerate(symbols)]
    market = ["--symbol", symbols[0]] if len(symbols) == 1 else ["--symbols", ",".join(symbols)]
    home = tmp_path / "home"
    home.mkdir()
    outputs = []
    with LiveHarness(hist) as h:
        for key, value in h.env(home).items():
            if key.startswith("TRADEBOT_"):
                monkeypatch.setenv(key, value)
        for bar in range(FIRST, LAST + 1):
            h.close_bar(bar)
            outputs.append(cli(capsys, "live", "--account", "parity", "--exchange", "binance", *market, "-t", "1m",
                               *STRATEGY, "--yes-i-understand-real-money")[1])
        assert h.duplicates() == {}
    snap = ledger_snapshot(home / "tradebot.db")
    history_start = snap["accounts"][0][7]
    _, out = cli(capsys, "backtest", "--exchange", "binance", *market, "-t", "1m", *STRATEGY,
                 "--since", format_ts(history_start), "--json", "--trades", "--no-save")
    return {"snap": snap, "report": json.loads(out), "outputs": outputs, "history_start": history_start}


def backtest_decisions(report: dict[str, Any], symbol: str) -> list[tuple[str, int, str, float, float]]:
    """(symbol, decision bar, side, units, fill price) of the backtest's trades: decided at
    the close before the bar they fill at (latency 1 bar); the open trade's end is not a
    decision."""
    from tradebot.core.config import parse_date_ms

    assert report["header"]["execution"]["latency_bars"] == 1
    out = []
    for t in report["trades"]:
        sym = t.get("pair", symbol)
        out.append((sym, parse_date_ms(t["entry_time"]) - TF, "buy", t["units"], t["entry_price"]))
        if t["exit_reason"] != "still_open":
            out.append((sym, parse_date_ms(t["exit_time"]) - TF, "sell", t["units"], t["exit_price"]))
    return sorted(out)


def check_parity(run: dict[str, Any], symbols: list[str], first_ms: int) -> None:
    snap, report = run["snap"], run["report"]
    last_ms = first_ms + (LAST - FIRST) * TF
    # live_orders: account, cid, symbol, bar_ms, intent, side, type, amount, price, state, filled, average, ...
    live = sorted((o[2], o[3], o[5], o[7], o[11]) for o in snap["orders"])
    assert live and all(o[9] == "filled" for o in snap["orders"]), snap["orders"]
    expected = [d for d in backtest_decisions(report, symbols[0]) if d[1] < last_ms]
    live = [d for d in live if d[1] < last_ms]  # the last bar's decision fills after the backtest's data
    assert all(d[1] >= first_ms for d in expected), "the backtest traded in the warm-up: the test's data is wrong"
    assert [d[:3] for d in live] == [d[:3] for d in expected]
    assert {d[0] for d in expected} == set(symbols) and {d[2] for d in expected} == {"buy", "sell"}
    for (sym, bar, side, amount, fill), (_, _, _, units, bt_price) in zip(live, expected, strict=True):
        # the same size before the market's rounding: the live amount is the backtest's, down to the lot step
        assert 0.0 <= units - amount < STEP * (1 + 1e-9), (sym, bar, side, amount, units)
        assert fill == pytest.approx(bt_price, rel=1e-12), (sym, bar, side)  # next open = the exchange's fill
    # the report of each step lists the engine's price and the exchange's fill price of its orders
    for out, bar in zip(run["outputs"], range(FIRST, LAST + 1), strict=True):
        bar_ms = first_ms + (bar - FIRST) * TF
        mine = [o for o in snap["orders"] if o[3] == bar_ms]
        assert ("LIVE" in out) and ((not mine) or "engine price" in out and "fill price" in out), out
        for o in mine:
            assert f"{o[11]:,.2f}" in out, (out, o)  # the fill price
    # the ledger has each fill with its fee in the currency the exchange charged
    fills = snap["fills"]  # name, trade_id, cid, symbol, side, price, amount, fee, fee currency, ts
    assert len(fills) == len(snap["orders"])
    for f in fills:
        assert f[8] == "USDT" and f[7] == pytest.approx(0.001 * f[5] * f[6], abs=1e-8)


def test_one_market_decides_as_the_one_market_backtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = run_live_and_backtest(tmp_path, monkeypatch, capsys, ["BTC/USDT"])
    assert "pair" not in (run["report"]["trades"] or [{}])[0]  # the one-market backtest
    first_ms = int(walk("BTC/USDT", 1).timestamp[0]) + FIRST * TF
    check_parity(run, ["BTC/USDT"], first_ms)


def test_two_markets_decide_as_the_portfolio_backtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run = run_live_and_backtest(tmp_path, monkeypatch, capsys, ["BTC/USDT", "ETH/USDT"])
    assert all("pair" in t for t in run["report"]["trades"])  # the portfolio backtest
    first_ms = int(walk("BTC/USDT", 1).timestamp[0]) + FIRST * TF
    check_parity(run, ["BTC/USDT", "ETH/USDT"], first_ms)
