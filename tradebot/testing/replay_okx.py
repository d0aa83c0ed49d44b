"""The OKX dialect of the replay exchange: enough of the v5 REST API for ccxt's ``okx`` class.

Public: instruments (SPOT, SWAP; FUTURES and OPTION empty), candles and history-candles
(newest first, ``after``/``before`` by timestamp, the current candle flagged ``"0"`` in
the confirm column), ticker(s), books, trades, history-trades, time, system status.
Private (signatures not checked): account balance, asset balances and currencies.
Every answer is ``{"code": "0", "msg": "", "data": [...]}``; errors use OKX codes,
e.g. ``{"code": "51001", "msg": "Instrument ID does not exist", "data": []}``.

A spot market ``BTC/USDT`` is listed as ``BTC-USDT`` and as the linear perpetual
``BTC-USDT-SWAP`` (contract value 0.01 base), with the same candles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

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

__all__ = ["OkxDialect", "BARS", "CONTRACT_VALUE"]

#: OKX ``bar`` values -> timeframe; the ``utc`` variants are treated the same (UTC-aligned).
BARS = {b: b.lower() if b[-1] in "HDW" else b for b in
        ("1s", "1m", "3m", "5m", "15m", "30m", "1H", "2H", "4H", "6H", "12H", "1D", "2D", "3D", "1W")}
BARS.update({f"{b}utc": tf for b, tf in list(BARS.items()) if b[-1] in "HDW"})
BARS.update({"1M": "", "3M": "", "1Mutc": "", "3Mutc": ""})  # months: accepted, no data here
CONTRACT_VALUE = 0.01
RECENT_CANDLES = 1440  # /market/candles only reaches this far back


def _ok(data: list, rows: int = 0) -> Response:
    r = Response.json({"code": "0", "msg": "", "data": data})
    r.rows = rows
    return r


def _error(code: str, msg: str, status: int = 400) -> Response:
    return Response.json({"code": code, "msg": msg, "data": []}, status)


def _render(contract: bool):
    def render(s: Series, lo: int, hi: int):
        ts, o, h, low, c, v = (s.ts[lo:hi], s.o[lo:hi], s.h[lo:hi], s.l[lo:hi], s.c[lo:hi], s.v[lo:hi])
        quote = fmt_fixed(v * (h + low + c) / 3.0)
        vols = (fmt_fixed(v / CONTRACT_VALUE), '","', fmt_exact(v)) if contract else \
            (fmt_exact(v), '","', quote)
        return join_rows('["', fmt_int(ts), '","', fmt_exact(o), '","', fmt_exact(h), '","', fmt_exact(low),
                         '","', fmt_exact(c), '","', *vols, '","', quote, '","1"]')
    return render


def _row(t: int, o: float, h: float, lo: float, c: float, v: float, contract: bool, confirm: bool) -> bytes:
    quote = f"{v * (h + lo + c) / 3.0:.8f}"
    if contract:
        vols = f'"{v / CONTRACT_VALUE:.8f}","{_num(v)}","{quote}"'
    else:
        vols = f'"{_num(v)}","{quote}","{quote}"'
    return (f'["{t}","{_num(o)}","{_num(h)}","{_num(lo)}","{_num(c)}",{vols},'
            f'"{1 if confirm else 0}"]').encode()


_RENDER = {False: _render(False), True: _render(True)}


def _int(req: Request, name: str) -> int | None | Response:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return _error("51000", f"Parameter {name} error")


class OkxDialect(Dialect):
    name = "okx"

    def __init__(self, server: ReplayExchange) -> None:
        super().__init__(server)
        self.spot: dict[str, MarketData] = {}
        self.swap: dict[str, MarketData] = {}
        for m in server.markets.values():
            if m.spot:
                self.spot[f"{m.base}-{m.quote}"] = m
                self.swap.setdefault(f"{m.base}-{m.quote}-SWAP", m)
            elif m.settle == m.quote:
                self.swap[f"{m.base}-{m.quote}-SWAP"] = m
        p = "/api/v5"
        self.add("GET", f"{p}/public/time", "time", self.time)
        self.add("GET", f"{p}/system/status", "status", lambda r: _ok([]))
        self.add("GET", f"{p}/public/instruments", "instruments", self.instruments)
        self.add("GET", f"{p}/market/candles", "candles", lambda r: self.candles(r, False), is_list=True)
        self.add("GET", f"{p}/market/history-candles", "history_candles", lambda r: self.candles(r, True),
                 is_list=True)
        self.add("GET", f"{p}/market/ticker", "ticker", self.ticker)
        self.add("GET", f"{p}/market/tickers", "tickers", self.tickers)
        self.add("GET", f"{p}/market/books", "books", self.books)
        self.add("GET", f"{p}/market/trades", "trades", lambda r: self.trades(r, False), is_list=True)
        self.add("GET", f"{p}/market/history-trades", "history_trades", lambda r: self.trades(r, True),
                 is_list=True)
        self.add("GET", f"{p}/account/balance", "account_balance", self.account_balance)
        self.add("GET", f"{p}/asset/balances", "asset_balances", self.asset_balances)
        self.add("GET", f"{p}/asset/currencies", "currencies", self.currencies)

    # --- errors and fault answers ------------------------------------------------------------
    def not_found(self, req: Request) -> Response:
        return Response.json({"msg": "Not Found", "code": "404"}, 404)

    def auth_check(self, req: Request) -> Response | None:
        key = req.headers.get("ok-access-key")
        if key is not None and key in self.server.rejected_api_keys:
            return Response.json({"msg": "Invalid OK-ACCESS-KEY", "code": "50111"}, 401)
        return None

    def rate_limited(self, retry_after: str, ban: bool = False) -> Response:
        r = Response.json({"msg": "Too Many Requests", "code": "50011"}, 429)
        r.headers["Retry-After"] = retry_after
        return r

    def server_error(self, status: int) -> Response:
        if status == 500:
            return _error("50013", "Systems are busy. Please try again later.", 500)
        if status == 503:
            return _error("50001", "Service temporarily unavailable. Please try again later.", 503)
        text = "504 Gateway Time-out" if status == 504 else "502 Bad Gateway"
        return Response(status, f"<html><body><h1>{text}</h1></body></html>".encode(), {}, "text/html")

    # --- helpers ---------------------------------------------------------------------------------
    def _market(self, req: Request) -> tuple[str, MarketData, bool] | Response:
        inst = req.query.get("instId")
        if not inst:
            return _error("50014", "Parameter instId can not be empty.")
        if inst in self.spot:
            return inst, self.spot[inst], False
        if inst in self.swap:
            return inst, self.swap[inst], True
        return _error("51001", "Instrument ID does not exist")

    def _limit(self, req: Request, default: int, maximum: int) -> int | Response:
        raw = _int(req, "limit")
        if isinstance(raw, Response):
            return raw
        if raw is None:
            return default
        if raw < 1:
            return _error("51000", "Parameter limit error")
        return min(raw, maximum)

    # --- endpoints -------------------------------------------------------------------------------
    def time(self, req: Request) -> Response:
        return _ok([{"ts": str(self.server.now_ms)}])

    def instruments(self, req: Request) -> Response:
        kind = req.query.get("instType", "")
        if kind not in ("SPOT", "SWAP", "FUTURES", "OPTION", "MARGIN"):
            return _error("51000", "Parameter instType error")
        if kind == "SPOT":
            return _ok([self._spot_inst(i, m) for i, m in self.spot.items()])
        if kind == "SWAP":
            return _ok([self._swap_inst(i, m) for i, m in self.swap.items()])
        return _ok([])

    @staticmethod
    def _sizes(m: MarketData) -> tuple[str, str]:
        s = m.series
        return _num(round(10.0 ** -s.price_decimals, s.price_decimals)), \
            _num(round(10.0 ** -s.amount_decimals, s.amount_decimals))

    def _spot_inst(self, inst: str, m: MarketData) -> dict:
        tick, lot = self._sizes(m)
        return {"alias": "", "auctionEndTime": "", "baseCcy": m.base, "category": "1", "ctMult": "",
                "ctType": "", "ctVal": "", "ctValCcy": "", "expTime": "", "instFamily": "", "instId": inst,
                "instType": "SPOT", "lever": "", "listTime": str(int(m.series.ts[0])), "lotSz": lot,
                "maxIcebergSz": "9999999999", "maxLmtAmt": "1000000", "maxLmtSz": "9999999999",
                "maxMktAmt": "1000000", "maxMktSz": "1000000", "maxStopSz": "1000000",
                "maxTriggerSz": "9999999999", "maxTwapSz": "9999999999", "minSz": lot, "optType": "",
                "quoteCcy": m.quote, "settleCcy": "", "state": "live", "ruleType": "normal", "stk": "",
                "tickSz": tick, "uly": ""}

    def _swap_inst(self, inst: str, m: MarketData) -> dict:
        tick, _ = self._sizes(m)
        family = f"{m.base}-{m.quote}"
        return {"alias": "", "auctionEndTime": "", "baseCcy": "", "category": "1", "ctMult": "1",
                "ctType": "linear", "ctVal": _num(CONTRACT_VALUE), "ctValCcy": m.base, "expTime": "",
                "instFamily": family, "instId": inst, "instType": "SWAP", "lever": "100",
                "listTime": str(int(m.series.ts[0])), "lotSz": "1", "maxIcebergSz": "100000000",
                "maxLmtAmt": "20000000", "maxLmtSz": "100000000", "maxMktAmt": "", "maxMktSz": "12000",
                "maxStopSz": "12000", "maxTriggerSz": "100000000", "maxTwapSz": "100000000", "minSz": "1",
                "optType": "", "quoteCcy": "", "settleCcy": m.quote, "state": "live", "ruleType": "normal",
                "stk": "", "tickSz": tick, "uly": family}

    def candles(self, req: Request, history: bool) -> Response:
        found = self._market(req)
        if isinstance(found, Response):
            return found
        _, m, contract = found
        bar = req.query.get("bar", "1m")
        if bar not in BARS:
            return _error("51000", "Parameter bar error")
        limit = self._limit(req, 100, 100 if history else 300)
        if isinstance(limit, Response):
            return limit
        after, before = _int(req, "after"), _int(req, "before")
        if isinstance(after, Response):
            return after
        if isinstance(before, Response):
            return before
        s = m.at(timeframe_to_ms(BARS[bar])) if BARS[bar] else None
        if s is None:
            return _ok([])
        now = self.server.now_ms
        n = s.visible_count(now)
        floor = 0 if history else max(0, n - RECENT_CANDLES)
        hi = min(n, s.index_ge(after)) if after is not None else n      # ts < after
        lo = max(floor, s.index_gt(before)) if before is not None else floor  # ts > before
        lo = max(lo, hi - limit)  # the newest `limit` of the window
        if hi <= lo:
            return _ok([])
        if req.truncate and hi - lo >= 2:
            hi = lo + (hi - lo) // 2  # the older half: the page stops short, as on binance
        open_last = s.is_open(hi - 1, now)
        body = s.page("okx_swap" if contract else "okx_spot", lo, hi - 1 if open_last else hi,
                      _RENDER[contract], descending=True)
        if open_last:
            current = _row(*s.partial(hi - 1, now), contract, False)
            body = current + b"," + body if body else current
        return Response(200, b'{"code":"0","msg":"","data":[' + body + b"]}", {}, rows=hi - lo)

    def _ticker(self, inst: str, m: MarketData, contract: bool) -> dict:
        now = self.server.now_ms
        s = m.series
        st = s.window_stats(now)
        if st is None:
            return {"instId": inst, "instType": "SWAP" if contract else "SPOT", "ts": str(now)}
        bids, asks = s.book(now, 1, self.server.seed)
        scale = 1 / CONTRACT_VALUE if contract else 1.0
        day = s.window_stats(now, now % 86_400_000 or 86_400_000) or st
        return {"instType": "SWAP" if contract else "SPOT", "instId": inst, "last": _num(st["last"]),
                "lastSz": _num(round(float(s.v[cast(int, st["last_index"])]) / TRADES_PER_CANDLE * scale, 8)),
                "askPx": _num(asks[0][0]) if asks else "", "askSz": _num(asks[0][1] * scale) if asks else "",
                "bidPx": _num(bids[0][0]) if bids else "", "bidSz": _num(bids[0][1] * scale) if bids else "",
                "open24h": _num(st["open"]), "high24h": _num(st["high"]), "low24h": _num(st["low"]),
                "volCcy24h": _num(st["volume"] if contract else st["quote_volume"]),
                "vol24h": _num(round(st["volume"] * scale, 8)),
                "sodUtc0": _num(day["open"]), "sodUtc8": _num(day["open"]), "ts": str(now)}

    def ticker(self, req: Request) -> Response:
        found = self._market(req)
        if isinstance(found, Response):
            return found
        return _ok([self._ticker(*found)])

    def tickers(self, req: Request) -> Response:
        kind = req.query.get("instType", "")
        if kind == "SPOT":
            return _ok([self._ticker(i, m, False) for i, m in self.spot.items()])
        if kind == "SWAP":
            return _ok([self._ticker(i, m, True) for i, m in self.swap.items()])
        if kind in ("FUTURES", "OPTION"):
            return _ok([])
        return _error("51000", "Parameter instType error")

    def books(self, req: Request) -> Response:
        found = self._market(req)
        if isinstance(found, Response):
            return found
        _, m, contract = found
        sz = _int(req, "sz")
        if isinstance(sz, Response):
            return sz
        depth = min(max(sz or 1, 1), 400)
        now = self.server.now_ms
        bids, asks = m.series.book(now, depth, self.server.seed)
        scale = 1 / CONTRACT_VALUE if contract else 1.0

        def side(levels: list[tuple[float, float]]) -> list[list[str]]:
            return [[_num(p), _num(round(q * scale, 8)), "0", str(1 + i % 7)] for i, (p, q) in enumerate(levels)]

        return _ok([{"asks": side(asks), "bids": side(bids), "ts": str(now)}])

    def trades(self, req: Request, history: bool) -> Response:
        found = self._market(req)
        if isinstance(found, Response):
            return found
        inst, m, contract = found
        limit = self._limit(req, 100, 100 if history else 500)
        if isinstance(limit, Response):
            return limit
        s, now = m.series, self.server.now_ms
        newest = s.trade_id_at(now + 1)
        hi, lo = newest, 0
        if history:
            after, before = _int(req, "after"), _int(req, "before")
            if isinstance(after, Response):
                return after
            if isinstance(before, Response):
                return before
            by_time = req.query.get("type") == "2"
            if after is not None:
                hi = min(hi, s.trade_id_at(after) if by_time else after)
            if before is not None:
                lo = max(lo, s.trade_id_at(before + 1) if by_time else before + 1)
        lo = max(lo, hi - limit)
        t = s.trades(lo, hi, now)
        if req.truncate and len(t["id"]) >= 2:
            t = {k: v[: len(v) // 2] for k, v in t.items()}
        scale = 1 / CONTRACT_VALUE if contract else 1.0
        rows = [{"instId": inst, "side": "sell" if bm else "buy", "sz": _num(round(q * scale, 8)), "px": _num(p),
                 "tradeId": str(i), "ts": str(ts), "source": "0"}
                for i, ts, p, q, bm in zip(t["id"].tolist(), t["time"].tolist(), t["price"].tolist(),
                                           t["qty"].tolist(), t["buyer_maker"].tolist(), strict=True)]
        rows.reverse()
        return _ok(rows)

    # --- private (signature not checked) ---------------------------------------------------------
    def account_balance(self, req: Request) -> Response:
        now = str(self.server.now_ms)
        details = [{"ccy": a, "eq": _num(float(v)), "cashBal": _num(float(v)), "availBal": _num(float(v)),
                    "availEq": _num(float(v)), "frozenBal": "0", "ordFrozen": "0", "disEq": _num(float(v)),
                    "eqUsd": "", "upl": "0", "uTime": now} for a, v in self.server.balances.items()]
        return _ok([{"adjEq": "", "details": details, "imr": "", "isoEq": "0", "mgnRatio": "", "mmr": "",
                     "notionalUsd": "", "ordFroz": "", "totalEq": "0", "uTime": now}])

    def asset_balances(self, req: Request) -> Response:
        return _ok([{"ccy": a, "bal": _num(float(v)), "availBal": _num(float(v)), "frozenBal": "0"}
                    for a, v in self.server.balances.items()])

    def currencies(self, req: Request) -> Response:
        coins = sorted({m.base for m in self.server.markets.values()}
                       | {m.quote for m in self.server.markets.values()} | set(self.server.balances))
        return _ok([{"ccy": c, "name": c, "chain": f"{c}-{c}", "canDep": True, "canWd": True,
                     "canInternal": True, "minDep": "0.00000001", "minWd": "0.001", "maxWd": "10000000",
                     "wdTickSz": "8", "wdQuota": "10000000", "usedWdQuota": "0", "minFee": "0.0001",
                     "maxFee": "0.0002", "fee": "0.0001", "mainNet": True, "needTag": False,
                     "minDepArrivalConfirm": "1", "minWdUnlockConfirm": "2", "depQuotaFixed": "",
                     "usedDepQuotaFixed": "", "depQuoteDailyLayer2": "", "logoLink": ""} for c in coins])
