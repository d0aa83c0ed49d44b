"""The exit-code rule, walked as one table through real ``tradebot`` processes.

* 0: success (a paper run that finds another one going says so and exits 0 too);
* 1: runtime failure — the command was valid but something it relies on failed (the
  database cannot be read, the exchange cannot be reached);
* 2: usage or configuration error — unknown option, command or strategy, a bad value, a
  broken config file or ``TRADEBOT_*`` variable;
* 130: interrupted (Ctrl-C, SIGINT).

Every error is one ``error: ...`` line on stderr, the last one (progress lines such as
retries may come before it), and no traceback (``--debug`` shows one).
The README's table says the same.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import TERMINAL_COLUMNS, Result, tradebot_script

SIM = ("--exchange", "sim", "--symbol", "BTC/USDT", "--timeframe", "1h")


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
    env.update({"TRADEBOT_HOME": str(home), "COLUMNS": TERMINAL_COLUMNS, "NO_COLOR": "1",
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def _stored_trials(home: Path) -> int:
    db = home / "tradebot.db"
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(con.execute("SELECT count(*) FROM study_trials").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        con.close()


def _interrupt(args: list[str], home: Path, busy: Callable[[subprocess.Popen[str]], bool]) -> Result:
    """Start ``tradebot ARGS``, wait until ``busy(proc)`` says it is at work, send SIGINT."""
    proc = subprocess.Popen([*tradebot_script(), *args], env=_env(home, {}), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600  # a cold numba cache compiles first
        while not busy(proc):
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"ended (exit {proc.returncode}) before it was interrupted:\n{out}\n{err}")
            assert time.monotonic() < deadline, "never got to work"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        return Result(proc.returncode, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _first_line_printed(proc: subprocess.Popen[str]) -> bool:
    assert proc.stdout is not None
    return bool(proc.stdout.readline())  # blocks until the first run of the loop has printed


@dataclass(frozen=True)
class Case:
    kind: str  # usage, config, runtime, interrupted
    name: str
    code: int
    run: Callable[[Path, Path], Result]  # (home, tmp_path) -> result


def _cli(*args: str, env: dict[str, str] | None = None) -> Callable[[Path, Path], Result]:
    def go(home: Path, tmp: Path) -> Result:
        resolved = [a.format(tmp=tmp, port=_closed_port()) for a in args]
        extra = {k: v.format(tmp=tmp, port=_closed_port()) for k, v in (env or {}).items()}
        p = subprocess.run([*tradebot_script(), *resolved], env=_env(home, extra), capture_output=True, text=True,
                           timeout=600)
        return Result(p.returncode, p.stdout, p.stderr)

    return go


def _with_file(path: str, content: bytes, then: Callable[[Path, Path], Result]) -> Callable[[Path, Path], Result]:
    def go(home: Path, tmp: Path) -> Result:
        target = Path(path.format(tmp=tmp, home=home))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return then(home, tmp)

    return go


def _optimize_interrupted(home: Path, tmp: Path) -> Result:
    args = ["optimize", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1h", "--since", "2023-01-01",
            "--until", "2024-06-01", "--method", "random", "--trials", "2000", "--batch-size", "8", "--seed", "3",
            "--space", "period=5:40", "--space", "lower=10:45", "--space", "upper=55:90"]
    return _interrupt(args, home, lambda proc: _stored_trials(home) >= 8)


def _paper_loop_interrupted(home: Path, tmp: Path) -> Result:
    args = ["paper", "--account", "loop", "--strategy", "rsi", *SIM, "--source", "sim", "--loop"]
    return _interrupt(args, home, _first_line_printed)


TABLE = [
    Case("usage", "unknown option", 2, _cli("backtest", "--no-such-option")),
    Case("usage", "unknown command", 2, _cli("frobnicate")),
    Case("usage", "unknown strategy", 2, _cli("backtest", "--strategy", "nope", *SIM)),
    Case("usage", "parameter out of range", 2, _cli("backtest", "--strategy", "rsi", "--param", "period=0", *SIM)),
    Case("config", "broken config file", 2,
         _with_file("{tmp}/bad.toml", b"schema_version = 1\n[fees\ntaker = 0.001\n",
                    _cli("backtest", "--config", "{tmp}/bad.toml", *SIM))),
    Case("config", "bad TRADEBOT_ environment value", 2,
         _cli("backtest", *SIM, env={"TRADEBOT_FEES__TAKER": "abc"})),
    Case("runtime", "corrupted database file", 1,
         _with_file("{home}/tradebot.db", b"\x00garbage, not an SQLite file\x00" * 512, _cli("report", "--list"))),
    Case("runtime", "exchange down (closed port)", 1,
         _cli("markets", "binance", env={"TRADEBOT_EXCHANGES__BINANCE__BASE_URL": "http://127.0.0.1:{port}"})),
    Case("interrupted", "SIGINT to tradebot optimize mid-study", 130, _optimize_interrupted),
    Case("interrupted", "SIGINT to tradebot paper --loop", 130, _paper_loop_interrupted),
]


def test_the_table_covers_every_kind() -> None:
    assert {(c.kind, c.code) for c in TABLE} == {("usage", 2), ("config", 2), ("runtime", 1), ("interrupted", 130)}


@pytest.mark.parametrize("case", TABLE, ids=[f"{c.kind}: {c.name}" for c in TABLE])
def test_exit_code(case: Case, home: Path, tmp_path: Path) -> None:
    res = case.run(home, tmp_path)
    assert res.code == case.code, res
    assert "Traceback" not in res.output, res
    if case.kind != "interrupted":
        # one error line, last; progress lines (e.g. each retry with its wait) may come before it
        lines = [x for x in res.err.strip().splitlines() if x.strip()]
        assert [x for x in lines if x.startswith("error: ")] == lines[-1:], res
    else:  # says what was kept, in one line at the end, without an "error:" of a bug
        assert "internal error" not in res.err, res
