"""Helpers of the service tests: the paper ledger of an SQLite store, read with sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

#: Every ledger column that a run derives from candles and config (no ids, no wall clock);
#: fills name their order by its number.
LEDGER_QUERIES = {
    "paper_balances": "SELECT a.name, b.asset, b.amount, b.as_of_ms FROM paper_balances b "
                      "JOIN paper_accounts a ON a.id = b.account_id ORDER BY a.name, b.asset",
    "paper_orders": "SELECT a.name, o.seq, o.trade_entry_ms, o.first_fill_ms, o.last_fill_ms, o.side, "
                    "o.order_type, o.intent, o.qty, o.cost, o.avg_price, o.fee, o.fills, o.status, o.exit_reason "
                    "FROM paper_orders o JOIN paper_accounts a ON a.id = o.account_id "
                    "ORDER BY a.name, o.seq",
    "paper_fills": "SELECT a.name, f.seq, o.seq, f.ts_ms, f.side, f.qty, f.price, f.fee, f.maker "
                   "FROM paper_fills f JOIN paper_orders o ON o.id = f.order_id "
                   "JOIN paper_accounts a ON a.id = f.account_id ORDER BY a.name, f.seq",
    "paper_positions": "SELECT a.name, p.symbol, p.qty, p.avg_entry_price, p.entry_fee, p.entry_ms, "
                       "p.mark_price, p.mark_ms, p.unrealized_pnl FROM paper_positions p "
                       "JOIN paper_accounts a ON a.id = p.account_id ORDER BY a.name, p.symbol",
    "paper_risk_events": "SELECT a.name, e.seq, e.ts_ms, e.kind, e.rule, e.detail FROM paper_risk_events e "
                         "JOIN paper_accounts a ON a.id = e.account_id ORDER BY a.name, e.seq",
    "paper_equity": "SELECT a.name, e.ts_ms, e.equity, e.position FROM paper_equity e "
                    "JOIN paper_accounts a ON a.id = e.account_id ORDER BY a.name, e.ts_ms",
    "paper_trades": "SELECT a.name, t.seq, t.entry_ts_ms, t.exit_ts_ms, t.units, t.pnl, t.exit_reason "
                    "FROM paper_trades t JOIN paper_accounts a ON a.id = t.account_id ORDER BY a.name, t.seq",
    "paper_accounts": "SELECT name, last_bar_ms, state, trades_count FROM paper_accounts ORDER BY name",
}


def ledger_snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every paper table of the SQLite file ``db`` (see :data:`LEDGER_QUERIES`)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {table: conn.execute(sql).fetchall() for table, sql in LEDGER_QUERIES.items()}
    finally:
        conn.close()


def assert_daily_pnl(summaries: list[str], db: Path, table: str, first_day_ms: int, capital: float) -> None:
    """Each daily summary (in day order from ``first_day_ms``) says its day's P&L: the equity at
    the day's last stored bar (``table``'s ``ts_ms, equity``) less the day before's, the
    starting ``capital`` before the first."""
    day = 86_400_000
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        eq = conn.execute(f"SELECT ts_ms, equity FROM {table} ORDER BY ts_ms").fetchall()  # noqa: S608
    finally:
        conn.close()
    prev = capital
    for d, text in enumerate(summaries):
        last = [e for t, e in eq if t // day == first_day_ms // day + d][-1]
        assert f"P&L {last - prev:+,.2f}" in text, (d, text)
        prev = last
