"""Paper trading: parity with the backtest, idempotent re-runs, the lock, atomic runs (the
ledger included)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tradebot.core.config import load_settings
from tradebot.data.csv_io import read_candles_csv
from tradebot.engine.backtest import run_strategy
from tradebot.engine.result import EXIT_OPEN
from tradebot.services.backtest import engine_config
from tradebot.services.context import Context
from tradebot.services.data import import_csv
from tradebot.services.paper import AccountBusy, account_lock, account_report, run_paper

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BTC_5M = SHARED / "freqtrade-testdata_BTC_USDT-5m.csv.gz"
TF = 300_000


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real candles not found: {path} (expected ../shared/data beside the repo)")
    return path


def make_ctx(home: Path, **overrides: object) -> Context:
    base = {"home": str(home), "market": {"exchange": "binance", "symbol": "BTC/USDT",
                                          "timeframe": "5m"}}
    base.update(overrides)  # type: ignore[arg-type]
    return Context(load_settings(overrides=base, env={}))


@pytest.mark.parametrize("strategy, params, stops", [
    ("rsi", {}, {}),
    ("macd", {}, {"stop_loss_pct": 1.0, "take_profit_pct": 2.0}),
    ("bollinger", {"mode": "breakout"}, {"trailing_stop_pct": 1.5}),
])
def test_replay_candle_by_candle_equals_the_backtest(tmp_path, strategy, params, stops) -> None:  # type: ignore[no-untyped-def]
    src = need(BTC_5M)
    ctx = make_ctx(tmp_path / "home", strategy={"name": strategy, "params": params},
                   stops=stops, slippage={"bps": 2.0}, execution={"latency_bars": 1})
    import_csv(ctx, src, "binance", "BTC/USDT", "5m")
    candles = read_candles_csv(src).slice(0, 1500)
    since = int(candles.timestamp[0])
    rng = np.random.default_rng(1)
    i = 0
    while i < len(candles):  # runs that catch up 1 to 40 candles at a time
        i = min(len(candles), i + int(rng.integers(1, 40)))
        now = int(candles.timestamp[i - 1]) + TF  # candle i-1 has just closed
        run_paper(ctx, "replay", since_ms=since if i <= 40 else None, now_ms=now)
    rep = account_report(ctx, "replay")
    bt = run_strategy(candles, ctx.registry.create(strategy, params), engine_config(ctx.settings))
    closed = bt.trades[bt.trades["exit_reason"] != EXIT_OPEN]
    assert len(rep["trades"]) == len(closed) > 0
    for got, want in zip(rep["trades"], closed, strict=True):
        assert got["entry_ts_ms"] == candles.timestamp[want["entry_idx"]]
        assert got["exit_ts_ms"] == candles.timestamp[want["exit_idx"]]
        for key in ("units", "entry_price", "exit_price", "entry_fee", "exit_fee", "pnl"):
            assert got[key] == want[key], key
    assert rep["equity"] == bt.equity[-1]
    ctx.close()


def test_rerun_for_the_same_candle_changes_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = make_ctx(tmp_path / "home")
    import_csv(ctx, need(BTC_5M), "binance", "BTC/USDT", "5m")
    candles = read_candles_csv(BTC_5M)
    now = int(candles.timestamp[800]) + TF
    first = run_paper(ctx, "a", since_ms=int(candles.timestamp[0]), now_ms=now)
    assert first.processed == 801
    again = run_paper(ctx, "a", now_ms=now)
    assert again.processed == 0 and again.equity == first.equity
    later = run_paper(ctx, "a", now_ms=now + 3 * TF)
    assert later.processed == 3 and later.first_ms == candles.timestamp[801]
    ctx.close()


def test_second_run_is_refused_while_the_first_holds_the_lock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    with account_lock(home, "a", wait=False):
        with pytest.raises(AccountBusy):
            with account_lock(home, "a", wait=False):
                pass
        with account_lock(home, "other", wait=False):  # other accounts are free
            pass
    with account_lock(home, "a", wait=False):  # released
        pass


def test_sim_market_from_cron_without_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = make_ctx(tmp_path / "home", market={"exchange": "sim", "symbol": "BTC/USDT",
                                              "timeframe": "1h"})
    now = 1_767_225_600_000  # 2026-01-01
    res = run_paper(ctx, "sim", now_ms=now)
    assert res.source == "sim" and res.processed == 1 and res.last_ms == now - 3_600_000
    res2 = run_paper(ctx, "sim", now_ms=now + 5 * 3_600_000)
    assert res2.processed == 5  # caught up after downtime, in order
    assert os.path.exists(tmp_path / "home" / "locks" / "paper-sim.lock")
    ctx.close()


def test_an_uncached_market_is_refused_not_simulated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tradebot.services.market import MarketNotCachedError

    ctx = make_ctx(tmp_path / "home", market={"exchange": "binance", "symbol": "BTC/USDT",
                                              "timeframe": "1h"})
    with pytest.raises(MarketNotCachedError, match="no cached candles for binance BTC/USDT 1h"):
        run_paper(ctx, "sim", now_ms=1_767_225_600_000)
    assert not (tmp_path / "home").exists()  # nothing written: no lock, no database, no account
    ctx.close()
