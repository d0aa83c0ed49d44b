"""Private trading through the ccxt adapter against the replay exchange: client order ids,
lookups and cancels by client id, fills with fees, market rules, the translation of
refusals into tradebot errors, and credentials that never show."""

from __future__ import annotations

import functools
import logging
import os
from decimal import Decimal

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.errors import (
    ClockSkew,
    ConfigError,
    DuplicateClientOrderId,
    ExchangeAuthError,
    ExchangeUnavailable,
    InsufficientFunds,
    OrderNotFound,
    OrderRejected,
    UsageError,
)
from tradebot.exchanges.ccxt_exchange import CcxtExchange
from tradebot.exchanges.credentials import load_credentials
from tradebot.exchanges.port import AccountTrade, Order, TradingExchange
from tradebot.exchanges.retry import RetryPolicy
from tradebot.testing.replay_exchange import FaultConfig, ReplayExchange, ReplayMarket


def synthetic_candles(n: int) -> Candles:
    """A 1m random walk on a 0.01 tick with volumes on 1e-5 steps (as tests/testing's)."""
    rng = np.random.default_rng(7)
    close = np.round(30_000 + np.cumsum(rng.normal(0, 20, n)), 2)
    open_ = np.round(np.r_[close[0], close[:-1]], 2)
    high = np.round(np.maximum(open_, close) + rng.uniform(0, 15, n), 2)
    low = np.round(np.minimum(open_, close) - rng.uniform(0, 15, n), 2)
    volume = np.round(rng.uniform(0.5, 50, n), 5)
    ts = 1_699_999_980_000 + np.arange(n, dtype=np.int64) * 60_000
    return Candles(ts, open_, high, low, close, volume, symbol="BTC/USDT", timeframe="1m", source="synthetic")

KEY, SECRET = "live-key-Q29uZmlkZW50aWFs", "live-secret-c2VjcmV0LXZhbHVl"
FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture(scope="module")
def server():
    candles = synthetic_candles(400)
    rx = ReplayExchange([ReplayMarket("BTC/USDT", candles)], api_keys={KEY: SECRET},
                        now_ms=int(candles.timestamp[300]) + 30_000)
    rx.start()
    yield rx
    rx.stop()


@pytest.fixture
def rx(server):
    server.faults = FaultConfig()
    server.clock_skew_ms = 0
    server.clear_request_log()
    yield server
    server.faults = FaultConfig()
    server.clock_skew_ms = 0


def adapter(rx, secret: str = SECRET, **kw) -> CcxtExchange:
    return CcxtExchange("binance", base_url=rx.url, api_key=KEY, secret=secret, rate_limit=False, retry=FAST,
                        timeout_ms=kw.pop("timeout_ms", 2000), **kw)


def last_price(rx) -> float:
    return float(rx.market("BTC/USDT").series.last_price(rx.now_ms))


def test_orders_by_client_id_fills_and_fees(rx):
    ex = adapter(rx)
    assert isinstance(ex, TradingExchange)
    assert ex.fetch_order_by_client_id("tb-none", "BTC/USDT") is None
    order = ex.create_order("BTC/USDT", "buy", "market", 0.01, client_order_id="tb-a-1")
    assert isinstance(order, Order) and order.client_order_id == "tb-a-1" and order.status == "closed"
    assert order.filled == 0.01 and order.fees == (("BTC", 0.00001),)
    found = ex.fetch_order_by_client_id("tb-a-1", "BTC/USDT")
    assert found is not None and found.id == order.id and found.filled == 0.01
    trades = ex.fetch_my_trades("BTC/USDT", order_id=order.id)
    assert trades == [AccountTrade(trades[0].id, order.id, "BTC/USDT", "buy", last_price(rx), 0.01,
                                   trades[0].cost, 0.00001, "BTC", trades[0].timestamp_ms, False)]
    resting = ex.create_order("BTC/USDT", "buy", "limit", 0.01, round(last_price(rx) * 0.8, 2),
                              client_order_id="tb-a-2")
    assert resting.status == "open" and [o.client_order_id for o in ex.fetch_open_orders("BTC/USDT")] == ["tb-a-2"]
    with pytest.raises(DuplicateClientOrderId, match="duplicate client order id"):
        ex.create_order("BTC/USDT", "buy", "limit", 0.01, round(last_price(rx) * 0.8, 2), client_order_id="tb-a-2")
    cancelled = ex.cancel_order(None, "BTC/USDT", client_order_id="tb-a-2")
    assert cancelled.id == resting.id and cancelled.status == "canceled"
    with pytest.raises(OrderNotFound):
        ex.cancel_order(resting.id, "BTC/USDT")
    balance = ex.fetch_balance()
    assert balance["USDT"]["used"] == 0 and balance["BTC"]["total"] == pytest.approx(1.00999)


def test_receive_window_is_what_ccxt_sends(rx):
    assert adapter(rx).recv_window_ms == 10_000
    ex = adapter(rx, recv_window_ms=1500)
    ex.fetch_balance()
    assert ex.recv_window_ms == 1500
    assert [e.params["recvWindow"] for e in rx.request_log if e.endpoint == "account"] == ["1500"]
    with pytest.raises(UsageError, match="invalid receive window 70000"):
        adapter(rx, recv_window_ms=70_000)


