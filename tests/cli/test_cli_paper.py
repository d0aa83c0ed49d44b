"""``tradebot paper`` and ``tradebot report --account``: the account's ledger in the report,
and bad input — one ``error:`` line, a non-zero exit where the run cannot go on, and the
account untouched (its tables, and where nothing may be written the whole home, unchanged).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tradebot.analysis.metrics import daily_returns, var_cvar
from tradebot.data.csv_io import read_candles_csv

from .conftest import BTC_4H, Result, shared_file, snapshot

MARKET = ("--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "4h")
H4 = 14_400_000


def one_error_line(res: Result, *expect: str) -> str:
    assert "Traceback" not in res.output, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res
    for e in expect:
        assert e in lines[0], (e, res)
    return lines[0]


def tables(home: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every paper table (the account's state and ledger), read with sqlite3."""
    conn = sqlite3.connect(f"file:{home / 'tradebot.db'}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'paper_%' ORDER BY name")]
        return {n: conn.execute(f"SELECT * FROM {n} ORDER BY id").fetchall() for n in names}
    finally:
        conn.close()


@pytest.fixture
def candles():  # type: ignore[no-untyped-def]
    return read_candles_csv(shared_file(BTC_4H))


@pytest.fixture
def account(home: Path, run: Callable[..., Result], candles, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    """A paper account ``acc`` (macd, BTC/USDT 4h) run over the real candles with a loss
    cooldown (entries blocked for 30 candles after each losing trade)."""
    monkeypatch.setenv("TRADEBOT_RISK__COOLDOWN_AFTER_LOSSES", "1")
    monkeypatch.setenv("TRADEBOT_RISK__COOLDOWN_BARS", "30")
    res = run("data", "import", shared_file(BTC_4H), *MARKET)
    assert res.code == 0, res
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(candles.timestamp[0] / 1000))
    res = run("paper", "--account", "acc", "--since", since, *MARKET, "--strategy", "macd")
    assert res.code == 0, res
    assert f"acc: {len(candles)} candle(s) via cache" in res.out and "missing" not in res.out
    assert "entries blocked by risk rules" in res.out and "loss_cooldown tripped" in res.out
    return "acc"


# --------------------------------------------------------------------------- the report


def test_report_shows_the_ledger_and_risk(account: str, run: Callable[..., Result], home: Path,  # type: ignore[no-untyped-def]
                                          candles) -> None:
    res = run("report", "--account", account, "--json")
    assert res.code == 0, res
    rep = res.json()
    bal = {b["asset"]: b["amount"] for b in rep["balances"]}
    assert set(bal) == {"USDT", "BTC"}
    assert rep["equity"] == pytest.approx(bal["USDT"] + bal["BTC"] * candles.close[-1], rel=1e-12)
    conn = sqlite3.connect(home / "tradebot.db")
    eq = conn.execute("SELECT ts_ms, equity, position FROM paper_equity ORDER BY ts_ms").fetchall()
    n_fills = conn.execute("SELECT count(*) FROM paper_fills").fetchone()[0]
    n_blocked = conn.execute("SELECT count(*) FROM paper_risk_events WHERE kind = 'entry_blocked'").fetchone()[0]
    conn.close()
    ts = np.array([r[0] for r in eq], dtype=np.int64)
    values = np.array([r[1] for r in eq])
    assert rep["exposure_pct"] == pytest.approx(100.0 * sum(r[2] != 0 for r in eq) / len(eq))
    var, cvar = var_cvar(daily_returns(ts, values, rep["initial_capital"]), 0.95)
    assert rep["var_95_pct"] == pytest.approx(var * 100) and rep["cvar_95_pct"] == pytest.approx(cvar * 100)
    assert 0 < rep["var_95_pct"] <= rep["cvar_95_pct"]
    assert len(rep["fills"]) == min(n_fills, 20) and len(rep["orders"]) == min(n_fills, 20)
    assert n_blocked > 0
    assert rep["blocked_entries"] == [{"reason": "loss_cooldown", "count": n_blocked}]
    assert {e["kind"] for e in rep["risk_events"]} == {"cooldown_started"}
    if bal["BTC"]:
        assert rep["positions"][0]["qty"] == bal["BTC"]
    else:
        assert rep["positions"] == []

    text = run("report", "--account", account)
    assert text.code == 0, text
    for label in ("Balances", "USDT", "BTC", "VaR / CVaR 95%", "Exposure", "Recent orders",
                  "Recent fills", "Blocked entries", "loss_cooldown", "Risk events",
                  "cooldown_started", "Closed trades", "Daily P&L against the target"):
        assert label in text.out, label
    assert f"{rep['exposure_pct']:.2f}% of closes in the market" in text.out


