"""Live activity as server-sent events: ``GET /api/events`` streams the paper accounts' fills,
signals (the orders placed on a strategy's signal) and risk events as they are stored.

Authenticated like every read route (the dashboard's session cookie or a bearer token).
Each event carries an ``id`` (a cursor over the three tables); a client that reconnects with
``Last-Event-ID`` (browsers do it by themselves) resumes right after the last event it got.
A stream ends after ``max_seconds`` (the browser reconnects), so no connection lives forever;
a comment line every 15 s keeps proxies from closing an idle one. A client that does not
accept ``text/event-stream`` (a script polling with curl) gets the same events once as JSON,
with the cursor to send as ``Last-Event-ID`` next time."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tradebot.api.security import ReadToken, api_state

router = APIRouter(tags=["dashboard"])

KEEPALIVE_S = 15.0
RETRY_MS = 2000


def _frame(kind: str, data: dict[str, object], event_id: str) -> bytes:
    body = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return f"id: {event_id}\nevent: {kind}\ndata: {body}\n\n".encode()


@router.get("/api/events", dependencies=[ReadToken], response_model=None,
            responses={200: {"content": {"text/event-stream": {}, "application/json": {}},
                             "description": "events `signal`, `fill`, `risk`; data is one JSON object"}})
async def events(request: Request,
                 last_event_id: str | None = Header(default=None, alias="Last-Event-ID"),
                 backlog: int = Query(50, ge=0, le=500, description="past events per kind sent first"),
                 poll: float = Query(1.0, ge=0.1, le=30.0, description="seconds between reads of the store"),
                 max_seconds: float = Query(300.0, ge=1.0, le=3600.0,
                                            description="the stream ends after this long"),
                 ) -> StreamingResponse | JSONResponse:
    """The paper accounts' live activity as ``text/event-stream`` (or, to a client that does
    not accept it, the events since ``Last-Event-ID`` once as JSON)."""
    from tradebot.services.activity import activity_since, cursor_from

    ctx = api_state(request).ctx
    cursor = cursor_from(last_event_id)
    # the first read happens here, so a broken store is an error response, not a broken stream
    first, cursor = await run_in_threadpool(activity_since, ctx, cursor, backlog=backlog)
    if "text/event-stream" not in request.headers.get("accept", ""):
        return JSONResponse({"events": [{"kind": ev.kind, "id": ev.cursor, "data": {**ev.data, "ts_ms": ev.ts_ms}}
                                        for ev in first], "cursor": cursor})

    async def stream() -> AsyncIterator[bytes]:
        nonlocal cursor
        yield f"retry: {RETRY_MS}\n\n".encode()
        for ev in first:
            yield _frame(ev.kind, {**ev.data, "ts_ms": ev.ts_ms}, ev.cursor)
        # an id alone moves the browser's Last-Event-ID even when there was no backlog, so a
        # reconnect never replays it
        yield f"id: {cursor}\n\n".encode()
        end = time.monotonic() + max_seconds
        quiet_since = time.monotonic()
        while time.monotonic() < end:
            await asyncio.sleep(poll)
            if await request.is_disconnected():
                return
            batch, cursor = await run_in_threadpool(activity_since, ctx, cursor)
            for ev in batch:
                yield _frame(ev.kind, {**ev.data, "ts_ms": ev.ts_ms}, ev.cursor)
            if batch:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
