"""Sending an intent at most once: :func:`submit_or_adopt` over a write-ahead journal.

The exchange is anything with ``fetch_order_by_client_id`` and ``create_order(...,
client_order_id=...)`` (``CcxtExchange``); the journal anything with ``get``/``put``
that makes a record durable before ``put`` returns (:class:`~tradebot.engine.order_journal.
JsonOrderJournal`, later the store). The rules, in order:

1. No record: store it ``intended`` (write-ahead).
2. A terminal record: nothing to do. An ``acknowledged``/``partially_filled`` one is
   refreshed from the exchange.
3. Otherwise ask the exchange for the client id first. Found: *adopt* it (the record takes
   the exchange's state, id and fills) — never send again.
4. Not found and the record is ``sent``/``unknown`` (sent before, answer lost): the
   earlier request could still be accepted until the exchange's receive window
   (``recv_window_ms``, Binance refuses requests older than that) plus ``grace_ms``
   has passed since ``sent_ms``; until then the record stays ``unknown`` and the call
   returns without sending. After it, the request can never be accepted: send again.
5. Send: store ``sent`` (attempts + 1) *before* the request, then the answer moves it
   on: the exchange's state, ``rejected`` (refused: the reason is kept),
   ``unknown`` (timeout, dropped connection, lost answer: looked up once at once), or,
   for a duplicate client id, the order that has it is adopted.

Errors that say the request was refused for our credentials or clock (``ExchangeAuthError``,
``ClockSkew``) mark the record ``rejected`` and are raised: trading must stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tradebot.core.errors import (
    DuplicateClientOrderId,
    ExchangeAuthError,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
)
from tradebot.core.orders import OrderRecord, OrderState, state_from_exchange

__all__ = ["OrderJournal", "SubmitResult", "adopt", "submit_or_adopt"]

S = OrderState


class OrderJournal(Protocol):
    def get(self, client_order_id: str) -> OrderRecord | None: ...

    def put(self, record: OrderRecord) -> None: ...


class OrderExchange(Protocol):
    def fetch_order_by_client_id(self, client_order_id: str, symbol: str) -> Any: ...

    def create_order(self, symbol: str, side: str, type: str, amount: float, price: float | None = None,
                     params: dict[str, Any] | None = None, *, client_order_id: str | None = None) -> Any: ...


@dataclass(frozen=True)
class SubmitResult:
    """``action``: ``sent`` (a request left and was answered), ``adopted`` (the exchange
    had it), ``refreshed``, ``pending`` (state unknown, nothing sent; call again later),
    ``rejected`` or ``done`` (already terminal)."""

    record: OrderRecord
    action: str


def adopt(record: OrderRecord, order: Any, now_ms: int, note: str) -> OrderRecord:
    """``record`` moved to the state of the exchange's ``order`` (a port ``Order``)."""
    target = state_from_exchange(order.status, float(order.filled or 0.0))
    changes: dict[str, Any] = {"exchange_order_id": str(order.id), "filled": float(order.filled or 0.0),
                               "average": order.average, "fees": tuple(getattr(order, "fees", ()) or ())}
    if target == record.state and (target != S.PARTIALLY_FILLED or changes["filled"] <= record.filled):
        return record  # nothing new
    if record.state == S.INTENDED:  # found on the exchange before we sent it: it was sent
        record = record.move(S.SENT, now_ms, "found on the exchange before sending")
    return record.move(target, now_ms, note, **changes)


def submit_or_adopt(journal: OrderJournal, exchange: OrderExchange, intent: OrderRecord, now_ms: int, *,
                    recv_window_ms: int = 10_000, grace_ms: int = 5_000) -> SubmitResult:
    """Bring ``intent`` one step closer to the exchange without ever placing it twice.
    See the module docstring for the rules; every state change is stored before the next
    exchange call."""
    cid = intent.client_order_id
    record = journal.get(cid)
    if record is None:
        record = intent
        journal.put(record)
    if record.terminal:
        return SubmitResult(record, "done")
    found = exchange.fetch_order_by_client_id(cid, record.symbol)
    if found is not None:
        if record.state in (S.ACKNOWLEDGED, S.PARTIALLY_FILLED):
            updated = adopt(record, found, now_ms, "refreshed from the exchange")
            action = "refreshed"
        else:
            updated = adopt(record, found, now_ms, f"adopted the exchange's order {found.id}")
            action = "adopted"
        if updated is not record:
            journal.put(updated)
        return SubmitResult(updated, action)
    if record.state in (S.ACKNOWLEDGED, S.PARTIALLY_FILLED):
        # the exchange forgot an order it acknowledged (archived): keep what we know
        return SubmitResult(record, "refreshed")
    if record.state in (S.SENT, S.UNKNOWN):
        sent = record.sent_ms if record.sent_ms is not None else record.updated_ms
        waiting = now_ms - sent < recv_window_ms + grace_ms
        if record.state == S.SENT:  # sent by a process that died before the answer was stored
            record = record.move(S.UNKNOWN, now_ms, "no answer stored and not on the exchange")
            journal.put(record)
        if waiting:
            return SubmitResult(record, "pending")
    return _send(journal, exchange, record, now_ms)


def _send(journal: OrderJournal, exchange: OrderExchange, record: OrderRecord, now_ms: int) -> SubmitResult:
    note = "sent" if record.attempts == 0 else "sent again: the earlier request can no longer be accepted"
    record = record.move(S.SENT, now_ms, note, attempts=record.attempts + 1, sent_ms=now_ms)
    journal.put(record)  # write-ahead: stored before the request leaves
    cid = record.client_order_id
    try:
        order = exchange.create_order(record.symbol, record.side, record.type, record.amount, record.price,
                                      client_order_id=cid)
    except DuplicateClientOrderId:
        found = exchange.fetch_order_by_client_id(cid, record.symbol)
        if found is None:  # closed again in between: its state is unknown, look again later
            record = record.move(S.UNKNOWN, now_ms, "duplicate client id, then not found")
            journal.put(record)
            return SubmitResult(record, "pending")
        record = adopt(record, found, now_ms, f"duplicate client id: adopted the exchange's order {found.id}")
        journal.put(record)
        return SubmitResult(record, "adopted")
    except ExchangeAuthError as e:  # credentials or clock: refused, and trading must stop
        journal.put(record.move(S.REJECTED, now_ms, "refused", reason=str(e)))
        raise
    except (InvalidOrder, InsufficientFunds) as e:
        record = record.move(S.REJECTED, now_ms, "refused by the exchange", reason=str(e))
        journal.put(record)
        return SubmitResult(record, "rejected")
    except ExchangeError as e:  # timeout, dropped connection, lost answer, 5xx: it may exist
        record = record.move(S.UNKNOWN, now_ms, f"no answer: {type(e).__name__}")
        journal.put(record)
        try:
            found = exchange.fetch_order_by_client_id(cid, record.symbol)
        except ExchangeError:
            return SubmitResult(record, "pending")
        if found is None:
            return SubmitResult(record, "pending")
        record = adopt(record, found, now_ms, f"answer lost: adopted the exchange's order {found.id}")
        journal.put(record)
        return SubmitResult(record, "adopted")
    record = adopt(record, order, now_ms, f"accepted as {order.id}")
    journal.put(record)
    return SubmitResult(record, "sent")
