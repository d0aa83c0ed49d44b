"""The ccxt adapter: any ccxt exchange id (spot or USDT-margined futures) behind the port.

* **Errors** are translated in one place, :func:`translate_ccxt_error` (``raise X from e``):
  every method raises only tradebot errors, with a one-line message that names the
  exchange and the operation and never contains API keys or secrets.
* **Retries**: every call goes through :func:`~tradebot.exchanges.retry.call_with_retry`
  (transient failures: network, timeouts, 429/418, 5xx, garbage answers). ``create_order``
  is the exception: it is retried only when the exchange refused it for rate limiting,
  because a timed-out order may have been placed.
* **Rate limit**: ccxt's own limiter (``enableRateLimit``, the exchange's ``rateLimit``
  and per-endpoint costs) is on unless ``rate_limit=False`` (benchmarks).
* **Limits from ccxt**: candles per request from ``exchange.features``, timeframes from
  ``exchange.timeframes``; unknown ids, symbols and timeframes get close-name suggestions.
* **base_url** (testnets, proxies, the replay server): :func:`rewrite_api_urls` points
  every REST URL of the ccxt instance at another scheme+host (+ path prefix).
* ``load_markets`` fetches only the market types needed (``options['fetchMarkets']``)
  and skips private endpoints ccxt would call with keys (``has['fetchCurrencies'] = False``,
  binance ``options['fetchMargins'] = False``): trading needs markets, not deposit networks
  or margin pair lists, and keys without those permissions must still work.

This module imports ccxt at import time (its exchange classes on first use, see
:mod:`tradebot.exchanges.ccxt_lazy`); services import it lazily so that ``tradebot --help``
does not.
"""

from __future__ import annotations

import difflib
import email.utils
import json
import logging
import math
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import requests

from tradebot.core.errors import (
    ClockSkew,
    ConfigError,
    DuplicateClientOrderId,
    ExchangeAuthError,
    ExchangeBadResponse,
    ExchangeError,
    ExchangeNotSupported,
    ExchangeRateLimited,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    TradebotError,
    UsageError,
)
from tradebot.core.market_rules import MarketRules
from tradebot.exchanges import ccxt_lazy
from tradebot.exchanges.port import AccountTrade, MarketInfo, Order, OrderBook, PublicTrade, Ticker
from tradebot.exchanges.retry import RetryPolicy, call_with_retry

ccxt_lazy.install()  # the exchange classes on first use: a step on one exchange imports one
import ccxt  # noqa: E402

_log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_CANDLES",
    "MARKET_TYPES",
    "CcxtExchange",
    "parse_retry_after",
    "rewrite_api_urls",
    "scrub_secrets",
    "translate_ccxt_error",
]

T = TypeVar("T")

MARKET_TYPES = ("spot", "futures")
DEFAULT_MAX_CANDLES = 500
_MAX_MESSAGE = 300
_MASK = "***"

# key=value pairs in URLs, query strings and headers that must never be shown
_SECRET_PARAMS = re.compile(
    r"(?i)(\b(?:signature|sign|api[_-]?key|apikey|secret|password|passphrase|x-mbx-apikey|"
    r"ok-access-key|ok-access-sign|ok-access-passphrase)[\"']?\s*[=:]\s*[\"']?)([^&\s\"',}]+)"
)
_HTML = re.compile(r"(?i)<\s*(!doctype|html|head|body)\b")
_URL = re.compile(r"^(https?)://([^/]*)(.*)$", re.S)
_BARE_JSON_SCALAR = re.compile(r"^\s*(-?\d+(\.\d+)?([eE][+-]?\d+)?|\"[^\"]*\"|true|false|null)\s*$")

# Python errors that ccxt lets through when it parses a garbage or truncated answer
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    json.JSONDecodeError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
)
# transport failures that are configuration problems, not transient ones
_PERMANENT_TRANSPORT: tuple[type[BaseException], ...] = (
    requests.exceptions.SSLError,
    requests.exceptions.TooManyRedirects,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


# --------------------------------------------------------------------------- helpers


def scrub_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret and every ``signature=``/``apiKey=``-like value masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _MASK)
    return _SECRET_PARAMS.sub(lambda m: m.group(1) + _MASK, text)


def _one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    match = _HTML.search(text)
    if match is not None:
        text = text[: match.start()].rstrip() + " <an HTML page instead of JSON>"
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_retry_after(value: Any, now_s: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now_s is None else now_s)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _header(headers: Any, name: str) -> Any:
    if not headers:
        return None
    try:
        value = headers.get(name)  # requests' CaseInsensitiveDict
    except AttributeError:
        return None
    if value is not None:
        return value
    lowered = name.lower()
    try:
        for key, item in headers.items():
            if str(key).lower() == lowered:
                return item
    except AttributeError:
        pass
    return None


def _http_status(error: BaseException) -> int | None:
    cause = error.__cause__ or error.__context__
    if isinstance(cause, requests.exceptions.HTTPError) and cause.response is not None:
        return int(cause.response.status_code)
    return None


