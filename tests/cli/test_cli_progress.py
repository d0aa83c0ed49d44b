"""Progress off a terminal: long work reports plain lines on stderr (stdout stays the
report, or JSON with ``--json``); ``--quiet`` silences them. Real child processes, so
neither stream is a terminal, as under cron or in a pipe."""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tradebot.core.errors import ExchangeUnavailable
from tradebot.exchanges.retry import RetryNotice, RetryPolicy, call_with_retry, reporting_retries

from .conftest import tradebot_script
from .test_cli_interrupt import COLD_START_S, env_for

SIM = ["--exchange", "sim", "--timeframe", "1h", "--since", "2024-01-01", "--until", "2024-03-01"]
GRID = ["--space", "period=7,14", "--space", "lower=25,30", "--space", "upper=70,75"]


def tradebot(home: Path, *args: str, timeout: float = COLD_START_S, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*tradebot_script(), *args], env=env_for(home, **env), capture_output=True, text=True,
                          timeout=timeout)


def test_optimize_reports_windows_trials_and_best_as_lines(home):
    r = tradebot(home, "optimize", "--strategy", "rsi", *SIM, *GRID, "--batch-size", "4",
                 "--wf-train", "20d", "--wf-test", "10d", "--json")
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)  # stdout is the report alone
    lines = [x for x in r.stderr.strip().splitlines() if not x.startswith("compiling ")]  # a cold cache
    assert lines[0].startswith("study S1: grid search, 8 trials in each of "), r.stderr
    windows = int(re.search(r"in each of (\d+) windows", lines[0]).group(1))
    assert windows >= 2
    pat = re.compile(r"^optimize S1: window (\d+)/(\d+): (\d+)/8 trials, best sharpe (\S+); "
                     r"(\d+)/(\d+) windows done \(\d+ s\)$")
    seen = [pat.match(line) for line in lines[1:]]
    assert seen and all(seen), r.stderr
    # every window reports its first batch and its end, with the windows done before it
    for w in range(1, windows + 1):
        mine = [m for m in seen if int(m.group(1)) == w]
        assert mine and mine[-1].group(3) == "8", (w, r.stderr)
        assert all(int(m.group(5)) == w - 1 and int(m.group(6)) == windows for m in mine), r.stderr


def test_optimize_quiet_prints_no_progress(home):
    r = tradebot(home, "optimize", "--strategy", "rsi", *SIM, *GRID, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr
    assert "Study S1: 8 evaluations" in r.stdout


def test_fetch_with_the_network_down_prints_each_retry_and_its_wait_before_the_error(home):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = tradebot(home, "fetch", "binance", "BTC/USDT", "-t", "1h", timeout=180,
                 TRADEBOT_EXCHANGES__BINANCE__BASE_URL=f"http://127.0.0.1:{port}",
                 TRADEBOT_EXCHANGES__BINANCE__TIMEOUT_MS="1000")
    assert r.returncode == 1, r.stderr
    *retries, last = r.stderr.strip().splitlines()
    assert last.startswith("error: binance load_markets: gave up after 8 attempts"), r.stderr
    pat = re.compile(r"^binance load_markets: retrying in (\d+\.\d) s \(attempt (\d) of 8\): network error")
    got = [pat.match(line) for line in retries]
    assert all(got), r.stderr
    assert [int(m.group(2)) for m in got] == list(range(2, 9))  # every retry, before its wait
    assert r.stdout == ""


def test_fetch_reports_candles_as_lines(home):
    from tradebot.testing.replay_exchange import ReplayExchange, ReplayMarket

    src = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "octobot_Binance_BTC_USDT-4h.csv.gz"
    if not src.exists():
        pytest.skip(f"real candles not found: {src}")
    from tradebot.data.csv_io import read_candles_csv

    ts = read_candles_csv(src).timestamp
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts[0]) / 1000))
    with ReplayExchange(ReplayMarket("BTC/USDT", src, "4h"), now_ms=int(ts[-1]) + 14_400_000) as server:
        r = tradebot(home, "fetch", "binance", "BTC/USDT", "-t", "4h", "--since", since, timeout=180,
                     TRADEBOT_EXCHANGES__BINANCE__BASE_URL=server.url)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    pat = re.compile(r"^fetch binance BTC/USDT 4h: ([\d,]+)/([\d,]+) candles, \d+ requests? \(\d+ s\)$")
    got = [pat.match(line) for line in lines]
    assert got and all(got), r.stderr
    assert got[-1].group(1) == got[-1].group(2) == f"{len(ts):,}"  # the last line says it is complete
    assert "binance BTC/USDT 4h: +" in r.stdout  # the summary stays on stdout


def test_retry_listener_hears_every_retry_with_attempt_and_wait():
    heard: list[RetryNotice] = []
    calls = []
    clock = [0.0]

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ExchangeUnavailable("x fetch_ohlcv: timed out")
        return "ok"

    policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, jitter=0.0)
    with reporting_retries(heard.append):
        assert call_with_retry(flaky, policy, what="x fetch_ohlcv", sleep=lambda s: clock.__setitem__(0, clock[0] + s),
                               clock=lambda: clock[0], rng=random.Random(1)) == "ok"
    assert [(n.attempt, n.max_attempts, n.delay_s) for n in heard] == [(2, 5, 1.0), (3, 5, 2.0)]
    assert heard[0].line() == "x fetch_ohlcv: retrying in 1.0 s (attempt 2 of 5): timed out"
    calls.clear()
    call_with_retry(flaky, policy, what="x", sleep=lambda s: None)  # outside the block: not heard
    assert len(heard) == 2


@pytest.mark.parametrize("command", [
    ["backtest", "--strategy", "rsi", "--exchange", "sim", "--json"],
    ["optimize", "--strategy", "rsi", *SIM, *GRID],
    ["paper", "--account", "cold", "--strategy", "rsi", "--exchange", "sim", "--since", "2024-01-01"],
])
def test_a_cold_cache_says_it_compiles_before_it_does(tmp_path, home, command):
    """With nothing compiled yet, a line says a one-time compile is running (then Ctrl-C, so
    the test does not pay for the compile)."""
    from .test_cli_interrupt import Proc, assert_one_interrupt_line

    proc = Proc(command, env_for(home, NUMBA_CACHE_DIR=str(tmp_path / "fresh-cache")))
    # its first line on stderr (paper may first say how many candles it catches up)
    line = proc.wait_for(lambda s, text: s == "err" and "catching up" not in text, 120)
    assert re.match(r"^compiling the engine's (and optimizer's )?kernels once \(about \d+ s", line), line
    proc.interrupt()
    proc.finish()
    assert_one_interrupt_line(proc)
    assert "".join(proc.out) == ""


def test_a_long_paper_catch_up_says_so_off_a_terminal(run_subprocess, home) -> None:  # type: ignore[no-untyped-def]
    """A paper run with many new candles prints one plain line on stderr before the engine
    starts; its summary stays on stdout."""
    res = run_subprocess("paper", "--account", "catchup", "--strategy", "rsi", "--exchange", "sim",
                         "--timeframe", "5m", "--since", "2025-06-01")
    assert res.code == 0, res
    lines = [ln for ln in res.err.splitlines() if not ln.startswith("compiling ")]
    assert len(lines) == 1 and re.fullmatch(r"catchup: catching up [\d,]+ candles…", lines[0]), res
    n = int(lines[0].split()[3].replace(",", ""))
    assert n >= 10_000 and f"catchup: {n} candle(s) via sim" in res.out
    again = run_subprocess("paper", "--account", "catchup")
    assert again.code == 0 and "catching up" not in again.err, again
