"""The Binance dialect of the replay exchange: the spot/futures REST API ccxt uses.

Spot ``/api/v3``, USDT-margined futures ``/fapi/v1`` (perpetuals for the same data),
coin-margined ``/dapi/v1`` (no symbols), and the private spot endpoints of trading:
``GET /api/v3/account``, ``POST/GET/DELETE /api/v3/order`` (by ``orderId`` or client id),
``GET /api/v3/openOrders`` and ``GET /api/v3/myTrades`` over a
:class:`~tradebot.testing.replay_orders.SpotAccount`. With ``ReplayExchange(api_keys=
{key: secret})`` signed endpoints are checked as Binance checks them: ``X-MBX-APIKEY``
(``-2014``/``-2015``, HTTP 401), the HMAC-SHA256 ``signature`` of the query string
followed by the body (``-1022``), ``timestamp`` against the server's :meth:`wall_ms`
(``-1021`` when 1000 ms or more ahead, or older than ``recvWindow``, default 5000, at
most 60000: ``-1131``). Without ``api_keys`` signatures are not checked. Error bodies
and HTTP statuses follow Binance: ``{"code": -1121, "msg": "Invalid symbol."}`` with
HTTP 400, and so on.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING

import numpy as np

from tradebot.testing.replay_exchange import (
    TRADES_PER_CANDLE,
    Dialect,
    MarketData,
    Request,
    Response,
    Series,
    _num,
    fmt_exact,
    fmt_fixed,
    fmt_int,
    join_rows,
    timeframe_to_ms,
)

if TYPE_CHECKING:
    from tradebot.testing.replay_exchange import ReplayExchange

__all__ = ["BinanceDialect", "INTERVALS"]

#: Binance kline intervals (1M is accepted but never has data here).
INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
             "1w", "1M")


def _error(code: int, msg: str, status: int = 400) -> Response:
    return Response.json({"code": code, "msg": msg}, status)


def _render_klines(s: Series, lo: int, hi: int):
    """Binance kline rows: open time, OHLCV (strings), close time, quote volume, trades..."""
    ts, o, h, low, c, v = (s.ts[lo:hi], s.o[lo:hi], s.h[lo:hi], s.l[lo:hi], s.c[lo:hi], s.v[lo:hi])
    qv = v * (h + low + c) / 3.0
    trades = np.where(v > 0, TRADES_PER_CANDLE, 0)
    return join_rows("[", fmt_int(ts), ',"', fmt_exact(o), '","', fmt_exact(h), '","', fmt_exact(low), '","',
                     fmt_exact(c), '","', fmt_exact(v), '",', fmt_int(ts + s.tf_ms - 1), ',"', fmt_fixed(qv),
                     '",', fmt_int(trades), ',"', fmt_fixed(v / 2), '","', fmt_fixed(qv / 2), '","0"]')


def _kline(t: int, o: float, h: float, lo: float, c: float, v: float, tf: int) -> bytes:
    qv = v * (h + lo + c) / 3.0
    return (f'[{t},"{_num(o)}","{_num(h)}","{_num(lo)}","{_num(c)}","{_num(v)}",{t + tf - 1},'
            f'"{qv:.8f}",{TRADES_PER_CANDLE if v > 0 else 0},"{v / 2:.8f}","{qv / 2:.8f}","0"]').encode()


#: endpoints that need a signature (the USER_DATA/TRADE security types)
_SIGNED = frozenset({"account", "order_new", "order_get", "order_cancel", "open_orders", "my_trades",
                     "fapi_balance", "capital_config"})
_SIGNATURE = re.compile(r"(^|&)signature=([^&]*)")


def _signed_payload(req: Request) -> tuple[str, str | None]:
    """Binance's ``totalParams`` (the query string followed by the body, ``signature``
    removed) and the signature sent, or None."""
    body = req.body.decode("utf-8", "replace") if req.body else ""
    signature = None
    parts = []
    for text in (req.raw_query, body):
        match = _SIGNATURE.search(text)
        if match:
            signature = match.group(2)
            text = text[: match.start()] + text[match.end():]
            if match.group(1) == "" and text.startswith("&"):
                text = text[1:]
        parts.append(text)
    return "".join(parts), signature


def _int_param(req: Request, name: str) -> int | None | Response:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return _error(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                             "'^[0-9]{1,20}$'.")


class BinanceDialect(Dialect):
    name = "binance"

    def __init__(self, server: ReplayExchange) -> None:
        super().__init__(server)
        self.spot: dict[str, MarketData] = {}
        self.linear: dict[str, MarketData] = {}
        for m in server.markets.values():
            mid = m.base + m.quote
            if m.spot:
                self.spot[mid] = m
                self.linear.setdefault(mid, m)
            elif m.settle == m.quote:
                self.linear[mid] = m
        for prefix, kind in (("/api/v3", "spot"), ("/fapi/v1", "linear"), ("/dapi/v1", "inverse")):
            tag = "" if kind == "spot" else prefix.split("/")[1] + "_"
            self.add("GET", f"{prefix}/ping", f"{tag}ping", lambda r: Response(200, b"{}"))
            self.add("GET", f"{prefix}/time", f"{tag}time", self.time)
            self.add("GET", f"{prefix}/exchangeInfo", f"{tag}exchangeInfo",
                     functools.partial(self.exchange_info, kind=kind))
            self.add("GET", f"{prefix}/klines", f"{tag}klines", functools.partial(self.klines, kind=kind),
                     is_list=True)
            self.add("GET", f"{prefix}/ticker/24hr", f"{tag}ticker24hr", functools.partial(self.ticker, kind=kind))
            self.add("GET", f"{prefix}/depth", f"{tag}depth", functools.partial(self.depth, kind=kind))
            self.add("GET", f"{prefix}/trades", f"{tag}trades", functools.partial(self.trades, kind=kind, agg=False),
                     is_list=True)
            self.add("GET", f"{prefix}/aggTrades", f"{tag}aggTrades",
                     functools.partial(self.trades, kind=kind, agg=True), is_list=True)
        self.add("GET", "/api/v3/account", "account", self.account)
        from tradebot.testing.replay_orders import AccountConfig, SpotAccount

        config = server._account_config
        self.orders = SpotAccount(self.spot, server.balances,
                                  config if isinstance(config, AccountConfig) else AccountConfig())
        self.add("POST", "/api/v3/order", "order_new", self.new_order)
        self.add("GET", "/api/v3/order", "order_get", self.get_order)
        self.add("DELETE", "/api/v3/order", "order_cancel", self.cancel_order)
        self.add("GET", "/api/v3/openOrders", "open_orders", self.open_orders)
        self.add("GET", "/api/v3/myTrades", "my_trades", self.my_trades)
        self.add("GET", "/fapi/v2/balance", "fapi_balance", self.futures_balance)
        self.add("GET", "/fapi/v3/balance", "fapi_balance", self.futures_balance)
        self.add("GET", "/sapi/v1/capital/config/getall", "capital_config", self.currencies)
        self.add("GET", "/sapi/v1/margin/allPairs", "margin_pairs", lambda r: Response(200, b"[]"))
        self.add("GET", "/sapi/v1/margin/isolated/allPairs", "margin_pairs", lambda r: Response(200, b"[]"))

    # --- errors and fault answers -----------------------------------------------------------
    def not_found(self, req: Request) -> Response:
        return Response(404, b"", {}, "text/html")

    def auth_check(self, req: Request) -> Response | None:
        key = req.headers.get("x-mbx-apikey")
        if key is not None and key in self.server.rejected_api_keys:
            return _error(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        keys = self.server.api_keys
        routed = self.route(req.method, req.path)
        if keys is None or routed is None or routed[0] not in _SIGNED:
            return None
        if not key:
            return _error(-2014, "API-key format invalid.", 401)
        secret = keys.get(key)
        if secret is None:
            return _error(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        payload, signature = _signed_payload(req)
        if "timestamp" not in req.query:
            return _error(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        if signature is None:
            return _error(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            return _error(-1022, "Signature for this request is not valid.")
        ts, window = _int_param(req, "timestamp"), _int_param(req, "recvWindow")
        if isinstance(ts, Response):
            return ts
        if isinstance(window, Response):
            return window
        window = 5000 if window is None else window
        if window > 60_000:
            return _error(-1131, "recvWindow must be less than 60000")
        server_ms = self.server.wall_ms()
        assert ts is not None
        if ts >= server_ms + 1000:
            return _error(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server_ms - ts > window:
            return _error(-1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    def on_time(self, now_ms: int) -> None:
        self.orders.match(now_ms)

    def rate_limited(self, retry_after: str, ban: bool = False) -> Response:
        if ban:
            r = _error(-1003, "Way too many requests; IP(127.0.0.1) banned until "
                              f"{self.server.now_ms + 60_000}. Please use the websocket for live "
                              "updates to avoid bans.", 418)
        else:
            r = _error(-1003, "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
                              "minute. Please use the websocket for live updates to avoid polling the "
                              "API.", 429)
        r.headers["Retry-After"] = retry_after
        return r

    def server_error(self, status: int) -> Response:
        if status == 500:
            return _error(-1001, "Internal error; unable to process your request. Please try again.", 500)
        if status == 503:
            return Response(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", {},
                            "text/html")
        if status == 504:
            return Response(504, b"<html><body><h1>504 Gateway Time-out</h1></body></html>", {}, "text/html")
        return Response(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", {}, "text/html")

    # --- helpers ------------------------------------------------------------------------------
    def _market(self, req: Request, kind: str) -> MarketData | Response:
        sym = req.query.get("symbol")
        if not sym:
            return _error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        book = self.spot if kind == "spot" else self.linear if kind == "linear" else {}
        m = book.get(sym.upper()) if sym == sym.upper() else None
        if m is None:
            return _error(-1121, "Invalid symbol.")
        return m

    def _limit(self, req: Request, default: int, maximum: int) -> int | Response:
        raw = _int_param(req, "limit")
        if isinstance(raw, Response):
            return raw
        if raw is None:
            return default
        if raw < 1:
            return _error(-1130, "Data sent for parameter 'limit' is not valid.")
        return min(raw, maximum)

    # --- endpoints ------------------------------------------------------------------------------
    def time(self, req: Request) -> Response:
        return Response.json({"serverTime": self.server.now_ms})

    def exchange_info(self, req: Request, kind: str) -> Response:
        now = self.server.now_ms
        limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                  {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                  {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000}]
        if kind == "spot":
            symbols = [self._spot_symbol(mid, m) for mid, m in self.spot.items()]
        elif kind == "linear":
            symbols = [self._linear_symbol(mid, m) for mid, m in self.linear.items()]
        else:
            symbols = []
        body = {"timezone": "UTC", "serverTime": now, "rateLimits": limits, "exchangeFilters": [],
                "symbols": symbols}
        if kind != "spot":
            body["assets"] = []
        return Response.json(body)

    @staticmethod
    def _steps(m: MarketData) -> tuple[str, str, int, int]:
        pd, ad = m.series.price_decimals, m.series.amount_decimals
        tick = f"{10.0 ** -pd:.8f}" if pd else "1.00000000"
        step = f"{10.0 ** -ad:.8f}" if ad else "1.00000000"
        return tick, step, pd, ad

    def _spot_symbol(self, mid: str, m: MarketData) -> dict:
        tick, step, pd, ad = self._steps(m)
        return {
            "symbol": mid, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
            "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000",
                 "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000000.00000000", "stepSize": step},
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "1000000.00000000",
                 "stepSize": "0.00000000"},
                {"filterType": "NOTIONAL", "minNotional": f"{self.orders.config.min_notional:.8f}",
                 "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def _linear_symbol(self, mid: str, m: MarketData) -> dict:
        tick, step, pd, ad = self._steps(m)
        return {
            "symbol": mid, "pair": mid, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
            "onboardDate": int(m.series.ts[0]), "status": "TRADING", "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000", "baseAsset": m.base, "quoteAsset": m.quote,
            "marginAsset": m.quote, "pricePrecision": pd, "quantityPrecision": ad,
            "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
            "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
            "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "4529764", "tickSize": tick},
                {"filterType": "LOT_SIZE", "stepSize": step, "minQty": step, "maxQty": "1000000"},
                {"filterType": "MARKET_LOT_SIZE", "stepSize": step, "minQty": step, "maxQty": "100000"},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": "5"},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                 "multiplierDecimal": "4"},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                           "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        }

    def klines(self, req: Request, kind: str) -> Response:
        m = self._market(req, kind)
        if isinstance(m, Response):
            return m
        interval = req.query.get("interval")
        if not interval:
            return _error(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
        if interval not in INTERVALS:
            return _error(-1120, "Invalid interval.")
        limit = self._limit(req, 500, 1000 if kind == "spot" else 1500)
        if isinstance(limit, Response):
            return limit
        start, end = _int_param(req, "startTime"), _int_param(req, "endTime")
        if isinstance(start, Response):
            return start
        if isinstance(end, Response):
            return end
        s = None if interval == "1M" else m.at(timeframe_to_ms(interval))
        if s is None:
            return Response(200, b"[]")
        now = self.server.now_ms
        n = s.visible_count(now)
        if end is not None:
            n = min(n, s.index_gt(end))
        if start is not None:
            lo = s.index_ge(start)
            hi = min(n, lo + limit)
        else:
            hi = n
            lo = max(0, hi - limit)
        if hi <= lo:
            return Response(200, b"[]")
        if req.truncate and hi - lo >= 2:
            hi = lo + (hi - lo) // 2
        open_last = s.is_open(hi - 1, now)
        body = s.page("binance", lo, hi - 1 if open_last else hi, _render_klines)
        if open_last:
            body = body + b"," + _kline(*s.partial(hi - 1, now), s.tf_ms) if body else \
                _kline(*s.partial(hi - 1, now), s.tf_ms)
        return Response(200, b"[" + body + b"]", {}, rows=hi - lo)

    def ticker(self, req: Request, kind: str) -> Response:
        now = self.server.now_ms
        book = self.spot if kind == "spot" else self.linear if kind == "linear" else {}
        if "symbol" in req.query:
            m = self._market(req, kind)
            if isinstance(m, Response):
                return m
            return Response.json(self._ticker(req.query["symbol"].upper(), m, now, kind))
        wanted = list(book)
        if "symbols" in req.query:
            try:
                wanted = [str(x) for x in json.loads(req.query["symbols"])]
            except (ValueError, TypeError):
                return _error(-1100, "Illegal characters found in parameter 'symbols'.")
            if any(w not in book for w in wanted):
                return _error(-1121, "Invalid symbol.")
        return Response.json([t for w in wanted if (t := self._ticker(w, book[w], now, kind))])

    def _ticker(self, mid: str, m: MarketData, now: int, kind: str) -> dict:
        st = m.series.window_stats(now)
        if st is None:
            return {"symbol": mid}
        bids, asks = m.series.book(now, 1, self.server.seed)
        last = st["last"]
        change = last - st["open"]
        ids = m.series.trades(max(0, m.series.trade_id_at(now) - 1), m.series.trade_id_at(now) + 1, now)
        last_id = int(ids["id"][-1]) if len(ids["id"]) else 0
        first_id = st["first"] * TRADES_PER_CANDLE
        out = {
            "symbol": mid, "priceChange": _num(round(change, m.series.price_decimals)),
            "priceChangePercent": f"{(change / st['open'] * 100 if st['open'] else 0.0):.3f}",
            "weightedAvgPrice": _num(st["vwap"]), "lastPrice": _num(last),
            "lastQty": _num(float(ids["qty"][-1])) if len(ids["qty"]) else "0",
            "openPrice": _num(st["open"]), "highPrice": _num(st["high"]), "lowPrice": _num(st["low"]),
            "volume": _num(st["volume"]), "quoteVolume": _num(st["quote_volume"]),
            "openTime": st["open_time"], "closeTime": now, "firstId": first_id, "lastId": last_id,
            "count": max(0, last_id - first_id + 1),
        }
        if kind == "spot":
            out.update({"prevClosePrice": _num(st["open"]),
                        "bidPrice": _num(bids[0][0]) if bids else "0", "bidQty": _num(bids[0][1]) if bids else "0",
                        "askPrice": _num(asks[0][0]) if asks else "0", "askQty": _num(asks[0][1]) if asks else "0"})
        return out

    def depth(self, req: Request, kind: str) -> Response:
        m = self._market(req, kind)
        if isinstance(m, Response):
            return m
        limit = self._limit(req, 100 if kind == "spot" else 500, 5000 if kind == "spot" else 1000)
        if isinstance(limit, Response):
            return limit
        now = self.server.now_ms
        bids, asks = m.series.book(now, limit, self.server.seed)
        body = {"lastUpdateId": now // 100,
                "bids": [[_num(p), _num(q)] for p, q in bids],
                "asks": [[_num(p), _num(q)] for p, q in asks]}
        if kind != "spot":
            body.update({"E": now, "T": now})
        return Response.json(body)

    def trades(self, req: Request, kind: str, agg: bool) -> Response:
        m = self._market(req, kind)
        if isinstance(m, Response):
            return m
        limit = self._limit(req, 500, 1000)
        if isinstance(limit, Response):
            return limit
        s, now = m.series, self.server.now_ms
        from_id = _int_param(req, "fromId")
        start = _int_param(req, "startTime") if agg else None
        end = _int_param(req, "endTime") if agg else None
        if isinstance(from_id, Response):
            return from_id
        if isinstance(start, Response):
            return start
        if isinstance(end, Response):
            return end
        newest = s.trade_id_at(now + 1)  # one past the last trade at or before now
        if from_id is not None:
            lo, hi = from_id, from_id + limit
        elif start is not None or end is not None:
            if start is not None and end is not None and end - start > 3_600_000:
                return _error(-1127, "More than 1 hours between startTime and endTime.")
            lo_t = s.trade_id_at(start) if start is not None else None
            hi_t = s.trade_id_at(end + 1) if end is not None else None
            lo = lo_t if lo_t is not None else max(0, (hi_t or newest) - limit)
            hi = min(lo + limit, hi_t if hi_t is not None else lo + limit)
        else:
            hi, lo = newest, max(0, newest - limit)
        t = s.trades(lo, min(hi, newest), now)
        if req.truncate and len(t["id"]) >= 2:
            t = {k: v[: len(v) // 2] for k, v in t.items()}
        cols = zip(t["id"].tolist(), t["time"].tolist(), t["price"].tolist(), t["qty"].tolist(),
                   t["buyer_maker"].tolist(), strict=True)
        if agg:
            rows = [{"a": i, "p": _num(p), "q": _num(q), "f": i, "l": i, "T": ts, "m": bm, "M": True}
                    for i, ts, p, q, bm in cols]
        else:
            rows = [{"id": i, "price": _num(p), "qty": _num(q), "quoteQty": _num(round(p * q, 8)), "time": ts,
                     "isBuyerMaker": bm, "isBestMatch": True} for i, ts, p, q, bm in cols]
        return Response.json(rows)

    # --- account (signature not checked) -------------------------------------------------------
    def account(self, req: Request) -> Response:
        now = self.server.now_ms
        return Response.json({
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now,
            "accountType": "SPOT",
            "balances": self.orders.balances(),
            "permissions": ["SPOT"], "uid": 354937868,
        })

    def futures_balance(self, req: Request) -> Response:
        now = self.server.now_ms
        return Response.json([{"accountAlias": "SgsR", "asset": a, "balance": f"{float(v):.8f}",
                               "crossWalletBalance": f"{float(v):.8f}", "crossUnPnl": "0.00000000",
                               "availableBalance": f"{float(v):.8f}", "maxWithdrawAmount": f"{float(v):.8f}",
                               "marginAvailable": True, "updateTime": now}
                              for a, v in self.server.balances.items()])

    def currencies(self, req: Request) -> Response:
        coins = sorted({m.base for m in self.server.markets.values()}
                       | {m.quote for m in self.server.markets.values()} | set(self.server.balances))
        return Response.json([{
            "coin": c, "name": c, "depositAllEnable": True, "withdrawAllEnable": True, "free": "0",
            "locked": "0", "freeze": "0", "withdrawing": "0", "ipoing": "0", "ipoable": "0", "storage": "0",
            "isLegalMoney": False, "trading": True,
            "networkList": [{"network": c, "coin": c, "withdrawIntegerMultiple": "0.00000001",
                             "isDefault": True, "depositEnable": True, "withdrawEnable": True,
                             "depositDesc": "", "withdrawDesc": "", "name": c, "resetAddressStatus": False,
                             "withdrawFee": "0.0001", "withdrawMin": "0.001", "withdrawMax": "9999999999",
                             "minConfirm": 1, "unLockConfirm": 0, "sameAddress": False,
                             "estimatedArrivalTime": 5, "busy": False}],
        } for c in coins])

    # --- trading (spot) ---------------------------------------------------------------------------
    def _order_answer(self, fn) -> Response:  # type: ignore[no-untyped-def]
        from tradebot.testing.replay_orders import OrderError

        try:
            return Response.json(fn())
        except OrderError as e:
            return _error(e.code, e.msg, e.status)

    def _ids(self, req: Request) -> tuple[int | None, str | None] | Response:
        order_id = _int_param(req, "orderId")
        if isinstance(order_id, Response):
            return order_id
        client_id = req.query.get("origClientOrderId") or None
        if order_id is None and client_id is None:
            return _error(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        return order_id, client_id

    def new_order(self, req: Request) -> Response:
        m = self._market(req, "spot")
        if isinstance(m, Response):
            return m
        now = self.server.now_ms
        self.orders.match(now)
        mid = req.query["symbol"]
        resp_type = req.query.get("newOrderRespType") or "FULL"

        def place() -> dict:
            order = self.orders.new_order(m, mid, req.query, now)
            answer = order.as_new_order_answer()
            if resp_type == "ACK":
                return {k: answer[k] for k in ("symbol", "orderId", "orderListId", "clientOrderId", "transactTime")}
            if resp_type == "RESULT":
                answer.pop("fills")
            return answer

        return self._order_answer(place)

    def get_order(self, req: Request) -> Response:
        m = self._market(req, "spot")
        if isinstance(m, Response):
            return m
        ids = self._ids(req)
        if isinstance(ids, Response):
            return ids
        self.orders.match(self.server.now_ms)
        order = self.orders.find(req.query["symbol"], *ids)
        if order is None:
            return _error(-2013, "Order does not exist.")
        return Response.json(order.as_binance())

    def cancel_order(self, req: Request) -> Response:
        m = self._market(req, "spot")
        if isinstance(m, Response):
            return m
        ids = self._ids(req)
        if isinstance(ids, Response):
            return ids
        now = self.server.now_ms
        self.orders.match(now)

        def cancel() -> dict:
            order = self.orders.cancel(req.query["symbol"], *ids, now)
            out = order.as_binance()
            out["origClientOrderId"] = out["clientOrderId"]
            out["transactTime"] = now
            return out

        return self._order_answer(cancel)

    def open_orders(self, req: Request) -> Response:
        mid = None
        if "symbol" in req.query:
            m = self._market(req, "spot")
            if isinstance(m, Response):
                return m
            mid = req.query["symbol"]
        self.orders.match(self.server.now_ms)
        return Response.json([o.as_binance() for o in self.orders.open_orders(mid)])

    def my_trades(self, req: Request) -> Response:
        m = self._market(req, "spot")
        if isinstance(m, Response):
            return m
        values = [_int_param(req, k) for k in ("orderId", "startTime", "endTime", "fromId")]
        for v in values:
            if isinstance(v, Response):
                return v
        limit = self._limit(req, 500, 1000)
        if isinstance(limit, Response):
            return limit
        self.orders.match(self.server.now_ms)
        order_id, start, end, from_id = (v if not isinstance(v, Response) else None for v in values)
        rows = self.orders.my_trades(req.query["symbol"], order_id, start, end, from_id, limit)
        return Response.json([r.as_binance() for r in rows])
