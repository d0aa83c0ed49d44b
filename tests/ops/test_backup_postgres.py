"""Backup and restore of a PostgreSQL store (pg_dump/pg_restore) against a real server."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.data.test_postgres import USER, pg_server, pg_url  # noqa: F401

pytestmark = pytest.mark.postgres
psycopg = pytest.importorskip("psycopg")
_more = itertools.count()


def _ctx(home: Path, url: str):  # type: ignore[no-untyped-def]
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context

    return Context(load_settings(overrides={"home": str(home), "database_url": url}, env={}))


def test_postgres_store_backs_up_and_restores(pg_server, pg_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services.backup import backup, restore
    from tradebot.services.paper import run_paper

    src = _ctx(tmp_path / "src", pg_url)
    try:
        run_paper(src, "pg1", source="sim", requested={"strategy": "rsi", "exchange": "sim"})
        result = backup(src.settings, tmp_path / "b")
        with src.store.session() as session:
            before = PaperRepository(session).get("pg1")
    finally:
        src.close()
    assert result.backend == "postgresql" and result.path.is_file()

    name = f"tradebot_restore_{os.getpid()}_{next(_more)}"
    admin = f"host=127.0.0.1 port={pg_server.port} user={USER} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        dest = _ctx(tmp_path / "dest", pg_server.url(name))
        try:
            restored = restore(dest.settings, result.path)
            assert restored.revision_after == result.revision
            with dest.store.session() as session:
                after = PaperRepository(session).get("pg1")
        finally:
            dest.close()
        assert after is not None and before is not None
        assert (after.last_bar_ms, after.state, after.trades_count) == (before.last_bar_ms, before.state,
                                                                         before.trades_count)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
