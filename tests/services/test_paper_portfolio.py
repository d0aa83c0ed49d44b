"""Paper accounts over a pair list equal the portfolio backtest: replayed in random catch-up
chunks, and with runs killed (SIGKILL) at random instants while they hold the account."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.notify.conftest import http_receiver  # noqa: F401  (the fixture)
from tests.services.conftest import assert_daily_pnl
from tradebot.core.config import load_settings
from tradebot.core.pairs import PairList
from tradebot.exchanges.sim import sim_candles
from tradebot.services.context import Context
from tradebot.services.paper_portfolio import portfolio_account_report, run_paper_portfolio
from tradebot.services.portfolio_backtest import run_portfolio_backtest

T0 = 1_704_067_200_000  # 2024-01-01
H = 3_600_000
DAY = 24 * H
PAIRS = PairList(("BTC/USDT", "ETH/USDT", "SOL/USDT"), "test")
#: different ranges: SOL starts 5 days late, ETH ends 3 days early, BTC has a 12 hour hole
RANGES = {"BTC/USDT": (0, 40), "ETH/USDT": (0, 37), "SOL/USDT": (5, 40)}


def _candles(sym: str, lo: int, hi: int) -> Any:
    c = sim_candles(sym, "1h", since_ms=T0 + lo * DAY, until_ms=T0 + hi * DAY, seed=3)
    c = dataclasses.replace(c, exchange="binance", symbol=sym, timeframe="1h")
    if sym == "BTC/USDT":  # a real hole: 12 candles the source never had
        keep = np.ones(len(c), dtype=bool)
        keep[300:312] = False
        c = dataclasses.replace(c, **{k: getattr(c, k)[keep] for k in ("timestamp", "open", "high", "low",
                                                                        "close", "volume")})
    return c


def _settings(home: Path, **extra: Any) -> Any:
    ov = {"home": str(home), "market": {"exchange": "binance", "timeframe": "1h"},
          "strategy": {"name": "macd"}, "portfolio": {"max_open_positions": 2, "stake": "equal"}, **extra}
    return load_settings(env={}, overrides=ov)


def _cache(home: Path, stop_ms: int | None = None) -> None:
    ctx = Context(_settings(home))
    try:
        for sym, (lo, hi) in RANGES.items():
            c = _candles(sym, lo, hi)
            if stop_ms is not None:
                c = c.between(None, stop_ms)
            if len(c):
                ctx.cache.save(c)
    finally:
        ctx.close()


def _backtest(home: Path, until_ms: int) -> Any:
    ctx = Context(_settings(home, backtest={"since": "2024-01-01", "until": _iso(until_ms)}))
    try:
        return run_portfolio_backtest(ctx, PAIRS, save=False)
    finally:
        ctx.close()


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _closed(result: Any) -> list[tuple[Any, ...]]:
    """The backtest's closed trades as (pair, entry ms, exit ms, units, pnl), booking order."""
    ts = result.timestamp
    return [(result.symbols[int(m)], int(ts[t["entry_idx"]]), int(ts[t["exit_idx"]]), float(t["units"]),
             float(t["pnl"])) for t, m in zip(result.trades, result.trade_market, strict=True)
            if int(t["exit_reason"]) != 4]


