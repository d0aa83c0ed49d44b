"""The replay exchange's private Binance spot endpoints, driven by unmodified ccxt over HTTP:
orders by client id, balances with fees, fills on the candles, filters, signatures, clock
checks, lost and late answers, and the request log."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.parse

import ccxt
import pytest

from tradebot.testing.replay_exchange import FaultConfig, ReplayMarket
from tradebot.testing.replay_orders import AccountConfig

KEY, SECRET = "test-key-0123456789", "test-secret-abcdefghijklmnop"
M1 = 60_000


@pytest.fixture
def market(make_candles):
    return make_candles(400)


@pytest.fixture
def rx(replay, market):
    """Keys checked; the clock 30 s into candle 300 (of 400)."""
    return replay([ReplayMarket("BTC/USDT", market)], api_keys={KEY: SECRET},
                  now_ms=int(market.timestamp[300]) + 30_000, balances={"USDT": 10_000.0, "BTC": 1.0, "BNB": 1.0})


@pytest.fixture
def ex(rx, client):
    return client("binance", rx.url, apiKey=KEY, secret=SECRET)


def signed(rx, method: str, path: str, params: dict[str, str], secret: str = SECRET) -> tuple[int, dict]:
    """A signed request written by hand (ccxt would round the values first)."""
    query = urllib.parse.urlencode({**params, "timestamp": str(int(time.time() * 1000))})
    query += "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    host, port = rx.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        if method == "POST":
            conn.request(method, path, body=query, headers={"X-MBX-APIKEY": KEY,
                                                            "Content-Type": "application/x-www-form-urlencoded"})
        else:
            conn.request(method, f"{path}?{query}", headers={"X-MBX-APIKEY": KEY})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def placed(rx, client_id: str) -> int:
    """New-order requests the server carried out for ``client_id`` (from its request log)."""
    return sum(1 for e in rx.request_log if e.endpoint == "order_new" and e.processed and e.status == 200
               and e.params.get("newClientOrderId") == client_id)


def test_market_order_by_client_id_fills_at_the_replay_price_with_fee_in_the_received_asset(rx, ex, market):
    order = ex.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "intent-1"})
    price = float(rx.market("BTC/USDT").series.last_price(rx.now_ms))
    assert order["clientOrderId"] == "intent-1" and order["status"] == "closed"
    assert order["filled"] == 0.01 and order["average"] == price
    assert order["fee"] == {"currency": "BTC", "cost": 0.00001}
    balance = ex.fetch_balance()
    assert balance["BTC"]["free"] == pytest.approx(1.0 + 0.01 - 0.00001, abs=1e-12)
    assert balance["USDT"]["free"] == pytest.approx(10_000.0 - 0.01 * price, abs=1e-8)
    again = ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "intent-1"})
    assert again["id"] == order["id"] and again["status"] == "closed"
    trades = ex.fetch_my_trades("BTC/USDT")
    assert [(t["order"], t["amount"], t["price"], t["takerOrMaker"]) for t in trades] == \
        [(order["id"], 0.01, price, "taker")]
    assert placed(rx, "intent-1") == 1
    entry = next(e for e in rx.request_log if e.endpoint == "order_new")
    assert "signature" not in entry.params and entry.api_key


@pytest.mark.parametrize(("fee_asset", "currency", "cost"), [("quote", "USDT", None), ("BNB", "BNB", None)])
def test_fees_in_the_quote_or_bnb(replay, client, market, fee_asset, currency, cost):
    rx = replay([ReplayMarket("BTC/USDT", market)], api_keys={KEY: SECRET}, now_ms=int(market.timestamp[300]) + 1,
                balances={"USDT": 10_000.0, "BNB": 1.0}, account=AccountConfig(fee_asset=fee_asset, bnb_price=500))
    ex = client("binance", rx.url, apiKey=KEY, secret=SECRET)
    order = ex.create_order("BTC/USDT", "market", "buy", 0.1, None, {"clientOrderId": "fee-test"})
    notional = order["cost"]
    expected = notional * 0.001 if fee_asset == "quote" else notional * 0.001 * 0.75 / 500
    assert order["fee"]["currency"] == currency and order["fee"]["cost"] == pytest.approx(expected, abs=1e-8)
    total = ex.fetch_balance()["total"]
    assert total["BTC"] == pytest.approx(0.1)
    if fee_asset == "quote":
        assert total["USDT"] == pytest.approx(10_000.0 - notional - expected, abs=1e-7)
    else:
        assert total["USDT"] == pytest.approx(10_000.0 - notional, abs=1e-7)
        assert total["BNB"] == pytest.approx(1.0 - expected, abs=1e-8)


def test_limit_order_rests_locks_funds_and_fills_by_volume_share_on_later_candles(replay, client, market):
    s0 = 300
    rx = replay([ReplayMarket("BTC/USDT", market)], api_keys={KEY: SECRET},
                now_ms=int(market.timestamp[s0]) + 1, account=AccountConfig(volume_share="0.001"))
    ex = client("binance", rx.url, apiKey=KEY, secret=SECRET)
    # a buy limit below every low of the next candles rests; pick a price the path reaches later
    lows = market.low[s0:]
    price = round(float(min(lows[1:60])) + 0.01, 2)
    hit = next(i for i in range(s0, len(market)) if market.low[i] <= price)
    amount = 0.2
    order = ex.create_order("BTC/USDT", "limit", "buy", amount, price, {"clientOrderId": "rest-1"})
    assert order["status"] == "open" and order["filled"] == 0
    bal = ex.fetch_balance()
    assert bal["USDT"]["used"] == pytest.approx(amount * price) and bal["USDT"]["free"] == pytest.approx(
        10_000 - amount * price)
    assert [o["clientOrderId"] for o in ex.fetch_open_orders("BTC/USDT")] == ["rest-1"]
    rx.now_ms = int(market.timestamp[hit]) + M1  # the crossing candle has closed
    got = ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "rest-1"})
    share = int(float(market.volume[hit]) * 0.001 * 1e5) / 1e5  # at most 0.05 of the 0.2 wanted
    assert got["filled"] == pytest.approx(share) and 0 < share < amount
    assert got["status"] == "open"  # partially filled
    assert got["average"] == price  # a maker fill at the limit price
    rx.now_ms = int(market.timestamp[-1]) + M1
    done = ex.fetch_order(got["id"], "BTC/USDT")
    fills = ex.fetch_my_trades("BTC/USDT")
    assert sum(f["amount"] for f in fills) == pytest.approx(done["filled"])
    assert all(f["takerOrMaker"] == "maker" and f["price"] == price for f in fills)
    if done["status"] == "open":  # cancel the rest: the locked quote comes back
        ex.cancel_order(done["id"], "BTC/USDT")
    bal = ex.fetch_balance()
    assert bal["USDT"]["used"] == 0
    assert bal["USDT"]["total"] == pytest.approx(10_000 - done["filled"] * price, abs=1e-6)


def test_ioc_limit_that_cannot_fill_expires(rx, ex):
    last = float(rx.market("BTC/USDT").series.last_price(rx.now_ms))
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.01, round(last * 0.9, 2),
                            {"clientOrderId": "ioc-1", "timeInForce": "IOC"})
    assert order["status"] == "expired" and order["filled"] == 0
    assert ex.fetch_balance()["USDT"]["used"] == 0


def test_duplicate_open_client_id_cancel_and_unknown_orders(rx, ex):
    last = float(rx.market("BTC/USDT").series.last_price(rx.now_ms))
    low = round(last * 0.8, 2)
    first = ex.create_order("BTC/USDT", "limit", "buy", 0.01, low, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order("BTC/USDT", "limit", "buy", 0.01, low, {"clientOrderId": "dup-1"})
    cancelled = ex.cancel_order(None, "BTC/USDT", {"origClientOrderId": "dup-1"})
    assert cancelled["id"] == first["id"] and cancelled["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        ex.cancel_order(first["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "never-sent"})
    # a client id of an order that is no longer open may be used again (as on Binance)
    second = ex.create_order("BTC/USDT", "limit", "buy", 0.01, low, {"clientOrderId": "dup-1"})
    assert second["id"] != first["id"]
    assert ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "dup-1"})["id"] == second["id"]


def test_filters_and_balance_are_checked_with_binance_codes(rx, ex):
    cases = [
        ({"price": "30000.005", "quantity": "0.01"}, -1013),  # off the 0.01 tick: PRICE_FILTER
        ({"price": "30000", "quantity": "0.000005"}, -1013),  # below the lot step: LOT_SIZE
        ({"price": "30000", "quantity": "0.000155"}, -1013),  # off the lot step
        ({"price": "100", "quantity": "0.01"}, -1013),  # notional 1 < 5: NOTIONAL
        ({"price": "30000", "quantity": "50"}, -2010),  # 1.5M USDT: insufficient balance
        ({"price": "3e4", "quantity": "0.01"}, -1100),
        ({"price": "30000.000000001", "quantity": "0.01"}, -1111),
    ]
    for extra, code in cases:
        status, body = signed(rx, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                            "timeInForce": "GTC", **extra})
        assert (status, body["code"]) == (400, code), (extra, body)
    messages = {body["msg"] for body in (signed(rx, "POST", "/api/v3/order", {
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", **extra})[1]
        for extra, code in cases[:4])}
    assert messages == {"Filter failure: PRICE_FILTER", "Filter failure: LOT_SIZE", "Filter failure: NOTIONAL"}
    status, body = signed(rx, "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                        "quantity": "0.01", "price": "30000"})
    assert body["code"] == -1102 and "timeInForce" in body["msg"]
    assert not rx.dialect.orders.orders  # nothing was placed
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("BTC/USDT", "market", "sell", 5.0)


def test_wrong_signature_unknown_key_and_clock_skew(rx, client):
    bad = client("binance", rx.url, apiKey=KEY, secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        bad.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        client("binance", rx.url, apiKey="unknown-key", secret=SECRET).fetch_balance()
    ex = client("binance", rx.url, apiKey=KEY, secret=SECRET)
    rx.clock_skew_ms = -5_000  # the server is 5 s behind: our timestamps are ahead of it
    with pytest.raises(ccxt.InvalidNonce, match="1000ms ahead"):
        ex.fetch_balance()
    rx.clock_skew_ms = 11_000  # 11 s behind the server: older than ccxt's recvWindow of 10 s
    with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
        ex.create_order("BTC/USDT", "market", "buy", 0.01)
    rx.clock_skew_ms = 8_000  # inside the window
    assert ex.fetch_balance()["USDT"]["free"] == 10_000.0
    rx.clock_skew_ms = 0
    status, body = signed(rx, "GET", "/api/v3/account", {"recvWindow": "70000"})
    assert (status, body["code"]) == (400, -1131)
    host, port = rx.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/api/v3/account?timestamp=1&signature=00")
    r = conn.getresponse()
    assert (r.status, json.loads(r.read())["code"]) == (401, -2014)
    # ccxt's first signed call (load_markets' currencies) met each refusal; none was carried out
    refused = [e for e in rx.request_log if e.status != 200]
    assert [e.status for e in refused] == [400, 401, 400, 400, 400, 401]
    assert not any(e.processed for e in refused)
    assert [e.endpoint for e in rx.request_log if e.processed and e.endpoint in ("account", "order_new")] == \
        ["account"]


def test_lost_and_late_answers_are_processed_before_the_answer_fails(rx, client):
    ex = client("binance", rx.url, apiKey=KEY, secret=SECRET, timeout=400)
    rx.faults = FaultConfig(rate=1.0, kinds=("lost_answer",), endpoints=("order_new",))
    with pytest.raises(ccxt.NetworkError):
        ex.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "lost-1"})
    rx.faults = FaultConfig(rate=1.0, kinds=("late_answer",), endpoints=("order_new",), slow_s=0.8)
    with pytest.raises(ccxt.RequestTimeout):
        ex.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "late-1"})
    rx.faults = FaultConfig()
    for cid in ("lost-1", "late-1"):  # both were placed: the client must look before sending again
        assert ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": cid})["status"] == "closed"
        assert placed(rx, cid) == 1
    log = [e for e in rx.request_log if e.endpoint == "order_new"]
    assert [(e.fault, e.processed, e.answered) for e in log] == [("lost_answer", True, False),
                                                                ("late_answer", True, True)]


def test_without_keys_configured_signatures_are_not_checked(replay, client, market):
    rx = replay([ReplayMarket("BTC/USDT", market)], now_ms=int(market.timestamp[300]) + 1)
    ex = client("binance", rx.url, apiKey="any", secret="thing")
    assert ex.create_order("BTC/USDT", "market", "buy", 0.01)["status"] == "closed"
    assert ex.fetch_balance()["BTC"]["total"] == pytest.approx(1.0 + 0.01 - 0.00001)