def test_report_daily_rows_count_the_trades_closed_each_day(account: str, run: Callable[..., Result]) -> None:
    """``daily[].trades`` is the number of trades that closed on that UTC day (it was 0 on
    every day because the stored trades were not passed to the daily P&L)."""
    rep = run("report", "--account", account, "--json").json()
    closed = [t for t in rep["trades"] if t["exit_reason"] != "still_open"]
    assert len(closed) > 5
    per_day: dict[str, int] = {}
    for t in closed:
        day = time.strftime("%Y-%m-%d", time.gmtime(t["exit_ts_ms"] / 1000))
        per_day[day] = per_day.get(day, 0) + 1
    got = {str(d["day"]): d["trades"] for d in rep["daily"] if d["trades"]}
    assert got == per_day
    assert sum(d["trades"] for d in rep["daily"]) == len(closed)


def test_report_shows_psr_and_bootstrap_intervals(account: str, run: Callable[..., Result]) -> None:
    rep = run("report", "--account", account, "--json").json()
    assert len(rep["daily"]) >= 20
    assert 0.0 <= rep["psr"] <= 1.0
    assert set(rep["ci95"]) == {"return_pct", "sharpe", "target_days_pct"}
    lo, hi = rep["ci95"]["return_pct"]
    assert lo <= (rep["equity"] / rep["initial_capital"] - 1) * 100 <= hi
    assert rep == run("report", "--account", account, "--json").json()  # seeded: the same twice
    text = run("report", "--account", account)
    for label in ("Probabilistic Sharpe (P[SR>0])", "Sharpe 95% CI (block bootstrap)",
                  "Return 95% CI (block bootstrap)", "Target days 95% CI (block bootstrap)"):
        assert label in text.out, label


# --------------------------------------------------------------------------- bad input


def test_unknown_account(account: str, run: Callable[..., Result], home: Path) -> None:
    before = snapshot(home)
    res = run("report", "--account", "nope")
    assert res.code == 2, res
    one_error_line(res, "'nope'", "acc")  # names the accounts there are
    assert snapshot(home) == before


def test_other_strategy_for_an_existing_account(account: str, run: Callable[..., Result], home: Path) -> None:
    before = tables(home)
    res = run("paper", "--account", account, "--strategy", "rsi")
    assert res.code == 2, res
    one_error_line(res, "'acc'", "trades macd", "--strategy rsi", "new account")
    res = run("paper", "--account", account, "--timeframe", "1h")
    assert res.code == 2, res
    one_error_line(res, "--timeframe 1h")
    res = run("paper", "--account", account, "--param", "fast=5")
    assert res.code == 2, res
    one_error_line(res, "fast=12", "--param fast=5", "new account")
    res = run("paper", "--account", account, "--param", "fastt=5")
    assert res.code == 2, res
    one_error_line(res, "fastt")
    assert tables(home) == before
    res = run("paper", "--account", account, "--param", "fast=12")  # its own value: runs
    assert res.code == 0, res


def test_strategy_renamed_between_runs(home: Path, run: Callable[..., Result], tmp_path: Path, candles) -> None:  # type: ignore[no-untyped-def]
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    source = textwrap.dedent('''
        from tradebot.core.signals import Signals
        from tradebot.strategies.base import Strategy


        class Flip(Strategy):
            """Long every other day."""

            name = "flip"
            version = "1"
            description = "test strategy"
            params = {}

            def compute_indicators(self, candles):
                return {}

            def signals_from(self, candles, ind):
                day = (candles.timestamp // 86_400_000) % 2 == 0
                return Signals(entries=day, exits=~day)
        ''')
    (strategies / "flip.py").write_text(source)
    assert run("data", "import", shared_file(BTC_4H), *MARKET).code == 0
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.paper import run_paper

    settings = load_settings(env={}, overrides={"home": str(home), "strategy": {"name": "flip"}, "market": {
        "exchange": "binance", "symbol": "BTC/USDT", "timeframe": "4h"}})
    ctx = Context(settings, strategies)  # an account 20 candles behind the data
    run_paper(ctx, "u", since_ms=int(candles.timestamp[-80]), now_ms=int(candles.timestamp[-20]) + H4)
    ctx.close()
    before = tables(home)
    assert len(before["paper_fills"]) > 0
    (strategies / "flip.py").write_text(source.replace('name = "flip"', 'name = "flop"'))
    res = run("paper", "--account", "u", "--strategy-path", strategies)
    assert res.code == 2, res
    one_error_line(res, "'u'", "'flip'", "not available", "flop")  # suggests the new name
    assert tables(home) == before


