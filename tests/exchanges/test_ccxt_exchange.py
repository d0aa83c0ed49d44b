"""The ccxt adapter: the error translation table, and real ccxt over HTTP against the replay
exchange server on 127.0.0.1 (markets, candles, faults, rate limiter, URLs, credentials)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import time
from pathlib import Path

import ccxt
import numpy as np
import pytest
import requests

from tradebot.core.config import load_settings
from tradebot.core.errors import (
    ConfigError,
    ExchangeAuthError,
    ExchangeBadResponse,
    ExchangeError,
    ExchangeNotSupported,
    ExchangeRateLimited,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
)
from tradebot.exchanges.ccxt_exchange import (
    CcxtExchange,
    parse_retry_after,
    rewrite_api_urls,
    scrub_secrets,
    translate_ccxt_error,
)
from tradebot.exchanges.factory import exchange_from_settings
from tradebot.exchanges.port import Exchange, MarketInfo, OrderBook, PublicTrade, Ticker
from tradebot.exchanges.retry import RetryPolicy

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SOURCE = SHARED_DATA / "nautilus_BTC-PERP-1m.csv.gz"
N_ROWS = 12_000
MINUTE = 60_000
FAST = RetryPolicy(max_attempts=30, base_delay_s=0.005, max_delay_s=0.05, jitter=0.5, give_up_after_s=30.0)
FEW = RetryPolicy(max_attempts=3, base_delay_s=0.005, max_delay_s=0.02, jitter=0.0, give_up_after_s=10.0)
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"

replay = pytest.importorskip("tradebot.testing.replay_exchange")
HAS_OKX = importlib.util.find_spec("tradebot.testing.replay_okx") is not None


# --------------------------------------------------------------------------- translation table

WHAT = "binance fetch_ohlcv BTC/USDT 1m"


def translate(error, headers=None, secrets=()):
    return translate_ccxt_error(error, exchange_id="binance", operation="fetch_ohlcv BTC/USDT 1m",
                                headers=headers, secrets=secrets)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ccxt.AuthenticationError('binance {"code":-2015,"msg":"Invalid API-key"}'), ExchangeAuthError),
        (ccxt.PermissionDenied("binance no trading permission"), ExchangeAuthError),
        (ccxt.AccountSuspended("binance account suspended"), ExchangeAuthError),
        (ccxt.BadSymbol('binance {"code":-1121,"msg":"Invalid symbol."}'), ExchangeNotSupported),
        (ccxt.NotSupported("binance fetchFoo() is not supported"), ExchangeNotSupported),
        (ccxt.InsufficientFunds("binance Account has insufficient balance"), InsufficientFunds),
        (ccxt.InvalidOrder("binance Filter failure: LOT_SIZE"), InvalidOrder),
        (ccxt.OrderNotFound("binance Unknown order sent."), OrderNotFound),
        (ccxt.RateLimitExceeded("binance 429 Too Many Requests"), ExchangeRateLimited),
        (ccxt.DDoSProtection("binance 418 I'm a teapot"), ExchangeRateLimited),
        (ccxt.RequestTimeout("binance GET https://api.binance.com/api/v3/klines"), ExchangeUnavailable),
        (ccxt.NetworkError("binance GET https://api.binance.com/api/v3/klines"), ExchangeUnavailable),
        (ccxt.ExchangeNotAvailable("binance GET ... 503 Service Unavailable"), ExchangeUnavailable),
        (ccxt.OnMaintenance("binance system maintenance"), ExchangeUnavailable),
        (ccxt.BadResponse("binance unexpected answer"), ExchangeBadResponse),
        (ccxt.NullResponse("binance empty answer"), ExchangeBadResponse),
        (json.JSONDecodeError("Expecting value", "<html>", 0), ExchangeBadResponse),
        (ValueError("could not convert string to float: 'x'"), ExchangeBadResponse),
        (TypeError("'NoneType' object is not subscriptable"), ExchangeBadResponse),
        (KeyError("symbols"), ExchangeBadResponse),
        (ccxt.ExchangeError("binance something refused"), ExchangeError),
        (requests.exceptions.ConnectionError("connection reset"), ExchangeUnavailable),
    ],
)
def test_translation_table(error, expected):
    translated = translate(error)
    assert type(translated) is expected
    message = str(translated)
    assert message.startswith(WHAT + ": ")
    assert "\n" not in message and len(message) < 400
    assert "binance binance" not in message


def test_translation_exit_codes_and_unknown_errors():
    assert translate(ccxt.AuthenticationError("x")).exit_code == 2
    assert translate(ccxt.BadSymbol("x")).exit_code == 2
    assert translate(ccxt.NetworkError("x")).exit_code == 1
    assert translate(RuntimeError("a bug")) is None  # not ours to translate: propagates


def test_retry_after_comes_from_the_last_response_headers():
    headers = requests.structures.CaseInsensitiveDict({"retry-after": "3"})
    limited = translate(ccxt.RateLimitExceeded("binance 429"), headers=headers)
    assert isinstance(limited, ExchangeRateLimited) and limited.retry_after_s == 3.0
    assert translate(ccxt.DDoSProtection("binance 418"), headers={"Retry-After": "0.5"}).retry_after_s == 0.5
    assert translate(ccxt.RateLimitExceeded("binance 429"), headers=None).retry_after_s is None
    maintenance = translate(ccxt.OnMaintenance("binance"), headers={"Retry-After": "120"})
    assert maintenance.retry_after_s == 120.0


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now_s=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now_s=1445412490.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0


def test_messages_never_contain_secrets():
    error = ccxt.AuthenticationError(
        f"binance GET https://api.binance.com/api/v3/account?timestamp=1&signature=abcdef0123 "
        f'{{"apiKey": "{API_KEY}", "msg": "bad key {API_KEY} / {SECRET}"}}'
    )
    message = str(translate(error, secrets=(API_KEY, SECRET)))
    assert API_KEY not in message and SECRET not in message
    assert "abcdef0123" not in message
    assert "***" in message
    assert scrub_secrets("X-MBX-APIKEY: abc123 passphrase=hunter2") == "X-MBX-APIKEY: *** passphrase=***"


def test_html_error_pages_are_summarised():
    page = "<!DOCTYPE html>\n<html><head><title>502</title></head>\n<body>" + "x" * 5000 + "</body></html>"
    message = str(translate(ccxt.ExchangeNotAvailable(f"binance GET https://x/api 502 Bad Gateway {page}")))
    assert message.endswith("502 Bad Gateway <an HTML page instead of JSON>")
    assert "\n" not in message


def test_unlisted_5xx_is_transient_and_404_is_not():
    def http_error(status: int, cls, text: str):
        response = requests.Response()
        response.status_code = status
        try:
            raise requests.exceptions.HTTPError(f"{status}", response=response)
        except requests.exceptions.HTTPError:
            try:
                raise cls(text)
            except cls as e:
                return e

    assert type(translate(http_error(599, ccxt.ExchangeError, "binance GET x"))) is ExchangeUnavailable
    assert type(translate(http_error(404, ccxt.ExchangeNotAvailable, "binance GET x 404"))) is ExchangeError
    assert "base URL" in str(translate(http_error(404, ccxt.ExchangeNotAvailable, "binance GET x 404")))
    assert type(translate(http_error(503, ccxt.ExchangeNotAvailable, "binance GET x 503"))) is ExchangeUnavailable


# --------------------------------------------------------------------------- offline facts from ccxt


def test_unknown_exchange_id_suggests_close_names():
    with pytest.raises(ExchangeNotSupported, match=r"unknown exchange 'binanse' \(did you mean: binance") as info:
        CcxtExchange("binanse")
    assert info.value.exit_code == 2
    with pytest.raises(ExchangeNotSupported, match=r"did you mean: okx"):
        CcxtExchange("okex5")


def test_ids_are_case_insensitive_and_bad_market_type_is_refused():
    assert CcxtExchange("Binance").id == "binance"
    with pytest.raises(Exception, match="invalid market type 'margin'"):
        CcxtExchange("binance", market_type="margin")


@pytest.mark.parametrize(
    ("exchange_id", "market_type", "expected"),
    [("binance", "spot", 1000), ("binance", "futures", 500), ("okx", "spot", 300), ("okx", "futures", 300)],
)
def test_max_candles_per_request_comes_from_ccxt_features(exchange_id, market_type, expected):
    ex = CcxtExchange(exchange_id, market_type=market_type)
    features = getattr(ccxt, exchange_id)().features
    node = features["spot"] if market_type == "spot" else features["swap"]["linear"]
    assert ex.max_candles_per_request("1m") == node["fetchOHLCV"]["limit"] == expected


def test_unknown_timeframe_suggests_and_lists_supported():
    ex = CcxtExchange("binance")
    with pytest.raises(ExchangeNotSupported, match=r"unknown timeframe '7m' \(did you mean: 5m.*supported: 1s, 1m"):
        ex.max_candles_per_request("7m")
    assert ex.check_timeframe("1H") == "1h"
    assert ex.timeframes == list(ccxt.binance().timeframes)


def test_only_the_needed_market_types_are_loaded():
    assert CcxtExchange("binance").ccxt.options["fetchMarkets"]["types"] == ["spot"]
    assert CcxtExchange("binance", market_type="futures").ccxt.options["fetchMarkets"]["types"] == ["linear"]
    assert CcxtExchange("okx", market_type="futures").ccxt.options["fetchMarkets"]["types"] == ["swap"]
    assert CcxtExchange("binance", market_type="futures").ccxt.options["defaultType"] == "swap"


def test_rewrite_api_urls_points_every_rest_url_at_the_base():
    ex = ccxt.binance()
    assert rewrite_api_urls(ex, "http://127.0.0.1:8080/") is ex
    urls = [u for u in ex.urls["api"].values() if isinstance(u, str)]
    assert urls and all(u.startswith("http://127.0.0.1:8080/") for u in urls if u.startswith("http"))
    assert ex.urls["api"]["public"] == "http://127.0.0.1:8080/api/v3"
    assert ex.urls["api"]["fapiPublic"] == "http://127.0.0.1:8080/fapi/v1"
    okx = rewrite_api_urls(ccxt.okx(), "https://proxy.example:9443/okx")
    assert okx.urls["api"]["rest"] == "https://proxy.example:9443/okx"  # the {hostname} template
    bybit = rewrite_api_urls(ccxt.bybit(), "http://127.0.0.1:9")
    assert set(bybit.urls["api"].values()) == {"http://127.0.0.1:9"}
    for bad in ("127.0.0.1:8080", "ftp://host", "http://", "http://host/?a=1"):
        with pytest.raises(ConfigError, match="invalid exchange base_url"):
            rewrite_api_urls(ccxt.binance(), bad)


def test_repr_never_shows_credentials():
    ex = CcxtExchange("binance", api_key=API_KEY, secret=SECRET, base_url="http://127.0.0.1:1")
    text = repr(ex) + str(ex)
    assert API_KEY not in text and SECRET not in text
    assert "authenticated=True" in text


def test_factory_reads_credentials_and_base_url_from_settings():
    env = {
        "TRADEBOT_EXCHANGES__BINANCE__API_KEY": API_KEY,
        "TRADEBOT_EXCHANGES__BINANCE__SECRET": SECRET,
        "TRADEBOT_EXCHANGES__BINANCE__BASE_URL": "http://127.0.0.1:8765",
    }
    settings = load_settings(env=env)
    ex = exchange_from_settings(settings, "binance", rate_limit=False)
    assert isinstance(ex, CcxtExchange) and isinstance(ex, Exchange)
    assert ex.ccxt.apiKey == API_KEY and ex.ccxt.secret == SECRET
    assert ex.ccxt.urls["api"]["public"] == "http://127.0.0.1:8765/api/v3"
    assert ex.rate_limit is False and ex.market_type == "spot"
    assert API_KEY not in repr(ex)
    plain = exchange_from_settings(load_settings(env={}), "okx", market_type="futures")
    assert plain.ccxt.apiKey in (None, "") and plain.market_type == "futures" and plain.rate_limit


def test_factory_refuses_sim_and_unknown_ids():
    settings = load_settings(env={})
    with pytest.raises(ExchangeNotSupported, match="sim is the built-in synthetic market; it has nothing to fetch"):
        exchange_from_settings(settings, "sim")
    with pytest.raises(ExchangeNotSupported, match="did you mean: kraken"):
        exchange_from_settings(settings, "krakn")


# --------------------------------------------------------------------------- against the replay server


@pytest.fixture(scope="module")
def candles():
    if not SOURCE.exists():
        pytest.skip(f"real candles not found: {SOURCE}")
    from tradebot.data.csv_io import read_candles_csv

    return read_candles_csv(SOURCE).slice(0, N_ROWS)


@pytest.fixture(scope="module")
def server(candles):
    rx = replay.ReplayExchange([replay.ReplayMarket("BTC/USDT", candles, "1m")], dialect="binance",
                               rejected_api_keys=[API_KEY])
    rx.start()
    yield rx
    rx.stop()


@pytest.fixture
def rx(server):
    server.faults = replay.FaultConfig()
    server.reset_stats()
    yield server
    server.faults = replay.FaultConfig()


def adapter(rx, **kw) -> CcxtExchange:
    kw.setdefault("rate_limit", False)
    kw.setdefault("retry", FAST)
    kw.setdefault("timeout_ms", 2000)
    return CcxtExchange(kw.pop("exchange_id", "binance"), base_url=rx.url, **kw)


def paginate(ex: CcxtExchange, symbol: str, timeframe: str, since: int, limit: int | None = None) -> np.ndarray:
    pages = []
    step = ex.max_candles_per_request(timeframe)
    while True:
        page = ex.fetch_ohlcv(symbol, timeframe, since_ms=since, limit=limit)
        if len(page) == 0:
            break
        assert len(page) <= step
        pages.append(page)
        since = int(page[-1, 0]) + MINUTE
    return np.concatenate(pages)


def test_load_markets_spot_and_futures(rx):
    spot = adapter(rx).load_markets()
    assert list(spot) == ["BTC/USDT"]
    info = spot["BTC/USDT"]
    assert isinstance(info, MarketInfo)
    assert (info.base, info.quote, info.type, info.active, info.contract) == ("BTC", "USDT", "spot", True, False)
    assert info.price_precision and info.amount_precision and info.min_cost
    futures = adapter(rx, market_type="futures").load_markets()
    assert list(futures) == ["BTC/USDT:USDT"]
    assert futures["BTC/USDT:USDT"].contract and futures["BTC/USDT:USDT"].linear
    assert rx.stats.requests["exchangeInfo"] == 1 and rx.stats.requests["fapi_exchangeInfo"] == 1


def test_fetch_ohlcv_page_equals_the_source_rows(rx, candles):
    ex = adapter(rx)
    first = int(candles.timestamp[0])
    page = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=first)
    assert page.dtype == np.float64 and page.shape == (1000, 6)
    source = np.column_stack([candles.timestamp.astype(np.float64), candles.open, candles.high, candles.low,
                              candles.close, candles.volume])
    np.testing.assert_array_equal(page, source[:1000])
    small = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=first + 10 * MINUTE, limit=5)
    np.testing.assert_array_equal(small, source[10:15])
    capped = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=first, limit=50_000)
    assert len(capped) == ex.max_candles_per_request("1m") == 1000
    bounded = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=first, until_ms=first + 99 * MINUTE)
    np.testing.assert_array_equal(bounded, source[:100])
    hourly = ex.fetch_ohlcv("BTC/USDT", "1h", since_ms=first - first % 3_600_000, limit=3)
    assert hourly.shape == (3, 6) and np.all(np.diff(hourly[:, 0]) == 3_600_000)


def test_fetch_ohlcv_keeps_the_open_candle(rx, candles):
    ex = adapter(rx)
    last = ex.fetch_ohlcv("BTC/USDT", "1m", limit=3)
    closed = rx.closed_candles("BTC/USDT")
    assert last[-1, 0] > closed[-1, 0]  # the still-open candle is there: the downloader drops it
    assert last[-1, 0] <= ex.server_time_ms() < last[-1, 0] + MINUTE


def test_faults_on_30_percent_of_requests_still_give_identical_data(rx, candles):
    rx.faults = replay.FaultConfig(rate=0.3, slow_s=1.0, retry_after_s=0.05, seed=11)
    retries: list[str] = []
    ex = adapter(rx, timeout_ms=400, on_retry=lambda n, e, d: retries.append(type(e).__name__))
    first = int(candles.timestamp[0])
    got = paginate(ex, "BTC/USDT", "1m", first)
    expected = rx.closed_candles("BTC/USDT")
    np.testing.assert_array_equal(got[: len(expected)], expected)
    assert len(got) == len(expected) + 1  # plus the open candle
    faults = rx.stats.faults
    assert sum(faults.values()) >= 3 and len(retries) >= 3
    assert {"ExchangeRateLimited", "ExchangeBadResponse", "ExchangeUnavailable"} & set(retries)


def test_garbage_and_html_answers_fail_with_one_clear_line(rx):
    ex = adapter(rx, retry=FEW)
    rx.faults = replay.FaultConfig(garbage=True)
    with pytest.raises(ExchangeUnavailable) as info:
        ex.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    message = str(info.value)
    assert message.startswith("binance load_markets: gave up after 3 attempts")
    assert "not valid JSON" in message and "\n" not in message and "\x00" not in message
    assert isinstance(info.value.__cause__, ExchangeBadResponse)
    rx.faults = replay.FaultConfig()
    ex.load_markets()  # markets are cached from here on
    rx.faults = replay.FaultConfig(rate=1.0, kinds=("html",), seed=1)
    with pytest.raises(ExchangeUnavailable, match=r"^binance fetch_ohlcv BTC/USDT 1m: gave up after 3 attempts.*HTML"):
        ex.fetch_ohlcv("BTC/USDT", "1m", limit=5)
    rx.faults = replay.FaultConfig(rate=1.0, kinds=("empty_body",))
    with pytest.raises(ExchangeUnavailable, match="an empty body"):
        ex.fetch_ohlcv("BTC/USDT", "1m", limit=5)


def test_rate_limited_answers_honour_retry_after(rx):
    rx.faults = replay.FaultConfig(rate=1.0, kinds=("rate_limit",), retry_after_s=0.3)
    delays: list[float] = []
    ex = adapter(rx, retry=FEW, on_retry=lambda n, e, d: delays.append(d))
    with pytest.raises(ExchangeUnavailable, match=r"gave up after 3 attempts.*rate limited: 429") as info:
        ex.server_time_ms()
    assert isinstance(info.value.__cause__, ExchangeRateLimited)
    assert delays == [0.3, 0.3]  # Retry-After beats the (tiny) backoff


def test_down_exchange_gives_up(rx):
    rx.set_down(True, refuse=True)
    try:
        with pytest.raises(ExchangeUnavailable, match="gave up after 3 attempts.*network error"):
            adapter(rx, retry=FEW).server_time_ms()
    finally:
        rx.set_down(False)


def test_rate_limiter_on_and_off(rx):
    """ccxt's limiter spaces requests by the exchange's rateLimit times the endpoint's cost
    (binance futures klines with limit 500: weight 5 -> 5 x 50 ms)."""
    calls = 3

    def timed(ex: CcxtExchange) -> float:
        ex.load_markets()
        start = time.perf_counter()
        for _ in range(calls):
            assert len(ex.fetch_ohlcv("BTC/USDT", "1m", limit=500)) == 500
        return time.perf_counter() - start

    limited = adapter(rx, market_type="futures", rate_limit=True)
    assert limited.rate_limit and limited.ccxt.enableRateLimit
    assert limited.rate_limit_ms == ccxt.binance().rateLimit > 0
    entry = inspect.getattr_static(limited.ccxt, "fapiPublicGetKlines")
    cost = limited.ccxt.calculate_rate_limiter_cost(entry.api, "GET", "klines", {"limit": 500}, entry.config)
    assert cost > 1
    on = timed(limited)
    free = adapter(rx, market_type="futures", rate_limit=False)
    assert not free.ccxt.enableRateLimit
    off = timed(free)
    assert on >= (calls - 1) * cost * limited.rate_limit_ms / 1000 * 0.95
    assert off < on


def test_base_url_sends_every_request_to_the_server(rx):
    ex = adapter(rx)
    ex.load_markets()
    ex.fetch_ticker("BTC/USDT")
    assert rx.stats.total_requests == 2
    assert all(u.startswith(rx.url) for u in ex.ccxt.urls["api"].values() if u.startswith("http"))


def test_unknown_symbol_suggests_close_names(rx):
    ex = adapter(rx)
    suggestion = r"binance: unknown spot symbol 'BTC/USDX' \(did you mean: BTC/USDT\?\)"
    with pytest.raises(ExchangeNotSupported, match=suggestion):
        ex.fetch_ohlcv("BTC/USDX", "1m")
    with pytest.raises(ExchangeNotSupported, match=r"unknown spot symbol 'DOGE/EUR' \(1 spot markets"):
        ex.fetch_ticker("DOGE/EUR")
    assert ex.resolve_symbol("btc/usdt") == "BTC/USDT"
    futures = adapter(rx, market_type="futures")
    assert futures.resolve_symbol("BTC/USDT") == "BTC/USDT:USDT"
    assert len(futures.fetch_ohlcv("BTC/USDT", "1m", limit=3)) == 3
    with pytest.raises(ExchangeNotSupported, match="unknown timeframe '2m'"):
        ex.fetch_ohlcv("BTC/USDT", "2m")


def test_rejected_api_key_is_an_auth_error_that_never_shows_the_key(rx, caplog):
    caplog.set_level(logging.DEBUG)
    # an in-process CLI test earlier in this worker may have run the logging setup, which puts
    # the ccxt logger at WARNING: this test needs ccxt's debug lines
    caplog.set_level(logging.DEBUG, logger="ccxt")
    ex = adapter(rx, api_key=API_KEY, secret=SECRET)
    with pytest.raises(ExchangeAuthError) as info:
        ex.fetch_balance()
    error = info.value
    assert error.exit_code == 2
    assert str(error).startswith("binance fetch_balance: authentication refused")
    assert isinstance(error.__cause__, ccxt.AuthenticationError)
    assert API_KEY not in str(error) and SECRET not in str(error) and API_KEY not in repr(ex)
    assert rx.stats.requests["account"] == 1  # not retried
    assert rx.stats.requests["margin_pairs"] == 0  # no private calls while loading markets
    assert "Response:" in caplog.text  # ccxt's debug log was on, yet the key was never logged
    assert API_KEY not in caplog.text and SECRET not in caplog.text


def test_public_data_and_balance(rx):
    ex = adapter(rx, api_key="accepted-" + API_KEY[:20], secret=SECRET)
    ticker = ex.fetch_ticker("BTC/USDT")
    assert isinstance(ticker, Ticker) and ticker.symbol == "BTC/USDT" and ticker.last > 0
    book = ex.fetch_order_book("BTC/USDT", limit=5)
    assert isinstance(book, OrderBook) and 0 < len(book.bids) <= 5 and len(book.asks) > 0
    assert book.bids[0][0] < book.asks[0][0]
    trades = ex.fetch_trades("BTC/USDT", limit=3)
    assert trades and all(isinstance(t, PublicTrade) and t.price > 0 for t in trades)
    balance = ex.fetch_balance()
    assert balance["USDT"]["total"] == 10_000.0 and balance["BTC"]["free"] == 1.0
    assert abs(ex.server_time_ms() - rx.now_ms) < 1000


@pytest.mark.skipif(not HAS_OKX, reason="the okx replay dialect is not there yet")
def test_okx_dialect_candles_are_identical(candles):
    """okx answers newest-first and its history endpoint (as the replay server models it)
    gives fewer candles than ccxt's limit: pages must still be contiguous, no hole."""
    markets = [replay.ReplayMarket("BTC/USDT", candles.slice(0, 3000), "1m")]
    faults = replay.FaultConfig(rate=0.2, slow_s=1.0, retry_after_s=0.05, seed=5)
    with replay.ReplayExchange(markets, dialect="okx", faults=faults) as rx:
        ex = adapter(rx, exchange_id="okx", timeout_ms=400)
        assert ex.max_candles_per_request("1m") == 300  # what ccxt says
        assert "BTC/USDT" in ex.load_markets()
        got = paginate(ex, "BTC/USDT", "1m", int(candles.timestamp[0]))
        expected = rx.closed_candles("BTC/USDT")
        np.testing.assert_array_equal(got[: len(expected)], expected)
        assert len(got) == len(expected) + 1
        assert sum(rx.stats.faults.values()) > 0
        assert ex.max_candles_per_request("1m") < 300  # learned from the server's answers


