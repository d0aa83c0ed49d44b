"""Migration 0007 over a store written at 0006: its one-market run keeps reporting and re-runs
to the same numbers, and portfolio runs and accounts have their tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tradebot.core.config import load_settings
from tradebot.data.db import HEAD_REVISION, MIGRATIONS_DIR, current_revision
from tradebot.services.backtest import rerun, run_backtest, stored_report
from tradebot.services.context import Context
from tradebot.services.portfolio_runs import is_portfolio_run

TABLES = ("strategies", "backtest_runs", "trades", "daily_performance")


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


def _ctx(home: Path) -> Context:
    overrides = {"home": str(home), "market": {"exchange": "sim", "symbol": "BTC/USDT", "timeframe": "4h"},
                 "strategy": {"name": "macd"}, "backtest": {"since": "2024-01-01", "until": "2024-04-01"}}
    return Context(load_settings(env={}, overrides=overrides))


def test_a_one_market_run_stored_at_0006_reports_and_reruns_the_same_after_0007(tmp_path: Path) -> None:
    new_home, old_home = tmp_path / "new", tmp_path / "old"
    ctx = _ctx(new_home)
    try:
        made = run_backtest(ctx, save=True)
        assert made.metrics.trades > 0
        expected = stored_report(ctx, made.run_id or 0, include_trades=True)
    finally:
        ctx.close()
    # the same rows in a store at revision 0006 (before portfolios)
    old_home.mkdir()
    url = f"sqlite:///{old_home / 'tradebot.db'}"
    migrate_to(url, "0006")
    assert current_revision(url) == "0006"
    src = sqlite3.connect(new_home / "tradebot.db")
    dst = sqlite3.connect(old_home / "tradebot.db")
    for table in TABLES:
        rows = src.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
        assert rows or table == "trades"
        if rows:
            dst.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)  # noqa: S608
    dst.commit()
    src.close()
    dst.close()
    assert "run_markets" not in sa.inspect(sa.create_engine(url)).get_table_names()

    ctx = _ctx(old_home)
    try:
        run_id = made.run_id or 0
        assert not is_portfolio_run(ctx, run_id)  # opening migrated the store to head
        assert current_revision(url) == HEAD_REVISION
        names = set(sa.inspect(ctx.store.engine).get_table_names())
        assert {"run_markets", "run_market_trades", "portfolio_accounts", "portfolio_account_trades",
                "portfolio_account_equity"} <= names
        got = stored_report(ctx, run_id, include_trades=True)
        assert got["summary"] == expected["summary"] and got["trades"] == expected["trades"]
        again = rerun(ctx, run_id)
        assert again.differences == []
        assert again.outcome.metrics.final_equity == made.metrics.final_equity
        assert (again.outcome.result.equity == made.result.equity).all()
    finally:
        ctx.close()
