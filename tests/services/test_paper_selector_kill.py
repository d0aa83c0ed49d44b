"""The performance feedback loop under SIGKILL: ``tradebot paper-select`` runs (child processes)
killed at random instants while they hold the account's lock, then restarted, end with the same
agent state (sha256 of its JSON), windows and ledger as runs never killed — stage by stage, and
as one uninterrupted run over the whole history."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.services.conftest import ledger_snapshot
from tradebot.core.config import load_settings
from tradebot.services.context import Context

HOUR = 3_600_000
DAY = 24 * HOUR
SINCE = 1_704_067_200_000  # 2024-01-01
MARKET = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}
STAGES = 10
KILLS = 10


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


def _ctx(home: Path) -> Context:
    return Context(load_settings(overrides={"home": str(home), "market": dict(MARKET)}, env={}))


def _snapshot(db: Path) -> dict[str, Any]:
    """The ledger, the windows and every agent state (version, sha256, JSON) of the store."""
    try:
        snap: dict[str, Any] = dict(ledger_snapshot(db))
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            snap["windows"] = conn.execute(
                "SELECT window, arm, context, start_equity, candidates, chosen_version, reward, shadow, "
                "updated_version FROM selector_paper_windows ORDER BY window").fetchall()
            snap["states"] = conn.execute("SELECT version, sha256, state FROM agent_states ORDER BY version").fetchall()
        finally:
            conn.close()
        return snap
    except sqlite3.Error:
        return {}


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_killed_runs_restarted_end_like_runs_never_killed(tmp_path: Path) -> None:
    from tradebot.exchanges.sim import sim_candles
    from tradebot.ml.regime.settings import RegimeSettings
    from tradebot.services.agents import create_agent
    from tradebot.services.paper_selector import run_selector_paper

    first = SINCE - (RegimeSettings().warmup_bars + 1) * HOUR
    src = dataclasses.replace(sim_candles("BTC/USDT", "1h", since_ms=first, until_ms=SINCE + 40 * DAY, seed=5),
                              exchange="binance", symbol="BTC/USDT", timeframe="1h")
    ends = [int(np.searchsorted(src.timestamp, SINCE + k * 3 * DAY + (k % 5) * 5 * HOUR)) for k in
            range(1, STAGES + 1)]
    homes = {name: tmp_path / name for name in ("ref", "chaos", "whole")}
    for home in homes.values():
        ctx = _ctx(home)
        try:
            create_agent(ctx, "ag", "linucb", ["flat", "rsi", "macd", "bollinger"], ["adx", "vol_pct", "er"],
                         seed=3, params={"alpha": 0.5})
        finally:
            ctx.close()

    def grow(home: Path, n: int) -> None:
        ctx = _ctx(home)
        try:
            ctx.cache.save(src.slice(0, n))
        finally:
            ctx.close()

    def run_here(home: Path) -> Any:
        ctx = _ctx(home)
        try:
            return run_selector_paper(ctx, "k", agent="ag", window="1d", source="cache", since_ms=SINCE)
        finally:
            ctx.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    env["TRADEBOT_HOME"] = str(homes["chaos"])
    cmd = [sys.executable, "-m", "tradebot.cli.app", "paper-select", "--account", "k", "--agent", "ag",
           "--window", "1d", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h",
           "--source", "cache", "--since", "2024-01-01"]
    lock = homes["chaos"] / "locks" / "paper-k.lock"
    db = homes["chaos"] / "tradebot.db"
    rng = np.random.default_rng(14)
    landed = mid_run = 0
    # the kill's delay after the run took the lock: halved after a kill that came too late (the
    # run had ended, or had committed): a run's work is a few tenths of a second, its exit included
    upper = 0.5
    before = _snapshot(db)
    for stage, n in enumerate(ends):
        for name in ("ref", "chaos"):
            grow(homes[name], n)
        ref = run_here(homes["ref"])
        assert ref.processed > 0 and ref.windows_closed >= 2
        after = _snapshot(homes["ref"] / "tradebot.db")
        attempts = 0
        while True:  # kill until one kill lands while the run holds the account
            attempts += 1
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 120
            while proc.pid not in _lock_holders(lock):
                assert proc.poll() is None, f"stage {stage}: ended before it was seen at work: {proc.stderr}"
                assert time.monotonic() < deadline, f"stage {stage}: the run never took the account's lock"
                time.sleep(0.002)
            time.sleep(float(rng.uniform(0.0, upper)))
            held = proc.pid in _lock_holders(lock)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            got = _snapshot(db)
            assert got in (before, after), f"stage {stage}: a killed run left a partial state"
            if held:
                landed += 1
                mid_run += got == before
                if got != before:
                    upper = max(upper / 2, 0.01)
                break
            upper = max(upper / 2, 0.01)
            assert attempts < 8, f"stage {stage}: no kill landed while the run held the account"
        if got == before:  # restarted: the next run completes it
            done = run_here(homes["chaos"])
            assert done.processed == ref.processed and done.windows_closed == ref.windows_closed
        assert _snapshot(db) == after, f"stage {stage}"
        before = after
    assert landed >= KILLS and mid_run >= KILLS // 3, (landed, mid_run)
    final = _snapshot(db)
    assert len(final["windows"]) > 25 and len(final["paper_fills"]) > 0
    # one uninterrupted run over the whole history: the same agent state, windows and ledger
    grow(homes["whole"], ends[-1])
    whole = run_here(homes["whole"])
    assert whole.processed == sum(1 for t in src.timestamp[:ends[-1]] if t >= SINCE)
    other = _snapshot(homes["whole"] / "tradebot.db")
    assert other["states"][-1][1] == final["states"][-1][1]  # sha256 of the agent's last state
    assert other == final  # every state version, window and ledger row
