"""The exchange port: what tradebot needs from any exchange, as a Protocol.

Adapters (``ccxt_exchange.CcxtExchange`` for real exchanges and the replay server,
``sim`` for the synthetic market) implement it; services depend only on this.
Every method raises only tradebot errors (``ExchangeError`` and subclasses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class MarketInfo:
    """One tradable market as the exchange describes it."""

    symbol: str  # unified, e.g. "BTC/USDT" or "BTC/USDT:USDT"
    base: str
    quote: str
    type: str  # "spot", "swap", "future", ...
    active: bool
    price_precision: float | None = None  # tick size (or decimals, as ccxt reports it)
    amount_precision: float | None = None
    min_amount: float | None = None
    min_cost: float | None = None
    contract: bool = False
    linear: bool | None = None


@dataclass(frozen=True)
class Ticker:
    symbol: str
    timestamp_ms: int | None
    bid: float | None
    ask: float | None
    last: float | None
    base_volume: float | None = None


@dataclass(frozen=True)
class OrderBook:
    symbol: str
    timestamp_ms: int | None
    bids: list[tuple[float, float]] = field(default_factory=list)  # best first
    asks: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class PublicTrade:
    id: str | None
    timestamp_ms: int
    side: str | None  # "buy" / "sell" (taker side)
    price: float
    amount: float


@dataclass(frozen=True)
class Order:
    id: str
    symbol: str
    side: str
    type: str
    status: str  # "open", "closed", "canceled", ...
    amount: float
    filled: float
    price: float | None
    average: float | None
    timestamp_ms: int | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    client_order_id: str | None = None
    remaining: float | None = None
    cost: float | None = None  # filled quote amount
    fees: tuple[tuple[str, float], ...] = ()  # (currency, amount) as the exchange charged them
    updated_ms: int | None = None


@dataclass(frozen=True)
class AccountTrade:
    """One fill of one of our orders (``fetch_my_trades``); the fee in whatever currency
    the exchange charged it."""

    id: str
    order_id: str | None
    symbol: str
    side: str
    price: float
    amount: float
    cost: float
    fee_cost: float
    fee_currency: str | None
    timestamp_ms: int
    maker: bool | None = None


@runtime_checkable
class Exchange(Protocol):
    """The operations tradebot uses. ``fetch_ohlcv`` returns an ``(n, 6)`` float64
    array: open time (ms), open, high, low, close, volume, sorted by time."""

    @property
    def id(self) -> str: ...

    @property
    def timeframes(self) -> list[str]: ...

    def max_candles_per_request(self, timeframe: str) -> int: ...

    def load_markets(self, reload: bool = False) -> dict[str, MarketInfo]: ...

    def fetch_ohlcv(self, symbol: str, timeframe: str, since_ms: int | None = None,
                    limit: int | None = None, until_ms: int | None = None) -> np.ndarray: ...

    def fetch_ticker(self, symbol: str) -> Ticker: ...

    def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBook: ...

    def fetch_trades(self, symbol: str, since_ms: int | None = None,
                     limit: int | None = None) -> list[PublicTrade]: ...

    def fetch_balance(self) -> dict[str, dict[str, float]]: ...

    def create_order(self, symbol: str, side: str, type: str, amount: float,
                     price: float | None = None, params: dict[str, Any] | None = None) -> Order: ...

    def cancel_order(self, order_id: str, symbol: str) -> Order: ...

    def fetch_order(self, order_id: str, symbol: str) -> Order: ...

    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]: ...

    def server_time_ms(self) -> int: ...

    def close(self) -> None: ...


@runtime_checkable
class TradingExchange(Protocol):
    """What live trading needs beyond :class:`Exchange`: orders named by our client id,
    our fills with their fees, and the market's order rules."""

    def fetch_balance(self) -> dict[str, dict[str, float]]: ...

    def create_order(self, symbol: str, side: str, type: str, amount: float,
                     price: float | None = None, params: dict[str, Any] | None = None, *,
                     client_order_id: str | None = None) -> Order: ...

    def fetch_order_by_client_id(self, client_order_id: str, symbol: str) -> Order | None: ...

    def cancel_order(self, order_id: str | None, symbol: str, client_order_id: str | None = None) -> Order: ...

    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]: ...

    def fetch_my_trades(self, symbol: str, since_ms: int | None = None, limit: int | None = None,
                        order_id: str | None = None) -> list[AccountTrade]: ...

    def market_rules(self, symbol: str) -> Any: ...
