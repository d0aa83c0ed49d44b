"""Ctrl-C (SIGINT) through real processes: every command ends with one line saying what
was kept and how to go on, exit code 130, no traceback; what it says was kept is what the
store and the cache hold, and going on from there ends as an uninterrupted run.

Each process is started with ``subprocess.Popen``; the test waits for its own progress
output (plain lines on stderr, since stderr is a pipe here) before sending SIGINT.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from .conftest import TERMINAL_COLUMNS, tradebot_script
from .test_cli_optimize import trials_of

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: the first numba compile on a loaded 2-core machine can take minutes
COLD_START_S = 900
OPT = ["optimize", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1h", "--since", "2023-01-01",
       "--until", "2024-06-01", "--method", "random", "--trials", "1200", "--batch-size", "8", "--seed", "3",
       "--space", "period=5:40", "--space", "lower=10:45", "--space", "upper=55:90"]
KEPT = re.compile(r"^interrupted: study S1: ([\d,]+) trials in ([\d,]+) batch(?:es)? stored; "
                  r"`tradebot optimize --resume S1` continues it$")


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
    import tradebot

    env.update({"TRADEBOT_HOME": str(home), "COLUMNS": TERMINAL_COLUMNS, "NO_COLOR": "1",
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(Path(tradebot.__file__).resolve().parents[1])})  # the tradebot under test
    env.update(extra)
    return env


class Proc:
    """A running ``tradebot`` whose stdout and stderr lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.p = subprocess.Popen([*tradebot_script(), *args], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(s, n, b), daemon=True)
                         for s, n, b in ((self.p.stdout, "out", self.out), (self.p.stderr, "err", self.err))]
        for t in self._readers:
            t.start()

    def _read(self, stream, name: str, into: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            into.append(line.rstrip("\n"))
            self.lines.put((name, line.rstrip("\n")))

    def wait_for(self, match: Callable[[str, str], bool], timeout: float) -> str:
        """The first line (stream name, text) that matches; fails if the process ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                name, line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.p.poll() is not None and self.lines.empty():
                    break
                continue
            if match(name, line):
                return line
        self.p.kill()
        self.finish()
        raise AssertionError(f"no such line before {timeout} s or the end (code {self.p.returncode});\n"
                             f"--- stdout ---\n" + "\n".join(self.out) + "\n--- stderr ---\n" + "\n".join(self.err))

    def interrupt(self) -> None:
        self.p.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 300) -> int:
        code = self.p.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=10)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)


def assert_one_interrupt_line(proc: Proc) -> str:
    """Exit 130, no traceback, and the last stderr line (the only ``interrupted:`` one) says
    what was kept; returns it."""
    assert proc.p.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    said = [line for line in proc.err if line.startswith("interrupted")]
    assert len(said) == 1 and proc.err[-1] == said[0], proc.stderr
    return said[0]


# ----------------------------------------------------------------------------- optimize


def test_optimize_interrupt_stops_at_a_batch_and_resume_ends_as_uninterrupted(tmp_path, home):
    env = env_for(home)
    proc = Proc(OPT, env)
    proc.wait_for(lambda s, line: s == "err" and re.search(r"optimize S1: [\d,]+/[\d,]+ trials", line) is not None,
                  COLD_START_S)
    proc.interrupt()
    proc.finish()
    line = assert_one_interrupt_line(proc)
    m = KEPT.match(line)
    assert m, line
    stored = len(trials_of(home, 1))
    assert int(m.group(1).replace(",", "")) == stored and int(m.group(2).replace(",", "")) == stored // 8
    assert 0 < stored < 1200 and stored % 8 == 0  # whole batches, the one in flight finished

    resumed = subprocess.run([*tradebot_script(), "optimize", "--resume", "S1", "--json"], env=env,
                             capture_output=True, text=True, timeout=COLD_START_S)
    assert resumed.returncode == 0, resumed.stderr
    rep = json.loads(resumed.stdout)
    assert rep["replayed"] == stored and rep["evaluated"] == 1200 - stored

    other = tmp_path / "other"
    done = subprocess.run([*tradebot_script(), *OPT, "--json"], env=env_for(other), capture_output=True,
                          text=True, timeout=COLD_START_S)
    assert done.returncode == 0, done.stderr
    assert trials_of(home, 1) == trials_of(other, 1)
    assert rep["chosen"] == json.loads(done.stdout)["chosen"]


def test_optimize_second_interrupt_stops_at_once_and_says_what_is_stored(home):
    proc = Proc(OPT, env_for(home))
    proc.wait_for(lambda s, line: s == "err" and "study S1: random search" in line, COLD_START_S)
    proc.interrupt()
    proc.wait_for(lambda s, line: s == "err" and "stopping after the current batch" in line, 120)
    proc.interrupt()  # a second Ctrl-C: at once (or at the batch boundary if that came first)
    proc.finish()
    line = assert_one_interrupt_line(proc)
    stored = len(trials_of(home, 1))
    assert stored % 8 == 0 and stored < 1200
    if stored:
        m = KEPT.match(line)
        assert m and int(m.group(1).replace(",", "")) == stored, line
    else:
        assert line == ("interrupted: study S1 is stored without trials yet; "
                        "`tradebot optimize --resume S1` continues it"), line


def test_an_interrupt_inside_a_compiled_call_is_not_an_internal_error(run, monkeypatch):
    """numba reports a KeyboardInterrupt inside a compiled call as ``SystemError(... returned
    a result with an exception set)`` (with the interrupt as its context): still an interrupt."""
    import tradebot.services.backtest as bt

    def interrupted_in_numba(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("CPUDispatcher(<function eval_batch_nb>) returned a result with an "
                              "exception set") from None

    monkeypatch.setattr(bt, "run_backtest", interrupted_in_numba)
    r = run("backtest", "--strategy", "rsi", "--exchange", "sim")
    assert r.code == 130, r
    assert r.err.strip().splitlines() == [
        "interrupted: backtest stopped; nothing was stored (run it again to start over)"], r


# ----------------------------------------------------------------------------- fetch


def test_fetch_interrupt_saves_the_pages_it_holds_and_the_same_fetch_resumes(tmp_path, home):
    from tradebot.data.cache import CandleCache
    from tradebot.data.csv_io import read_candles_csv
    from tradebot.testing.replay_exchange import FaultConfig, ReplayExchange, ReplayMarket

    src_path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nautilus_BTC-PERP-1m.csv.gz"
    if not src_path.exists():
        pytest.skip(f"real candles not found: {src_path}")
    c = read_candles_csv(src_path)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(c.timestamp[0]) / 1000))
    args = ["fetch", "binance", "BTC/USDT", "-t", "1m", "--since", since]
    slow = FaultConfig(rate=0.5, kinds=("slow",), slow_s=0.3, seed=1)
    with ReplayExchange(ReplayMarket("BTC/USDT", src_path, "1m"), faults=slow) as server:
        env = env_for(home, TRADEBOT_EXCHANGES__BINANCE__BASE_URL=server.url,
                      TRADEBOT_EXCHANGES__BINANCE__TIMEOUT_MS="5000",
                      TRADEBOT_EXCHANGES__BINANCE__RATE_LIMIT="true",
                      TRADEBOT_FETCH__CHECKPOINT_SECONDS="600")  # no checkpoint before the interrupt
        proc = Proc(args, env)
        proc.wait_for(lambda s, line: s == "err" and re.search(r"fetch binance BTC/USDT 1m: [1-9][\d,]*/", line)
                      is not None, 120)
        proc.interrupt()
        proc.finish()
        line = assert_one_interrupt_line(proc)
        m = re.match(r"^interrupted: fetch stopped; ([\d,]+) new candles saved to the cache "
                     r"\(binance BTC/USDT 1m \+[\d,]+\); run the same `tradebot fetch` again to resume$", line)
        assert m, line
        cache = CandleCache(home / "data")
        saved = len(cache.load("binance", "BTC/USDT", "1m"))
        assert saved == int(m.group(1).replace(",", "")) and 0 < saved < len(c) - 1

        server.faults = FaultConfig()
        again = subprocess.run([*tradebot_script(), *args], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    got = cache.load("binance", "BTC/USDT", "1m")
    np.testing.assert_array_equal(got.timestamp, c.timestamp[:-1])  # the last candle is still open
    np.testing.assert_array_equal(got.close, c.close[:-1])


# ----------------------------------------------------------------------------- paper, backtest


def test_paper_loop_interrupt_leaves_the_account_as_of_its_last_run(home):
    args = ["paper", "--account", "demo", "--strategy", "rsi", "--exchange", "sim", "--symbol", "BTC/USDT",
            "--timeframe", "1h", "--loop"]
    proc = Proc(args, env_for(home))
    proc.wait_for(lambda s, line: s == "out" and line.startswith("demo: "), COLD_START_S)  # one run done
    time.sleep(0.5)  # now waiting for the next candle
    before = dump(home / "tradebot.db")
    proc.interrupt()
    proc.finish()
    line = assert_one_interrupt_line(proc)
    assert line == ("interrupted: paper stopped; the account is as of its last finished run (nothing of an "
                    "unfinished run was stored); run the same command again to go on"), line
    assert dump(home / "tradebot.db") == before


def dump(db: Path) -> str:
    """The database's content as SQL (its files change when the WAL is checkpointed on close)."""
    import sqlite3

    con = sqlite3.connect(db, timeout=10)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def test_backtest_interrupt_stores_nothing(home):
    if not Path("/proc/self/maps").exists():
        pytest.skip("needs /proc to see that the engine is loaded")
    proc = Proc(["backtest", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1m", "--since",
                 "2015-01-01"], env_for(home))
    maps = Path(f"/proc/{proc.p.pid}/maps")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.p.poll() is None:  # mid-work: the engine is loaded
        try:
            if "numba" in maps.read_text():
                break
        except OSError:
            pass
        time.sleep(0.05)
    assert proc.p.poll() is None, proc.stderr
    proc.interrupt()
    proc.finish()
    line = assert_one_interrupt_line(proc)
    assert line == "interrupted: backtest stopped; nothing was stored (run it again to start over)"
    assert not proc.out or "Stored as run" not in "\n".join(proc.out)
    db = home / "tradebot.db"
    if db.exists():
        import sqlite3

        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        except sqlite3.OperationalError:
            pass  # no table: nothing stored
        finally:
            con.close()