def test_market_rules_from_load_markets(rx):
    rules = adapter(rx).market_rules("btc/usdt")
    assert (rules.symbol, rules.tick_size, rules.step_size, rules.min_notional) == \
        ("BTC/USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("5"))
    ok = rules.prepare(0.0123456789, 30000.006)
    assert ok.ok and ok.amount == Decimal("0.01234") and ok.price == Decimal("30000.01")
    small = rules.prepare(0.0001, 30000)
    assert not small.ok and "notional 3 is below the minimum 5" in small.reason
    assert rules.prepare(0.000001, 30000).reason.startswith("amount 0.000001 rounds to 0")
    market = rules.prepare(0.0001, None, reference_price=30000)
    assert not market.ok and "notional" in market.reason


def test_refusals_are_translated(rx):
    ex = adapter(rx)
    with pytest.raises(InsufficientFunds):
        ex.create_order("BTC/USDT", "sell", "market", 50.0, client_order_id="tb-r-1")
    with pytest.raises(OrderRejected, match="order rejected: .*NOTIONAL"):
        ex.create_order("BTC/USDT", "buy", "limit", 0.0001, 100.0, client_order_id="tb-r-2")
    rx.clock_skew_ms = 30_000
    with pytest.raises(ClockSkew, match="clock skew") as info:
        ex.fetch_balance()
    assert info.value.exit_code == 2
    rx.clock_skew_ms = 0
    with pytest.raises(ExchangeAuthError, match="Signature for this request is not valid"):
        adapter(rx, secret="wrong-secret-value").fetch_balance()
    refused_orders = [e for e in rx.request_log if e.endpoint == "order_new"]
    assert len(refused_orders) == 2 and not any(e.status == 200 for e in refused_orders)
    assert len([e for e in rx.request_log if e.endpoint == "account"]) == 2  # clock/auth: not retried


def test_a_lost_answer_is_not_retried_by_the_adapter(rx):
    ex = adapter(rx)
    ex.load_markets()
    rx.faults = FaultConfig(rate=1.0, kinds=("lost_answer",), endpoints=("order_new",))
    with pytest.raises(ExchangeUnavailable):
        ex.create_order("BTC/USDT", "buy", "market", 0.01, client_order_id="tb-lost-1")
    rx.faults = FaultConfig()
    assert [e.endpoint for e in rx.request_log if e.endpoint == "order_new"] == ["order_new"]  # sent once
    assert ex.fetch_order_by_client_id("tb-lost-1", "BTC/USDT").status == "closed"  # yet it was placed
    rx.faults = FaultConfig(rate=1.0, kinds=("rate_limit",), endpoints=("order_new",), retry_after_s=0.01)
    with pytest.raises(ExchangeUnavailable, match="rate limited"):  # refused each time: retried, never placed
        ex.create_order("BTC/USDT", "buy", "market", 0.01, client_order_id="tb-limited")
    assert sum(e.endpoint == "order_new" and e.fault == "rate_limit" for e in rx.request_log) == FAST.max_attempts


def test_secrets_never_appear_in_errors_logs_or_reprs(rx, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    produced: list[str] = []
    for secret in (SECRET, "wrong-secret-value"):
        ex = adapter(rx, secret=secret)
        produced.append(repr(ex))
        order = functools.partial(ex.create_order, "BTC/USDT", "buy", "limit", 0.0001, 100.0,
                                  client_order_id="tb-s-1")
        for call in (ex.fetch_balance, order):
            try:
                call()
            except Exception as e:  # noqa: BLE001 - every error's text is checked below
                produced += [str(e), repr(e), str(e.__cause__)]
    env = {"TRADEBOT_EXCHANGES__BINANCE__API_KEY": KEY, "TRADEBOT_EXCHANGES__BINANCE__SECRET": SECRET}
    creds = load_credentials("binance", environ=env)
    produced += [repr(creds), str(creds), caplog.text]
    text = "\n".join(produced)
    assert "Signature for this request is not valid" in text  # the errors were produced
    assert KEY not in text and SECRET not in text
    assert creds.adapter_kwargs() == {"api_key": KEY, "secret": SECRET, "password": None}


def test_credentials_from_a_0600_secrets_file_only(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text(f'[exchanges.binance]\napi_key = "{KEY}"\nsecret = "{SECRET}"\n')
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match=r"has mode 0644: it must be readable by its owner only") as info:
        load_credentials("binance", environ={}, secrets_file=path)
    assert SECRET not in str(info.value)
    os.chmod(path, 0o600)
    creds = load_credentials("Binance", environ={"TRADEBOT_SECRETS_FILE": str(path)})
    assert creds.values() == (KEY, SECRET) and creds.source == str(path)
    with pytest.raises(ConfigError, match="no API keys for okx: set TRADEBOT_EXCHANGES__OKX__API_KEY"):
        load_credentials("okx", environ={}, secrets_file=path)
    with pytest.raises(ConfigError, match="TRADEBOT_EXCHANGES__BINANCE__SECRET is not set"):
        load_credentials("binance", environ={"TRADEBOT_EXCHANGES__BINANCE__API_KEY": KEY})
    path.write_text(f'[exchanges.binance]\napi_key = "{KEY}\nsecret = 1\n')
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_credentials("binance", environ={}, secrets_file=path)
    assert KEY not in str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        load_credentials("binance", environ={}, secrets_file=tmp_path / "missing.toml")