@pytest.mark.skipif(not HAS_OKX, reason="the okx replay dialect is not there yet")
def test_an_empty_page_covers_the_whole_window_asked_for(candles):
    """After learning okx's smaller history limit (100), a hole of 200 candles must not make
    fetch_ohlcv(limit=300) come back empty: callers skip `limit` candles on an empty page."""
    from tradebot.core.candles import Candles

    keep = np.r_[0:400, 600:1000]
    holed = Candles(*(np.ascontiguousarray(getattr(candles, c)[keep]) for c in
                      ("timestamp", "open", "high", "low", "close", "volume")))
    with replay.ReplayExchange([replay.ReplayMarket("BTC/USDT", holed, "1m")], dialect="okx") as rx:
        ex = adapter(rx, exchange_id="okx")
        ts = holed.timestamp
        first = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=int(ts[0]), limit=300)
        second = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=int(first[-1, 0]) + MINUTE, limit=300)
        assert first[0, 0] == ts[0] and second[0, 0] == first[-1, 0] + MINUTE  # contiguous pages
        assert ex.max_candles_per_request("1m") == len(first) == len(second) < 300
        hole_start = int(ts[399]) + MINUTE
        after = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=hole_start, limit=300)
        assert len(after) > 0 and after[0, 0] == ts[400]  # the first candle after the hole
        nothing = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=hole_start, limit=150)
        assert len(nothing) == 0  # 150 candles from the hole's start: really nothing there


