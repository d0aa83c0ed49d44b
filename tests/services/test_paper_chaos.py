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


# --------------------------------------------------------------------------- kill -9 mid-run


def _lock_holders(lock: Path) -> set[int]:
    """Pids holding (not waiting for) a lock on ``lock``, from /proc/locks."""
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


def _snapshot_or_empty(db: Path) -> dict[str, list[tuple[object, ...]]]:
    import sqlite3

    try:
        return ledger_snapshot(db)
    except sqlite3.Error:  # no database or no tables yet
        return {}


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_kill_9_mid_run_leaves_the_account_as_before_and_the_next_run_completes_it(tmp_path: Path) -> None:
    """The cache grows in stages; at each stage a run is killed with SIGKILL while it holds the
    account's lock (seen in /proc/locks: it is past its checks, loading, computing or writing),
    then a run completes. After every kill the ledger is exactly the one before that run or the
    one after it (a reference account run without kills, stage by stage), never in between;
    most kills land before the commit (the account had not advanced: the kill interrupted real
    work); after every completed run the account has advanced to the stage's last candle."""
    import dataclasses
    import signal
    import subprocess
    import sys

    from tradebot.core.config import load_settings
    from tradebot.services.context import Context

    from .test_paper import BTC_5M

    src = dataclasses.replace(read_candles_csv(need(BTC_5M)), exchange="binance", symbol="BTC/USDT",
                              timeframe="5m")
    stages = [3000, 5000, 7000, 9000, len(src)]
    since = iso(int(src.timestamp[0]))
    homes = {name: tmp_path / name for name in ("ref", "chaos")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    env.update({"TRADEBOT_RISK__MAX_TRADES_PER_DAY": "2", "TRADEBOT_RISK__MAX_DRAWDOWN_PCT": "2",
                "TRADEBOT_RISK__BREAKER_COOLDOWN_BARS": "100", "TRADEBOT_RISK__COOLDOWN_AFTER_LOSSES": "2",
                "TRADEBOT_RISK__COOLDOWN_BARS": "24"})
    cmd = [sys.executable, "-m", "tradebot.cli.app", "paper", "--account", "k", "--since", since,
           "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "5m", "--source", "cache",
           "--strategy", "macd"]

    def grow(home: Path, n: int) -> None:
        ctx = Context(load_settings(overrides={"home": str(home)}, env={}))
        try:
            ctx.cache.save(src.slice(0, n))
        finally:
            ctx.close()

    def run(home: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, env={**env, "TRADEBOT_HOME": str(home)}, capture_output=True, text=True,
                              timeout=900)

    rng = np.random.default_rng(11)
    lock = homes["chaos"] / "locks" / "paper-k.lock"
    db = homes["chaos"] / "tradebot.db"
    before = {}  # the ledger before this stage's run: nothing at all for the first
    interrupted = 0
    for stage, n in enumerate(stages):
        for home in homes.values():
            grow(home, n)
        ref = run(homes["ref"])
        assert ref.returncode == 0, ref.stderr
        after = ledger_snapshot(homes["ref"] / "tradebot.db")
        assert after["paper_accounts"][0][1] == int(src.timestamp[n - 1])

        proc = subprocess.Popen(cmd, env={**env, "TRADEBOT_HOME": str(homes["chaos"])},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 600
        while proc.pid not in _lock_holders(lock):
            assert proc.poll() is None, f"stage {stage}: the run ended before it was seen at work: {proc.stderr}"
            assert time.monotonic() < deadline, f"stage {stage}: the run never took the account's lock"
            time.sleep(0.002)
        time.sleep(float(rng.uniform(0.0, 0.15)))
        held = proc.pid in _lock_holders(lock)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = _snapshot_or_empty(db)
        if stage == 0:  # before the first run: no account, or the new account not yet advanced
            as_before = all(not rows for t, rows in got.items() if t != "paper_accounts") and all(
                r[0] == "k" and r[1] < int(src.timestamp[0]) and r[3] == 0 for r in got.get("paper_accounts", []))
        else:
            as_before = got == before
        assert as_before or got == after, f"stage {stage}: a killed run left a partial ledger"
        if held and as_before:
            interrupted += 1

        done = run(homes["chaos"])
        assert done.returncode == 0, done.stderr
        assert ledger_snapshot(db) == after, f"stage {stage}"
        before = after
    # the kills did land mid-run: the account had not advanced when most of them struck
    assert interrupted >= 3, f"only {interrupted} of {len(stages)} kills interrupted a run"
    final = ledger_snapshot(db)
    assert len(final["paper_fills"]) > 0 and {r[3] for r in final["paper_risk_events"]} >= {"entry_blocked"}
    again = run(homes["chaos"])
    assert again.returncode == 0 and "up to date" in again.stdout
