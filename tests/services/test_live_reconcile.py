"""Reconciliation of a live account against the replay exchange (unmodified ccxt, real
SQLite): the first baseline, a balance difference beyond dust, an unknown open order, a
missing position, a missing order, a capital shortfall, and adopting the exchange's view."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

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
from tradebot.data.live_models import LiveFill
from tradebot.services.live_guards import adopt_exchange_view, reconcile_account


@pytest.fixture
def rx():
    server = start_exchange()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path, rx):
    ctx = make_ctx(tmp_path)
    acct = make_account(ctx)
    ex = adapter(rx)
    buy_through_account(ctx, acct, ex, 0.01)
    yield ctx, acct, ex
    ex.close()
    ctx.close()


def reconcile(ctx, acct, ex, adopt=False):
    with ctx.store.session() as s:
        report = reconcile_account(ctx, s, acct, ex, dust=ctx.settings.live.dust)
        if adopt:
            adopt_exchange_view(ctx, s, acct, report)
    return report


def rows(ctx, sql):
    conn = sqlite3.connect(ctx.home / "tradebot.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_first_reconciliation_records_the_baseline_and_later_ones_match(env):
    ctx, acct, ex = env
    first = reconcile(ctx, acct, ex)
    assert first.ok and first.first and first.differences == []
    # the exchange's own money (10000 USDT, 1 BTC before the account's buy) is the baseline
    base = dict(rows(ctx, "SELECT asset, amount FROM live_baselines"))
    assert base["BTC"] == pytest.approx(1.0) and base["USDT"] == pytest.approx(10_000 - 1000)
    again = reconcile(ctx, acct, ex)
    assert again.ok and not again.first
    assert again.assets["BTC"]["expected"] == pytest.approx(again.assets["BTC"]["exchange"])
    assert again.positions == {SYMBOL: pytest.approx(0.01)}
    assert rows(ctx, "SELECT ok, adopted FROM live_reconciliations") == [(1, 0), (1, 0)]
    assert "reconciliation of acct: OK" in again.render()


def test_balance_difference_beyond_dust_stops_and_adopt_takes_the_exchange_view(env, rx):
    ctx, acct, ex = env
    assert reconcile(ctx, acct, ex).ok
    rx.dialect.orders.free["USDT"] -= Decimal("0.0001")  # within dust (0.1 % of the account's ~724 USDT)
    assert reconcile(ctx, acct, ex).ok
    rx.dialect.orders.free["USDT"] -= Decimal("50")  # a withdrawal the ledger does not know
    report = reconcile(ctx, acct, ex)
    assert not report.ok
    [d] = report.differences
    assert (d.kind, d.subject) == ("balance", "USDT")
    assert d.exchange - d.expected == pytest.approx(-50.0001)
    text = report.render()
    assert "1 difference beyond dust" in text and "balance USDT" in text and "STOPPED" in text
    assert report.to_dict()["differences"][0]["kind"] == "balance"
    reconcile(ctx, acct, ex, adopt=True)
    events = rows(ctx, "SELECT kind, detail FROM live_events WHERE kind = 'adopt'")
    assert len(events) == 1 and '"USDT"' in events[0][1] and "balance USDT" in events[0][1]
    assert rows(ctx, "SELECT source FROM live_baselines WHERE asset = 'USDT'") == [("adopt",)]
    assert reconcile(ctx, acct, ex).ok  # the exchange's view is the expected one now


def test_unknown_open_order_is_reported_and_adopting_leaves_it_alone(env, rx):
    ctx, acct, ex = env
    assert reconcile(ctx, acct, ex).ok
    manual = ex.create_order(SYMBOL, "buy", "limit", 0.001, round(last_price(rx) * 0.7, 2),
                             client_order_id="manual-order-1")
    report = reconcile(ctx, acct, ex)
    assert [(d.kind, d.subject) for d in report.differences] == [("unknown_order", "manual-order-1")]
    assert "not in the ledger" in report.differences[0].line()
    rx.clear_request_log()
    reconcile(ctx, acct, ex, adopt=True)
    assert reconcile(ctx, acct, ex).ok
    assert not [e for e in rx.request_log if e.method == "DELETE"]  # not cancelled
    assert [o.id for o in ex.fetch_open_orders(SYMBOL)] == [manual.id]


def test_missing_position_on_the_exchange(env):
    ctx, acct, ex = env
    assert reconcile(ctx, acct, ex).ok
    with ctx.store.session() as s:  # the ledger holds a buy the exchange never made
        s.add(LiveFill(account_id=acct, trade_id="ghost-1", client_order_id=None, symbol=SYMBOL, side="buy",
                       price=30_000.0, amount=0.02, fee_cost=0.0, fee_currency=None, ts_ms=1))
    report = reconcile(ctx, acct, ex)
    kinds = {(d.kind, d.subject) for d in report.differences}
    assert ("position", SYMBOL) in kinds and ("balance", "USDT") in kinds
    pos = next(d for d in report.differences if d.kind == "position")
    assert pos.expected - pos.exchange == pytest.approx(0.02)


def test_missing_order_is_closed_in_the_ledger_by_adopt(env):
    ctx, acct, ex = env
    rec = limit_through_account(ctx, acct, ex, 0.001, 10_000.0)
    assert rec.state.value == "acknowledged"
    assert reconcile(ctx, acct, ex).ok
    ex.cancel_order(None, SYMBOL, client_order_id=rec.client_order_id)  # cancelled behind the ledger's back
    report = reconcile(ctx, acct, ex)
    assert [(d.kind, d.subject) for d in report.differences] == [("missing_order", rec.client_order_id)]
    reconcile(ctx, acct, ex, adopt=True)
    [(state, reason)] = rows(ctx, f"SELECT state, reason FROM live_orders WHERE client_order_id = "
                                  f"'{rec.client_order_id}'")
    assert state == "cancelled" and "adopted" in reason
    assert reconcile(ctx, acct, ex).ok


def test_capital_the_exchange_does_not_hold(tmp_path, rx):
    ctx = make_ctx(tmp_path)
    acct = make_account(ctx, capital=50_000.0)  # the exchange holds 10 000 USDT
    with adapter(rx) as ex:
        report = reconcile(ctx, acct, ex)
        assert [(d.kind, d.subject) for d in report.differences] == [("capital", "USDT")]
        assert rows(ctx, "SELECT count(*) FROM live_baselines") == [(0,)]  # no baseline from a bad start
        assert not reconcile(ctx, acct, ex).ok
    ctx.close()
