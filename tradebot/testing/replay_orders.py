"""The replay exchange's spot account: balances, orders, fills and trades, Binance rules.

A :class:`SpotAccount` holds free/locked balances per asset and the orders of every spot
market of the server. New orders pass Binance's checks in Binance's order (mandatory
parameters ``-1102``, number syntax ``-1100``, precision ``-1111``, a client order id
already used by an open order ``-2010 "Duplicate order sent."``, the ``PRICE_FILTER`` /
``LOT_SIZE`` / ``NOTIONAL`` filters ``-1013``, funds ``-2010``), then fill on the
replayed candles:

* a MARKET order fills at once, in full, at the replay price (``Series.last_price`` at
  the server's ``now``) — a taker;
* a LIMIT order that is marketable when placed fills at once at the replay price (taker;
  IOC/FOK: what cannot fill expires); otherwise it rests (its funds locked) and fills,
  as a maker at its limit price, on each later candle whose low (buy) or high (sell)
  reaches the price, at most ``volume_share`` of that candle's volume per candle — so
  fills can be partial and spread over candles. Matching runs when the server's clock
  moves (:meth:`ReplayExchange.advance`) and before every private request.

Commission is ``fee_rate`` of the notional, charged per ``fee_asset``: ``"received"``
(Binance's default: the base asset on a buy, the quote on a sell), ``"quote"`` (always
the quote asset), or ``"BNB"`` (converted at ``bnb_price`` quote per BNB, with Binance's
25% discount, when the BNB balance can pay it; else as ``"received"``).
Amounts are :class:`~decimal.Decimal`; answers render them with 8 decimals as Binance does.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradebot.testing.replay_exchange import MarketData

__all__ = ["AccountConfig", "OrderError", "ReplayFill", "ReplayOrder", "SpotAccount"]

_NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_ZERO = Decimal(0)
_E8 = Decimal("0.00000001")
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


def fmt8(x: Decimal) -> str:
    """Binance's number format: 8 decimals."""
    return f"{x.quantize(_E8, rounding=ROUND_DOWN):.8f}"


