"""The SQL store against a real PostgreSQL server started for these tests.

The server is a throw-away cluster (initdb + pg_ctl) on a free port of 127.0.0.1, with
its socket in the cluster's temporary directory. As root, PostgreSQL runs as ``postgres``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from tradebot.core.errors import StoreError
from tradebot.data.db import HEAD_REVISION, current_revision, open_store, upgrade

psycopg = pytest.importorskip("psycopg", reason="psycopg (v3) is not installed")

pytestmark = pytest.mark.postgres

USER = "tradebot"


@dataclass(frozen=True)
class Server:
    port: int

    def url(self, database: str, password: str | None = None) -> str:
        auth = USER if password is None else f"{USER}:{password}"
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"


def _pg_bindir() -> Path | None:
    """The newest PostgreSQL bin directory with initdb and pg_ctl, if any."""

    def major(path: str) -> float:
        name = Path(path).parent.name
        return float(name) if name.replace(".", "", 1).isdigit() else 0.0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/"), key=major, reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    for directory in candidates:
        if (Path(directory) / "initdb").exists() and (Path(directory) / "pg_ctl").exists():
            return Path(directory)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runner() -> tuple[list[str], int | None, int | None]:
    """Command prefix running as a non-root user, and the uid/gid to own the cluster."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"], account.pw_uid, account.pw_gid
    if shutil.which("su"):
        return ["su", "postgres", "-c"], account.pw_uid, account.pw_gid
    pytest.skip("running as root and neither runuser nor su is available")


def _run(prefix: list[str], cmd: list[str]) -> subprocess.CompletedProcess[str]:
    full = [*prefix, shlex.join(cmd)] if prefix[:1] == ["su"] else [*prefix, *cmd]
    return subprocess.run(full, capture_output=True, text=True, timeout=120, cwd="/")


@pytest.fixture(scope="module")
def pg_server() -> Iterator[Server]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found")
    prefix, uid, gid = _runner()
    base = Path(tempfile.mkdtemp(prefix="tradebot-pg-"))
    data, log = base / "data", base / "server.log"
    if uid is not None and gid is not None:
        os.chown(base, uid, gid)
    started = False
    try:
        init = _run(
            prefix,
            [str(bindir / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8",
             "--no-locale", "--no-sync"],
        )  # fmt: skip
        if init.returncode != 0:
            pytest.fail(f"initdb failed: {init.stderr or init.stdout}")
        for _attempt in range(3):
            port = _free_port()
            options = (
                f"-h 127.0.0.1 -p {port} -k {base} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            start = _run(
                prefix,
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                 "-w", "-t", "60", "start"],
            )  # fmt: skip
            if start.returncode == 0:
                started = True
                break
        if not started:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"pg_ctl start failed: {start.stderr or start.stdout}\n{tail}")
        yield Server(port)
    finally:
        if started:
            _run(prefix, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


_names = itertools.count()


@pytest.fixture
def pg_url(pg_server: Server) -> Iterator[str]:
    """A new, empty database on the test server."""
    name = f"tradebot_test_{os.getpid()}_{next(_names)}"
    admin = f"host=127.0.0.1 port={pg_server.port} user={USER} dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_server.url(name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_from_empty_and_reopen(pg_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from tradebot.data.schema import Base

    assert current_revision(pg_url) is None
    assert upgrade(pg_url) == (None, HEAD_REVISION)
    assert upgrade(pg_url) == (HEAD_REVISION, HEAD_REVISION)
    with open_store(pg_url) as store, store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        types: dict[str, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT table_name || '.' || column_name, data_type "
                    "FROM information_schema.columns WHERE table_schema = 'public'"
                )
            ).all()
        )
    assert types["trades.pnl"] == "double precision"
    assert types["daily_performance.equity"] == "double precision"
    assert types["backtest_runs.created_at"] == "timestamp with time zone"
    assert types["trades.entry_ts_ms"] == "bigint"
    assert current_revision(pg_url) == HEAD_REVISION


def test_round_trip_of_every_repository(pg_url: str, checks: SimpleNamespace) -> None:
    with open_store(pg_url) as store:
        checks.round_trip(store)


def test_floats_round_trip_exactly(pg_url: str, checks: SimpleNamespace) -> None:
    with open_store(pg_url) as store:
        checks.float_exact(store)


def test_failed_unit_of_work_stores_nothing(pg_url: str, checks: SimpleNamespace) -> None:
    with open_store(pg_url) as store:
        checks.rollback(store)


def test_concurrent_first_opens_migrate_once(pg_url: str, checks: SimpleNamespace) -> None:
    checks.concurrent_open(pg_url)


def test_server_errors_mask_the_password(pg_server: Server) -> None:
    url = pg_server.url("no_such_database", password="s3cret")
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert "no_such_database" in message and f"{USER}:***@" in message
    assert "s3cret" not in message and "\n" not in message
