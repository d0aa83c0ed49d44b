"""The live ledger and the store-backed order journal on a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tradebot.core.orders import OrderRecord, OrderState
from tradebot.data.db import open_store
from tradebot.data.live_models import LiveFill
from tradebot.data.portfolio_models import PortfolioAccount
from tradebot.services.live_journal import StoreOrderJournal
from tradebot.services.live_ledger import (
    ledger_balances,
    ledger_positions,
    open_orders,
    record_event,
    traded_notional,
)


def _account(store, mode: str = "live") -> int:
    with store.session() as s:
        row = PortfolioAccount(name="a", exchange="binance", timeframe="1m", symbols=["BTC/USDT"], strategy="rsi",
                               params={}, config={}, initial_capital=1000.0, history_start_ms=0, last_bar_ms=None,
                               state=[], trades_count=0, mode=mode)
        s.add(row)
        s.flush()
        return int(row.id)


def test_journal_put_is_committed_and_read_back_by_another_connection(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = open_store(f"sqlite:///{db}")
    acct = _account(store)
    journal = StoreOrderJournal(store, acct)
    rec = OrderRecord.intend("a", "BTC/USDT", 60_000, "enter", "buy", "market", 0.01, None, 1)
    journal.put(rec)
    # committed: a separate sqlite3 connection sees it before anything else happens
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT state FROM live_orders").fetchall() == [("intended",)]
    sent = rec.move(OrderState.SENT, 2, "sent", attempts=1, sent_ms=2)
    journal.put(sent)
    assert conn.execute("SELECT state, attempts FROM live_orders").fetchall() == [("sent", 1)]
    conn.close()
    again = StoreOrderJournal(store, acct).get(rec.client_order_id)
    assert again == sent and [t.target for t in again.history] == [OrderState.SENT]
    assert StoreOrderJournal(store, acct).get("nope") is None
    with store.session() as s:
        assert [r.client_order_id for r in open_orders(s, acct)] == [rec.client_order_id]
        filled = sent.move(OrderState.FILLED, 3, "done", filled=0.01, average=100.0)
    journal.put(filled)
    with store.session() as s:
        assert open_orders(s, acct) == []
    store.engine.dispose()


def test_positions_balances_and_notional_from_fills(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    acct = _account(store)
    with store.session() as s:
        s.add_all([
            LiveFill(account_id=acct, trade_id="1", client_order_id="x", symbol="BTC/USDT", side="buy", price=100.0,
                     amount=2.0, fee_cost=0.002, fee_currency="BTC", ts_ms=1000),
            LiveFill(account_id=acct, trade_id="2", client_order_id="y", symbol="BTC/USDT", side="sell",
                     price=110.0, amount=0.5, fee_cost=0.055, fee_currency="USDT", ts_ms=5000),
        ])
        record_event(s, acct, "fill", {"trade_id": "1"})
    with store.session() as s:
        assert ledger_positions(s, acct) == {"BTC/USDT": 1.5}
        bal = ledger_balances(s, acct)
        assert abs(bal["BTC"] - (1.5 - 0.002)) < 1e-12
        assert abs(bal["USDT"] - (1000 - 200 + 55 - 0.055)) < 1e-9
        assert traded_notional(s, acct, 0) == 255.0
        assert traded_notional(s, acct, 2000) == 55.0
    conn = sqlite3.connect(tmp_path / "t.db")
    assert [(k, json.loads(d)) for k, d in conn.execute("SELECT kind, detail FROM live_events")] == [
        ("fill", {"trade_id": "1"})]
    conn.close()
    store.engine.dispose()


def test_existing_portfolio_accounts_read_as_paper(tmp_path: Path) -> None:
    """A row written without a mode (as before migration 0011) reads as a paper account."""
    db = tmp_path / "t.db"
    store = open_store(f"sqlite:///{db}")
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO portfolio_accounts (name, exchange, timeframe, symbols, strategy, params, config, "
                 "initial_capital, history_start_ms, state, trades_count, created_at, updated_at) VALUES "
                 "('old', 'sim', '1m', '[\"A/USDT\",\"B/USDT\"]', 'rsi', '{}', '{}', 1000, 0, '[]', 0, "
                 "'2026-01-01 00:00:00', '2026-01-01 00:00:00')")
    conn.commit()
    conn.close()
    with store.session() as s:
        from sqlalchemy import select
        assert s.scalars(select(PortfolioAccount.mode).where(PortfolioAccount.name == "old")).one() == "paper"
    store.engine.dispose()
