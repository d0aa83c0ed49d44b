"""What a live account holds according to its own ledger (``live_orders``,
``live_fills``, ``live_events``): the read side shared by the live step, the guards
(limits, kill switch, reconciliation) and the reports.

Every function takes an open SQLAlchemy session (the caller's transaction) and an account
id (``portfolio_accounts.id`` of a ``live`` or ``dry-run`` account).

* :func:`ledger_positions`: units of each symbol's base asset bought minus sold, from
  the fills (a fee charged in the base asset is *not* taken off here: it is in
  :func:`ledger_balances`).
* :func:`ledger_balances`: per asset, the account's initial capital in the quote asset
  plus every fill's flows minus every fee in the currency it was charged in.
* :func:`traded_notional`: the quote notional of the fills since a time, plus the
  unfilled remainder of open limit orders (what the account has committed to trade).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from tradebot.core.orders import TERMINAL, OrderRecord

__all__ = [
    "base_quote",
    "ledger_balances",
    "ledger_positions",
    "open_orders",
    "record_event",
    "traded_notional",
]


def base_quote(symbol: str) -> tuple[str, str]:
    """``BTC/USDT`` (or ``BTC/USDT:USDT``) -> ``("BTC", "USDT")``."""
    base, _, rest = symbol.partition("/")
    return base, rest.split(":", 1)[0]


def record_event(session: Any, account_id: int, kind: str, detail: dict[str, Any]) -> None:
    """Append an event (``kind``: order_sent, fill, reject, reconcile_difference, adopt,
    kill_switch, error, ...) to the account's ``live_events`` in ``session``'s
    transaction; ``detail`` must be JSON-ready and hold no secret."""
    from tradebot.data.live_models import LiveEvent

    session.add(LiveEvent(account_id=int(account_id), ts_ms=int(time.time() * 1000), kind=str(kind),
                          detail=dict(detail)))
    session.flush()


def open_orders(session: Any, account_id: int) -> list[OrderRecord]:
    """The account's orders that are not terminal (intended, sent, unknown, acknowledged,
    partially filled), oldest first."""
    from sqlalchemy import select

    from tradebot.data.live_models import LiveOrder
    from tradebot.services.live_journal import record_from_row

    done = [s.value for s in TERMINAL]
    rows = session.scalars(select(LiveOrder).where(LiveOrder.account_id == int(account_id),
                                                   LiveOrder.state.not_in(done)).order_by(LiveOrder.id))
    return [record_from_row(r) for r in rows]


def ledger_positions(session: Any, account_id: int) -> dict[str, float]:
    """Units per symbol (bought minus sold) from ``live_fills``; symbols with no fill are absent."""
    from sqlalchemy import select

    from tradebot.data.live_models import LiveFill

    out: dict[str, float] = defaultdict(float)
    for symbol, side, amount in session.execute(select(LiveFill.symbol, LiveFill.side, LiveFill.amount).where(
            LiveFill.account_id == int(account_id))):
        out[symbol] += float(amount) if side == "buy" else -float(amount)
    return dict(out)


def ledger_balances(session: Any, account_id: int) -> dict[str, float]:
    """Per asset: the initial capital (in the quote asset of the account's first symbol)
    plus the flows of every fill (buy: + base, - quote; sell: the reverse) minus every fee
    in its own currency."""
    from sqlalchemy import select

    from tradebot.data.live_models import LiveFill
    from tradebot.data.portfolio_models import PortfolioAccount

    acct = session.get(PortfolioAccount, int(account_id))
    out: dict[str, float] = defaultdict(float)
    if acct is not None and acct.symbols:
        out[base_quote(acct.symbols[0])[1]] += float(acct.initial_capital)
    for f in session.scalars(select(LiveFill).where(LiveFill.account_id == int(account_id))):
        base, quote = base_quote(f.symbol)
        sign = 1.0 if f.side == "buy" else -1.0
        out[base] += sign * float(f.amount)
        out[quote] -= sign * float(f.amount) * float(f.price)
        if f.fee_cost and f.fee_currency:
            out[f.fee_currency] -= float(f.fee_cost)
    return dict(out)


def traded_notional(session: Any, account_id: int, since_ms: int) -> float:
    """Quote notional traded since ``since_ms`` (fills) plus the unfilled remainder of the
    account's open orders with a price — what counts against a daily notional limit."""
    from sqlalchemy import func, select

    from tradebot.data.live_models import LiveFill

    filled = session.execute(select(func.coalesce(func.sum(LiveFill.price * LiveFill.amount), 0.0)).where(
        LiveFill.account_id == int(account_id), LiveFill.ts_ms >= int(since_ms))).scalar_one()
    pending = 0.0
    for r in open_orders(session, account_id):
        price = r.price if r.price is not None else r.average
        if price is not None and r.created_ms >= since_ms:
            pending += max(r.amount - r.filled, 0.0) * float(price)
    return float(filled) + pending
