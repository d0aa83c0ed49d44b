"""An exchange's rules for orders on one market, applied before anything is sent.

:class:`MarketRules` comes from ccxt's ``load_markets`` (``precision`` and ``limits``;
see ``CcxtExchange.market_rules``): the price tick, the amount step (lot size), the
minimum and maximum amount and the minimum notional. :meth:`MarketRules.prepare` rounds
an intended order onto the grid the exchange accepts (amount *down* to the step, so the
order never spends more than intended; price to the nearest tick) and returns the reason
when the result cannot satisfy the rules — such an order is not sent, and the reason is
recorded. Amounts are computed in :class:`~decimal.Decimal` so ``0.1 + 0.2`` style
residues never break a step check.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

__all__ = ["MarketRules", "PreparedOrder"]


def _dec(x: float | Decimal) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(repr(float(x)))


def _fmt(x: float | Decimal | None) -> str:
    """A number as plain text (``0.000001``, ``30000``: never ``1e-06`` or ``3E+4``)."""
    if x is None:
        return "none"
    text = format(_dec(x).normalize(), "f")
    return text


@dataclass(frozen=True)
class PreparedOrder:
    """An order rounded onto the market's grid; ``reason`` is None when it may be sent."""

    amount: Decimal
    price: Decimal | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class MarketRules:
    """``tick_size``/``step_size``: the price and amount grids (None: no grid);
    ``min_amount``/``max_amount``/``min_notional``: limits (None: none)."""

    symbol: str
    tick_size: Decimal | None = None
    step_size: Decimal | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_notional: Decimal | None = None
    min_price: Decimal | None = None

    def round_amount(self, amount: float | Decimal) -> Decimal:
        """``amount`` rounded down to the lot step."""
        a = _dec(amount)
        if self.step_size:
            a = ((a / self.step_size).to_integral_value(rounding=ROUND_DOWN) * self.step_size).quantize(
                self.step_size)
        return a

    def round_price(self, price: float | Decimal) -> Decimal:
        """``price`` rounded to the nearest tick."""
        p = _dec(price)
        if self.tick_size:
            p = ((p / self.tick_size).to_integral_value(rounding=ROUND_HALF_EVEN) * self.tick_size).quantize(
                self.tick_size)
        return p

    def prepare(self, amount: float | Decimal, price: float | Decimal | None, *,
                reference_price: float | Decimal | None = None) -> PreparedOrder:
        """Round an order and check it. ``price``: the limit price (None for a market order,
        whose notional is judged at ``reference_price``, e.g. the last price)."""
        a = self.round_amount(amount)
        p = None if price is None else self.round_price(price)
        ref = p if p is not None else (None if reference_price is None else _dec(reference_price))
        if a <= 0:
            return PreparedOrder(a, p, f"amount {_fmt(amount)} rounds to 0 on the lot step {_fmt(self.step_size)}")
        if self.min_amount is not None and a < self.min_amount:
            return PreparedOrder(a, p, f"amount {_fmt(a)} is below the minimum {_fmt(self.min_amount)} "
                                       f"of {self.symbol}")
        if self.max_amount is not None and a > self.max_amount:
            return PreparedOrder(a, p, f"amount {_fmt(a)} is above the maximum {_fmt(self.max_amount)} "
                                       f"of {self.symbol}")
        if p is not None and (p <= 0 or (self.min_price is not None and p < self.min_price)):
            return PreparedOrder(a, p, f"price {_fmt(p)} is below the minimum price {_fmt(self.min_price)} "
                                       f"of {self.symbol}")
        if self.min_notional is not None and ref is not None and a * ref < self.min_notional:
            return PreparedOrder(a, p, f"notional {_fmt(a * ref)} is below the minimum "
                                       f"{_fmt(self.min_notional)} of {self.symbol}")
        return PreparedOrder(a, p)
