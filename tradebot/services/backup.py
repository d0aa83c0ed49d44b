"""``tradebot db backup`` and ``tradebot db restore``: one verified archive of a home.

An archive (``tradebot-backup-<UTC time>.tar.gz``) holds::

    MANIFEST.json        format, time, code version, store back end and revision, and the
                         sha256 and size of every other member
    store/tradebot.db    SQLite: a consistent copy made with SQLite's online backup API
                         (paper runs may write meanwhile; the copy is one instant)
    store/pg_dump.custom PostgreSQL: ``pg_dump --format=custom`` (one snapshot)
    models/...           the model artifacts under $TRADEBOT_HOME/models
    config/config.toml   the config file with every secret removed (keys and values)

Restore verifies every member against the manifest before touching anything; a truncated,
bit-flipped or tampered archive is refused with one line (exit 2) and nothing changes.
It restores into an empty home (``--force``: after backing up the current one) and migrates
an archive from an older release to the current schema.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import StoreError, UsageError

if TYPE_CHECKING:
    from tradebot.core.config import Settings

__all__ = ["ARCHIVE_PATTERN", "BackupResult", "CorruptArchive", "RestoreResult", "backup", "restore",
           "verify_archive"]

FORMAT = 1
ARCHIVE_PREFIX = "tradebot-backup-"
ARCHIVE_PATTERN = re.compile(r"^tradebot-backup-\d{8}T\d{6}(\d{6})?Z\.tar\.gz$")
_SECRET_KEYS = re.compile(r"^\s*(api_key|secret|password|url|database_url|token|api_token)\s*=", re.I)
_CHUNK = 1 << 20


class CorruptArchive(UsageError):
    """The archive is truncated, altered or not a tradebot backup (exit 2)."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    backend: str
    revision: str | None
    files: int
    removed: tuple[Path, ...]


@dataclass(frozen=True)
class RestoreResult:
    archive: Path
    home: Path
    revision_before: str | None
    revision_after: str
    files: int
    previous_backup: Path | None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _url_and_kind(settings: Settings) -> tuple[str, str]:
    from tradebot.data.db import database_url

    url = database_url(Path(settings.home), settings.database_url)
    return url, ("sqlite" if url.startswith("sqlite") else "postgresql" if url.startswith("postgres") else "other")


def _sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database:
        raise UsageError(f"cannot back up the in-memory database {url}")
    return Path(database)


def _pg_conninfo(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments and environment (password in PGPASSWORD, never on the command line)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    args = [f"--dbname={u.database}"]
    if u.host:
        args.append(f"--host={u.host}")
    if u.port:
        args.append(f"--port={u.port}")
    if u.username:
        args.append(f"--username={u.username}")
    return args, env


def _revision_sqlite(db: Path) -> str | None:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]  # type: ignore[no-any-return]
    except sqlite3.Error:
        return None
    finally:
        con.close()


def redact_config(text: str, secrets: set[str]) -> str:
    """A config file's text with every secret removed: lines setting a secret key are
    commented out, and any secret value still present (inline tables) is replaced."""
    lines = []
    for line in text.splitlines():
        if _SECRET_KEYS.match(line):
            key = line.split("=", 1)[0].strip()
            lines.append(f"# {key} = (removed by tradebot db backup; set it again)")
        else:
            lines.append(line)
    out = "\n".join(lines) + "\n"
    for secret in sorted(secrets, key=len, reverse=True):
        out = out.replace(secret, "REMOVED")
    return out


# --------------------------------------------------------------------------- backup


def _default_dir(settings: Settings) -> Path:
    return Path(settings.home) / "backups"


def _target(settings: Settings, file: Path | None, now: dt.datetime) -> Path:
    name = f"{ARCHIVE_PREFIX}{now.strftime('%Y%m%dT%H%M%S%fZ')}.tar.gz"
    if file is None:
        return _default_dir(settings) / name
    file = Path(file).expanduser()
    if file.name.endswith((".tar.gz", ".tgz")) and not file.is_dir():
        return file
    return file / name  # a folder (created if needed)