def test_corrupted_database(account: str, run: Callable[..., Result], run_subprocess, home: Path) -> None:  # type: ignore[no-untyped-def]
    db = home / "tradebot.db"
    db.write_bytes(b"\x00garbage, not an SQLite file\x00" * 512)
    before = snapshot(home)
    for args in (("paper", "--account", account), ("report", "--account", account)):
        res = run(*args)
        assert res.code == 1, (args, res)
        one_error_line(res, str(db), "not a database")
        assert snapshot(home) == before
    res = run_subprocess("paper", "--account", account)
    assert res.code == 1, res
    one_error_line(res, str(db))
    assert snapshot(home) == before


LOCKER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE paper_accounts SET updated_at = updated_at")
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
    conn.execute("ROLLBACK")
""")


def test_locked_database(account: str, run_subprocess, home: Path, candles) -> None:  # type: ignore[no-untyped-def]
    """Another process holds an exclusive lock past the 30 s busy timeout."""
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.paper import run_paper

    settings = load_settings(env={}, overrides={"home": str(home), "strategy": {"name": "rsi"}, "market": {
        "exchange": "binance", "symbol": "BTC/USDT", "timeframe": "4h"}})
    ctx = Context(settings)  # an account 10 candles behind the data: its next run must write
    run_paper(ctx, "behind", since_ms=int(candles.timestamp[0]), now_ms=int(candles.timestamp[-10]) + H4)
    ctx.close()
    before = tables(home)
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(home / "tradebot.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        # a new candle is due: the run must write, and cannot
        res = run_subprocess("paper", "--account", "behind", timeout=120)
    finally:
        assert locker.stdin is not None
        locker.stdin.close()
        locker.wait(timeout=30)
    assert res.code == 1, res
    one_error_line(res, str(home / "tradebot.db"), "locked")
    assert tables(home) == before


def test_invalid_apprise_url(account: str, run: Callable[..., Result], run_subprocess, home: Path,  # type: ignore[no-untyped-def]
                             tmp_path: Path) -> None:
    # not a URL at all: a config error before anything runs
    bad = tmp_path / "bad.toml"
    bad.write_text('[notify.channels.ops]\nurl = "no scheme here"\n')
    before = snapshot(home)
    res = run("paper", "--account", account, "--config", bad)
    assert res.code == 2, res
    line = one_error_line(res, "notify.channels.ops.url", "not an apprise URL")
    assert "no scheme here" not in line  # never echoed: URLs carry tokens
    assert snapshot(home) == before
    # a URL apprise does not know: the run goes on (trading must not stop for a channel),
    # the channel is named once on stderr, with its secret masked
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[notify.channels.ops]\nurl = "nosuchscheme://s3cr3t-token/chat"\n')
    res = run_subprocess("paper", "--account", "fresh", "--source", "sim", *MARKET, "--strategy", "rsi",
                         "--config", unknown)
    assert res.code == 0, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "ops" in lines[0] and "invalid apprise URL" in lines[0], res
    assert "s3cr3t" not in res.output
    assert "fresh: 1 candle(s) via sim" in res.out


def test_template_with_a_jinja_error(account: str, run_subprocess, home: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                     candles) -> None:
    """The run goes on with the default template; the broken file is named once, not per message."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    got: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Thread(target=server.serve_forever, daemon=True).start()
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "order_filled.j2").write_text("[{{ account }] {{ side }}\n")  # unclosed {{
    cfg = tmp_path / "notify.toml"
    cfg.write_text(f'[notify]\ntemplates_dir = "{templates}"\n'
                   f'[notify.channels.hook]\nurl = "json://127.0.0.1:{server.server_address[1]}/h"\n'
                   'events = ["order_filled"]\n')
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(candles.timestamp[0] / 1000))
    try:
        res = run_subprocess("paper", "--account", "tpl", "--since", since, *MARKET, "--strategy", "rsi",
                             "--config", cfg)
    finally:
        server.shutdown()
        server.server_close()
    assert res.code == 0, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res
    assert str(templates / "order_filled.j2") in lines[0] and "line 1" in lines[0]
    assert "default template" in lines[0]
    titles = [json.loads(b)["title"] for b in got]
    assert len(titles) > 2 and all(t.startswith("[tpl] ") and "filled" in t for t in titles)


def test_cli_paper_end_to_end_in_a_fresh_process(account: str, run_subprocess, home: Path) -> None:  # type: ignore[no-untyped-def]
    """A cron run in a fresh process: up to date (the data ends), the report still readable."""
    res = run_subprocess("paper", "--account", account)
    assert res.code == 0 and "up to date" in res.out, res
    res = run_subprocess("report", "--account", account, "--json")
    assert res.code == 0, res
    assert json.loads(res.out)["account"] == account
    assert os.path.exists(home / "locks" / "paper-acc.lock")
