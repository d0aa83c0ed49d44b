"""The SQL store on real SQLite files: migrations, repositories, transactions, errors."""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tradebot.core.errors import StoreError
from tradebot.data import db
from tradebot.data.db import (
    HEAD_REVISION,
    MIGRATIONS_DIR,
    current_revision,
    database_url,
    mask_url,
    open_store,
    upgrade,
)
from tradebot.data.repositories import DatasetInfo, DatasetRepository, RunRepository, jsonable
from tradebot.data.schema import Base

TABLES = {
    "alembic_version",
    "market_datasets",
    "strategies",
    "backtest_runs",
    "trades",
    "daily_performance",
    "bot_configs",
    "paper_accounts",
    "paper_trades",
    "paper_equity",
    "paper_balances",
    "paper_orders",
    "studies",
    "study_trials",
    "study_windows",
    "ml_models",
    "ml_decisions",
    "ml_model_forms",
    "paper_fills",
    "paper_positions",
    "paper_risk_events",
    "ops_errors",
    "ops_incidents",
    "ops_heartbeats",
    "api_tokens",
    "api_sessions",
    "api_audit",
    "api_bots",
    "api_jobs",
    "run_markets",
    "run_market_trades",
    "portfolio_accounts",
    "portfolio_account_trades",
    "portfolio_account_equity",
    "live_orders",
    "live_fills",
    "live_events",
    "live_switches",
    "live_baselines",
    "live_reconciliations",
    "agents",
    "agent_states",
    "selector_evaluations",
    "selector_paper_accounts",
    "selector_paper_windows",
}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'home' / 'tradebot.db'}"


def schema_diff(engine: sa.Engine, metadata: sa.MetaData = Base.metadata) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


# -- URLs and opening ------------------------------------------------------------------


def test_database_url_defaults_to_sqlite_in_home(tmp_path: Path) -> None:
    assert database_url(tmp_path, None) == f"sqlite:///{tmp_path}/tradebot.db"
    assert database_url(tmp_path, "postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_mask_url_hides_the_password() -> None:
    assert mask_url("postgresql+psycopg://bob:s3cret@db:5432/tb") == (
        "postgresql+psycopg://bob:***@db:5432/tb"
    )
    assert "s3cret" not in mask_url("bad url://bob:s3cret@x")


def test_open_creates_directory_and_migrates_to_head(url: str, tmp_path: Path) -> None:
    assert current_revision(url) is None
    assert not (tmp_path / "home").exists()  # asking does not create the database
    with open_store(url) as store:
        assert set(sa.inspect(store.engine).get_table_names()) == TABLES
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / "home" / "tradebot.db").is_file()
    assert current_revision(url) == HEAD_REVISION


def test_reopen_is_idempotent_and_skips_migrations(
    url: str, monkeypatch: pytest.MonkeyPatch, checks: SimpleNamespace
) -> None:
    with open_store(url) as store, store.session() as s:
        RunRepository(s).add(checks.sample_run())

    def no_migration(*args: object) -> None:
        raise AssertionError("an up-to-date database must not be migrated")

    monkeypatch.setattr(db, "_migrate", no_migration)
    with open_store(url) as store:
        assert checks.count_rows(store) == (1, 10, 3)


def test_open_at_head_does_not_load_alembic(url: str) -> None:
    open_store(url).close()
    code = (
        "import sys; from tradebot.data.db import open_store; "
        f"open_store({url!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_upgrade_reports_revisions(url: str) -> None:
    assert upgrade(url) == (None, HEAD_REVISION)
    assert upgrade(url) == (HEAD_REVISION, HEAD_REVISION)
    assert current_revision(url) == HEAD_REVISION


def test_open_without_migrate_refuses_an_old_database(url: str) -> None:
    with pytest.raises(StoreError, match="tradebot db upgrade"):
        open_store(url, migrate=False)


def test_head_revision_constant_matches_the_scripts() -> None:
    assert ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head() == HEAD_REVISION


def test_migrated_schema_matches_the_models(url: str) -> None:
    with open_store(url) as store:
        assert schema_diff(store.engine) == []
        # the comparison does see differences
        changed = sa.MetaData()
        for table in Base.metadata.sorted_tables:
            table.to_metadata(changed)
        changed.tables["trades"].c.pnl.type = sa.Integer()
        sa.Table("extra", changed, sa.Column("id", sa.Integer, primary_key=True))
        kinds = {
            d[0] if isinstance(d, tuple) else d[0][0] for d in schema_diff(store.engine, changed)
        }
        assert {"add_table", "modify_type"} <= kinds


def test_newer_database_is_a_clear_error(url: str) -> None:
    open_store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StoreError, match="9999") as info:
        open_store(url)
    assert url in str(info.value)


def test_concurrent_first_opens_migrate_once(url: str, checks: SimpleNamespace) -> None:
    checks.concurrent_open(url)


# -- errors ----------------------------------------------------------------------------


def test_directory_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    url = f"sqlite:///{blocker / 'sub' / 'x.db'}"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert str(blocker / "sub") in message and "\n" not in message
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(StoreError, match="afile"):
        upgrade(url)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_read_only_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(StoreError, match=str(ro)):
            open_store(f"sqlite:///{ro / 'x.db'}")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "invalid database URL"),
        ("nosuchdb://x/y", "invalid database URL"),
        ("postgresql+nosuchdriver://u:pw@127.0.0.1/db", "u:***@127.0.0.1"),
        ("postgresql+psycopg://bob:s3cret@127.0.0.1:9/tb", "bob:***@127.0.0.1:9/tb"),
    ],
)
def test_bad_urls_and_unreachable_servers(url: str, fragment: str) -> None:
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert fragment in message
    assert "s3cret" not in message and "pw@" not in message and "\n" not in message
    assert info.value.__cause__ is not None