class OrderError(Exception):
    """A Binance error answer: code, message and HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass(frozen=True)
class AccountConfig:
    """How the replay account charges and fills (see the module docstring)."""

    fee_rate: Decimal = Decimal("0.001")
    fee_asset: str = "received"  # "received", "quote" or "BNB"
    bnb_price: Decimal = Decimal("300")
    volume_share: Decimal = Decimal("1")
    min_notional: Decimal = Decimal("5")

    def __post_init__(self) -> None:
        if self.fee_asset not in ("received", "quote", "BNB"):
            raise ValueError(f"fee_asset must be 'received', 'quote' or 'BNB', got {self.fee_asset!r}")
        for name in ("fee_rate", "bnb_price", "volume_share", "min_notional"):
            object.__setattr__(self, name, Decimal(str(getattr(self, name))))


@dataclass
class ReplayFill:
    trade_id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def as_binance(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "id": self.trade_id, "orderId": self.order_id, "orderListId": -1,
                "price": fmt8(self.price), "qty": fmt8(self.qty), "quoteQty": fmt8(self.price * self.qty),
                "commission": fmt8(self.commission), "commissionAsset": self.commission_asset,
                "time": self.time, "isBuyer": self.is_buyer, "isMaker": self.is_maker, "isBestMatch": True}


@dataclass
class ReplayOrder:
    order_id: int
    client_order_id: str
    symbol: str  # exchange id, e.g. BTCUSDT
    side: str  # BUY / SELL
    type: str  # LIMIT / MARKET
    time_in_force: str | None
    price: Decimal
    orig_qty: Decimal
    time: int
    executed_qty: Decimal = _ZERO
    cum_quote: Decimal = _ZERO
    status: str = "NEW"
    update_time: int = 0
    next_candle: int = 0
    locked: Decimal = _ZERO  # still locked for the unfilled part (quote on a buy, base on a sell)
    fills: list[ReplayFill] = field(default_factory=list)

    def as_binance(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_order_id, "price": fmt8(self.price), "origQty": fmt8(self.orig_qty),
                "executedQty": fmt8(self.executed_qty), "cummulativeQuoteQty": fmt8(self.cum_quote),
                "status": self.status, "timeInForce": self.time_in_force or "GTC", "type": self.type,
                "side": self.side, "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": self.time,
                "updateTime": self.update_time or self.time, "isWorking": True, "workingTime": self.time,
                "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER"}

    def as_new_order_answer(self) -> dict[str, Any]:
        out = {k: v for k, v in self.as_binance().items()
               if k not in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking", "origQuoteOrderQty")}
        out["transactTime"] = self.time
        out["fills"] = [{"price": fmt8(f.price), "qty": fmt8(f.qty), "commission": fmt8(f.commission),
                         "commissionAsset": f.commission_asset, "tradeId": f.trade_id} for f in self.fills]
        return out


def _decimal(params: dict[str, str], name: str, required: bool) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise OrderError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        return None
    if not _NUMBER.match(raw):
        raise OrderError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern rules it out
        raise OrderError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if value.as_tuple().exponent < -8:  # type: ignore[operator]
        raise OrderError(-1111, f"Parameter '{name}' has too much precision.")
    return value


def _on_grid(value: Decimal, start: Decimal, step: Decimal) -> bool:
    return step == 0 or (value - start) % step == 0


class SpotAccount:
    """Balances, orders and trades of the replay exchange's one account (thread-safe)."""

    def __init__(self, markets: dict[str, MarketData], balances: dict[str, float],
                 config: AccountConfig | None = None) -> None:
        self.markets = markets  # exchange id (BTCUSDT) -> market
        self.config = config or AccountConfig()
        self.free: dict[str, Decimal] = {a: Decimal(str(v)) for a, v in balances.items()}
        self.locked: dict[str, Decimal] = {a: _ZERO for a in balances}
        self.orders: dict[int, ReplayOrder] = {}
        self.trades: list[ReplayFill] = []
        self._next_order = 1000
        self._next_trade = 5000
        self._lock = threading.RLock()

    # --- market rules (also what exchangeInfo publishes) ---------------------------------
    @staticmethod
    def steps(m: MarketData) -> tuple[Decimal, Decimal]:
        """(tick size, lot step) of a market."""
        pd, ad = m.series.price_decimals, m.series.amount_decimals
        return Decimal(1).scaleb(-pd), Decimal(1).scaleb(-ad)

    def _price_now(self, m: MarketData, now: int) -> Decimal:
        p = m.series.last_price(now)
        if p is None:
            raise OrderError(-1013, "Market is closed.")
        return Decimal(str(round(p, m.series.price_decimals)))

    # --- balances ------------------------------------------------------------------------
    def balances(self) -> list[dict[str, str]]:
        with self._lock:
            assets = sorted(set(self.free) | set(self.locked))
            return [{"asset": a, "free": fmt8(self.free.get(a, _ZERO)), "locked": fmt8(self.locked.get(a, _ZERO))}
                    for a in assets]

    def _move(self, asset: str, free: Decimal = _ZERO, locked: Decimal = _ZERO) -> None:
        self.free[asset] = self.free.get(asset, _ZERO) + free
        self.locked[asset] = self.locked.get(asset, _ZERO) + locked

    # --- orders --------------------------------------------------------------------------
    def new_order(self, m: MarketData, mid: str, params: dict[str, str], now: int) -> ReplayOrder:
        """Check and place an order (raises :class:`OrderError` with Binance's code)."""
        side = params.get("side", "")
        otype = params.get("type", "")
        if not side:
            raise OrderError(-1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        if not otype:
            raise OrderError(-1102, "Mandatory parameter 'type' was not sent, was empty/null, or malformed.")
        if side not in ("BUY", "SELL"):
            raise OrderError(-1100, "Illegal characters found in parameter 'side'; legal range is 'BUY, SELL'.")
        if otype not in ("LIMIT", "MARKET"):
            raise OrderError(-1116, "Invalid orderType.")
        tif = params.get("timeInForce") or None
        if otype == "LIMIT" and not tif:
            raise OrderError(-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")
        if tif is not None and tif not in ("GTC", "IOC", "FOK"):
            raise OrderError(-1115, "Invalid timeInForce.")
        if otype == "MARKET" and tif is not None:
            raise OrderError(-1106, "Parameter 'timeInForce' sent when not required.")
        quote_qty = _decimal(params, "quoteOrderQty", False) if otype == "MARKET" else None
        qty = _decimal(params, "quantity", otype == "LIMIT" or quote_qty is None)
        price = _decimal(params, "price", otype == "LIMIT")
        cid = params.get("newClientOrderId") or None
        if cid is not None and not _CLIENT_ID.match(cid):
            raise OrderError(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                                    "'^[a-zA-Z0-9-_]{1,36}$'.")
        tick, step = self.steps(m)
        quote, base = m.quote, m.base
        fee = self.config
        with self._lock:
            if cid is not None and any(o.client_order_id == cid and o.symbol == mid and o.status in OPEN_STATUSES
                                       for o in self.orders.values()):
                raise OrderError(-2010, "Duplicate order sent.")
            last = self._price_now(m, now)
            if quote_qty is not None:
                qty = (quote_qty / last).quantize(step, rounding=ROUND_DOWN)
            assert qty is not None
            if price is not None and (price < tick or price > Decimal("1000000") or not _on_grid(price, tick, tick)):
                raise OrderError(-1013, "Filter failure: PRICE_FILTER")
            if qty < step or qty > Decimal("9000000") or not _on_grid(qty, step, step):
                raise OrderError(-1013, "Filter failure: LOT_SIZE")
            ref = price if otype == "LIMIT" else last
            assert ref is not None
            if qty * ref < fee.min_notional:
                raise OrderError(-1013, "Filter failure: NOTIONAL")
            # funds: a buy locks the quote (plus the fee when it is charged in the quote)
            if side == "BUY":
                need = qty * ref * ((1 + fee.fee_rate) if fee.fee_asset == "quote" else 1)
                asset = quote
            else:
                need, asset = qty, base
            if self.free.get(asset, _ZERO) < need:
                raise OrderError(-2010, "Account has insufficient balance for requested action.")
            self._next_order += 1
            order = ReplayOrder(self._next_order, cid or f"replay{self._next_order:018d}", mid, side, otype,
                                tif if otype == "LIMIT" else None, price if price is not None else _ZERO, qty,
                                now, update_time=now, next_candle=m.series.index_ge(now))
            self._move(asset, -need, need)
            order.locked = need
            self.orders[order.order_id] = order
            marketable = otype == "MARKET" or (side == "BUY" and last <= order.price) or \
                (side == "SELL" and last >= order.price)
            if marketable:
                self._fill(order, m, order.orig_qty, last, now, maker=False)
            if order.status in OPEN_STATUSES and tif in ("IOC", "FOK"):
                self._close(order, "EXPIRED", now)
            return order

    def _fill(self, o: ReplayOrder, m: MarketData, qty: Decimal, price: Decimal, t: int, maker: bool) -> None:
        qty = min(qty, o.orig_qty - o.executed_qty)
        if qty <= 0:
            return
        cfg = self.config
        notional = qty * price
        buy = o.side == "BUY"
        if cfg.fee_asset == "quote":
            commission, fee_asset = notional * cfg.fee_rate, m.quote
        elif cfg.fee_asset == "BNB" and self.free.get("BNB", _ZERO) >= notional * cfg.fee_rate * Decimal("0.75") \
                / cfg.bnb_price:
            commission, fee_asset = notional * cfg.fee_rate * Decimal("0.75") / cfg.bnb_price, "BNB"
        else:
            commission, fee_asset = (qty * cfg.fee_rate, m.base) if buy else (notional * cfg.fee_rate, m.quote)
        commission = commission.quantize(_E8, rounding=ROUND_DOWN) if commission else _ZERO
        if buy:  # pay the quote out of the locked funds, receive the base
            spent = notional + (commission if fee_asset == m.quote else _ZERO)
            release = min(o.locked, spent) if o.executed_qty + qty < o.orig_qty else o.locked
            self._move(m.quote, release - spent, -release)
            o.locked -= release
            self._move(m.base, qty)
        else:
            self._move(m.base, _ZERO, -qty)
            o.locked -= qty
            self._move(m.quote, notional)
        self._move(fee_asset, -commission if fee_asset != m.quote or not buy else _ZERO)
        self._next_trade += 1
        fill = ReplayFill(self._next_trade, o.order_id, o.symbol, price, qty, commission, fee_asset, t, buy, maker)
        o.fills.append(fill)
        self.trades.append(fill)
        o.executed_qty += qty
        o.cum_quote += notional
        o.update_time = t
        if o.executed_qty >= o.orig_qty:
            o.status = "FILLED"
            if o.locked:
                self._move(m.quote if buy else m.base, o.locked, -o.locked)
                o.locked = _ZERO
        else:
            o.status = "PARTIALLY_FILLED"

    def _close(self, o: ReplayOrder, status: str, now: int) -> None:
        m = self.markets[o.symbol]
        if o.locked:
            self._move(m.quote if o.side == "BUY" else m.base, o.locked, -o.locked)
            o.locked = _ZERO
        o.status = status
        o.update_time = now

    def find(self, mid: str, order_id: int | None, client_id: str | None) -> ReplayOrder | None:
        with self._lock:
            if order_id is not None:
                o = self.orders.get(order_id)
                return o if o is not None and o.symbol == mid else None
            found = [o for o in self.orders.values() if o.symbol == mid and o.client_order_id == client_id]
            return found[-1] if found else None

    def cancel(self, mid: str, order_id: int | None, client_id: str | None, now: int) -> ReplayOrder:
        with self._lock:
            o = self.find(mid, order_id, client_id)
            if o is None or o.status not in OPEN_STATUSES:
                raise OrderError(-2011, "Unknown order sent.")
            self._close(o, "CANCELED", now)
            return o

    def open_orders(self, mid: str | None) -> list[ReplayOrder]:
        with self._lock:
            return [o for o in self.orders.values() if o.status in OPEN_STATUSES and (mid is None or o.symbol == mid)]

    def my_trades(self, mid: str, order_id: int | None = None, start: int | None = None, end: int | None = None,
                  from_id: int | None = None, limit: int = 500) -> list[ReplayFill]:
        with self._lock:
            rows = [t for t in self.trades if t.symbol == mid and (order_id is None or t.order_id == order_id)
                    and (start is None or t.time >= start) and (end is None or t.time <= end)
                    and (from_id is None or t.trade_id >= from_id)]
        return rows[:limit] if from_id is not None or start is not None else rows[-limit:]

    # --- matching on the candles ------------------------------------------------------------
    def match(self, now: int) -> None:
        """Fill resting limit orders on the candles that closed since they were placed."""
        with self._lock:
            for o in list(self.orders.values()):
                if o.status not in OPEN_STATUSES or o.type != "LIMIT":
                    continue
                m = self.markets[o.symbol]
                s = m.series
                closed = s.visible_count(now)
                if closed and s.is_open(closed - 1, now):
                    closed -= 1
                _, step = self.steps(m)
                while o.next_candle < closed and o.status in OPEN_STATUSES:
                    i = o.next_candle
                    o.next_candle += 1
                    crossed = float(s.l[i]) <= float(o.price) if o.side == "BUY" else float(s.h[i]) >= float(o.price)
                    if not crossed:
                        continue
                    room = (Decimal(str(float(s.v[i]))) * self.config.volume_share).quantize(step, rounding=ROUND_DOWN)
                    if room > 0:
                        self._fill(o, m, room, o.price, int(s.ts[i]) + s.tf_ms - 1, maker=True)