def backup(settings: Settings, file: Path | None = None, *, keep: int | None = None,
           now: dt.datetime | None = None) -> BackupResult:
    """Write one archive of the store, the model artifacts and the redacted config.

    ``keep``: afterwards keep only the newest ``keep`` tradebot archives in the target's folder.
    """
    from tradebot.core.atomic import atomic_path
    from tradebot.core.logging_setup import settings_secrets

    if keep is not None and keep < 1:
        raise UsageError(f"invalid --keep {keep}: expected 1 or more")
    now = now or dt.datetime.now(dt.UTC)
    home = Path(settings.home)
    url, kind = _url_and_kind(settings)
    target = _target(settings, file, now)
    with tempfile.TemporaryDirectory(prefix="tradebot-backup-") as tmp:
        staging = Path(tmp)
        members: list[tuple[str, Path]] = []
        if kind == "sqlite":
            db = _sqlite_path(url)
            if not db.is_file():
                raise UsageError(f"nothing to back up: the store {db} does not exist")
            copy = staging / "tradebot.db"
            src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
            dst = sqlite3.connect(copy)
            try:
                src.backup(dst)  # one consistent snapshot, even while others write
            except sqlite3.Error as e:
                raise StoreError(f"backup of {db} failed: {e}") from e
            finally:
                dst.close()
                src.close()
            revision = _revision_sqlite(copy)
            members.append(("store/tradebot.db", copy))
        elif kind == "postgresql":
            dump = staging / "pg_dump.custom"
            args, env = _pg_conninfo(url)
            _run_tool(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", *args], env)
            from tradebot.data.db import current_revision

            revision = current_revision(url)
            members.append(("store/pg_dump.custom", dump))
        else:
            raise UsageError(f"db backup supports SQLite and PostgreSQL, not {url.split(':', 1)[0]}")
        models = home / "models"
        if models.is_dir():
            for path in sorted(p for p in models.rglob("*") if p.is_file()):
                members.append((f"models/{path.relative_to(models).as_posix()}", path))
        config_files = [p for p in getattr(settings, "_source_files", ()) if Path(p).is_file()]
        config = Path(config_files[-1]) if config_files else home / "config.toml"
        if config.is_file():
            red = staging / "config.toml"
            red.write_text(redact_config(config.read_text(), settings_secrets(settings)))
            members.append(("config/config.toml", red))
        manifest = {
            "format": FORMAT, "created_at": now.isoformat(), "backend": kind, "revision": revision,
            "code_version": _code_version(),
            "files": {name: {"sha256": _sha256_file(p), "size": p.stat().st_size} for name, p in members},
        }
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot write {target}: {e.strerror or e}") from e
        with atomic_path(target) as tmp_target:
            with tarfile.open(tmp_target, "w:gz", compresslevel=6) as tar:
                data = json.dumps(manifest, indent=2, sort_keys=True).encode()
                info = tarfile.TarInfo("MANIFEST.json")
                info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
                tar.addfile(info, io.BytesIO(data))
                for name, path in members:
                    tar.add(path, arcname=name, recursive=False, filter=_private)
        os.chmod(target, 0o600)
    removed = _rotate(target.parent, keep, target) if keep else ()
    return BackupResult(target, target.stat().st_size, kind, revision, len(members), removed)


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def _code_version() -> str:
    try:
        from tradebot.services.provenance import code_version

        return code_version()
    except Exception:
        return "unknown"


def _rotate(folder: Path, keep: int, current: Path) -> tuple[Path, ...]:
    archives = sorted(p for p in folder.iterdir() if ARCHIVE_PATTERN.match(p.name))
    old = [p for p in archives if p != current][: max(len(archives) - keep, 0)]
    for path in old:
        path.unlink()
    return tuple(old)


def _run_tool(cmd: list[str], env: dict[str, str]) -> None:
    if shutil.which(cmd[0]) is None:
        raise StoreError(f"{cmd[0]} not found: install the PostgreSQL client tools to back up or restore "
                         "a PostgreSQL store")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise StoreError(f"{cmd[0]} failed: {last}")


# --------------------------------------------------------------------------- verify


@contextlib.contextmanager
def verify_archive(archive: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """Extract ``archive`` into a temporary folder and check it against its manifest.

    Yields ``(manifest, folder)``; raises :class:`CorruptArchive` (one line) on any defect."""
    archive = Path(archive).expanduser()
    if not archive.is_file():
        raise UsageError(f"backup archive {archive} does not exist")
    with tempfile.TemporaryDirectory(prefix="tradebot-restore-") as tmp:
        folder = Path(tmp)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(folder, filter="data")
        except (tarfile.TarError, OSError, EOFError, ValueError) as e:
            raise CorruptArchive(f"{archive}: not a complete tradebot backup ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else 'unreadable'}); nothing was changed") from e
        try:
            manifest = json.loads((folder / "MANIFEST.json").read_text())
            files = manifest["files"]
            assert manifest["format"] == FORMAT and isinstance(files, dict)
        except Exception as e:
            raise CorruptArchive(f"{archive}: missing or unreadable MANIFEST.json; nothing was changed") from e
        present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"MANIFEST.json"}
        if present != set(files):
            extra = sorted(present ^ set(files))[:3]
            raise CorruptArchive(f"{archive}: members differ from the manifest ({', '.join(extra)}); "
                                 "nothing was changed")
        for name, meta in files.items():
            path = folder / name
            if path.stat().st_size != meta["size"] or _sha256_file(path) != meta["sha256"]:
                raise CorruptArchive(f"{archive}: {name} does not match its sha256 in the manifest; "
                                     "nothing was changed")
        yield manifest, folder


# --------------------------------------------------------------------------- restore


def _home_in_use(settings: Settings) -> list[str]:
    """What makes the target non-empty (store with tables, model files)."""
    home = Path(settings.home)
    url, kind = _url_and_kind(settings)
    used: list[str] = []
    if kind == "sqlite":
        db = _sqlite_path(url)
        if db.is_file() and db.stat().st_size > 0:
            used.append(str(db))
    else:
        from tradebot.data.db import current_revision

        if current_revision(url) is not None:
            from tradebot.data.db import mask_url

            used.append(mask_url(url))
    models = home / "models"
    if models.is_dir() and any(models.rglob("*")):
        used.append(str(models))
    return used


def restore(settings: Settings, archive: Path, *, force: bool = False,
            now: dt.datetime | None = None) -> RestoreResult:
    """Verify ``archive``, then restore it into the configured home/store and migrate it."""
    from tradebot.data.db import HEAD_REVISION, open_store

    home = Path(settings.home)
    url, kind = _url_and_kind(settings)
    with verify_archive(archive) as (manifest, folder):
        if manifest["backend"] != kind:
            raise UsageError(f"{archive} holds a {manifest['backend']} store; the configured store is {kind}")
        if manifest.get("revision") and manifest["revision"] > HEAD_REVISION:
            raise UsageError(f"{archive} is from a newer tradebot (schema {manifest['revision']} > "
                             f"{HEAD_REVISION}); upgrade tradebot first")
        used = _home_in_use(settings)
        previous = None
        if used and not force:
            raise UsageError(f"the target is not empty ({', '.join(used)}); restore into an empty home or "
                             "use --force (the current data is backed up first)")
        if used:
            (home / "backups" / "pre-restore").mkdir(parents=True, exist_ok=True)
            previous = backup(settings, home / "backups" / "pre-restore",
                              now=now or dt.datetime.now(dt.UTC)).path
        home.mkdir(parents=True, exist_ok=True)
        if kind == "sqlite":
            db = _sqlite_path(url)
            db.parent.mkdir(parents=True, exist_ok=True)
            staged = db.with_name(db.name + ".restoring")
            shutil.copyfile(folder / "store" / "tradebot.db", staged)
            for suffix in ("-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            os.replace(staged, db)
        else:
            args, env = _pg_conninfo(url)
            _run_tool(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", *args,
                       str(folder / "store" / "pg_dump.custom")], env)
        models_src = folder / "models"
        if models_src.is_dir():
            models = home / "models"
            if models.exists():
                shutil.rmtree(models)
            shutil.copytree(models_src, models)
        config_src = folder / "config" / "config.toml"
        if config_src.is_file():
            dest = home / "config.toml"
            shutil.copyfile(config_src, dest if not dest.exists() else home / "config.restored.toml")
        open_store(url).close()  # migrates an archive from an older release to head
        return RestoreResult(Path(archive), home, manifest.get("revision"), HEAD_REVISION,
                             len(manifest["files"]), previous)