@pytest.fixture(scope="module")
def gappy():
    path = SHARED_DATA / "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz"
    if not path.exists():
        pytest.skip(f"real candles not found: {path}")
    from tradebot.data.csv_io import read_candles_csv

    return read_candles_csv(path).slice(0, 3000)


@pytest.mark.parametrize(
    "dialect", ["binance", pytest.param("okx", marks=pytest.mark.skipif(not HAS_OKX, reason="no okx"))]
)
def test_real_gaps_are_kept_and_cut_pages_are_completed(gappy, dialect):
    assert (np.diff(gappy.timestamp) > MINUTE).sum() > 50  # the source has real gaps
    markets = [replay.ReplayMarket("ETH/BTC", gappy, "1m")]
    faults = replay.FaultConfig(rate=0.4, kinds=("truncated", "malformed_json", "rate_limit"), retry_after_s=0.01,
                                seed=3)
    with replay.ReplayExchange(markets, dialect=dialect, faults=faults) as rx:
        ex = adapter(rx, exchange_id=dialect)
        got = paginate(ex, "ETH/BTC", "1m", int(gappy.timestamp[0]), limit=100)
        expected = rx.closed_candles("ETH/BTC")
        np.testing.assert_array_equal(got[: len(expected)], expected)  # gaps reported as gaps, nothing made up
        assert rx.stats.faults["truncated"] > 3
