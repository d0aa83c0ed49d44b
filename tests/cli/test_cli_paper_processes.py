"""``tradebot paper`` as cron and a shell run it: real processes, real locks, the real clock.

* ``--loop`` keeps running and wakes at each candle close (1-minute candles of the ``sim``
  market, so the second wake-up comes within a minute);
* a second run started while one is going says so and exits 0, the account untouched;
* ``--wait`` waits for the running one (seen blocked on the account's lock in
  ``/proc/locks``) and runs after it.

A run is held in the middle of its work by a user strategy (``--strategy-path``) that
waits for a gate file while computing its indicators, inside the account lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .conftest import TERMINAL_COLUMNS, tradebot_script

MARKET = ("--exchange", "sim", "--symbol", "BTC/USDT", "--timeframe", "1m", "--source", "sim")
COMPILE_S = 600  # a cold numba cache compiles the kernels in the first process (minutes on a busy machine)

GATE_STRATEGY = '''
import os
import time
from pathlib import Path

import numpy as np

from tradebot.core.signals import Signals
from tradebot.strategies.base import Strategy


class Gate(Strategy):
    """Never trades; while computing its indicators it waits for $GATE_DIR/open."""

    name = "gate"
    description = "test strategy: holds the run at a gate"
    params = {}

    def compute_indicators(self, candles):
        gate = os.environ.get("GATE_DIR")
        if gate:
            d = Path(gate)
            with open(d / "entered", "a") as f:
                f.write(f"{os.getpid()} {time.time()}\\n")
            deadline = time.monotonic() + 600
            while not (d / "open").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return {}

    def signals_from(self, candles, ind):
        n = len(candles)
        return Signals(np.zeros(n, dtype=bool), np.zeros(n, dtype=bool))
'''

pytestmark = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
    env.update({"TRADEBOT_HOME": str(home), "COLUMNS": TERMINAL_COLUMNS, "NO_COLOR": "1",
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def _wait_for(cond, timeout: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended (exit {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _entered(gate: Path) -> list[tuple[int, float]]:
    f = gate / "entered"
    if not f.exists():
        return []
    return [(int(a), float(b)) for a, b in (line.split() for line in f.read_text().splitlines() if line.strip())]


def _blocked_on_a_lock(pid: int) -> bool:
    """True when ``pid`` waits for a lock someone else holds (a ``->`` line of /proc/locks)."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields:
            rest = fields[fields.index("->") + 1:]
            if len(rest) >= 4 and rest[3] == str(pid):
                return True
    return False


@pytest.fixture
def gate(tmp_path: Path) -> tuple[Path, Path]:
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "gate.py").write_text(GATE_STRATEGY)
    g = tmp_path / "gate"
    g.mkdir()
    return strategies, g


def _paper(*extra: str, strategies: Path) -> list[str]:
    return [*tradebot_script(), "paper", "--account", "g", "--strategy", "gate", "--strategy-path",
            str(strategies), *MARKET, *extra]


def _report(home: Path, account: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run([*tradebot_script(), "report", "--account", account, "--json"], env=_env(home),
                         capture_output=True, text=True, timeout=COMPILE_S)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_a_second_run_says_so_and_exits_0_and_wait_runs_after_the_first(home: Path, gate: tuple[Path, Path]) -> None:
    strategies, g = gate
    env = _env(home, GATE_DIR=str(g))
    first = subprocess.Popen(_paper(strategies=strategies), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    waiter: subprocess.Popen[str] | None = None
    try:
        _wait_for(lambda: len(_entered(g)) == 1, COMPILE_S, "the first run to reach its work", first)
        assert _entered(g)[0][0] == first.pid
        db = home / "tradebot.db"
        before = db.read_bytes()

        # a second run while the first is going: says so, exits 0, changes nothing
        second = subprocess.run(_paper(strategies=strategies), env=env, capture_output=True, text=True,
                                timeout=COMPILE_S)
        assert second.returncode == 0, second
        assert "paper account 'g' is being run by another process; exiting" in second.stdout, second
        assert "Traceback" not in second.stdout + second.stderr
        assert first.poll() is None  # the first is still at work
        assert len(_entered(g)) == 1  # the second never reached the account's candles
        assert db.read_bytes() == before

        # --wait: blocks on the account's lock until the first is done, then runs
        waiter = subprocess.Popen(_paper("--wait", strategies=strategies), env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: _blocked_on_a_lock(waiter.pid), COMPILE_S, "the --wait run to block on the lock",
                  waiter)
        time.sleep(1.0)
        assert waiter.poll() is None and len(_entered(g)) == 1 and _blocked_on_a_lock(waiter.pid)
        opened = time.time()
        (g / "open").touch()
        out1, err1 = first.communicate(timeout=COMPILE_S)
        assert first.returncode == 0, err1
        assert out1.startswith("g: 1 candle(s) via sim"), out1
        out3, err3 = waiter.communicate(timeout=COMPILE_S)
        assert waiter.returncode == 0, err3
        assert "being run by another process" not in out3
        assert out3.startswith("g: "), out3  # up to date, or the candle(s) closed meanwhile
        entered = _entered(g)
        if "up to date" not in out3:
            assert [pid for pid, _ in entered] == [first.pid, waiter.pid]
            assert entered[1][1] >= opened  # it reached its work only once the first had let go
    finally:
        (g / "open").touch()
        for p in (first, waiter):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()


def test_loop_wakes_at_each_candle_close(home: Path) -> None:
    cmd = [*tradebot_script(), "paper", "--account", "l", "--strategy", "rsi", *MARKET, "--loop"]
    proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.time(), line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _wait_for(lambda: len(lines) >= 1, COMPILE_S, "the first run of the loop", proc)
        first_at, first = lines[0]
        assert first.startswith("l: 1 candle(s) via sim"), lines
        # the next candle closes at the next minute; the loop wakes 2 s after it
        _wait_for(lambda: len(lines) >= 2, 60 + 60, "the loop's second run", proc)
        second_at, second = lines[1]
        assert proc.poll() is None  # still looping
        assert second.startswith("l: ") and "candle(s) via sim" in second, lines
        minute = 60_000
        boundary = (int(first_at * 1000) // minute + 1) * minute  # the first close after the first run
        assert second_at * 1000 >= boundary + 2000 - 50  # not before the candle closed (+2 s of grace)
        assert second_at * 1000 < boundary + minute  # woke at that close, not a minute later
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
    rep = _report(home, "l")
    # two runs, each ending at the last closed candle: the account advanced by one candle or more
    assert rep["last_bar_ms"] >= (int(first_at * 1000) // 60_000) * 60_000
