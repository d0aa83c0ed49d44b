"""The kill switch of a live account against the replay exchange (unmodified ccxt, real
SQLite): stop by command and by the kill file cancels the account's open orders on the
exchange (the server's state and request log), leaves other orders alone, refuses entries
until resume, and --flatten sells the position once."""

from __future__ import annotations

import sqlite3

import pytest

from tests.services.live_guard_env import (
    SYMBOL,
    adapter,
    buy_through_account,
    last_price,
    limit_through_account,
    make_account,
    make_ctx,
    start_exchange,
)
from tradebot.core.errors import UsageError
from tradebot.core.orders import client_order_id
from tradebot.services.live_guards import enforce_kill, kill_state, reconcile_account, resume_account, stop_account


@pytest.fixture
def rx():
    server = start_exchange()
    yield server
    server.stop()


def rows(ctx, sql):
    conn = sqlite3.connect(ctx.home / "tradebot.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def state(ctx, acct):
    with ctx.store.session() as s:
        return kill_state(ctx, s, acct)


def cancels(rx):
    return [e.params.get("origClientOrderId") or e.params.get("orderId") for e in rx.request_log
            if e.endpoint == "order_cancel" and e.status == 200]


def test_stop_by_command_cancels_open_orders_and_refuses_entries_until_resume(tmp_path, rx):
    ctx = make_ctx(tmp_path)
    acct = make_account(ctx)
    ex = adapter(rx)
    low = round(last_price(rx) * 0.7, 2)
    a = limit_through_account(ctx, acct, ex, 0.001, low, bar_ms=60_000)
    b = limit_through_account(ctx, acct, ex, 0.002, low, bar_ms=120_000)
    manual = ex.create_order(SYMBOL, "buy", "limit", 0.001, low, client_order_id="manual-keep")
    assert not state(ctx, acct).stopped
    rx.clear_request_log()
    result = stop_account(ctx, "acct", ex, reason="test stop")
    assert set(result.cancelled) == {a.client_order_id, b.client_order_id} and result.left == ("manual-keep",)
    assert result.errors == () and "2 open orders cancelled" in result.summary()
    # on the exchange: only the manual order is still open; two cancel requests carried out
    assert [o.client_order_id for o in ex.fetch_open_orders(SYMBOL)] == [manual.client_order_id]
    assert len(cancels(rx)) == 2 and not [e for e in rx.request_log if e.endpoint == "order_new"]
    assert dict(rows(ctx, "SELECT client_order_id, state FROM live_orders")) == {
        a.client_order_id: "cancelled", b.client_order_id: "cancelled"}
    ks = state(ctx, acct)
    assert ks.stopped and ks.reason == "test stop" and ks.by == "command" and not ks.flatten
    kinds = [k for (k,) in rows(ctx, "SELECT kind FROM live_events ORDER BY id")]
    assert kinds.count("kill_switch") == 2  # the switch, then what it did
    # still stopped for every later look until resume
    assert state(ctx, acct).stopped
    resume_account(ctx, "acct")
    assert not state(ctx, acct).stopped
    assert rows(ctx, "SELECT stopped, by FROM live_switches") == [(0, "command")]
    ex.close()
    ctx.close()


def test_flatten_sells_the_position_once(tmp_path, rx):
    ctx = make_ctx(tmp_path)
    acct = make_account(ctx)
    ex = adapter(rx)
    buy_through_account(ctx, acct, ex, 0.01)  # the fee is charged in BTC: the account holds 0.00999
    with ctx.store.session() as s:
        assert reconcile_account(ctx, s, acct, ex, dust=ctx.settings.live.dust).ok
    btc_before = ex.fetch_balance()["BTC"]["total"]
    rx.clear_request_log()
    result = stop_account(ctx, "acct", ex, flatten=True, reason="flatten test", now_ms=1_700_000_000_000)
    [f] = result.flattened
    cid = client_order_id("acct", SYMBOL, 1_700_000_000_000, "flatten")
    assert f["client_order_id"] == cid and f["state"] == "filled" and f["amount"] == pytest.approx(0.00999)
    news = [e for e in rx.request_log if e.endpoint == "order_new"]
    assert [(e.params["side"], e.params["type"], e.params["newClientOrderId"]) for e in news] == [
        ("SELL", "MARKET", cid)]
    assert ex.fetch_balance()["BTC"]["total"] == pytest.approx(btc_before - 0.00999)
    sells = rows(ctx, f"SELECT side, amount FROM live_fills WHERE client_order_id = '{cid}'")
    assert sells and sum(a for _, a in sells) == pytest.approx(0.00999) and {s for s, _ in sells} == {"sell"}
    with ctx.store.session() as s:  # the ledger knows the sale: still reconciled
        assert reconcile_account(ctx, s, acct, ex, dust=ctx.settings.live.dust).ok
    # the same stop again (e.g. after a crash): no second sale
    rx.clear_request_log()
    again = stop_account(ctx, "acct", ex, flatten=True)
    assert not [e for e in rx.request_log if e.endpoint == "order_new"] and again.flattened == ()
    ex.close()
    ctx.close()


def test_kill_file_stops_cancels_and_needs_resume(tmp_path, rx):
    ctx = make_ctx(tmp_path, kill_file="stop-{account}")
    acct = make_account(ctx)
    ex = adapter(rx)
    rec = limit_through_account(ctx, acct, ex, 0.001, round(last_price(rx) * 0.7, 2))
    assert not enforce_kill(ctx, "acct", ex).stopped
    kill = tmp_path / "stop-acct"
    kill.write_text("")
    ks = state(ctx, acct)
    assert ks.stopped and ks.by == "file" and str(kill) in (ks.reason or "")
    rx.clear_request_log()
    enforced = enforce_kill(ctx, "acct", ex)
    assert enforced.stopped and enforced.by == "file"
    assert cancels(rx) == [rec.exchange_order_id] and ex.fetch_open_orders(SYMBOL) == []
    rx.clear_request_log()
    enforce_kill(ctx, "acct", ex)  # handled once: no more requests
    assert cancels(rx) == []
    with pytest.raises(UsageError, match="remove it before resuming"):
        resume_account(ctx, "acct")
    kill.unlink()
    assert state(ctx, acct).stopped  # removing the file does not resume
    resume_account(ctx, "acct")
    assert not state(ctx, acct).stopped
    ex.close()
    ctx.close()


def test_dry_run_stop_sends_nothing(tmp_path, rx):
    ctx = make_ctx(tmp_path)
    acct = make_account(ctx, name="dry", mode="dry-run")
    from tradebot.core.orders import OrderRecord, OrderState
    from tradebot.services.live_journal import StoreOrderJournal

    journal = StoreOrderJournal(ctx.store, acct)
    rec = OrderRecord.intend("dry", SYMBOL, 60_000, "buy", "buy", "limit", 0.001, 20_000.0, 1)
    journal.put(rec.move(OrderState.SENT, 2, "dry run").move(OrderState.ACKNOWLEDGED, 3, "dry run"))
    ex = adapter(rx)
    rx.clear_request_log()
    result = stop_account(ctx, "dry", ex)
    assert result.dry_run and result.cancelled == (rec.client_order_id,)
    assert not [e for e in rx.request_log if e.endpoint in ("order_new", "order_cancel")]
    assert rows(ctx, "SELECT state FROM live_orders") == [("cancelled",)]
    with pytest.raises(UsageError, match="no live account named 'nope'"):
        stop_account(ctx, "nope", ex)
    ex.close()
    ctx.close()


def test_a_stopped_live_account_sends_no_entry_until_resume(tmp_path, monkeypatch):
    """End to end through ``run_live``: stop by command and by the kill file, then resume."""
    import os

    from tradebot.core.config import load_settings
    from tradebot.core.pairs import PairList
    from tradebot.services.context import Context
    from tradebot.services.live import run_live
    from tradebot.services.live_admin import resume, stop
    from tradebot.testing.live_harness import KEY, SECRET, LiveHarness, walk

    for key in list(os.environ):
        if key.upper().startswith("TRADEBOT_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", KEY)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)
    pairs = PairList((SYMBOL,), "test")
    with LiveHarness([walk(SYMBOL, 120)]) as h:
        ctx = Context(load_settings(env={}, overrides={
            "home": str(tmp_path), "market": {"exchange": "binance", "timeframe": "1m"},
            "strategy": {"name": "rsi", "params": {"period": 3, "lower": 35, "upper": 65}},
            "exchanges": {"binance": {"base_url": h.url, "rate_limit": False, "timeout_ms": 2000}},
            "live": {"enabled": True, "max_price_deviation_pct": 50.0, "kill_file": "KILL"}}))

        def buys() -> int:
            return sum(r.params.get("side") == "BUY" for r in h.accepted_orders())

        h.close_bar(55)
        run_live(ctx, "acct", pairs, yes=True)
        stop(ctx, "acct", reason="by hand")
        refused: list[str] = []
        for i in range(56, 90):
            h.close_bar(i)
            r = run_live(ctx, "acct", pairs)
            assert r.stopped is not None and "by hand" in r.stopped
            refused += [o.reason or "" for o in r.orders if o.action == "rejected"]
        assert buys() == 0 and refused and all(x.startswith("kill switch") for x in refused)
        resume(ctx, "acct")
        for i in range(90, 119):
            h.close_bar(i)
            r = run_live(ctx, "acct", pairs)
            assert r.stopped is None
            if buys():
                break
        assert buys() >= 1  # entries again after resume
        (tmp_path / "KILL").write_text("")
        h.close_bar(119)
        r = run_live(ctx, "acct", pairs)
        assert r.stopped is not None and "kill file" in r.stopped
        assert rows(ctx, "SELECT stopped, by FROM live_switches") == [(1, "file")]  # handled: resume needed
        ctx.close()
