"""Concurrent clients, reads and writes mixed, for a few seconds: every answer is a 200 and
every write is audited (no "database is locked" under load). Timing figures are in
bench/bench_api.py, not asserted here."""

from __future__ import annotations

import asyncio

import httpx


def test_concurrent_reads_and_writes_all_succeed(server) -> None:  # type: ignore[no-untyped-def]
    with server.client(server.tokens.trade) as c:
        assert c.post("/api/bots", json={"name": "L", "exchange": "sim", "strategy": "rsi"}).status_code == 201
    reads = ["/api/runs", "/api/strategies", "/api/bots", "/api/jobs", "/api/accounts", "/api/version", "/api/me",
             "/api/bots/L", "/api/market/datasets"]
    writes = ["/api/bots/L/start", "/api/bots/L/stop", "/api/bots/kill-switch"]
    statuses: list[tuple[str, int]] = []

    async def client(k: int) -> None:
        token = (server.tokens.read, server.tokens.trade, server.tokens.admin)[k % 3]
        async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=30) as c:
            for n in range(30):
                if k % 3 and n % 5 == 0:
                    path = writes[(k + n) % len(writes)]
                    r = await c.post(path)
                else:
                    path = reads[(k + n) % len(reads)]
                    r = await c.get(path)
                statuses.append((path, r.status_code))

    async def main() -> None:
        await asyncio.gather(*(client(k) for k in range(20)))

    asyncio.run(main())
    assert len(statuses) == 600
    bad = [s for s in statuses if s[1] != 200]
    assert bad == []
    posts = sum(1 for p, _ in statuses if p in writes)
    with server.client(server.tokens.admin) as c:
        audited = [e for e in c.get("/api/audit", params={"limit": 1000}).json()["entries"] if e["path"] in writes]
    assert len(audited) == posts > 0 and {e["outcome"] for e in audited} == {"ok"}
