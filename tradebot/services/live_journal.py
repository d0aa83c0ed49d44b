"""The write-ahead order journal of a live account in the store.

:class:`StoreOrderJournal` keeps :class:`~tradebot.core.orders.OrderRecord` rows in
``live_orders`` (the same ``get``/``put`` protocol as
:class:`~tradebot.engine.order_journal.JsonOrderJournal`). Each ``put`` is its own short
transaction, committed before it returns: :func:`tradebot.engine.orders.submit_or_adopt`
stores ``sent`` *before* the request leaves, so after a crash at any instant the store
says either "never sent" or "may have been sent" — never "not sent" for an order that was.
The rest of a run (the account's state, equity, fills) is one transaction at its end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebot.core.orders import OrderRecord

if TYPE_CHECKING:
    from tradebot.data.db import Store
    from tradebot.data.live_models import LiveOrder

__all__ = ["StoreOrderJournal", "record_from_row", "row_values"]


def row_values(record: OrderRecord) -> dict[str, Any]:
    """The ``live_orders`` column values of ``record`` (its ``to_dict()``)."""
    return record.to_dict()


def record_from_row(row: LiveOrder) -> OrderRecord:
    """The record a ``live_orders`` row holds."""
    keys = OrderRecord.__dataclass_fields__
    return OrderRecord.from_dict({k: getattr(row, k) for k in keys})


class StoreOrderJournal:
    """The orders of the live account ``account_id`` in ``store``; ``writes`` counts puts."""

    def __init__(self, store: Store, account_id: int) -> None:
        self.store = store
        self.account_id = int(account_id)
        self.writes = 0

    def get(self, client_order_id: str) -> OrderRecord | None:
        from sqlalchemy import select

        from tradebot.data.live_models import LiveOrder

        with self.store.session() as session:
            row = session.scalars(select(LiveOrder).where(LiveOrder.client_order_id == client_order_id)).first()
            return None if row is None else record_from_row(row)

    def put(self, record: OrderRecord) -> None:
        """Store ``record`` (insert or update by client id) and commit before returning."""
        from sqlalchemy import select

        from tradebot.data.live_models import LiveOrder

        values = row_values(record)
        with self.store.session() as session:
            row = session.scalars(select(LiveOrder).where(
                LiveOrder.client_order_id == record.client_order_id)).first()
            if row is None:
                session.add(LiveOrder(account_id=self.account_id, **values))
            else:
                for k, v in values.items():
                    setattr(row, k, v)
        self.writes += 1

    def all(self) -> list[OrderRecord]:
        from sqlalchemy import select

        from tradebot.data.live_models import LiveOrder

        with self.store.session() as session:
            return [record_from_row(r) for r in session.scalars(
                select(LiveOrder).where(LiveOrder.account_id == self.account_id).order_by(LiveOrder.id))]
