"""Opening the SQL store: engine, sessions, and Alembic migrations applied on open.

SQLite (the default, ``<home>/tradebot.db``) and PostgreSQL (``postgresql+psycopg://``)
are supported. Every failure to open, migrate or write is a :class:`StoreError` whose
one-line message names the database URL (password masked).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from tradebot.core.errors import ConfigError, StoreError

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "DatabaseURLError",
    "Store",
    "check_url",
    "current_revision",
    "database_url",
    "mask_url",
    "open_store",
    "upgrade",
]

#: The newest migration; a test checks it against the migration scripts. Comparing the
#: database's revision with this constant lets an up-to-date store open without loading
#: Alembic at all.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _newest_revision() -> str:
    """The highest ``NNNN`` among ``versions/NNNN_*.py``: migrations are numbered in order and
    each revises the one before (a test checks this against Alembic's own idea of the head)."""
    numbers = [
        p.name[:4]
        for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")
    ]
    return max(numbers)


HEAD_REVISION = _newest_revision()

_PG_MIGRATION_LOCK = 0x7472_6462  # pg_advisory_xact_lock key serialising migrations
_SQLITE_BUSY_TIMEOUT_S = 30.0
_PG_CONNECT_TIMEOUT_S = 10

T = TypeVar("T")


class DatabaseURLError(ConfigError, StoreError):
    """The database URL (``database_url``, TRADEBOT_DATABASE_URL) is not a usable URL: a
    configuration error (exit 2), and still a :class:`StoreError` for callers that catch it."""


def check_url(url: str) -> None:
    """Raise :class:`DatabaseURLError` unless ``url`` parses and names a known back end
    (nothing is opened or created)."""
    target = _parse(url)
    try:
        target.get_dialect()
    except ImportError as e:
        raise StoreError(f"the database driver for {mask_url(url)} is not installed: {_reason(e)}") from e
    except (ArgumentError, TypeError) as e:
        raise DatabaseURLError(_bad_url(url, e)) from e


def _bad_url(url: str, e: BaseException) -> str:
    return f"invalid database URL {mask_url(url)!r} (database_url, TRADEBOT_DATABASE_URL): {_reason(e)}"


def database_url(home: Path, url: str | None) -> str:
    """``url`` if given, else the SQLite file ``<home>/tradebot.db``."""
    if url:
        return url
    return f"sqlite:///{Path(home).expanduser() / 'tradebot.db'}"


def mask_url(url: str | URL) -> str:
    """``url`` with its password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


@dataclass
class Store:
    """An open database: the engine and the factory of its sessions."""

    url: str
    engine: Engine
    session_factory: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any error.

        Database errors are raised as :class:`StoreError`; other exceptions pass through.
        """
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException as e:
            try:
                session.rollback()
            except SQLAlchemyError:
                pass  # the connection is gone; the server discards the transaction
            if isinstance(e, SQLAlchemyError):
                raise StoreError(f"database error in {mask_url(self.url)}: {_reason(e)}") from e
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the database at ``url``, creating it and migrating it to the head revision.

    If the database is already at head this costs one query and Alembic is not loaded.
    With ``migrate=False`` an out-of-date database is an error instead.
    """
    engine = _engine(url)
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
    delay = 0.02
    while True:
        try:
            revision = _guard(url, "open", lambda: _read_revision(engine))
            if revision != HEAD_REVISION:
                if not migrate:
                    raise StoreError(
                        f"database {mask_url(url)} is at revision {revision or 'none'}, "
                        f"not {HEAD_REVISION}: run `tradebot db upgrade`"
                    )
                _guard(url, "migrate", lambda: _migrate(engine))
            break
        except StoreError as e:
            # Several processes creating one SQLite file at once: switching a new file to WAL
            # can answer "locked" at once, without the busy timeout; try again until it ends.
            if (engine.dialect.name == "sqlite" and "database is locked" in str(e)
                    and time.monotonic() + delay < deadline):
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            engine.dispose()
            raise
        except BaseException:
            engine.dispose()
            raise
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    return Store(url=url, engine=engine, session_factory=factory)


def upgrade(url: str) -> tuple[str | None, str]:
    """Migrate the database at ``url`` to head; returns ``(from_revision, to_revision)``."""
    engine = _engine(url)
    try:
        return _guard(url, "migrate", lambda: _migrate(engine))
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The Alembic revision of the database at ``url`` (None: empty or not created yet)."""
    file = _sqlite_file(_parse(url))
    if file is not None and not Path(file).exists():
        return None  # do not create it just to look
    engine = _engine(url)
    try:
        return _guard(url, "open", lambda: _read_revision(engine))
    finally:
        engine.dispose()


# -- engine ---------------------------------------------------------------------------


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as e:
        raise DatabaseURLError(_bad_url(url, e)) from e


def _sqlite_file(target: URL) -> str | None:
    """The file of an SQLite URL; None for other back ends and in-memory databases."""
    if target.get_backend_name() != "sqlite":
        return None
    db = target.database or ""
    if db in ("", ":memory:") or db.startswith("file:") or target.query.get("uri"):
        return None
    return db


def _prepare_sqlite_dir(url: str, file: str) -> None:
    parent = Path(file).resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = e.strerror or str(e)
        if isinstance(e, FileExistsError | NotADirectoryError):
            blocker = next((p for p in (parent, *parent.parents) if p.is_file()), None)
            reason = f"{blocker or parent} is not a directory"
        raise StoreError(
            f"cannot create directory {parent} for database {mask_url(url)}: {reason}"
        ) from e
    if not Path(file).exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot create database {mask_url(url)}: {parent} is not writable")


def _engine(url: str) -> Engine:
    target = _parse(url)
    backend = target.get_backend_name()
    kwargs: dict[str, Any] = {"json_serializer": _dumps}
    connect_args: dict[str, Any] = {}
    file = _sqlite_file(target)
    if file is not None:
        _prepare_sqlite_dir(url, file)
    if backend == "sqlite":
        connect_args["timeout"] = _SQLITE_BUSY_TIMEOUT_S
    elif backend == "postgresql":
        kwargs["pool_pre_ping"] = True
        if "connect_timeout" not in target.query:
            connect_args["connect_timeout"] = _PG_CONNECT_TIMEOUT_S
    try:
        engine = create_engine(target, connect_args=connect_args, **kwargs)
    except ImportError as e:
        raise StoreError(
            f"the database driver for {mask_url(url)} is not installed: {_reason(e)}"
        ) from e
    except (ArgumentError, TypeError) as e:
        raise DatabaseURLError(_bad_url(url, e)) from e
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 module (it skips it before DDL and SELECT), so
    # that every transaction, migrations included, is real; see _sqlite_on_begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _dumps(obj: Any) -> str:
    # NaN/inf are not JSON (PostgreSQL rejects them): fail loudly rather than store them.
    return json.dumps(obj, allow_nan=False, separators=(",", ":"))


# -- migrations -----------------------------------------------------------------------


def _read_revision(engine: Engine) -> str | None:
    """The stamped revision, with a single query; None if there is no version table."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError as e:
            if e.connection_invalidated:
                raise
            return None  # no alembic_version table: an empty database


def _migrate(engine: Engine) -> tuple[str | None, str]:
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:
            # Table rebuilds (batch mode) must not fire ON DELETE CASCADE; the pragma
            # only changes outside a transaction. Checked again before commit.
            _sqlite_pragma(conn, "PRAGMA foreign_keys=OFF")
            conn.execution_options(sqlite_begin="IMMEDIATE")  # take the write lock now
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                before = MigrationContext.configure(conn).get_current_revision()
                if before != HEAD_REVISION:
                    config = Config()
                    config.set_main_option(
                        "script_location", str(MIGRATIONS_DIR).replace("%", "%%")
                    )
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
                if sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise StoreError("migration left rows violating foreign keys; rolled back")
                after = MigrationContext.configure(conn).get_current_revision()
        finally:
            if sqlite:
                _sqlite_pragma(conn, "PRAGMA foreign_keys=ON")
    if after is None:
        raise StoreError("migration did not stamp a revision")
    return before, after


def _sqlite_pragma(conn: Connection, sql: str) -> None:
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


# -- errors ---------------------------------------------------------------------------


def _guard(url: str, action: str, fn: Callable[[], T]) -> T:
    """Run ``fn``, turning database, driver, OS and Alembic errors into StoreError."""
    try:
        return fn()
    except StoreError as e:
        if mask_url(url) in str(e):
            raise
        raise StoreError(f"cannot {action} database {mask_url(url)}: {e}") from e
    except (SQLAlchemyError, OSError, ImportError) as e:
        raise StoreError(f"cannot {action} database {mask_url(url)}: {_reason(e)}") from e
    except Exception as e:
        if type(e).__module__.startswith("alembic"):  # e.g. an unknown (newer) revision
            raise StoreError(f"cannot {action} database {mask_url(url)}: {_reason(e)}") from e
        raise


def _reason(e: BaseException) -> str:
    """The cause of ``e`` on one line, without SQLAlchemy's SQL echo and doc links."""
    cause: BaseException = e
    if isinstance(e, DBAPIError) and e.orig is not None:
        cause = e.orig
    message = str(cause)
    if cause is e and isinstance(e, SQLAlchemyError):
        message = message.split("\n[SQL:", 1)[0].split("\n(Background on", 1)[0]
    message = " ".join(message.split()) or type(cause).__name__
    return message if len(message) <= 300 else message[:297] + "..."
