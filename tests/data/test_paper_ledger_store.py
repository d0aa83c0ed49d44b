"""The paper ledger in the store (real SQLite files): migration 0003 over a store with
accounts, the repository's round trip, and the guards against lost or doubled rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tradebot.core.errors import StoreError, UsageError
from tradebot.data.db import HEAD_REVISION, MIGRATIONS_DIR, current_revision, open_store
from tradebot.data.models import PaperFill, PaperOrder, PaperRiskEvent
from tradebot.data.paper_repository import (
    FillRow,
    LedgerUpdate,
    OrderRow,
    PaperRepository,
    PositionRow,
    RiskEventRow,
)

T0 = 1_704_067_200_000
STATE = [5_000.0, 0.1, 50_000.0, 5.0, 3.0, 0.0, 0.0, -1.0]  # cash, units, entry price/fee/idx, ...


def migrate_to(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_upgrade_from_0002_keeps_the_accounts_and_adds_the_ledger(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tradebot.db'}"
    migrate_to(url, "0002")
    assert current_revision(url) == "0002"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO paper_accounts (name, exchange, symbol, timeframe, strategy, params, config, "
            "initial_capital, history_start_ms, last_bar_ms, state, trades_count, created_at, updated_at) "
            "VALUES ('old', 'binance', 'BTC/USDT', '1h', 'rsi', '{}', '{\"engine\": {}}', 10000, :t, :t, "
            ":state, 0, '2024-01-01 00:00:00', '2024-01-01 00:00:00')"), {"t": T0, "state": str(STATE)})
    engine.dispose()
    with open_store(url) as store:
        assert current_revision(url) == HEAD_REVISION
        names = set(sa.inspect(store.engine).get_table_names())
        assert {"paper_balances", "paper_orders", "paper_fills", "paper_positions",
                "paper_risk_events"} <= names
        with store.session() as session:
            repo = PaperRepository(session)
            acct = repo.get("old")
            assert acct is not None and acct.state == STATE and acct.last_bar_ms == T0
            assert repo.balances(acct.id) == [] and repo.orders(acct.id) == []
    # not run since: its report takes the balances from the engine state
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.paper import account_report

    ctx = Context(load_settings(env={}, overrides={"home": str(tmp_path)}))
    rep = account_report(ctx, "old")
    ctx.close()
    assert [(b["asset"], b["amount"]) for b in rep["balances"]] == [("USDT", 5_000.0), ("BTC", 0.1)]
    assert rep["orders"] == rep["fills"] == rep["risk_events"] == [] and rep["blocked_entries"] == []


def test_ledger_round_trip(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'tradebot.db'}") as store:
        with store.session() as session:
            repo = PaperRepository(session)
            acct = repo.create(name="a", exchange="binance", symbol="BTC/USDT", timeframe="1h",
                               strategy="rsi", params={}, config={}, initial_capital=10_000.0,
                               history_start_ms=T0, last_bar_ms=T0 - 1, state=[10_000.0, 0.0],
                               balances={"USDT": 10_000.0, "BTC": 0.0})
            assert repo.balances(acct.id) == [{"asset": "USDT", "amount": 10_000.0, "as_of_ms": None},
                                              {"asset": "BTC", "amount": 0.0, "as_of_ms": None}]
        entry = OrderRow(0, T0, T0, T0 + 1, "buy", "limit", "entry", 0.3, 0.3 * 100.5, 100.5, 0.03, 2,
                         "filled", None)
        exit_ = OrderRow(1, T0, T0 + 2, T0 + 2, "sell", "limit", "exit", 0.1, 11.0, 110.0, 0.011, 1,
                         "partially_filled", None)
        ledger = LedgerUpdate(
            orders=(entry, exit_),
            fills=(FillRow(0, 0, T0, "buy", 0.1, 100.0, 0.01, True),
                   FillRow(1, 0, T0 + 1, "buy", 0.2, 100.75, 0.02, True),
                   FillRow(2, 1, T0 + 2, "sell", 0.1, 110.0, 0.011, True)),
            balances={"USDT": 9_980.0, "BTC": 0.2}, balances_ms=T0 + 2,
            position=PositionRow("BTC/USDT", 0.2, 100.5, 0.03, T0, 111.0, T0 + 2, 2.07),
            risk_events=(RiskEventRow(T0 + 1, "entry_blocked", "max_trades_per_day", "x"),
                         RiskEventRow(T0 + 2, "breaker_tripped", "drawdown_breaker", "y")))
        with store.session() as session:
            PaperRepository(session).record_step(acct, last_bar_ms=T0 + 2, state=[9_980.0, 0.2],
                                                 trades=[], equity=[], ledger=ledger)
        with store.session() as session:
            repo = PaperRepository(session)
            acct = repo.get("a")
            assert acct is not None and acct.last_bar_ms == T0 + 2
            orders = repo.orders(acct.id)
            assert [(o["seq"], o["qty"], o["status"]) for o in orders] == [
                (0, 0.3, "filled"), (1, 0.1, "partially_filled")]
            assert [(f["seq"], f["order_seq"], f["intent"]) for f in repo.fills(acct.id)] == [
                (0, 0, "entry"), (1, 0, "entry"), (2, 1, "exit")]
            assert [f["seq"] for f in repo.fills(acct.id, last=2)] == [1, 2]
            assert {b["asset"]: (b["amount"], b["as_of_ms"]) for b in repo.balances(acct.id)} == {
                "USDT": (9_980.0, T0 + 2), "BTC": (0.2, T0 + 2)}
            assert repo.positions(acct.id)[0]["qty"] == 0.2
            assert repo.risk_counts(acct.id) == {"entry_blocked": {"max_trades_per_day": 1},
                                                 "breaker_tripped": {"drawdown_breaker": 1}}
            assert [e["kind"] for e in repo.risk_events(acct.id, exclude_kinds=("entry_blocked",))] == [
                "breaker_tripped"]
            stamps = [session.scalars(sa.select(m.created_at if m is PaperOrder else m.recorded_at))
                      .first() for m in (PaperOrder, PaperFill, PaperRiskEvent)]
            assert all(isinstance(s, dt.datetime) and s.tzinfo == dt.UTC for s in stamps)
            book = repo.book(acct.id, "BTC/USDT")
            assert (book.next_order_seq, book.next_fill_seq) == (2, 3)
            assert book.last_order is not None and book.last_order.seq == 1 and book.last_order.id
            assert book.position is not None and book.position.entry_ms == T0
        # the next run completes the exit order (stored id), closes the position
        done = OrderRow(**{**book.last_order.__dict__, "qty": 0.3, "status": "filled", "fills": 2})
        with store.session() as session:
            PaperRepository(session).record_step(
                acct, last_bar_ms=T0 + 3, state=[10_010.0, 0.0], trades=[], equity=[],
                ledger=LedgerUpdate((done,), (FillRow(3, 1, T0 + 3, "sell", 0.2, 111.0, 0.022, False),),
                                    {"USDT": 10_010.0, "BTC": 0.0}, T0 + 3, None,
                                    (RiskEventRow(T0 + 3, "breaker_resumed", "drawdown_breaker", "z"),)))
        with store.session() as session:
            repo = PaperRepository(session)
            acct = repo.get("a")
            assert acct is not None
            assert [(o["seq"], o["qty"], o["status"]) for o in repo.orders(acct.id)] == [
                (0, 0.3, "filled"), (1, 0.3, "filled")]
            assert repo.positions(acct.id) == []
            assert [e["seq"] for e in repo.risk_events(acct.id)] == [0, 1, 2]


def test_a_stale_or_doubled_write_stores_nothing(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'tradebot.db'}") as store:
        with store.session() as session:
            acct = PaperRepository(session).create(
                name="a", exchange="binance", symbol="BTC/USDT", timeframe="1h", strategy="rsi",
                params={}, config={}, initial_capital=100.0, history_start_ms=T0, last_bar_ms=T0 - 1,
                state=[100.0, 0.0], balances={"USDT": 100.0, "BTC": 0.0})
        order = OrderRow(0, T0, T0, T0, "buy", "market", "entry", 1.0, 10.0, 10.0, 0.01, 1, "filled", None)
        fill = FillRow(0, 0, T0, "buy", 1.0, 10.0, 0.01, False)
        first = LedgerUpdate((order,), (fill,), {"USDT": 90.0, "BTC": 1.0}, T0)
        with store.session() as session:
            PaperRepository(session).record_step(acct, last_bar_ms=T0, state=[90.0, 1.0], trades=[],
                                                 equity=[], ledger=first)
        # the same run again from the account as it was read before: refused
        with pytest.raises(UsageError, match="advanced by another run"):
            with store.session() as session:
                PaperRepository(session).record_step(acct, last_bar_ms=T0, state=[90.0, 1.0],
                                                     trades=[], equity=[], ledger=first)
        # a fill number used twice (a bug, or two writers): the unit of work is rolled back
        with store.session() as session:
            fresh = PaperRepository(session).get("a")
        assert fresh is not None
        again = LedgerUpdate((OrderRow(**{**order.__dict__, "seq": 1}),), (FillRow(0, 1, T0 + 1, "buy", 1.0,
                             10.0, 0.01, False),), {"USDT": 80.0, "BTC": 2.0}, T0 + 1)
        with pytest.raises(StoreError, match="UNIQUE"):
            with store.session() as session:
                PaperRepository(session).record_step(fresh, last_bar_ms=T0 + 1, state=[80.0, 2.0],
                                                     trades=[], equity=[], ledger=again)
        with store.session() as session:
            repo = PaperRepository(session)
            acct2 = repo.get("a")
            assert acct2 is not None and acct2.last_bar_ms == T0 and acct2.state == [90.0, 1.0]
            assert len(repo.orders(acct2.id)) == 1 and len(repo.fills(acct2.id)) == 1
            assert {b["asset"]: b["amount"] for b in repo.balances(acct2.id)} == {"USDT": 90.0, "BTC": 1.0}
