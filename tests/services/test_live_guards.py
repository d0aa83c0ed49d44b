"""The limits of ``[live]`` (each refuses with its reason), the settings' validation, and
live notifications reaching a local webhook through the apprise rules and templates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.notify.conftest import http_receiver  # noqa: F401  (the local webhook fixture)
from tests.services.live_guard_env import SYMBOL, adapter, limit_through_account, make_account, start_exchange
from tradebot.core.config import load_settings
from tradebot.core.live_config import DustSettings, LiveSettings
from tradebot.core.orders import OrderRecord
from tradebot.services.context import Context
from tradebot.services.live_guards import LIVE_KINDS, check_intent, notify_live, stop_account, utc_day_start_ms

LIMITS = LiveSettings(max_order_notional=1_000, max_daily_notional=5_000, max_open_orders=3,
                      max_price_deviation_pct=2.0)


def intent(side: str = "buy", amount: float = 0.01, price: float | None = None) -> OrderRecord:
    return OrderRecord.intend("acct", SYMBOL, 60_000, side, side, "limit" if price else "market", amount, price, 1)


def check(rec: OrderRecord, settings: LiveSettings = LIMITS, *, last: float = 30_000.0, close: float = 30_000.0,
          open_orders: int = 0, traded: float = 0.0) -> str | None:
    return check_intent(settings, rec, last_price=last, signal_close=close, open_orders=open_orders,
                        traded_today=traded)


def test_an_order_within_every_limit_passes() -> None:
    assert check(intent(amount=0.03)) is None  # 900 notional, nothing open, nothing traded


@pytest.mark.parametrize(("kw", "rec", "reason"), [
    ({}, intent(amount=0.04), "order notional 1200 above live.max_order_notional 1000"),
    ({"traded": 4_500.0}, intent(amount=0.02), "daily notional 4500 + 600 would pass live.max_daily_notional 5000"),
    ({"open_orders": 3}, intent(), "3 open orders: live.max_open_orders is 3"),
    ({"last": 30_700.0}, intent(), "last price 30700 is 2.33% from the signal's close 30000: above "
                                   "live.max_price_deviation_pct 2"),
    ({"last": 29_000.0}, intent("sell"), "3.33% from the signal's close"),
])
def test_each_limit_refuses_with_its_reason(kw, rec, reason) -> None:  # type: ignore[no-untyped-def]
    got = check(rec, **kw)
    assert got is not None and reason in got, got


def test_a_limit_order_is_valued_at_its_price() -> None:
    assert check(intent(amount=0.02, price=40_000.0)) is None  # 800
    assert "order notional 1200 above" in (check(intent(amount=0.03, price=40_000.0)) or "")


def test_sells_are_not_held_by_the_notional_limits() -> None:
    big_sell = intent("sell", amount=1.0)
    assert check(big_sell, traded=4_999.0) is None
    assert check(intent("buy", amount=1.0), traded=4_999.0) is not None


def test_no_limits_set_means_only_the_defaults() -> None:
    s = LiveSettings()
    assert s.max_order_notional is None and s.max_daily_notional is None and s.max_open_orders == 4
    assert check(intent(amount=100.0), s) is None
    assert check(intent(), s, open_orders=4) is not None
    assert utc_day_start_ms(86_400_000 * 3 + 5) == 86_400_000 * 3


@pytest.mark.parametrize(("values", "message"), [
    ({"max_order_notional": -5}, "live.max_order_notional must be a positive number"),
    ({"max_daily_notional": 0}, "live.max_daily_notional must be a positive number"),
    ({"max_open_orders": 0}, "live.max_open_orders must be at least 1"),
    ({"max_price_deviation_pct": 150}, "live.max_price_deviation_pct must be below 100"),
    ({"kill_file": " "}, "live.kill_file must be a path"),
    ({"kill_file": "stop-{name}"}, "may only hold the placeholder {account}"),
    ({"recv_window_ms": 70_000}, "live.recv_window_ms must be between 1 and 60000"),
    ({"dust": {"rel": 1.5}}, "live.dust.rel must be in [0, 1)"),
    ({"dust": {"assets": {"USDT": -1}}}, "live.dust.assets.USDT must be a number >= 0"),
    ({"max_orders": 3}, "max_orders"),
])
def test_bad_settings_are_named(values, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        LiveSettings(**values)


def test_dust_tolerance_per_asset_and_relative() -> None:
    d = DustSettings(abs=1e-8, rel=0.001, assets={"usdt": 0.5})
    assert d.tolerance("USDT", 100.0) == 0.5 and d.tolerance("USDT", 1000.0) == 1.0
    assert d.tolerance("BTC", 0.0) == 1e-8


def test_live_notifications_reach_a_local_webhook(tmp_path, http_receiver) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    ctx = Context(load_settings(env={}, overrides={
        "home": str(tmp_path), "notify": {"channels": {"hook": {"url": http_receiver.url()}}}}))
    for kind in LIVE_KINDS:
        notify_live(ctx, "acct", kind, {"symbol": SYMBOL, "side": "buy", "amount": 0.01, "reason": f"why-{kind}"})
    bodies = [r.json() for r in http_receiver.requests]
    assert len(bodies) == len(LIVE_KINDS)
    assert [b["title"] for b in bodies] == [
        "[acct] LIVE order sent", "[acct] LIVE fill", "[acct] LIVE order REFUSED",
        "[acct] LIVE reconciliation: trading STOPPED", "[acct] LIVE kill switch", "[acct] LIVE ERROR"]
    assert all("BUY 0.01 BTC/USDT" in b["message"] and "why-" in b["message"] for b in bodies)
    http_receiver.requests.clear()
    notify_live(ctx, "acct", "fill", {"symbol": SYMBOL, "side": "sell", "amount": 0.5, "price": 31_000.0,
                                      "fee_cost": 15.5, "fee_currency": "USDT", "ts_ms": 1_704_067_200_000})
    [fill] = [r.json() for r in http_receiver.requests]
    assert "SELL 0.5 BTC/USDT at 31000 (fee 15.5 USDT)" in fill["message"] and "2024-01-01 00:00" in fill["message"]
    with pytest.raises(ValueError, match="unknown live notification kind"):
        notify_live(ctx, "acct", "nonsense", {})
    # a stop tells the channel what it did
    rx = start_exchange()
    try:
        acct = make_account(ctx)
        with adapter(rx) as ex:
            limit_through_account(ctx, acct, ex, 0.001, 10_000.0)
            http_receiver.requests.clear()
            stop_account(ctx, "acct", ex, reason="going to bed")
    finally:
        rx.stop()
        ctx.close()
    [msg] = [r.json() for r in http_receiver.requests]
    assert msg["title"] == "[acct] LIVE kill switch"
    assert "going to bed" in msg["message"] and "1 open order cancelled" in msg["message"]


def test_a_live_run_refuses_what_a_limit_refuses_and_sends_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Through ``run_live``: with a 1 USDT order cap every buy is stored rejected with the
    limit's reason and a reject event; the exchange receives no order."""
    import os
    import sqlite3

    from tradebot.core.pairs import PairList
    from tradebot.services.live import run_live
    from tradebot.testing.live_harness import KEY, SECRET, LiveHarness, walk

    for key in list(os.environ):
        if key.upper().startswith("TRADEBOT_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", KEY)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)
    with LiveHarness([walk(SYMBOL, 100)]) as h:
        ctx = Context(load_settings(env={}, overrides={
            "home": str(tmp_path), "market": {"exchange": "binance", "timeframe": "1m"},
            "strategy": {"name": "rsi", "params": {"period": 3, "lower": 35, "upper": 65}},
            "exchanges": {"binance": {"base_url": h.url, "rate_limit": False, "timeout_ms": 2000}},
            "live": {"enabled": True, "max_price_deviation_pct": 50.0, "max_order_notional": 1.0}}))
        for i in range(55, 90):
            h.close_bar(i)
            run_live(ctx, "acct", PairList((SYMBOL,), "test"), yes=True)
        ctx.close()
        assert h.order_requests() == []
    db = sqlite3.connect(tmp_path / "tradebot.db")
    rejected = db.execute("SELECT side, state, reason FROM live_orders").fetchall()
    events = db.execute("SELECT detail FROM live_events WHERE kind = 'reject'").fetchall()
    db.close()
    assert rejected and all(s == "buy" and st == "rejected" and "above live.max_order_notional 1" in r
                            for s, st, r in rejected)
    assert len(events) == len(rejected)
