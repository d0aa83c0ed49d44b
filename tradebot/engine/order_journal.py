"""A durable write-ahead journal of order records in one JSON file per account.

Every :meth:`JsonOrderJournal.put` rewrites the file atomically (temp file, fsync, rename,
fsync of the directory: :func:`tradebot.core.atomic.atomic_write_bytes`), so after a crash
at any instant the file holds either the state before or the state after a ``put`` —
never a torn one — and a record is on disk before the exchange call it announces. The
live store will keep the same records in the database; this file form serves tests and
single-account runs.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tradebot.core.atomic import atomic_write_bytes
from tradebot.core.errors import StoreError
from tradebot.core.orders import OrderRecord

__all__ = ["JsonOrderJournal", "MemoryOrderJournal"]


class MemoryOrderJournal:
    """The journal in memory (unit tests)."""

    def __init__(self) -> None:
        self.records: dict[str, OrderRecord] = {}
        self.writes = 0

    def get(self, client_order_id: str) -> OrderRecord | None:
        return self.records.get(client_order_id)

    def put(self, record: OrderRecord) -> None:
        self.records[record.client_order_id] = record
        self.writes += 1

    def all(self) -> list[OrderRecord]:
        return list(self.records.values())


class JsonOrderJournal(MemoryOrderJournal):
    """The journal in ``path`` (read at construction, rewritten atomically by each put)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._lock = threading.Lock()
        if self.path.exists():
            try:
                rows = json.loads(self.path.read_text(encoding="utf-8"))
                for row in rows["orders"]:
                    record = OrderRecord.from_dict(row)
                    self.records[record.client_order_id] = record
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise StoreError(f"order journal {self.path} cannot be read: {type(e).__name__}: {e}") from e

    def put(self, record: OrderRecord) -> None:
        with self._lock:
            self.records[record.client_order_id] = record
            data = {"version": 1, "orders": [r.to_dict() for r in self.records.values()]}
            atomic_write_bytes(self.path, json.dumps(data, indent=1, sort_keys=True).encode())
            self.writes += 1
