"""Live activity of the paper accounts for the dashboard: the orders placed on the strategies'
signals, their fills and the risk events, as one time-ordered list read after a cursor.

A reader keeps the cursor of the last event it received (the server-sent events' id), so a
reconnect resumes exactly after it: nothing is sent twice and nothing is skipped."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from tradebot.services.context import Context

__all__ = ["Activity", "activity_since", "cursor_from"]

#: The event names a reader sees, one per table.
KINDS = ("signal", "fill", "risk")


@dataclass(frozen=True)
class Activity:
    kind: str  # one of KINDS
    ts_ms: int  # the candle (market time) the event belongs to
    data: dict[str, Any]
    cursor: str  # resume after this event (an ActivityCursor token)


def cursor_from(token: str | None) -> str | None:
    """``token`` when it is a cursor this service made, else None (start from the backlog)."""
    from tradebot.data.activity_repository import ActivityCursor

    c = ActivityCursor.parse(token)
    return None if c is None else c.token()


def activity_since(ctx: Context, cursor: str | None, *, backlog: int = 50,
                   limit: int = 500) -> tuple[list[Activity], str]:
    """Events stored after ``cursor`` (at most ``limit`` per table), oldest first, and the cursor
    after the last of them. Without a cursor: the last ``backlog`` rows of each table."""
    from tradebot.data.activity_repository import ActivityCursor, ActivityRepository

    with ctx.store.session() as session:
        repo = ActivityRepository(session)
        start = ActivityCursor.parse(cursor)
        if start is None:
            head = repo.head()
            start = ActivityCursor(max(0, head.order - backlog), max(0, head.fill - backlog),
                                   max(0, head.risk - backlog))
        orders = repo.orders_after(start.order, limit)
        fills = repo.fills_after(start.fill, limit)
        risks = repo.risk_after(start.risk, limit)
    # merge the three id-ordered lists by market time; each list keeps its own order, so the
    # running maximum of ids is an exact resume point after every event
    tagged = heapq.merge(((r["ts_ms"], 0, r) for r in orders), ((r["ts_ms"], 1, r) for r in fills),
                         ((r["ts_ms"], 2, r) for r in risks), key=lambda t: (t[0], t[1]))
    last = [start.order, start.fill, start.risk]
    out: list[Activity] = []
    for ts, table, row in tagged:
        last[table] = row["id"]
        data = {k: v for k, v in row.items() if k != "id"}
        out.append(Activity(KINDS[table], int(ts), data, ActivityCursor(*last).token()))
    return out, ActivityCursor(*last).token()