def translate_ccxt_error(
    error: BaseException,
    *,
    exchange_id: str,
    operation: str,
    headers: Mapping[str, Any] | None = None,
    secrets: Iterable[str | None] = (),
) -> TradebotError | None:
    """The tradebot error for a ccxt (or parsing/transport) exception, or None if it is none
    of those (a bug: let it propagate). The one translation table of the project.

    The caller raises the result ``from error``. ``headers``: the response headers of the
    failed request (``exchange.last_response_headers``), for ``Retry-After``.
    """
    if isinstance(error, TradebotError):
        return error
    where = f"{exchange_id} {operation}"
    detail = str(error)
    if detail.startswith(exchange_id + " "):
        detail = detail[len(exchange_id) + 1 :]
    detail = _one_line(scrub_secrets(detail, secrets)) or type(error).__name__

    def make(cls: type[TradebotError], text: str | None = None) -> TradebotError:
        return cls(f"{where}: {text if text is not None else detail}")

    if isinstance(error, ccxt.BaseError):
        placing = operation.startswith("create_order")
        if isinstance(error, ccxt.OrderNotFound):
            return make(OrderNotFound)
        if isinstance(error, ccxt.DuplicateOrderId) or (
            isinstance(error, ccxt.InvalidOrder) and "duplicate order" in detail.lower()
        ):
            return make(DuplicateClientOrderId, f"duplicate client order id (an open order has it): {detail}")
        if isinstance(error, ccxt.InsufficientFunds):
            return make(InsufficientFunds)
        if placing and isinstance(error, ccxt.InvalidOrder | ccxt.BadRequest | ccxt.OperationRejected):
            return make(OrderRejected, f"order rejected: {detail}")
        if isinstance(error, ccxt.InvalidOrder):
            return make(InvalidOrder)
        if isinstance(error, ccxt.InvalidNonce):
            return make(
                ClockSkew,
                f"clock skew: the exchange refused the request's timestamp (sync this machine's clock): {detail}",
            )
        if isinstance(error, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
            return make(
                ExchangeAuthError, f"authentication refused (check the API key, secret and permissions): {detail}"
            )
        if isinstance(error, ccxt.BadSymbol):
            return make(ExchangeNotSupported, f"unknown or unsupported symbol: {detail}")
        if isinstance(error, ccxt.NotSupported):
            return make(ExchangeNotSupported, f"not supported by {exchange_id}: {detail}")
        if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            limited = make(ExchangeRateLimited, f"rate limited: {detail}")
            limited.retry_after_s = parse_retry_after(_header(headers, "Retry-After"))  # type: ignore[attr-defined]
            return limited
        if isinstance(error, ccxt.BadResponse):  # includes NullResponse
            return make(ExchangeBadResponse, f"bad response: {detail}")
        if isinstance(error, ccxt.ExchangeNotAvailable) and _http_status(error) == 404:
            # ccxt calls a 404 "not available"; it is a wrong URL (base_url?), not a hiccup
            return make(ExchangeError, f"HTTP 404 not found (is the exchange's base URL right?): {detail}")
        if isinstance(error, ccxt.ExchangeNotAvailable):  # includes OnMaintenance
            state = "under maintenance" if isinstance(error, ccxt.OnMaintenance) else "unavailable"
            unavailable = make(ExchangeUnavailable, f"exchange {state}: {detail}")
            unavailable.retry_after_s = parse_retry_after(_header(headers, "Retry-After"))  # type: ignore[attr-defined]
            return unavailable
        if isinstance(error, ccxt.RequestTimeout):
            return make(ExchangeUnavailable, f"request timed out: {detail}")
        if isinstance(error, ccxt.NetworkError):  # connection refused/dropped, InvalidNonce, ...
            return make(ExchangeUnavailable, f"network error ({type(error).__name__}): {detail}")
        # a plain ExchangeError caused by the transport (an unlisted 5xx, a broken stream)
        status = _http_status(error)
        cause = error.__cause__
        if (status is not None and status >= 500) or (
            status is None
            and isinstance(cause, requests.exceptions.RequestException | OSError)
            and not isinstance(cause, _PERMANENT_TRANSPORT)
        ):
            return make(ExchangeUnavailable, f"network error: {detail}")
        return make(ExchangeError)
    if isinstance(error, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        if isinstance(error, _PERMANENT_TRANSPORT):
            return make(ExchangeError)
        return make(ExchangeUnavailable, f"network error ({type(error).__name__}): {detail}")
    if isinstance(error, _PARSE_ERRORS):
        return make(ExchangeBadResponse, f"malformed response ({type(error).__name__}: {detail})")
    return None


def rewrite_api_urls(exchange: Any, base_url: str) -> Any:
    """Point every REST URL of a ccxt instance (``exchange.urls['api']``, nested, including
    ``{hostname}`` templates) at ``base_url``'s scheme and host; a path in ``base_url`` is
    kept as a prefix. ``https://api.binance.com/api/v3`` -> ``http://127.0.0.1:8080/api/v3``.
    The sandbox URLs (``urls['test']``) are rewritten too; WebSocket URLs are left alone.
    Works on sync and async ccxt instances; returns ``exchange``. Raises
    :class:`ConfigError` for a URL that is not ``http(s)://host[:port][/prefix]``.
    """
    parts = urllib.parse.urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"invalid exchange base_url {base_url!r}: expected http(s)://host[:port][/prefix], "
            "e.g. http://127.0.0.1:8080"
        )
    root = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            match = _URL.match(value)
            return root + match.group(3) if match else value
        if isinstance(value, dict):
            return {key: rewrite(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value

    urls = dict(exchange.urls or {})
    for key in ("api", "test"):  # "test": the sandbox URLs, swapped in by set_sandbox_mode
        if urls.get(key) is not None:
            urls[key] = rewrite(urls[key])
    exchange.urls = urls
    return exchange


def _suggest(value: str, candidates: Iterable[str], n: int = 3) -> str:
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    matches = difflib.get_close_matches(value.lower(), list(lowered), n=n, cutoff=0.6)
    if not matches:
        return ""
    return f" (did you mean: {', '.join(lowered[m] for m in matches)}?)"


class _DropRequestLogs(logging.Filter):
    """ccxt logs request headers (API keys!) at DEBUG: never let those records out."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.DEBUG and "Request:" in str(record.msg))


_LOG_GUARD = _DropRequestLogs()
for _name in ("ccxt", "ccxt.base.exchange"):
    _logger = logging.getLogger(_name)
    if _LOG_GUARD not in _logger.filters:
        _logger.addFilter(_LOG_GUARD)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _fixed_step_ms(timeframe: str) -> int | None:
    """Length of a candle for timeframes aligned to the epoch (s, m, h, 1d), else None."""
    match = re.fullmatch(r"(\d+)([smhd])", timeframe)
    if not match or (match.group(2) == "d" and match.group(1) != "1"):
        return None
    return int(match.group(1)) * {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[match.group(2)]


def _int(value: Any) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


# --------------------------------------------------------------------------- the adapter


class CcxtExchange:
    """The exchange port over a synchronous ccxt exchange instance.

    ``exchange_id``: any of ``ccxt.exchanges``. ``market_type``: ``"spot"`` or
    ``"futures"`` (USDT-margined linear contracts; ``BTC/USDT`` is accepted for
    ``BTC/USDT:USDT``). ``base_url``: send every REST request there instead.
    ``api_key``/``secret``/``password``: credentials (from the settings' secrets; never
    shown). ``timeout_ms``: per HTTP request. ``rate_limit``: ccxt's limiter (off only for
    benchmarks). ``retry``: the policy for transient failures. ``sandbox``: the exchange's
    testnet (ccxt ``set_sandbox_mode``). ``on_retry(attempt, error, delay_s)``: called
    before each retry wait (progress display).
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        market_type: str = "spot",
        base_url: str | None = None,
        api_key: str | None = None,
        secret: str | None = None,
        password: str | None = None,
        timeout_ms: int = 10_000,
        rate_limit: bool = True,
        retry: RetryPolicy = RetryPolicy(),
        sandbox: bool = False,
        on_retry: Callable[[int, BaseException, float], object] | None = None,
        recv_window_ms: int | None = None,
        markets_cache: Path | None = None,
        markets_ttl_s: float = 3600.0,
    ) -> None:
        eid = str(exchange_id).strip().lower()
        if eid not in ccxt.exchanges:
            raise ExchangeNotSupported(
                f"unknown exchange {exchange_id!r}{_suggest(eid, ccxt.exchanges)}; "
                f"any of the {len(ccxt.exchanges)} ccxt exchange ids works, e.g. binance, okx, bybit, kraken"
            )
        if market_type not in MARKET_TYPES:
            raise UsageError(f"invalid market type {market_type!r}: expected one of {', '.join(MARKET_TYPES)}")
        if timeout_ms <= 0:
            raise UsageError(f"invalid timeout {timeout_ms!r} ms: expected a positive number")
        self._id = eid
        self._market_type = market_type
        self._base_url = base_url
        self._retry = retry
        self._on_retry = on_retry
        self._secrets: tuple[str, ...] = tuple(s for s in (api_key, secret, password) if s)
        self._market_infos: dict[str, MarketInfo] | None = None
        #: where the parsed markets are kept between processes (markets_cache.py); None: nowhere
        self._markets_file: Path | None = None
        self._markets_key = f"{eid}|{market_type}|{base_url or ''}|{'sandbox' if sandbox else 'main'}"
        self._markets_ttl_s = float(markets_ttl_s)
        self.markets_from_cache = False
        if markets_cache is not None and self._markets_ttl_s > 0:
            from tradebot.exchanges.markets_cache import cache_file

            self._markets_file = cache_file(Path(markets_cache), self._markets_key, eid)
        self._learned_limits: dict[str, int] = {}
        self._limit_votes: dict[str, int] = {}

        config: dict[str, Any] = {"enableRateLimit": bool(rate_limit), "timeout": int(timeout_ms)}
        if api_key:
            config["apiKey"] = api_key
        if secret:
            config["secret"] = secret
        if password:
            config["password"] = password
        ex = getattr(ccxt, eid)(config)
        ex.enableLastJsonResponse = True  # to tell a garbage body from an empty answer
        ex.has = {**ex.has, "fetchCurrencies": False}
        options = ex.options
        if market_type == "futures":
            options["defaultType"] = "swap"
            options["defaultSubType"] = "linear"
        else:
            options["defaultType"] = "spot"
        self._restrict_market_types(options)
        if "fetchMargins" in options:  # binance: margin pair lists are private calls we do not need
            options["fetchMargins"] = False
        if recv_window_ms is not None:
            if not 0 < int(recv_window_ms) <= 60_000:
                raise UsageError(f"invalid receive window {recv_window_ms!r} ms: expected 1..60000")
            options["recvWindow"] = int(recv_window_ms)
        if sandbox:
            try:
                ex.set_sandbox_mode(True)
            except ccxt.NotSupported as e:
                raise ExchangeNotSupported(f"{eid} has no sandbox/testnet in ccxt") from e
        if base_url:
            rewrite_api_urls(ex, base_url)
        self._ex = ex

    def _restrict_market_types(self, options: dict[str, Any]) -> None:
        """Load only the market types needed (binance: spot or linear; okx: spot or swap)."""
        setting = options.get("fetchMarkets")
        types = setting.get("types") if isinstance(setting, dict) else setting
        if not isinstance(types, list) or not types:
            return
        if self._market_type == "spot":
            wanted = ["spot"] if "spot" in types else None
        else:
            wanted = next(([t] for t in ("linear", "swap") if t in types), None)
        if wanted is None:
            return
        if isinstance(setting, dict):
            options["fetchMarkets"] = {**setting, "types": wanted}
        else:
            options["fetchMarkets"] = wanted

    # ----------------------------------------------------------------- basics

    @property
    def id(self) -> str:
        return self._id

    @property
    def market_type(self) -> str:
        return self._market_type

    @property
    def base_url(self) -> str | None:
        return self._base_url

    @property
    def recv_window_ms(self) -> int:
        """How old a signed request may be when the exchange receives it (binance
        ``recvWindow``; ccxt sends 10000 unless ``recv_window_ms`` says otherwise). An order
        request that got no answer can be accepted no later than this after it was signed:
        the margin :func:`tradebot.engine.orders.submit_or_adopt` waits before sending again."""
        value = _int((self._ex.options or {}).get("recvWindow"))
        return value if value and value > 0 else 10_000

    @property
    def rate_limit(self) -> bool:
        return bool(self._ex.enableRateLimit)

    @property
    def rate_limit_ms(self) -> float:
        """ccxt's minimum spacing between requests of cost 1, in milliseconds."""
        return float(self._ex.rateLimit)

    @property
    def ccxt(self) -> Any:
        """The underlying ccxt instance (for tests and the replay server's URL rewriting)."""
        return self._ex

    @property
    def timeframes(self) -> list[str]:
        return list(self._ex.timeframes or {})

    def __repr__(self) -> str:
        parts = [f"{self._id!r}", f"market_type={self._market_type!r}"]
        if self._base_url:
            parts.append(f"base_url={self._base_url!r}")
        parts.append(f"rate_limit={self.rate_limit}")
        parts.append(f"authenticated={bool(self._secrets)}")
        return f"CcxtExchange({', '.join(parts)})"

    def close(self) -> None:
        session = getattr(self._ex, "session", None)
        if session is not None:
            session.close()

    def __enter__(self) -> CcxtExchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- calls

    def _call(
        self,
        operation: str,
        fn: Callable[[], Any],
        convert: Callable[[Any], T] | None = None,
        *,
        retry_on: tuple[type[BaseException], ...] = (ExchangeUnavailable,),
        expect_json: bool = True,
    ) -> T:
        """Run one ccxt call with translation, answer checks and retries."""
        ex = self._ex
        what = f"{self._id} {operation}"

        def attempt() -> T:
            ex.last_http_response = None
            ex.last_json_response = None
            ex.last_response_headers = None
            try:
                result = fn()
                if expect_json:
                    self._check_json_answer(operation)
                return convert(result) if convert is not None else result
            except TradebotError:
                raise
            except Exception as e:
                error = translate_ccxt_error(
                    e,
                    exchange_id=self._id,
                    operation=operation,
                    headers=ex.last_response_headers,
                    secrets=self._secrets,
                )
                if error is None:
                    raise
                raise error from e

        return call_with_retry(attempt, self._retry, what=what, on_retry=self._on_retry, retry_on=retry_on)

    def _check_json_answer(self, operation: str) -> None:
        """A 200 answer that is not JSON (HTML, garbage, empty, truncated) is a bad response:
        ccxt would hand its text to the parser, which may make an empty page of it."""
        text = self._ex.last_http_response
        if text is None or self._ex.last_json_response is not None:
            return
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str) and _BARE_JSON_SCALAR.match(text):
            return
        shown = _one_line(scrub_secrets(str(text), self._secrets), 120) or "an empty body"
        raise ExchangeBadResponse(
            f"{self._id} {operation}: bad response: not valid JSON (HTML, garbage or cut short): {shown}"
        )

    # ----------------------------------------------------------------- markets

    def load_markets(self, reload: bool = False) -> dict[str, MarketInfo]:
        """Markets of this adapter's type, by unified symbol (cached unless ``reload``)."""
        if self._market_infos is not None and not reload:
            return self._market_infos

        def convert(markets: Any) -> dict[str, MarketInfo]:
            if not isinstance(markets, Mapping) or not markets:
                raise ExchangeBadResponse(f"{self._id} load_markets: bad response: no markets")
            return {s: self._market_info(m) for s, m in markets.items() if self._wanted(m)}

        infos: dict[str, MarketInfo] | None = None
        if not reload and self._markets_file is not None:
            infos = self._cached_markets(convert)
        if infos is None:
            infos = self._call("load_markets", lambda: self._ex.load_markets(reload=reload), convert)
            if infos and self._markets_file is not None:
                from tradebot.exchanges.markets_cache import write_markets

                write_markets(self._markets_file, self._markets_key, self._ex.markets, self._ex.currencies)
        if not infos:
            kind = "spot" if self._market_type == "spot" else "USDT-margined futures"
            raise ExchangeNotSupported(f"{self._id} has no {kind} markets")
        self._market_infos = infos
        return infos

    def _cached_markets(self, convert: Callable[[Any], dict[str, MarketInfo]]) -> dict[str, MarketInfo] | None:
        """The markets from the cache file when it holds fresh ones of this configuration."""
        from tradebot.exchanges.markets_cache import read_markets

        assert self._markets_file is not None
        cached = read_markets(self._markets_file, self._markets_key, self._markets_ttl_s)
        if cached is None:
            return None
        infos: dict[str, MarketInfo] | None = None
        try:
            self._ex.set_markets(*cached)
            infos = convert(self._ex.markets)
        except Exception as e:  # a file ccxt cannot take (another ccxt version): load them again
            _log.warning("markets cache %s not usable (%s: %s); loading the markets again",
                         self._markets_file, type(e).__name__, e)
        if not infos:  # unusable, or none of this adapter's type in it: ccxt loads them again
            self._ex.markets = None
            return None
        self.markets_from_cache = True
        return infos

    def forget_cached_markets(self) -> None:
        """Delete the markets cache file: the next process downloads the markets again (an
        order the exchange refused may mean its rules changed)."""
        if self._markets_file is not None:
            from tradebot.exchanges.markets_cache import forget

            forget(self._markets_file)

    def _wanted(self, market: Mapping[str, Any]) -> bool:
        if self._market_type == "spot":
            return bool(market.get("spot")) or market.get("type") == "spot"
        contract = bool(market.get("swap") or market.get("future")) or market.get("type") in ("swap", "future")
        return contract and market.get("linear") is not False and not market.get("inverse")

    @staticmethod
    def _market_info(market: Mapping[str, Any]) -> MarketInfo:
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        active = market.get("active")
        linear = market.get("linear")
        return MarketInfo(
            symbol=str(market["symbol"]),
            base=str(market.get("base") or ""),
            quote=str(market.get("quote") or ""),
            type=str(market.get("type") or ("spot" if market.get("spot") else "swap")),
            active=True if active is None else bool(active),
            price_precision=_float(precision.get("price")),
            amount_precision=_float(precision.get("amount")),
            min_amount=_float((limits.get("amount") or {}).get("min")),
            min_cost=_float((limits.get("cost") or {}).get("min")),
            contract=bool(market.get("contract")),
            linear=None if linear is None else bool(linear),
        )

    def resolve_symbol(self, symbol: str) -> str:
        """The unified symbol of this adapter's market type for ``symbol`` (``btc/usdt``
        and, for futures, ``BTC/USDT`` for ``BTC/USDT:USDT`` are accepted); raises
        :class:`ExchangeNotSupported` with close names for an unknown one."""
        markets = self.load_markets()
        if symbol in markets:
            return symbol
        candidate = str(symbol).strip().upper()
        if candidate in markets:
            return candidate
        if self._market_type == "futures" and ":" not in candidate and "/" in candidate:
            settle = f"{candidate}:{candidate.split('/', 1)[1]}"
            if settle in markets:
                return settle
        kind = "spot" if self._market_type == "spot" else "USDT-margined futures"
        hint = _suggest(candidate, markets, n=5)
        if not hint:
            hint = f" ({len(markets)} {kind} markets; `tradebot markets {self._id}` lists them)"
        raise ExchangeNotSupported(f"{self._id}: unknown {kind} symbol {symbol!r}{hint}")

    def check_timeframe(self, timeframe: str) -> str:
        """``timeframe`` if the exchange offers candles of it, else :class:`ExchangeNotSupported`."""
        timeframes = self.timeframes
        if not timeframes or not self._ex.has.get("fetchOHLCV"):
            raise ExchangeNotSupported(f"{self._id} does not provide candles (no fetchOHLCV in ccxt)")
        if timeframe in timeframes:
            return timeframe
        matches = [t for t in timeframes if t.lower() == str(timeframe).lower()]
        if len(matches) == 1:
            return matches[0]
        close = difflib.get_close_matches(str(timeframe), timeframes, n=3, cutoff=0.5)
        hint = f" (did you mean: {', '.join(close)}?)" if close else ""
        raise ExchangeNotSupported(
            f"{self._id}: unknown timeframe {timeframe!r}{hint}; supported: {', '.join(timeframes)}"
        )

    def max_candles_per_request(self, timeframe: str) -> int:
        """Largest ``limit`` one candle request may ask for, as ccxt knows it:
        ``features[spot|swap.linear].fetchOHLCV.limit``, else ``options`` hints, else 500;
        lowered to a smaller limit the exchange has shown (see :meth:`fetch_ohlcv`)."""
        timeframe = self.check_timeframe(timeframe)
        declared = self._declared_candle_limit()
        return min(declared, self._learned_limits.get(timeframe, declared))

    def _declared_candle_limit(self) -> int:
        ex = self._ex
        features = getattr(ex, "features", None) or {}
        if self._market_type == "spot":
            nodes = [features.get("spot")]
        else:
            nodes = [(features.get(kind) or {}).get("linear") for kind in ("swap", "future")]
        for node in nodes:
            if isinstance(node, Mapping):
                limit = _int((node.get("fetchOHLCV") or {}).get("limit"))
                if limit and limit > 0:
                    return limit
        hints = ex.options.get("fetchOHLCV") if isinstance(ex.options, Mapping) else None
        if isinstance(hints, Mapping):
            for key in ("limit", "maxLimit", "max_limit"):
                limit = _int(hints.get(key))
                if limit and limit > 0:
                    return limit
        return DEFAULT_MAX_CANDLES

    # ----------------------------------------------------------------- market data

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        since_ms: int | None = None,
        limit: int | None = None,
        until_ms: int | None = None,
    ) -> np.ndarray:
        """One page of candles as an ``(n, 6)`` float64 array (open time ms, O, H, L, C, V),
        sorted by time, with open time ``>= since_ms`` and ``<= until_ms`` when given.

        ``limit`` is capped at :meth:`max_candles_per_request`. The still-open last candle
        is *not* dropped here: callers that store candles drop it (compare with
        :meth:`server_time_ms`). Rows with a missing time or price are a bad response
        (retried); a missing volume is NaN.

        With ``since_ms`` (timeframes of seconds, minutes, hours or 1d), two promises hold
        whatever the exchange's paging style:

        * the page is contiguous from ``since_ms``: an exchange that answers newest-first
          (okx) with fewer rows than asked for (a smaller real limit than ccxt knows, or a
          cut-short page) would leave a hole at the old end, so the request is repeated
          with the smaller count until the page starts at ``since_ms`` or no older row
          exists (a real gap). A smaller limit seen twice is remembered and lowers
          :meth:`max_candles_per_request`;
        * an empty page means no candle in ``[since_ms, since_ms + limit * timeframe)``
          for the ``limit`` asked for, even when a learned smaller limit forced smaller
          windows: callers may skip that far.
        """
        unified = self.resolve_symbol(symbol)
        tf = self.check_timeframe(timeframe)
        declared = self._declared_candle_limit()
        requested = declared if limit is None else max(1, min(int(limit), declared))
        count = min(requested, self.max_candles_per_request(tf))
        since = None if since_ms is None else int(since_ms)
        operation = f"fetch_ohlcv {unified} {tf}"

        def fetch(start: int | None, n: int) -> np.ndarray:
            return self._call(
                operation,
                lambda: self._ex.fetch_ohlcv(unified, tf, start, n),
                lambda rows: self._candles(rows, start, until_ms, operation),
            )

        page = fetch(since, count)
        step = _fixed_step_ms(tf)
        if since is None or step is None:
            return page
        start = -(-since // step) * step
        window_end = start + requested * step
        while len(page) == 0 and start + count * step < window_end:
            start += count * step  # the learned limit made the window smaller than asked for
            if until_ms is not None and start > until_ms:
                break
            page = fetch(start, count)
        if len(page) == 0 or len(page) >= count:
            return page
        while page[0, 0] > start and 0 < len(page) < count:
            count = len(page)
            again = fetch(start, count)
            if len(again) == 0 or again[0, 0] >= page[0, 0]:
                break  # nothing older in that window: a real gap in the exchange's data
            if again[0, 0] == start and len(again) == count:
                self._note_candle_limit(tf, count)
            page = again
        return page

    def _note_candle_limit(self, timeframe: str, count: int) -> None:
        """Adopt a smaller candle limit once two requests have shown the same one (a single
        cut-short page must not shrink every later request)."""
        if self._limit_votes.get(timeframe) == count:
            self._learned_limits[timeframe] = min(count, self._learned_limits.get(timeframe, count))
        self._limit_votes[timeframe] = count

    def _candles(self, rows: Any, since_ms: int | None, until_ms: int | None, operation: str) -> np.ndarray:
        if not isinstance(rows, list):
            raise ExchangeBadResponse(f"{self._id} {operation}: bad response: candles are not a list")
        try:  # one vectorized conversion; None becomes NaN, caught below
            out = np.array(rows, dtype=np.float64) if rows else np.empty((0, 6))
        except (TypeError, ValueError):
            out = np.empty((0, 0))
        if out.ndim != 2 or out.shape[1] < 6:
            bad = next((r for r in rows if not isinstance(r, list | tuple) or len(r) < 6), rows[:1])
            raise ExchangeBadResponse(
                f"{self._id} {operation}: bad response: malformed candle {_one_line(repr(bad), 80)}"
            )
        out = np.ascontiguousarray(out[:, :6])
        if not np.isfinite(out[:, :5]).all():
            raise ExchangeBadResponse(f"{self._id} {operation}: bad response: non-finite candle values")
        if len(out) > 1 and not (np.diff(out[:, 0]) >= 0).all():
            out = out[np.argsort(out[:, 0], kind="stable")]
        if since_ms is not None:
            out = out[out[:, 0] >= since_ms]
        if until_ms is not None:
            out = out[out[:, 0] <= until_ms]
        return out

    def fetch_ticker(self, symbol: str) -> Ticker:
        unified = self.resolve_symbol(symbol)

        def convert(t: Mapping[str, Any]) -> Ticker:
            return Ticker(
                symbol=unified,
                timestamp_ms=_int(t.get("timestamp")),
                bid=_float(t.get("bid")),
                ask=_float(t.get("ask")),
                last=_float(t.get("last")),
                base_volume=_float(t.get("baseVolume")),
            )

        return self._call(f"fetch_ticker {unified}", lambda: self._ex.fetch_ticker(unified), convert)

    def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBook:
        unified = self.resolve_symbol(symbol)

        def levels(side: Any) -> list[tuple[float, float]]:
            return [(float(level[0]), float(level[1])) for level in side or []]

        def convert(book: Mapping[str, Any]) -> OrderBook:
            return OrderBook(
                symbol=unified,
                timestamp_ms=_int(book.get("timestamp")),
                bids=levels(book.get("bids")),
                asks=levels(book.get("asks")),
            )

        return self._call(
            f"fetch_order_book {unified}", lambda: self._ex.fetch_order_book(unified, limit), convert
        )

    def fetch_trades(self, symbol: str, since_ms: int | None = None, limit: int | None = None) -> list[PublicTrade]:
        unified = self.resolve_symbol(symbol)

        def convert(trades: list[Mapping[str, Any]]) -> list[PublicTrade]:
            return [
                PublicTrade(
                    id=None if t.get("id") is None else str(t["id"]),
                    timestamp_ms=int(t["timestamp"]),
                    side=t.get("side"),
                    price=float(t["price"]),
                    amount=float(t["amount"]),
                )
                for t in trades
            ]

        return self._call(
            f"fetch_trades {unified}", lambda: self._ex.fetch_trades(unified, since_ms, limit), convert
        )

    def server_time_ms(self) -> int:
        """The exchange's clock (its time endpoint), or the local clock if it has none."""
        if not self._ex.has.get("fetchTime"):
            return int(self._ex.milliseconds())

        def convert(value: Any) -> int:
            ms = _int(value)
            if ms is None or ms <= 0:
                raise ExchangeBadResponse(f"{self._id} fetch_time: bad response: no server time")
            return ms

        return self._call("fetch_time", self._ex.fetch_time, convert, expect_json=False)

    # ----------------------------------------------------------------- account

    def fetch_balance(self) -> dict[str, dict[str, float]]:
        """``{currency: {"free": ..., "used": ..., "total": ...}}`` (missing figures are 0)."""

        def convert(balance: Mapping[str, Any]) -> dict[str, dict[str, float]]:
            totals = balance.get("total") or {}
            free = balance.get("free") or {}
            used = balance.get("used") or {}
            out: dict[str, dict[str, float]] = {}
            for code in sorted(set(totals) | set(free) | set(used)):
                out[str(code)] = {
                    "free": _float(free.get(code)) or 0.0,
                    "used": _float(used.get(code)) or 0.0,
                    "total": _float(totals.get(code)) or 0.0,
                }
            return out

        return self._call("fetch_balance", self._ex.fetch_balance, convert)

    def _order(self, data: Mapping[str, Any], symbol: str | None = None) -> Order:
        if not isinstance(data, Mapping):
            raise ExchangeBadResponse(f"{self._id}: bad response: an order is not an object")
        fees: list[tuple[str, float]] = []
        for fee in data.get("fees") or ([data["fee"]] if data.get("fee") else []):
            cost = _float((fee or {}).get("cost"))
            if cost:
                fees.append((str(fee.get("currency") or ""), cost))
        return Order(
            id=str(data.get("id")),
            symbol=str(data.get("symbol") or symbol or ""),
            side=str(data.get("side") or ""),
            type=str(data.get("type") or ""),
            status=str(data.get("status") or ""),
            amount=_float(data.get("amount")) or 0.0,
            filled=_float(data.get("filled")) or 0.0,
            price=_float(data.get("price")),
            average=_float(data.get("average")),
            timestamp_ms=_int(data.get("timestamp")),
            raw=dict(data.get("info") or {}) if isinstance(data.get("info"), Mapping) else {},
            client_order_id=None if data.get("clientOrderId") is None else str(data["clientOrderId"]),
            remaining=_float(data.get("remaining")),
            cost=_float(data.get("cost")),
            fees=tuple(fees),
            updated_ms=_int(data.get("lastUpdateTimestamp") or data.get("lastTradeTimestamp")),
        )

    def _client_id_params(self, client_order_id: str) -> dict[str, Any]:
        """The query parameter naming an order by our client id (binance: origClientOrderId)."""
        return {"origClientOrderId": client_order_id} if self._id.startswith("binance") else \
            {"clientOrderId": client_order_id}

    def market_rules(self, symbol: str) -> MarketRules:
        """Price tick, lot step, amount limits and minimum notional of ``symbol`` from
        ``load_markets`` (decimal-places precision is turned into steps)."""
        from decimal import Decimal

        unified = self.resolve_symbol(symbol)
        market = self._ex.markets[unified]
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        tick_mode = getattr(self._ex, "precisionMode", None) == ccxt.TICK_SIZE

        def step(value: Any) -> Decimal | None:
            number = _float(value)
            if number is None or number <= 0:
                return None
            if tick_mode:
                return Decimal(repr(number)).normalize()
            return Decimal(1).scaleb(-int(number))

        def limit(group: str, key: str) -> Decimal | None:
            number = _float((limits.get(group) or {}).get(key))
            return None if number is None or number <= 0 else Decimal(repr(number)).normalize()

        return MarketRules(
            symbol=unified,
            tick_size=step(precision.get("price")),
            step_size=step(precision.get("amount")),
            min_amount=limit("amount", "min"),
            max_amount=limit("amount", "max"),
            min_notional=limit("cost", "min"),
            min_price=limit("price", "min"),
        )

    def create_order(
        self,
        symbol: str,
        side: str,
        type: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
        *,
        client_order_id: str | None = None,
    ) -> Order:
        """Place an order, named by ``client_order_id`` when given. Retried only when rate
        limited (the exchange refused it): after a timeout, a lost answer or a 5xx the order
        may exist, so that error is raised for the caller to look the client id up
        (:meth:`fetch_order_by_client_id`). A refusal is :class:`OrderRejected`
        (:class:`DuplicateClientOrderId` when an open order has the client id)."""
        unified = self.resolve_symbol(symbol)
        extra = dict(params or {})
        if client_order_id is not None:
            extra["clientOrderId"] = client_order_id
        return self._call(
            f"create_order {unified} {side} {type}",
            lambda: self._ex.create_order(unified, type, side, amount, price, extra),
            lambda data: self._order(data, unified),
            retry_on=(ExchangeRateLimited,),
        )

    def cancel_order(self, order_id: str | None, symbol: str, client_order_id: str | None = None) -> Order:
        """Cancel by exchange id or by our client id. An order that is no longer open (or
        unknown) is :class:`OrderNotFound`."""
        unified = self.resolve_symbol(symbol)
        extra = self._client_id_params(client_order_id) if order_id is None and client_order_id else {}
        return self._call(
            f"cancel_order {order_id or client_order_id} {unified}",
            lambda: self._ex.cancel_order(order_id, unified, extra),
            lambda data: self._order(data, unified),
        )

    def fetch_order(self, order_id: str, symbol: str) -> Order:
        unified = self.resolve_symbol(symbol)
        return self._call(
            f"fetch_order {order_id} {unified}",
            lambda: self._ex.fetch_order(order_id, unified),
            lambda data: self._order(data, unified),
        )

    def fetch_order_by_client_id(self, client_order_id: str, symbol: str) -> Order | None:
        """The order the exchange knows under our client id (the latest one), or None when
        it has none: the question asked before sending an intent again."""
        unified = self.resolve_symbol(symbol)
        try:
            return self._call(
                f"fetch_order client id {client_order_id} {unified}",
                lambda: self._ex.fetch_order(None, unified, self._client_id_params(client_order_id)),
                lambda data: self._order(data, unified),
            )
        except OrderNotFound:
            return None

    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        unified = None if symbol is None else self.resolve_symbol(symbol)
        return self._call(
            f"fetch_open_orders {unified or 'all'}",
            lambda: self._ex.fetch_open_orders(unified),
            lambda rows: [self._order(row, unified) for row in rows],
        )

    def fetch_my_trades(self, symbol: str, since_ms: int | None = None, limit: int | None = None,
                        order_id: str | None = None) -> list[AccountTrade]:
        """Our fills on ``symbol`` (of one order with ``order_id``), oldest first, each with
        the fee in the currency the exchange charged it."""
        unified = self.resolve_symbol(symbol)
        extra = {"orderId": order_id} if order_id is not None else {}

        def convert(rows: Any) -> list[AccountTrade]:
            if not isinstance(rows, list):
                raise ExchangeBadResponse(f"{self._id} fetch_my_trades: bad response: not a list")
            out = []
            for t in rows:
                fee = t.get("fee") or {}
                out.append(AccountTrade(
                    id=str(t.get("id")),
                    order_id=None if t.get("order") is None else str(t["order"]),
                    symbol=str(t.get("symbol") or unified),
                    side=str(t.get("side") or ""),
                    price=float(t["price"]),
                    amount=float(t["amount"]),
                    cost=_float(t.get("cost")) or float(t["price"]) * float(t["amount"]),
                    fee_cost=_float(fee.get("cost")) or 0.0,
                    fee_currency=None if fee.get("currency") is None else str(fee["currency"]),
                    timestamp_ms=int(t["timestamp"]),
                    maker=None if t.get("takerOrMaker") is None else t.get("takerOrMaker") == "maker",
                ))
            return sorted(out, key=lambda a: (a.timestamp_ms, a.id))

        return self._call(
            f"fetch_my_trades {unified}",
            lambda: self._ex.fetch_my_trades(unified, since_ms, limit, extra),
            convert,
        )
