"""The replay exchange server, exercised by unmodified ccxt clients over real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import ccxt
import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.testing.replay_exchange import (
    ALL_FAULT_KINDS,
    DEFAULT_FAULT_KINDS,
    FaultConfig,
    ReplayExchange,
    ReplayMarket,
    point_ccxt_at,
)

H4 = 4 * 3_600_000
M1 = 60_000


def _as_array(c: Candles, n: int | None = None) -> np.ndarray:
    n = len(c) if n is None else n
    return np.column_stack([c.timestamp[:n].astype(np.float64), c.open[:n], c.high[:n], c.low[:n],
                            c.close[:n], c.volume[:n]])


def _fetch_all(ex, symbol: str, timeframe: str, since: int, limit: int | None = None) -> list[list[float]]:
    """Plain forward pagination by the last timestamp (no retries)."""
    out: list[list[float]] = []
    while True:
        page = ex.fetch_ohlcv(symbol, timeframe, since=since, limit=limit)
        if not page:
            return out
        out += page
        since = int(page[-1][0]) + 1


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# binance
# --------------------------------------------------------------------------------------

def test_binance_load_markets_spot_and_futures(replay, client, octobot_btc, octobot_eth):
    rx = replay([ReplayMarket("BTC/USDT", octobot_btc), ReplayMarket("ETH/USDT", octobot_eth)])
    ex = client("binance", rx.url)
    markets = ex.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}
    spot, perp = markets["BTC/USDT"], markets["BTC/USDT:USDT"]
    assert spot["spot"] and spot["active"] and spot["id"] == "BTCUSDT"
    assert spot["precision"]["price"] == 0.01 and spot["limits"]["cost"]["min"] == 5
    assert perp["swap"] and perp["linear"] and perp["settle"] == "USDT" and perp["contractSize"] == 1
    requests = rx.stats.requests
    assert requests["exchangeInfo"] == requests["fapi_exchangeInfo"] == requests["dapi_exchangeInfo"] == 1
    assert rx.stats.total_requests == 3  # no sapi call without API keys
    status, _, body = _get(rx.url, "/api/v3/ping")
    assert (status, body) == (200, b"{}")


def test_binance_fetch_ohlcv_paginated_equals_file(replay, client, octobot_btc):
    rx = replay([ReplayMarket("BTC/USDT", octobot_btc)])
    ex = client("binance", rx.url)
    got = _fetch_all(ex, "BTC/USDT", "4h", since=int(octobot_btc.timestamp[0]), limit=120)
    assert rx.stats.requests["klines"] == 6  # 5 pages + the empty one
    # default clock: half a candle after the last open -> the last candle is still open
    assert len(got) == len(octobot_btc)
    np.testing.assert_array_equal(np.array(got[:-1]), _as_array(octobot_btc, len(octobot_btc) - 1))
    np.testing.assert_array_equal(np.array(got[:-1]), rx.closed_candles("BTC/USDT"))
    last = got[-1]
    assert last[0] == octobot_btc.timestamp[-1] and last[1] == octobot_btc.open[-1]
    assert last[5] < octobot_btc.volume[-1]  # partial: about half the volume
    assert last[4] != octobot_btc.close[-1]
    assert octobot_btc.low[-1] <= last[3] <= last[2] <= octobot_btc.high[-1]


def test_binance_nautilus_slice_through_spot_and_futures(replay, client, nautilus):
    n = 4500
    now = int(nautilus.timestamp[n])  # candle n has just opened: n closed candles
    rx = replay([ReplayMarket("BTC/USDT", nautilus)], now_ms=now)
    ex = client("binance", rx.url)
    want = _as_array(nautilus, n)
    spot = _fetch_all(ex, "BTC/USDT", "1m", since=int(nautilus.timestamp[0]), limit=1000)
    assert rx.stats.requests["klines"] == 6
    assert len(spot) == n + 1 and spot[-1][0] == nautilus.timestamp[n]
    assert spot[-1][1:5] == [nautilus.open[n]] * 4 and spot[-1][5] == 0  # opened this very ms
    np.testing.assert_array_equal(np.array(spot[:n]), want)
    perp = _fetch_all(ex, "BTC/USDT:USDT", "1m", since=int(nautilus.timestamp[0]), limit=1500)
    assert rx.stats.requests["fapi_klines"] == 6  # ccxt asks at most 1000 even on fapi
    np.testing.assert_array_equal(np.array(perp[:n]), want)


def test_binance_source_with_gaps_is_served_as_is(replay, client, shared):
    from tradebot.data.csv_io import read_candles_csv

    gaps = read_candles_csv(shared("freqtrade-testdata_UNITTEST_BTC-1m.csv.gz"))
    rx = replay([ReplayMarket("UNITTEST/BTC", gaps)], now_ms=int(gaps.timestamp[-1]) + M1)
    ex = client("binance", rx.url)
    got = _fetch_all(ex, "UNITTEST/BTC", "1m", since=int(gaps.timestamp[0]), limit=1000)
    np.testing.assert_array_equal(np.array(got), _as_array(gaps))  # all closed, gaps not filled


def test_async_ccxt_client(replay, synthetic):
    import asyncio

    import ccxt.async_support as accxt

    rx = replay([ReplayMarket("BTC/USDT", synthetic)])

    async def run() -> list:
        ex = point_ccxt_at(accxt.binance({"enableRateLimit": False, "timeout": 2000}), rx.url)
        try:
            await ex.load_markets()
            return await ex.fetch_ohlcv("BTC/USDT", "1m", since=int(synthetic.timestamp[0]), limit=1000)
        finally:
            await ex.close()

    rows = asyncio.run(run())
    np.testing.assert_array_equal(np.array(rows), _as_array(synthetic, 1000))


def test_binance_klines_rules(replay, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)])
    ts = synthetic.timestamp

    def klines(query: str, prefix: str = "/api/v3") -> list:
        status, _, body = _get(rx.url, f"{prefix}/klines?symbol=BTCUSDT&interval=1m{query}")
        assert status == 200, body
        return json.loads(body)

    rows = klines("")  # no startTime: the most recent 500 (default limit)
    assert len(rows) == 500 and rows[-1][0] == ts[-1] and rows[0][0] == ts[-500]
    assert len(rows[0]) == 12 and isinstance(rows[0][1], str) and rows[0][6] == ts[-500] + M1 - 1
    assert len(klines("&limit=5000")) == 1000  # capped
    assert len(klines("&limit=5000", "/fapi/v1")) == 1500
    assert [r[0] for r in klines(f"&startTime={ts[10] - 1}&limit=3")] == ts[10:13].tolist()
    both = klines(f"&startTime={ts[10]}&endTime={ts[20]}&limit=1000")
    assert [r[0] for r in both] == ts[10:21].tolist()  # inclusive on both ends
    end_only = klines(f"&endTime={ts[99]}&limit=10")
    assert [r[0] for r in end_only] == ts[90:100].tolist()
    assert klines(f"&startTime={ts[-1] + M1}") == []
    status, _, body = _get(rx.url, "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=1000")
    hours = json.loads(body)  # resampled from the 1m data
    assert all(r[0] % 3_600_000 == 0 for r in hours)
    first_full = hours[1]
    i = int(np.searchsorted(ts, first_full[0]))
    j = int(np.searchsorted(ts, first_full[0] + 3_600_000))
    assert float(first_full[2]) == synthetic.high[i:j].max() and float(first_full[4]) == synthetic.close[j - 1]
    status, _, body = _get(rx.url, "/api/v3/klines?symbol=BTCUSDT&interval=7m")
    assert status == 400 and json.loads(body) == {"code": -1120, "msg": "Invalid interval."}
    status, _, body = _get(rx.url, "/api/v3/klines?symbol=NOPEUSDT&interval=1m")
    assert status == 400 and json.loads(body) == {"code": -1121, "msg": "Invalid symbol."}


def test_binance_market_data_endpoints(replay, client, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)])
    ex = client("binance", rx.url)
    assert ex.fetch_time() == rx.now_ms
    ticker = ex.fetch_ticker("BTC/USDT")
    last_open = synthetic.timestamp[-1]
    assert ticker["timestamp"] == rx.now_ms and ticker["bid"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["open"] == synthetic.open[np.searchsorted(synthetic.timestamp, rx.now_ms - 86_400_000, "right")]
    book = ex.fetch_order_book("BTC/USDT", limit=20)
    assert len(book["bids"]) == len(book["asks"]) == 20
    assert book["bids"][0][0] < book["asks"][0][0]
    assert [b[0] for b in book["bids"]] == sorted((b[0] for b in book["bids"]), reverse=True)
    assert [a[0] for a in book["asks"]] == sorted(a[0] for a in book["asks"])
    assert ex.fetch_order_book("BTC/USDT", limit=20)["bids"] == book["bids"]  # deterministic
    trades = ex.fetch_trades("BTC/USDT", limit=50)
    assert len(trades) == 50 and all(t["timestamp"] <= rx.now_ms for t in trades)
    assert [t["timestamp"] for t in trades] == sorted(t["timestamp"] for t in trades)
    assert trades[-1]["timestamp"] >= last_open
    since = int(synthetic.timestamp[100])
    older = ex.fetch_trades("BTC/USDT", since=since, limit=30)
    assert len(older) == 30 and older[0]["timestamp"] >= since
    assert synthetic.low[100] <= older[0]["price"] <= synthetic.high[100]
    perp_ticker = ex.fetch_ticker("BTC/USDT:USDT")
    assert perp_ticker["last"] == ticker["last"]
    assert len(ex.fetch_trades("BTC/USDT:USDT", limit=10)) == 10
    with pytest.raises(ccxt.BadSymbol):
        ex.publicGetKlines({"symbol": "NOPEUSDT", "interval": "1m"})
    with pytest.raises(ccxt.BadSymbol):
        ex.fetch_ticker("NOPE/USDT")  # unknown to ccxt's market list already


def test_binance_balance_and_rejected_key(replay, client, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)], balances={"USDT": 1234.5, "BTC": 0.25})
    ex = client("binance", rx.url, apiKey="any-key", secret="any-secret")
    bal = ex.fetch_balance()
    assert bal["USDT"]["free"] == 1234.5 and bal["BTC"]["total"] == 0.25
    assert rx.stats.requests["account"] == 1
    bad = client("binance", rx.url, apiKey="rejected", secret="s")
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()


def test_binance_concurrent_clients(replay, client, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)])
    want = rx.closed_candles("BTC/USDT")
    results: list[object] = []

    def run() -> None:
        ex = client("binance", rx.url)
        try:
            got = _fetch_all(ex, "BTC/USDT", "1m", since=int(synthetic.timestamp[0]), limit=500)
            results.append(np.array_equal(np.array(got[:-1]), want))
        except Exception as e:  # pragma: no cover - reported below
            results.append(e)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [True] * 8


# --------------------------------------------------------------------------------------
# okx
# --------------------------------------------------------------------------------------

def test_okx_markets_and_paginated_candles(replay, client, octobot_btc):
    rx = replay([ReplayMarket("BTC/USDT", octobot_btc)], dialect="okx")
    ex = client("okx", rx.url)
    markets = ex.load_markets()
    assert set(markets) == {"BTC/USDT", "BTC/USDT:USDT"}
    assert markets["BTC/USDT:USDT"]["contractSize"] == 0.01 and markets["BTC/USDT:USDT"]["linear"]
    assert markets["BTC/USDT"]["precision"]["price"] == 0.01
    want = _as_array(octobot_btc, len(octobot_btc) - 1)
    for symbol in ("BTC/USDT", "BTC/USDT:USDT"):
        got = _fetch_all(ex, symbol, "4h", since=int(octobot_btc.timestamp[0]), limit=100)
        assert len(got) == len(octobot_btc)
        np.testing.assert_array_equal(np.array(got[:-1]), want)  # swap volume = base volume
        assert got[-1][5] < octobot_btc.volume[-1]
    assert rx.stats.requests["history_candles"] == 12
    # recent candles (no since): the current one is unconfirmed
    recent = ex.fetch_ohlcv("BTC/USDT", "4h", limit=3)
    assert [r[0] for r in recent] == octobot_btc.timestamp[-3:].tolist()


def test_okx_candles_semantics(replay, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)], dialect="okx")
    ts = synthetic.timestamp

    def data(path: str) -> list:
        status, _, body = _get(rx.url, path)
        doc = json.loads(body)
        assert status == 200 and doc["code"] == "0", body
        return doc["data"]

    base = "/api/v5/market/candles?instId=BTC-USDT&bar=1m"
    rows = data(base)
    assert len(rows) == 100 and int(rows[0][0]) == ts[-1] and int(rows[-1][0]) == ts[-100]  # newest first
    assert rows[0][8] == "0" and {r[8] for r in rows[1:]} == {"1"}
    assert len(data(base + "&limit=1000")) == 300
    older = data(base + f"&after={ts[-10]}&limit=5")  # ts < after
    assert [int(r[0]) for r in older] == ts[-15:-10][::-1].tolist()
    window = data(base.replace("candles", "history-candles") + f"&before={ts[5]}&after={ts[9]}")
    assert [int(r[0]) for r in window] == ts[6:9][::-1].tolist()  # strictly between
    assert data(base + f"&after={ts[10]}") == []  # /market/candles: only the recent 1440
    assert len(data(base.replace("candles", "history-candles") + f"&after={ts[10]}&limit=500")) == 10
    status, _, body = _get(rx.url, "/api/v5/market/candles?instId=NOPE-USDT&bar=1m")
    assert json.loads(body) == {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    status, _, body = _get(rx.url, "/api/v5/market/candles?instId=BTC-USDT&bar=7m")
    assert json.loads(body)["code"] == "51000"


def test_okx_market_data_balance_and_errors(replay, client, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)], dialect="okx", balances={"USDT": 99.5})
    ex = client("okx", rx.url)
    assert ex.fetch_time() == rx.now_ms
    ticker = ex.fetch_ticker("BTC/USDT")
    assert ticker["bid"] < ticker["ask"] and ticker["low"] <= ticker["last"] <= ticker["high"]
    book = ex.fetch_order_book("BTC/USDT:USDT", limit=10)
    assert len(book["bids"]) == 10 and book["bids"][0][0] < book["asks"][0][0]
    trades = ex.fetch_trades("BTC/USDT", limit=40)
    assert len(trades) == 40 and all(t["timestamp"] <= rx.now_ms for t in trades)
    assert [t["timestamp"] for t in trades] == sorted(t["timestamp"] for t in trades)
    with pytest.raises(ccxt.BadSymbol):
        ex.publicGetMarketCandles({"instId": "NOPE-USDT"})
    keyed = client("okx", rx.url, apiKey="k", secret="s", password="p")
    assert keyed.fetch_balance()["USDT"]["free"] == 99.5
    with pytest.raises(ccxt.AuthenticationError):
        client("okx", rx.url, apiKey="rejected", secret="s", password="p").fetch_balance()


# --------------------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------------------

#: What unmodified ccxt 4.5 raises for each fault kind on fetch_ohlcv (None: no error; it
#: returns [] or a short page, see docs/decisions/0004-replay-exchange.md).
EXPECTED = {
    "binance": {
        "rate_limit": ccxt.DDoSProtection,          # 429 -> DDoSProtection (a NetworkError)
        "ban": ccxt.DDoSProtection,                 # 418
        "server_error": (ccxt.OperationFailed,),    # 500 -1001 -> OperationFailed; 502/503 ->
                                                    # ExchangeNotAvailable; 504 -> RequestTimeout
        "slow": ccxt.RequestTimeout,
        "drop": ccxt.NetworkError,
        "reset": ccxt.NetworkError,
        "html": (ccxt.ExchangeNotAvailable, None),  # 502 page raises; a 200 page parses as []
        "truncated": None, "malformed_json": None, "empty_body": None,
        "lost_answer": ccxt.NetworkError,           # processed, then the connection is reset
        "late_answer": ccxt.RequestTimeout,         # processed, answered after the client gave up
    },
    "okx": {
        "rate_limit": ccxt.RateLimitExceeded,       # 429 code 50011
        "ban": ccxt.RateLimitExceeded,
        "server_error": (ccxt.NetworkError,),       # 50013/50001 -> ExchangeNotAvailable; 504 -> RequestTimeout
        "slow": ccxt.RequestTimeout,
        "drop": ccxt.NetworkError,
        "reset": ccxt.NetworkError,
        "html": (ccxt.ExchangeNotAvailable, None),
        "truncated": None, "malformed_json": None, "empty_body": None,
        "lost_answer": ccxt.NetworkError,           # processed, then the connection is reset
        "late_answer": ccxt.RequestTimeout,         # processed, answered after the client gave up
    },
}


@pytest.mark.parametrize("dialect", ["binance", "okx"])
@pytest.mark.parametrize("kind", ALL_FAULT_KINDS)
def test_each_fault_kind_gives_the_documented_ccxt_outcome(replay, client, synthetic, dialect, kind):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)], dialect=dialect)
    ex = client(dialect, rx.url, timeout=300)
    ex.enableLastJsonResponse = True
    ex.load_markets()
    rx.faults = FaultConfig(rate=1.0, kinds=(kind,), slow_s=0.6, retry_after_s=0.2)
    expected = EXPECTED[dialect][kind]
    since = int(synthetic.timestamp[0])
    outcomes = []
    for _ in range(2 if kind in ("server_error", "html") else 1):
        try:
            rows = ex.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=100)
        except ccxt.BaseError as e:
            outcomes.append(type(e))
            if kind == "rate_limit":
                assert ex.last_response_headers.get("Retry-After") == "0.2"
            continue
        outcomes.append(None)
        if kind == "truncated":
            assert len(rows) == 50 and rows[0][0] == since  # valid JSON, first half of the page
        else:
            # ccxt swallows a non-JSON 200 body and parses it as no candles: only
            # last_json_response (with enableLastJsonResponse) tells it apart from the end of data
            assert rows == [] and ex.last_json_response is None
    allowed = expected if isinstance(expected, tuple) else (expected,)
    for got in outcomes:
        assert got is None and None in allowed or got is not None and issubclass(got, tuple(a for a in allowed if a)), \
            (kind, outcomes)
    assert rx.stats.faults[kind] == len(outcomes)


@pytest.mark.parametrize("dialect", ["binance", "okx"])
def test_5xx_statuses_map_to_network_errors(replay, client, synthetic, dialect):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)], dialect=dialect)
    ex = client(dialect, rx.url)
    ex.load_markets()
    rx.faults = FaultConfig(rate=1.0, kinds=("server_error",), seed=3)
    seen: dict[str, set[str]] = {}
    for _ in range(16):
        with pytest.raises(ccxt.OperationFailed) as info:
            ex.fetch_ohlcv("BTC/USDT", "1m", limit=10)
        status = str(ex.last_http_response)[:40]
        seen.setdefault(type(info.value).__name__, set()).add(status)
    names = set(seen)
    if dialect == "binance":
        assert names <= {"OperationFailed", "ExchangeNotAvailable", "RequestTimeout"}
    else:
        assert names <= {"ExchangeNotAvailable", "OnMaintenance", "RequestTimeout"}
    assert len(names) >= 2


def test_fault_rate_statistics_and_determinism(replay, synthetic):
    kinds = ("rate_limit", "server_error", "truncated", "malformed_json", "html", "empty_body")

    def run(seed: int) -> tuple[list[tuple[int, int]], dict]:
        rx = replay([ReplayMarket("BTC/USDT", synthetic)], faults=FaultConfig(rate=0.25, kinds=kinds, seed=seed))
        outcomes = []
        for i in range(600):
            status, _, body = _get(rx.url, f"/api/v3/klines?symbol=BTCUSDT&interval=1m&limit={10 + i % 5}")
            outcomes.append((status, len(body)))
        return outcomes, rx.stats.as_dict()

    a, stats_a = run(11)
    b, stats_b = run(11)
    c, _ = run(12)
    assert a == b and stats_a == stats_b
    assert a != c
    share = stats_a["faults_total"] / stats_a["total_requests"]
    assert 0.20 <= share <= 0.30, stats_a
    assert set(stats_a["faults"]) == set(kinds)  # every kind drawn
    assert min(stats_a["faults"].values()) >= 10


def test_faults_limited_to_endpoints_and_list_only_kinds(replay, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)],
                faults=FaultConfig(rate=1.0, kinds=("truncated", "rate_limit"), endpoints=("klines", "time")))
    assert _get(rx.url, "/api/v3/ping")[0] == 200  # not a faulty endpoint
    for _ in range(10):  # 'truncated' only applies to lists: /time always gets the other kind
        assert _get(rx.url, "/api/v3/time")[0] == 429
    assert rx.stats.faults["truncated"] == 0


def test_garbage_down_and_refused(replay, client, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)])
    ex = client("binance", rx.url, timeout=1000)
    ex.enableLastJsonResponse = True
    ex.load_markets()
    rx.faults = FaultConfig(garbage=True)
    rows = ex.fetch_ohlcv("BTC/USDT", "1m", limit=5)  # ccxt parses the text's characters as rows
    assert ex.last_json_response is None and all(r[1] is None for r in rows)
    ticker = ex.fetch_ticker("BTC/USDT")  # no error either: an empty ticker
    assert ticker["last"] is None and ex.last_json_response is None
    rx.faults = FaultConfig(down=True)
    with pytest.raises(ccxt.NetworkError):
        ex.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    rx.set_down(True, refuse=True)
    with pytest.raises(ccxt.NetworkError):
        ex.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    rx.set_down(False)
    assert len(ex.fetch_ohlcv("BTC/USDT", "1m", limit=5)) == 5
    assert rx.stats.faults["down"] >= 1 and rx.stats.faults["garbage"] >= 2


def test_retrying_client_gets_identical_data_under_faults(replay, client, nautilus):
    """A naive retry loop (the adapter does better) ends with the file, exactly."""
    n = 6000
    rx = replay([ReplayMarket("BTC/USDT", nautilus)], now_ms=int(nautilus.timestamp[n]) + 30_000,
                faults=FaultConfig(rate=0.3, kinds=DEFAULT_FAULT_KINDS, slow_s=0.4, retry_after_s=0.01, seed=5))
    ex = client("binance", rx.url, timeout=250)
    ex.enableLastJsonResponse = True
    got: list[list[float]] = []
    since, errors = int(nautilus.timestamp[0]), 0
    while True:
        try:
            page = ex.fetch_ohlcv("BTC/USDT", "1m", since=since, limit=1000)
        except (ccxt.NetworkError, ccxt.OperationFailed, ccxt.ExchangeError):
            errors += 1
            continue
        if ex.last_json_response is None:  # HTML/cut JSON/garbage with HTTP 200
            errors += 1
            continue
        closed = [r for r in page if r[0] + M1 <= rx.now_ms]
        if not closed:
            break
        got += closed
        since = int(closed[-1][0]) + 1
    np.testing.assert_array_equal(np.array(got), _as_array(nautilus, n + 0))
    assert errors > 0 and rx.stats.faults["truncated"] > 0


def test_clock_can_move(replay, client, synthetic):
    rx = replay([ReplayMarket("BTC/USDT", synthetic)], now_ms=int(synthetic.timestamp[99]) + 59_999)
    ex = client("binance", rx.url)
    page = ex.fetch_ohlcv("BTC/USDT", "1m", since=int(synthetic.timestamp[0]), limit=1000)
    assert len(page) == 100 and page[-1][5] < synthetic.volume[99]
    rx.advance(1)
    page = ex.fetch_ohlcv("BTC/USDT", "1m", since=int(synthetic.timestamp[0]), limit=1000)
    assert len(page) == 101 and page[-2][5] == synthetic.volume[99]


def test_api_misuse_is_refused(synthetic, tmp_path):
    with pytest.raises(ValueError, match="unknown fault kind"):
        FaultConfig(rate=0.1, kinds=("nope",))
    with pytest.raises(ValueError, match="within 0..1"):
        FaultConfig(rate=2)
    with pytest.raises(ValueError, match="dialect"):
        ReplayExchange([ReplayMarket("BTC/USDT", synthetic)], dialect="kraken")
    with pytest.raises(ValueError, match="symbol"):
        ReplayExchange([ReplayMarket("BTCUSDT", synthetic)])
    with pytest.raises(ValueError, match="whole 7m steps"):
        ReplayExchange([ReplayMarket("BTC/USDT", synthetic, "7m")])
    bad = tmp_path / "x.csv"
    bad.write_text("timestamp,open\n1,2\n")
    with pytest.raises(Exception, match="x.csv"):
        ReplayExchange([ReplayMarket("BTC/USDT", bad)])
    rx = ReplayExchange([ReplayMarket("BTC/USDT", synthetic)])
    with pytest.raises(RuntimeError):
        _ = rx.url
    with rx:
        assert rx.url.startswith("http://127.0.0.1:")


def test_point_ccxt_at_rewrites_every_rest_url():
    url = "http://127.0.0.1:1234"
    for name in ("binance", "okx", "bybit", "kraken"):
        ex = point_ccxt_at(getattr(ccxt, name)(), url)

        def strings(v):
            if isinstance(v, dict):
                for x in v.values():
                    yield from strings(x)
            elif isinstance(v, str):
                yield v

        assert all(s.startswith(url) for s in strings(ex.urls["api"]) if not s.startswith("ws")), name


def test_cli_guesses_symbols():
    from tradebot.cli.replay import guess_symbol

    assert guess_symbol(Path("octobot_Binance_BTC_USDT-4h.csv.gz")) == "BTC/USDT"
    assert guess_symbol(Path("nautilus_BTC-PERP-1m.csv.gz")) == "BTC/USDT:USDT"
    assert guess_symbol(Path("freqtrade-testdata_UNITTEST_BTC-1m.csv.gz")) == "UNITTEST/BTC"
    assert guess_symbol(Path("isda_BinanceFutures_FIL_USDT-1m-21months.csv.gz")) == "FIL/USDT"
    assert guess_symbol(Path("XRP_USDT_USDT-5m.csv")) == "XRP/USDT:USDT"
    assert guess_symbol(Path("ETHUSDT-1h.csv")) == "ETH/USDT"
    assert guess_symbol(Path("candles.csv")) is None


def test_cli_serves_until_interrupted(tmp_path, make_candles):
    from tradebot.data.csv_io import write_candles_csv

    path = tmp_path / "SOL_USDT-1m.csv.gz"
    write_candles_csv(make_candles(300), path)
    code = ("import typer; from tradebot.cli.replay import replay_exchange; app = typer.Typer(); "
            "app.command()(replay_exchange); app()")
    proc = subprocess.Popen([sys.executable, "-c", code, "--data", str(path), "--dialect", "okx"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first + proc.stderr.read()
        url = first.split()[-1]
        banner = first
        while "Ctrl-C" not in banner:
            banner += proc.stdout.readline()
        assert 'base_url = "' + url + '"' in banner
        status, _, body = _get(url, "/api/v5/public/instruments?instType=SPOT")
        assert status == 200 and json.loads(body)["data"][0]["instId"] == "SOL-USDT"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "stopped: 1 requests" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_bad_input_is_one_line(tmp_path):
    code = ("import typer; from tradebot.cli.replay import replay_exchange; app = typer.Typer(); "
            "app.command()(replay_exchange); app(standalone_mode=False)")
    res = subprocess.run([sys.executable, "-c", code, "--data", str(tmp_path / "candles.csv")],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "cannot tell the symbol" in res.stderr
