"""``tradebot live stop|resume|reconcile`` against the replay exchange (unmodified ccxt, the
keys from the environment, a real SQLite file): what each prints and does on the server, a
wrong secret and a clock skew reported as such (exit 2, one line), bad input, and the keys in
no output, log file or stored row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.services.live_guard_env import (
    KEY,
    SECRET,
    SYMBOL,
    adapter,
    last_price,
    limit_through_account,
    make_account,
    start_exchange,
)
from tradebot.core.config import load_settings
from tradebot.services.context import Context

WRONG = "wrong-secret-V3JvbmdTZWNyZXQ"


@pytest.fixture
def rx():
    server = start_exchange()
    yield server
    server.stop()


@pytest.fixture
def live_env(home: Path, rx, monkeypatch):
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", KEY)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__BASE_URL", rx.url)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__RATE_LIMIT", "false")
    ctx = Context(load_settings(overrides={"home": str(home)}, env={}))
    acct = make_account(ctx)
    ex = adapter(rx)
    rec = limit_through_account(ctx, acct, ex, 0.001, round(last_price(rx) * 0.7, 2))
    ctx.close()
    yield acct, ex, rec
    ex.close()


def private(rx):
    return [e for e in rx.request_log if e.endpoint in ("account", "order_new", "order_cancel", "open_orders")]


def everything_written(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def test_reconcile_adopt_stop_and_resume(run, home, rx, live_env):
    _acct, ex, rec = live_env
    first = run("live", "reconcile", "--account", "acct")
    assert first.code == 0, first
    assert "reconciliation of acct: OK" in first.out and "first reconciliation" in first.out
    ex.create_order(SYMBOL, "buy", "limit", 0.001, 10_000.0, client_order_id="manual-cli-1")
    diff = run("live", "reconcile", "--account", "acct")
    assert diff.code == 1 and "unknown_order manual-cli-1" in diff.out and "STOPPED" in diff.out
    as_json = run("live", "reconcile", "--account", "acct", "--json")
    assert as_json.code == 1 and as_json.json()["differences"][0]["kind"] == "unknown_order"
    same = run("live", "--reconcile", "--account", "acct")  # the option form shows the same report
    assert same.code == 1 and "unknown_order manual-cli-1" in same.out
    adopted = run("live", "--reconcile", "--adopt", "--account", "acct")
    assert adopted.code == 0 and "adopted the exchange's view (1 difference(s))" in adopted.out
    assert run("live", "reconcile", "--account", "acct").code == 0
    rx.clear_request_log()
    stopped = run("live", "stop", "--account", "acct", "--reason", "going to bed")
    assert stopped.code == 0, stopped
    assert "STOPPED" in stopped.out and f"cancelled {rec.client_order_id}" in stopped.out
    assert "left open (not this account's): manual-cli-1" in stopped.out
    assert [e.params.get("orderId") for e in rx.request_log if e.endpoint == "order_cancel"] == [
        rec.exchange_order_id]
    assert [o.client_order_id for o in ex.fetch_open_orders(SYMBOL)] == ["manual-cli-1"]
    db = sqlite3.connect(home / "tradebot.db")
    assert db.execute("SELECT stopped, reason, by FROM live_switches").fetchall() == [(1, "going to bed", "command")]
    resumed = run("live", "resume", "--account", "acct")
    assert resumed.code == 0 and "resumed" in resumed.out
    assert db.execute("SELECT stopped FROM live_switches").fetchall() == [(0,)]
    kinds = [k for (k,) in db.execute("SELECT kind FROM live_events ORDER BY id")]
    db.close()
    assert kinds.count("adopt") == 1 and kinds.count("kill_switch") == 3


def test_wrong_secret_and_clock_skew_are_named_and_keys_never_show(run, home, rx, live_env, monkeypatch):
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", WRONG)
    bad = run("--log-level", "DEBUG", "live", "reconcile", "--account", "acct")
    assert bad.code == 2, bad
    [line] = bad.err.strip().splitlines()
    assert line.startswith("error:") and "Signature for this request is not valid" in line
    stop_bad = run("--log-level", "DEBUG", "live", "stop", "--account", "acct")
    assert stop_bad.code == 2 and "Signature" in stop_bad.err and "Traceback" not in stop_bad.err
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)
    rx.clock_skew_ms = 30_000
    skew = run("--log-level", "DEBUG", "live", "reconcile", "--account", "acct")
    assert skew.code == 2, skew
    [line] = skew.err.strip().splitlines()
    assert line.startswith("error:") and "clock skew" in line
    rx.clock_skew_ms = 0
    ok = run("--log-level", "DEBUG", "live", "stop", "--account", "acct", "--flatten", "--json")
    assert ok.code == 0, ok
    outputs = "".join(r.out + r.err for r in (bad, stop_bad, skew, ok))
    written = everything_written(home)
    logs = "".join(p.read_text() for p in (home / "logs").glob("tradebot.log*"))
    assert "live acct: stopped by command" in logs  # something to grep: the log file ...
    assert b"Signature for this request" in written  # ... and the failed stop's error event in the store
    for secret in (KEY, SECRET, WRONG):
        assert secret not in outputs
        assert secret.encode() not in written


def test_bad_input_is_one_line_and_sends_nothing(run, home, rx, live_env, monkeypatch):
    rx.clear_request_log()
    for args, message in [
        (("live", "stop", "--account", "nope"), "no live account named 'nope'"),
        (("live", "resume", "--account", "nope"), "no live account named 'nope'"),
        (("live", "reconcile", "--account", "nope"), "no live account named 'nope'"),
    ]:
        r = run(*args)
        assert r.code == 2 and r.err.strip() == f"error: {message}", r
    monkeypatch.delenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY")
    monkeypatch.delenv("TRADEBOT_EXCHANGES__BINANCE__SECRET")
    nokeys = run("live", "stop", "--account", "acct")
    assert nokeys.code == 2 and len(nokeys.err.strip().splitlines()) == 1, nokeys
    assert private(rx) == []
    db = sqlite3.connect(home / "tradebot.db")
    assert db.execute("SELECT count(*) FROM live_switches").fetchall() == [(0,)]  # nothing stored
    db.close()
