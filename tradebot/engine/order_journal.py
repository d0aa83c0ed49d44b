"""A durable write-ahead journal of order records: one JSON line per change, fsynced.

:meth:`JsonOrderJournal.put` appends the record's new state as one line and ``fsync``\\ s
the file before returning, so a record is on disk before the exchange call it announces.
Reading takes the last line of each client id. A crash in the middle of an append leaves
at most a torn last line, which is ignored (that ``put`` had not returned, so nothing was
sent on its strength); any other unreadable line is a :class:`StoreError`. Appending keeps
a ``put`` O(1) (a few hundred microseconds plus the fsync) whatever the journal's length.
The live store will keep the same records (``OrderRecord.to_dict()``) in the database;
this file form serves tests, benchmarks and single-account runs.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

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
    """The journal in ``path`` (JSON lines; read at construction, appended by each put)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._lock = threading.Lock()
        self.torn_tail = False
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        try:
            lines = self.path.read_bytes().split(b"\n")
        except OSError as e:
            raise StoreError(f"order journal {self.path} cannot be read: {e.strerror}") from e
        complete = lines[:-1]  # the part after the last newline is a torn append (or empty)
        self.torn_tail = bool(lines[-1].strip())
        for number, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                record = OrderRecord.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as e:
                raise StoreError(f"order journal {self.path} line {number} is not a record: "
                                 f"{type(e).__name__}: {e}") from e
            self.records[record.client_order_id] = record
        if self.torn_tail:  # cut it off so the next append starts on a clean line
            with open(self.path, "r+b") as f:
                f.truncate(sum(len(x) + 1 for x in complete))
                f.flush()
                os.fsync(f.fileno())

    def put(self, record: OrderRecord) -> None:
        line = json.dumps(record.to_dict(), sort_keys=True, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            new = not self.path.exists()
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                if new:  # the file's directory entry must survive a crash too
                    dir_fd = os.open(self.path.parent, os.O_RDONLY)
                    try:
                        os.fsync(dir_fd)
                    finally:
                        os.close(dir_fd)
            except OSError as e:
                raise StoreError(f"order journal {self.path} cannot be written: {e.strerror}") from e
            self.records[record.client_order_id] = record
            self.writes += 1
