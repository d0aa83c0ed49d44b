"""Fixtures of the CLI tests: a fresh TRADEBOT_HOME per test and helpers that run the real CLI.

``run(*args)`` calls :func:`tradebot.cli.app.main` in-process (fast) and returns a
:class:`Result` with the exit code, stdout and stderr. ``run_subprocess(*args)`` runs the
installed ``tradebot`` console script in a child process (exit codes, tracebacks, start-up).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: Real candles beside the project (``../shared/data``); tests that need them skip without.
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

BTC_5M = "freqtrade-testdata_BTC_USDT-5m.csv.gz"  # 10,999 rows, complete
BTC_4H = "octobot_Binance_BTC_USDT-4h.csv.gz"  # 500 rows, complete
UNITTEST_1M = "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz"  # 13,681 rows, 717 missing / 538 gaps

#: Wide enough that Rich never truncates a table cell.
TERMINAL_COLUMNS = "250"


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real candle file {path} not available (../shared/data is absent)")
    return path


def gunzip_to(src: Path, dest: Path) -> Path:
    """A plain-text copy of a gzip CSV (``dest``)."""
    with gzip.open(src, "rb") as f:
        dest.write_bytes(f.read())
    return dest


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:  # shown by pytest when an assertion fails
        return f"Result(code={self.code!r},\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err})"


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    return 1  # sys.exit("message")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty TRADEBOT_HOME for every test; no other TRADEBOT_* variable set."""
    for key in list(os.environ):
        if key.upper().startswith("TRADEBOT_"):
            monkeypatch.delenv(key, raising=False)
    h = tmp_path / "home"
    monkeypatch.setenv("TRADEBOT_HOME", str(h))
    monkeypatch.setenv("COLUMNS", TERMINAL_COLUMNS)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    # keep the tests' working directory out of the way of relative paths
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return h


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run ``tradebot ARGS...`` in-process; never raises SystemExit."""
    from tradebot.cli.app import main

    def _run(*args: Any) -> Result:
        capsys.readouterr()  # drop anything printed before
        code = 0
        try:
            main([str(a) for a in args])
        except SystemExit as e:
            code = _exit_code(e)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _run


def tradebot_script() -> list[str]:
    """Command that starts the installed console script (next to this interpreter)."""
    script = Path(sys.executable).parent / "tradebot"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "tradebot.cli.app"]


@pytest.fixture
def run_subprocess(home: Path) -> Callable[..., Result]:
    """Run ``tradebot ARGS...`` as a child process with the test's environment."""

    def _run(*args: Any, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
        environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
        environ.update(
            {"TRADEBOT_HOME": str(home), "COLUMNS": TERMINAL_COLUMNS, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        )
        environ.update(env or {})
        proc = subprocess.run(
            [*tradebot_script(), *(str(a) for a in args)],
            capture_output=True,
            text=True,
            env=environ,
            timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return _run


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> hash); directories as markers.
    ``logs/`` is left out: the log file records failures (it is not stored state)."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel == "logs" or rel.startswith("logs/"):
            continue
        if p.is_dir():
            out[rel + "/"] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def seeded_home(home: Path, run: Callable[..., Result]) -> Path:
    """The home after importing one real dataset (binance BTC/USDT 4h) and one stored backtest."""
    src = shared_file(BTC_4H)
    res = run("data", "import", src, "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "4h")
    assert res.code == 0, res
    res = run("backtest", "--strategy", "rsi", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "4h")
    assert res.code == 0, res
    assert "Stored as run 1" in res.out
    return home
