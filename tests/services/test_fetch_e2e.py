"""`tradebot fetch` end to end: the real CLI, ccxt unmodified, the replay HTTP server.

ccxt talks HTTP to ``tradebot.testing.replay_exchange`` on 127.0.0.1; only the base URL
comes from config (``TRADEBOT_EXCHANGES__<ID>__BASE_URL``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tradebot.cli.app import main
from tradebot.data.cache import CandleCache
from tradebot.data.csv_io import read_candles_csv
from tradebot.testing.replay_exchange import FaultConfig, ReplayExchange, ReplayMarket

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NAUTILUS = SHARED / "nautilus_BTC-PERP-1m.csv.gz"
UNITTEST = SHARED / "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz"
BTC_4H = SHARED / "octobot_Binance_BTC_USDT-4h.csv.gz"
ETH_4H = SHARED / "octobot_Binance_ETH_USDT-4h.csv.gz"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real candles not found: {path} (expected ../shared/data beside the repo)")
    return path


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("TRADEBOT_"):
            monkeypatch.delenv(key)
    h = tmp_path / "home"
    monkeypatch.setenv("TRADEBOT_HOME", str(h))
    return h


def point(monkeypatch: pytest.MonkeyPatch, exchange: str, url: str, timeout_ms: int = 1000,
          rate_limit: bool = False) -> None:
    prefix = f"TRADEBOT_EXCHANGES__{exchange.upper()}__"
    monkeypatch.setenv(prefix + "BASE_URL", url)
    monkeypatch.setenv(prefix + "TIMEOUT_MS", str(timeout_ms))
    monkeypatch.setenv(prefix + "RATE_LIMIT", "true" if rate_limit else "false")


def run(*args: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def cached(home: Path, exchange: str, symbol: str, tf: str) -> np.ndarray:
    c = CandleCache(home / "data").load(exchange, symbol, tf)
    return np.column_stack([c.timestamp, c.open, c.high, c.low, c.close, c.volume])


def source(path: Path) -> np.ndarray:
    c = read_candles_csv(path)
    return np.column_stack([c.timestamp, c.open, c.high, c.low, c.close, c.volume])


def test_45k_candles_through_faults_equal_the_source(home, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    src = source(need(NAUTILUS))
    assert len(src) >= 45_000
    faults = FaultConfig(rate=0.15, seed=7, retry_after_s=0.05, slow_s=0.6)
    with ReplayExchange(ReplayMarket("BTC/USDT", NAUTILUS, "1m"), faults=faults) as server:
        point(monkeypatch, "binance", server.url, timeout_ms=300)
        code, out, err = run("fetch", "binance", "BTC/USDT", "-t", "1m", "--since",
                             iso(int(src[0, 0])), capsys=capsys)
        stats = server.stats.as_dict()
    assert code == 0, err
    got = cached(home, "binance", "BTC/USDT", "1m")
    np.testing.assert_array_equal(got, src[:-1])  # the last candle is still open: dropped
    assert np.all(np.diff(got[:, 0]) == 60_000)  # no gap, no duplicate
    klines = stats["requests"].get("klines", 0) or sum(
        v for k, v in stats["requests"].items() if "kline" in k)
    assert stats["faults_total"] >= 0.10 * stats["total_requests"] > 0
    assert klines >= 45
    assert "no gaps" in out


def _fetch_cmd(symbol: str, since: int) -> list[str]:
    return [sys.executable, "-m", "tradebot.cli.app", "fetch", "binance", symbol, "-t", "1m",
            "--since", iso(since)]


def test_kill_9_then_resume_gives_the_identical_file(tmp_path, home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src = source(need(NAUTILUS))
    with ReplayExchange(ReplayMarket("BTC/USDT", NAUTILUS, "1m"),
                        faults=FaultConfig(rate=0.1, seed=3, retry_after_s=0.05, slow_s=0.5)) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
        env.update({"TRADEBOT_EXCHANGES__BINANCE__BASE_URL": server.url,
                    "TRADEBOT_EXCHANGES__BINANCE__TIMEOUT_MS": "300",
                    "TRADEBOT_EXCHANGES__BINANCE__RATE_LIMIT": "true",  # slow enough to kill
                    "TRADEBOT_FETCH__CHECKPOINT_SECONDS": "0.3"})
        ref_home = tmp_path / "ref"
        subprocess.run(_fetch_cmd("BTC/USDT", int(src[0, 0])), env={**env, "TRADEBOT_HOME": str(ref_home)},
                       check=True, capture_output=True, timeout=300)
        ref_file = CandleCache(ref_home / "data").path_for("binance", "BTC/USDT", "1m")

        env["TRADEBOT_HOME"] = str(home)
        target = CandleCache(home / "data").path_for("binance", "BTC/USDT", "1m")
        kills = []
        for attempt in range(3):  # kill at up to three different moments, then finish
            proc = subprocess.Popen(_fetch_cmd("BTC/USDT", int(src[0, 0])), env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            seen = target.stat().st_mtime_ns if target.exists() else None
            while time.monotonic() < deadline and proc.poll() is None:
                now = target.stat().st_mtime_ns if target.exists() else None
                if now is not None and now != seen:  # a checkpoint just landed
                    time.sleep(0.05 * attempt)
                    break
                time.sleep(0.01)
            finished = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            stored = len(cached(home, "binance", "BTC/USDT", "1m")) if target.exists() else 0
            if finished or stored >= len(src) - 1:
                break
            kills.append(stored)
        assert kills and 0 < kills[0] < len(src) - 1, "the first kill should land mid-download"
        stored = len(cached(home, "binance", "BTC/USDT", "1m"))
        before = server.stats.as_dict()["klines_served"]
        done = subprocess.run(_fetch_cmd("BTC/USDT", int(src[0, 0])), env=env,
                              capture_output=True, text=True, timeout=300)
        served = server.stats.as_dict()["klines_served"] - before
    assert done.returncode == 0, done.stderr
    assert target.read_bytes() == ref_file.read_bytes()
    # what was stored is not downloaded again (pages overlap a little at the edges,
    # and faulted pages are asked again)
    assert served <= (len(src) - 1 - stored) * 1.5 + 2000


def test_two_symbols_from_two_dialects_in_one_call(tmp_path, home, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    btc, eth = source(need(BTC_4H)), source(need(ETH_4H))
    cfg = tmp_path / "config.toml"
    cfg.write_text('[fetch]\nmarkets = ["binance:BTC/USDT", "okx:ETH/USDT"]\ntimeframes = ["4h"]\n')
    last = int(max(btc[-1, 0], eth[-1, 0]))
    with ReplayExchange(ReplayMarket("BTC/USDT", BTC_4H, "4h"), now_ms=last + 14_400_000) as b, \
            ReplayExchange(ReplayMarket("ETH/USDT", ETH_4H, "4h"), dialect="okx",
                           now_ms=last + 14_400_000) as o:
        point(monkeypatch, "binance", b.url)
        point(monkeypatch, "okx", o.url)
        code, out, err = run("fetch", "--config", cfg, "--since", iso(int(btc[0, 0])),
                             capsys=capsys)
    assert code == 0, err
    np.testing.assert_array_equal(cached(home, "binance", "BTC/USDT", "4h"), btc)
    np.testing.assert_array_equal(cached(home, "okx", "ETH/USDT", "4h"), eth)
    code, out, _ = run("data", "list", capsys=capsys)
    assert code == 0 and "okx" in out and "binance" in out


def test_real_gaps_are_reported_not_filled(home, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    src = source(need(UNITTEST))
    with ReplayExchange(ReplayMarket("UNITTEST/BTC", UNITTEST, "1m"),
                        now_ms=int(src[-1, 0]) + 60_000) as server:
        point(monkeypatch, "binance", server.url)
        code, out, err = run("fetch", "binance", "UNITTEST/BTC", "-t", "1m", "--since",
                             iso(int(src[0, 0])), capsys=capsys)
    assert code == 0, err
    got = cached(home, "binance", "UNITTEST/BTC", "1m")
    np.testing.assert_array_equal(got, src)
    assert "717 missing" in out and "538 gaps" in out


@pytest.mark.parametrize("args, expect, code", [
    (("binanse", "BTC/USDT"), "binance", 2),
    (("binance", "BTC/USDX"), "BTC/USDT", 2),
    (("binance", "BTC/USDT", "-t", "7m"), "7m", 2),
    (("binance", "BTC/USDT", "--since", "2999-01-01"), "in the future", 2),
])
def test_bad_requests_are_one_line(args, expect, code, home, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    with ReplayExchange(ReplayMarket("BTC/USDT", need(BTC_4H), "4h")) as server:
        point(monkeypatch, "binance", server.url)
        got, out, err = run("fetch", *args, *(() if "-t" in args else ("-t", "4h")), capsys=capsys)
    assert got == code, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], err


def test_garbage_answers_fail_cleanly_and_keep_the_cache(home, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    src = source(need(BTC_4H))
    with ReplayExchange(ReplayMarket("BTC/USDT", BTC_4H, "4h"),
                        now_ms=int(src[300, 0]) + 1) as server:
        point(monkeypatch, "binance", server.url)
        assert run("fetch", "binance", "BTC/USDT", "-t", "4h", "--since", iso(int(src[0, 0])),
                   capsys=capsys)[0] == 0
        target = CandleCache(home / "data").path_for("binance", "BTC/USDT", "4h")
        before = target.read_bytes()
        server.now_ms = int(src[-1, 0]) + 14_400_000
        server.faults = FaultConfig(garbage=True)
        monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__TIMEOUT_MS", "200")
        code, out, err = run("fetch", "binance", "BTC/USDT", "-t", "4h", capsys=capsys)
    assert code == 1, err
    *retries, last = err.strip().splitlines()  # off a terminal each retry is a line, with its wait
    assert last.startswith("error: ") and all("retrying in" in line for line in retries), err
    assert target.read_bytes() == before


def test_markets_lists_precision_and_limits(home, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    with ReplayExchange(ReplayMarket("BTC/USDT", need(BTC_4H), "4h")) as server:
        point(monkeypatch, "binance", server.url)
        code, out, err = run("markets", "binance", capsys=capsys)
        fcode, fout, ferr = run("markets", "binance", "--futures", capsys=capsys)
    assert code == 0, err
    assert "BTC/USDT" in out and "spot" in out
    assert fcode == 0, ferr
    assert "BTC/USDT:USDT" in fout


def test_unwritable_home_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv("TRADEBOT_HOME", str(blocker / "home"))
    with ReplayExchange(ReplayMarket("BTC/USDT", need(BTC_4H), "4h")) as server:
        point(monkeypatch, "binance", server.url)
        code, out, err = run("fetch", "binance", "BTC/USDT", "-t", "4h", capsys=capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "afile" in err