def test_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not an sqlite database" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        open_store(f"sqlite:///{path}")


# -- repositories ----------------------------------------------------------------------


def test_round_trip_of_every_repository(url: str, checks: SimpleNamespace) -> None:
    with open_store(url) as store:
        checks.round_trip(store)
    with open_store(url) as store, store.session() as s:  # persisted
        assert [r.symbol for r in RunRepository(s).list()] == ["BTC/USDT", "ETH/USDT"]


def test_floats_round_trip_exactly(url: str, checks: SimpleNamespace) -> None:
    with open_store(url) as store:
        checks.float_exact(store)


def test_failed_unit_of_work_stores_nothing(url: str, checks: SimpleNamespace) -> None:
    with open_store(url) as store:
        with store.session() as s:
            RunRepository(s).add(checks.sample_run())
        checks.rollback(store)


def test_bulk_insert_of_thousands_of_trades(url: str, checks: SimpleNamespace) -> None:
    trades = [
        checks.sample_trade(i, direction=np.int8(1), units=np.float64(1.5)) for i in range(4000)
    ]
    with open_store(url) as store:
        with store.session() as s:
            run_id = RunRepository(s).add(checks.sample_run(trades=trades))
        with store.session() as s:
            got = RunRepository(s).trades(run_id)
    assert len(got) == 4000 and got[-1]["seq"] == 3999
    assert type(got[0]["direction"]) is int and type(got[0]["units"]) is float


def test_trade_rows_are_validated(url: str, checks: SimpleNamespace) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pnl": "1.5"}, "trade 0: pnl='1.5'"),
        ({"units": float("nan")}, "trade 0: units=nan"),
        ({"direction": 0}, "trade 0: direction=0"),
        ({"entry_ts_ms": 1.5}, "trade 0: entry_ts_ms=1.5"),
        ({"bogus": 1}, "trade 0: unknown field"),
    ]
    with open_store(url) as store:
        for override, message in cases:
            with pytest.raises(StoreError, match=message), store.session() as s:
                RunRepository(s).add(checks.sample_run(trades=[checks.sample_trade(0, **override)]))
        trade = checks.sample_trade(0, direction="short")
        del trade["seq"]
        with store.session() as s:
            run_id = RunRepository(s).add(checks.sample_run(trades=[trade]))
            assert RunRepository(s).trades(run_id)[0] | {"seq": 0, "direction": -1} == {
                **trade,
                "seq": 0,
                "direction": -1,
            }
        assert checks.count_rows(store) == (1, 1, 3)


def test_datetimes_are_utc_aware(url: str) -> None:
    base: dict[str, Any] = dict(
        exchange="x", symbol="A/B", timeframe="1m", start_ms=0, end_ms=60_000, rows=2, gaps=0,
        missing=0, path="p", sha256="s", source="fetch",
    )  # fmt: skip
    tokyo = dt.timezone(dt.timedelta(hours=9))
    with open_store(url) as store:
        with store.session() as s:
            got = DatasetRepository(s).upsert(
                DatasetInfo(**base, updated_at=dt.datetime(2024, 1, 1, 9, tzinfo=tokyo))
            )
        assert got.updated_at == dt.datetime(2024, 1, 1, 0, tzinfo=dt.UTC)
        assert got.updated_at is not None and got.updated_at.utcoffset() == dt.timedelta(0)
        with pytest.raises(StoreError, match="naive datetime"), store.session() as s:
            DatasetRepository(s).upsert(DatasetInfo(**base, updated_at=dt.datetime(2024, 1, 1)))


def test_jsonable() -> None:
    value = {
        "i": np.int64(3),
        "f": np.float32(0.5),
        "b": np.bool_(False),
        "arr": np.array([[1, 2], [3, 4]]),
        "nan": float("nan"),
        "inf": np.float64("-inf"),
        "t": (1, 2.5, None),
        "s": {"b", "a"},
        1: dt.date(2024, 1, 2),
        "when": dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC),
        "path": Path("/tmp/x"),
    }
    out = jsonable(value)
    assert out == {
        "i": 3,
        "f": 0.5,
        "b": False,
        "arr": [[1, 2], [3, 4]],
        "nan": None,
        "inf": None,
        "t": [1, 2.5, None],
        "s": ["a", "b"],
        "1": "2024-01-02",
        "when": "2024-01-02T03:04:00+00:00",
        "path": "/tmp/x",
    }
    assert type(out["i"]) is int and type(out["f"]) is float and type(out["b"]) is bool
    assert jsonable(math.inf) is None
    with pytest.raises(TypeError, match="object"):
        jsonable({"x": object()})


def test_first_open_waits_for_another_process_holding_the_new_file(tmp_path: Path) -> None:
    """Another process holds an exclusive lock on a brand-new SQLite file (as a concurrent
    first open does while it switches the file to WAL and migrates): opening waits for it
    instead of failing with "database is locked"."""
    import sqlite3
    import subprocess
    import sys

    db = tmp_path / "new.db"
    sqlite3.connect(db).close()  # an empty file in rollback-journal mode, as first created
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(1.5)\n"
         "c.execute('COMMIT')\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with open_store(f"sqlite:///{db}") as store:
            assert current_revision(store.url) == HEAD_REVISION
    finally:
        holder.wait(timeout=30)