def test_random_catch_up_chunks_equal_the_portfolio_backtest(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _cache(home)
    end = T0 + 40 * DAY
    bt = _backtest(home, end)
    assert len(_closed(bt.result)) >= 5
    assert bt.report["blocked_entries"], "the slots never ran short: the case is too easy"
    ctx = Context(_settings(home))
    rng = np.random.default_rng(5)
    now, first, runs = T0 + 3 * H, True, 0
    try:
        while True:
            r = run_paper_portfolio(ctx, "chunks", PAIRS if first else None, since_ms=T0 if first else None,
                                    now_ms=min(now, end), source="cache")
            first, runs = False, runs + 1
            assert r.processed >= 0
            if now >= end:
                break
            now += int(rng.choice([1, 1, 2, 7, 30, 97])) * H
        rep = portfolio_account_report(ctx, "chunks")
    finally:
        ctx.close()
    assert runs > 20 and rep is not None
    got = [(t["pair"], t["entry_ts_ms"], t["exit_ts_ms"], t["units"], t["pnl"]) for t in rep["trades"]]
    assert got == _closed(bt.result)  # exactly: same loop, same floats
    assert rep["equity"] == bt.result.final_equity
    # every bar's equity, and each market's units, equal the backtest's
    db = sqlite3.connect(home / "tradebot.db")
    rows = db.execute("SELECT ts_ms, equity, positions FROM portfolio_account_equity ORDER BY ts_ms").fetchall()
    db.close()
    assert [r[0] for r in rows] == bt.result.timestamp.tolist()
    assert np.array_equal(np.array([r[1] for r in rows]), bt.result.equity)
    import json

    units = np.array([[p[0] for p in json.loads(r[2])] for r in rows]).T
    assert np.array_equal(units, np.vstack([m.position for m in bt.result.per_market]))


def _lock_holders(lock: Path) -> set[int]:
    if not lock.exists():
        return set()
    st = lock.stat()
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" not in fields and len(fields) >= 6 and fields[5] == dev:
            pids.add(int(fields[4]))
    return pids


def _ledger(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    queries = {
        "accounts": "SELECT name, last_bar_ms, state, trades_count FROM portfolio_accounts",
        "trades": "SELECT seq, symbol, entry_ts_ms, exit_ts_ms, units, pnl, exit_reason "
                  "FROM portfolio_account_trades ORDER BY seq",
        "equity": "SELECT ts_ms, equity, cash, positions FROM portfolio_account_equity ORDER BY ts_ms",
    }
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        return {k: conn.execute(q).fetchall() for k, q in queries.items()}
    except sqlite3.Error:
        return {}
    finally:
        conn.close()


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_kill_9_at_random_instants_then_the_account_equals_the_backtest(tmp_path: Path) -> None:
    """The cache grows in stages; at each stage a run is SIGKILLed at a random instant while it
    holds the account's lock, then a run completes. After every kill the account is exactly
    as before that run or as after it (a reference account run without kills), never in
    between; in the end it equals the portfolio backtest."""
    import signal
    import subprocess
    import sys

    stages = [T0 + 20 * DAY, T0 + 40 * DAY]
    homes = {name: tmp_path / name for name in ("ref", "chaos")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    cmd = [sys.executable, "-m", "tradebot.cli.app", "paper", "--account", "k", "--since", _iso(T0),
           "--exchange", "binance", "--timeframe", "1h", "--source", "cache", "--strategy", "macd",
           "--symbols", ",".join(PAIRS.symbols), "--max-open-positions", "2"]

    def run(home: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, env={**env, "TRADEBOT_HOME": str(home)}, capture_output=True, text=True,
                              timeout=600)

    rng = np.random.default_rng(17)
    lock = homes["chaos"] / "locks" / "paper-k.lock"
    db = homes["chaos"] / "tradebot.db"
    before: dict[str, Any] = {}
    interrupted = 0
    for stage, stop in enumerate(stages):
        for home in homes.values():
            _cache(home, stop)
        ref = run(homes["ref"])
        assert ref.returncode == 0, ref.stderr
        after = _ledger(homes["ref"] / "tradebot.db")
        proc = subprocess.Popen(cmd, env={**env, "TRADEBOT_HOME": str(homes["chaos"])},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while proc.pid not in _lock_holders(lock):
            assert proc.poll() is None, f"stage {stage}: the run ended before it was seen at work"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        held = proc.pid in _lock_holders(lock)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = _ledger(db)
        as_before = got == before or (stage == 0 and not any(got.get(k) for k in ("accounts", "trades", "equity")))
        assert as_before or got == after, f"stage {stage}: a killed run left a partial account"
        interrupted += int(held and as_before)
        done = run(homes["chaos"])
        assert done.returncode == 0, done.stderr
        assert _ledger(db) == after, f"stage {stage}"
        before = after
    assert interrupted >= 1, "no kill landed while a run was at work"
    final = _ledger(db)
    bt = _backtest(homes["chaos"], stages[-1])
    assert [(t[1], t[2], t[3], t[4], t[5]) for t in final["trades"]] == _closed(bt.result)
    assert [e[1] for e in final["equity"]] == bt.result.equity.tolist()


def test_closed_trades_and_daily_summaries_reach_a_local_webhook(tmp_path: Path, http_receiver: Any) -> None:  # noqa: F811
    """As a one-market account does: one message per closed trade naming its pair, one per
    finished day for the whole account, told by the run that passes it however the runs are
    cut (cron runs of one candle included); a repeated run sends nothing again."""
    import json

    home = tmp_path / "home"
    _cache(home)
    end = T0 + 10 * DAY
    hook = {"hook": {"url": http_receiver.url(), "events": ["trade_closed", "daily_summary"]}}
    ctx = Context(_settings(home, notify={"channels": hook}))
    try:
        run_paper_portfolio(ctx, "told", PAIRS, since_ms=T0, now_ms=T0 + 4 * DAY, source="cache")
        for hour in range(1, 30):  # one candle a run, across the end of day 5
            run_paper_portfolio(ctx, "told", None, now_ms=T0 + 4 * DAY + hour * H, source="cache")
        run_paper_portfolio(ctx, "told", None, now_ms=end, source="cache")
        sent = len(http_receiver.requests)
        run_paper_portfolio(ctx, "told", None, now_ms=end, source="cache")
        rep = portfolio_account_report(ctx, "told")
    finally:
        ctx.close()
    assert rep is not None and len(http_receiver.requests) == sent  # nothing new: nothing sent
    texts = [json.dumps(r.json()) for r in http_receiver.requests]
    trades = [t for t in texts if "closed" in t.lower() and "daily" not in t.lower()]
    days = [t for t in texts if t not in trades]
    assert len(trades) == len(rep["trades"]) >= 3
    for row in rep["trades"]:
        assert sum(row["pair"] in t for t in trades) >= 1
    assert [t.split('] ')[1][:10] for t in days] == [f"2024-01-0{d}" for d in range(1, 10)]  # once each
    # each day's P&L is its last close's equity less the day before's (the capital before the first)
    assert_daily_pnl(days, home / "tradebot.db", "portfolio_account_equity", T0, 10_000.0)
