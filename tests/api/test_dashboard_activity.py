"""The dashboard's live activity (tradebot.services.activity) on a real paper account of the
sim market: every order, fill and risk event the store holds is an event exactly once, in
market-time order, and a reader that resumes from any event's cursor gets exactly the rest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tradebot.core.config import load_settings
from tradebot.services.activity import activity_since, cursor_from
from tradebot.services.context import Context

H = 3_600_000
#: a fixed clock (the sim market is deterministic for a given range), on a 15m boundary
NOW = 1_733_000_400_000 - (1_733_000_400_000 % (15 * 60_000))
RISKY = {"max_trades_per_day": 3, "max_drawdown_pct": 3.0, "breaker_cooldown_bars": 40}


def paper_ctx(home: Path) -> Context:
    return Context(load_settings(overrides={
        "home": str(home), "strategy": {"name": "macd", "params": {}},
        "market": {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "15m"}, "risk": RISKY}, env={}))


def stored_keys(db: Path) -> set[tuple[str, str, int]]:
    """(kind, account, seq) of every order, fill and risk event in the SQLite file."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out: set[tuple[str, str, int]] = set()
        for kind, table in (("signal", "paper_orders"), ("fill", "paper_fills"), ("risk", "paper_risk_events")):
            rows = conn.execute(f"SELECT a.name, t.seq FROM {table} t JOIN paper_accounts a ON a.id = t.account_id")
            out |= {(kind, name, int(seq)) for name, seq in rows}
        return out
    finally:
        conn.close()


def key(ev) -> tuple[str, str, int]:  # type: ignore[no-untyped-def]
    return ev.kind, ev.data["account"], ev.data["seq"]


def test_every_stored_event_once_in_order_and_resumable(tmp_path: Path) -> None:
    from tradebot.services.paper import run_paper

    home = tmp_path / "home"
    ctx = paper_ctx(home)
    try:
        run_paper(ctx, "demo", source="sim", since_ms=NOW - 12 * 24 * H, now_ms=NOW - 3 * 24 * H)
        first, cur = activity_since(ctx, None, backlog=1_000_000)
        db = home / "tradebot.db"
        assert {key(e) for e in first} == stored_keys(db)
        assert len(first) == len({key(e) for e in first})  # nothing twice
        kinds = {e.kind for e in first}
        assert {"signal", "fill", "risk"} <= kinds, kinds
        assert [e.ts_ms for e in first] == sorted(e.ts_ms for e in first)  # market-time order
        assert first[-1].cursor == cur

        assert activity_since(ctx, cur) == ([], cur)  # nothing new

        # a second account and more candles for the first: only the new rows come
        run_paper(ctx, "demo", source="sim", now_ms=NOW)
        run_paper(ctx, "other", source="sim", since_ms=NOW - 4 * 24 * H, now_ms=NOW,
                  requested={"strategy": "rsi"})
        new, cur2 = activity_since(ctx, cur)
        assert new and {key(e) for e in new} == stored_keys(db) - {key(e) for e in first}
        assert {e.data["account"] for e in new} == {"demo", "other"}
        everything = first + new

        # resuming from any event's cursor gives exactly the events after it
        for k in (0, 7, len(first) - 1, len(first) + 3, len(everything) - 2):
            rest, end = activity_since(ctx, everything[k].cursor, limit=100_000)
            assert {key(e) for e in rest} == {key(e) for e in everything[k + 1:]}, k
            assert end == cur2

        # no cursor: only the last `backlog` rows of each table
        recent, _ = activity_since(ctx, None, backlog=5)
        assert len(recent) <= 15 and {key(e) for e in recent} <= {key(e) for e in everything}
        assert max(e.ts_ms for e in recent) == max(e.ts_ms for e in everything)
    finally:
        ctx.close()


def test_a_cursor_from_elsewhere_means_start_over() -> None:
    assert cursor_from("3-4-5") == "3-4-5"
    for bad in (None, "", "abc", "1-2", "1-2-x", "-1-2-3", "1-2-3-4"):
        assert cursor_from(bad) is None, bad
