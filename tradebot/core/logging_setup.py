"""One logging setup for every command and the server.

* stderr: human-readable at ``--log-level`` (default WARNING, printed as the bare message,
  exactly as Python prints an unconfigured warning, so existing output does not change);
  JSON lines with ``--log-json``.
* a rotating file ``$TRADEBOT_HOME/logs/tradebot.log`` (``[logging]``: level, json_lines,
  max_bytes, backups); opened on the first record and only when the home already exists,
  so a command never creates a home just to log.
* every line carries the context bound with :func:`bind` / :func:`set_context`: the
  command's ``run`` id (one per invocation) and, when known, the ``account``.
* every formatted line (message and traceback) is scrubbed of every secret the config can
  hold (:func:`settings_secrets`) and of secret-looking ``TRADEBOT_*`` environment values.
* third-party loggers (ccxt, urllib3, apprise, optuna, uvicorn) propagate here at
  sensible levels.

:func:`setup_logging` may be called again (e.g. once settings are loaded): it replaces the
handlers it installed before and keeps anyone else's (pytest's, for instance).
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import sys
import uuid
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from tradebot.core.config import Settings
    from tradebot.core.ops_config import LoggingConfig

__all__ = [
    "LEVELS",
    "QUIET",
    "LOG_FILE_NAME",
    "MASK",
    "bind",
    "current_context",
    "log_dir",
    "new_run_id",
    "register_secrets",
    "set_context",
    "settings_secrets",
    "setup_logging",
    "url_secrets",
]

LOG_FILE_NAME = "tradebot.log"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MASK = "***"
#: third-party loggers and the level they log at (records below it are dropped)
THIRD_PARTY_LEVELS = {
    "ccxt": logging.WARNING,
    "urllib3": logging.WARNING,
    "apprise": logging.WARNING,
    "optuna": logging.WARNING,
    "numba": logging.WARNING,
    "asyncio": logging.WARNING,
    "uvicorn": logging.INFO,
    "uvicorn.error": logging.INFO,
    "uvicorn.access": logging.WARNING,
    "alembic": logging.WARNING,
    "sqlalchemy": logging.WARNING,
    "distributed": logging.WARNING,
}
_SECRET_ENV_HINTS = ("KEY", "SECRET", "PASSWORD", "TOKEN", "URL", "PASS")
_MIN_SECRET = 4

_CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("tradebot_log_context", default=None)
_SECRETS: set[str] = set()
_INSTALLED: list[logging.Handler] = []
_STARTED: list[float] = []  # monotonic time the command (or the last reported step) started


# --------------------------------------------------------------------------- context


def new_run_id() -> str:
    """A short random id naming one command invocation in the logs."""
    return uuid.uuid4().hex[:12]


def mark_step_start() -> None:
    """Remember now as the start of the current step (a command, or one loop iteration)."""
    import time

    _STARTED[:] = [time.monotonic()]


def step_seconds() -> float | None:
    """Seconds since :func:`mark_step_start` (None if never marked)."""
    import time

    return time.monotonic() - _STARTED[0] if _STARTED else None


def current_context() -> dict[str, str]:
    return dict(_CONTEXT.get() or {})


def set_context(**values: object) -> None:
    """Add ``values`` (None removes a key) to the context every log line carries."""
    ctx = current_context()
    for key, value in values.items():
        if value is None:
            ctx.pop(key, None)
        else:
            ctx[key] = str(value)
    _CONTEXT.set(ctx)


@contextlib.contextmanager
def bind(**values: object) -> Iterator[None]:
    """``with bind(account="a1"):`` every line logged inside carries ``account=a1``."""
    token = _CONTEXT.set(current_context())
    set_context(**values)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current_context()
        record.tb_context = ctx
        record.tb_ctx = " ".join(f"{k}={v}" for k, v in sorted(ctx.items()))
        return True


# --------------------------------------------------------------------------- secrets


def _host_like(host: str) -> bool:
    if host in ("localhost", "") or host.replace(".", "").isdigit() or ":" in host:
        return True
    labels = host.split(".")
    return len(labels) >= 2 and labels[-1].isalpha() and all(labels)


def url_secrets(url: str) -> set[str]:
    """Parts of a URL that may be secret: the whole URL, user info, password, query values,
    long path segments (tokens) and a token sitting where the host goes."""
    found = {url}
    try:
        parts = urlsplit(url)
        if parts.password:
            found.add(parts.password)
        if "@" in parts.netloc:
            found.add(parts.netloc.rpartition("@")[0])
            if parts.username and len(parts.username) >= 8:
                found.add(parts.username)
        if parts.hostname and not _host_like(parts.hostname):
            found.add(parts.hostname)
        found.update(seg for seg in parts.path.split("/") if len(seg) >= 8)
        found.update(v for _, v in parse_qsl(parts.query) if len(v) >= _MIN_SECRET)
    except ValueError:
        pass
    found |= {unquote(s) for s in found}
    return {s for s in found if len(s) >= _MIN_SECRET}


def settings_secrets(settings: Settings) -> set[str]:
    """Every secret ``settings`` holds: SecretStr fields (exchange keys, notification URLs),
    the database password, and the credentials inside notification URLs."""
    from pydantic import BaseModel, SecretStr

    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            found.add(text)
            if "://" in text:
                found.update(url_secrets(text))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(settings)
    if settings.database_url:
        try:
            password = urlsplit(settings.database_url).password
        except ValueError:
            password = None
        if password:
            found.update({password, unquote(password)})
    return {s for s in found if len(s) >= _MIN_SECRET}


def env_secrets(environ: dict[str, str] | os._Environ[str] | None = None) -> set[str]:
    """Values of ``TRADEBOT_*`` variables whose names say they hold a secret."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name, value in env.items():
        upper = name.upper()
        if upper.startswith("TRADEBOT_") and value and any(h in upper for h in _SECRET_ENV_HINTS):
            if "DATABASE_URL" in upper and "://" in value:  # only the password (host, user, db name stay)
                try:
                    password = urlsplit(value).password
                except ValueError:
                    password = None
                found.update({password, unquote(password)} if password else set())
            elif upper.endswith("_URL") and "://" in value:
                found.update(url_secrets(value) - {value} | ({value} if "@" in value else set()))
            else:
                found.add(value)
    return {s for s in found if len(s) >= _MIN_SECRET}


def register_secrets(secrets: Iterable[str]) -> None:
    """Add strings every log line is scrubbed of (kept for the process's lifetime)."""
    _SECRETS.update(s for s in secrets if s and len(s) >= _MIN_SECRET)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


# --------------------------------------------------------------------------- formatting


class _NotOnBareStderr(logging.Filter):
    """Drops records logged with ``extra=QUIET`` (the command prints its own one-line error),
    and records whose exception is a Ctrl-C: a library that logs what it caught while the
    interrupt went through (SQLAlchemy's pool: "Exception closing connection" with a
    traceback) would print it before the command's one ``interrupted:`` line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            return False
        return getattr(record, "tb_stderr", True)


#: ``log.error(..., extra=QUIET)``: to the log file, not to the default (bare) stderr
QUIET = {"tb_stderr": False}


class _HumanFormatter(logging.Formatter):
    def __init__(self, bare: bool):
        super().__init__()
        self.bare = bare

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if not self.bare:
            ctx = getattr(record, "tb_ctx", "")
            stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            text = f"{stamp} {record.levelname:<7} {record.name}: {text}" + (f" [{ctx}]" if ctx else "")
        return scrub(text)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **getattr(record, "tb_context", {}),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(data, default=str))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _HomeFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file under ``home/logs`` opened on the first record, only if ``home`` exists."""

    def __init__(self, home: Path, max_bytes: int, backups: int):
        self.home = home
        super().__init__(home / "logs" / LOG_FILE_NAME, maxBytes=max_bytes, backupCount=backups,
                         encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is None:  # type: ignore[has-type]
            if not self.home.is_dir():
                return
            try:
                (self.home / "logs").mkdir(exist_ok=True)
            except OSError:
                return
        super().emit(record)


def log_dir(home: Path) -> Path:
    return Path(home) / "logs"


# --------------------------------------------------------------------------- setup


def setup_logging(*, level: str | None = None, json_lines: bool | None = None,
                  home: Path | None = None, config: LoggingConfig | None = None,
                  settings: Settings | None = None) -> None:
    """Install (or replace) tradebot's handlers on the root logger.

    ``level``: stderr's level (None: WARNING, bare messages). ``json_lines``: JSON on stderr
    and in the file (None: the config's choice). ``settings``: home, ``[logging]`` and the
    secrets to scrub; without it ``home``/``config`` or ``$TRADEBOT_HOME`` are used.
    """
    if settings is not None:
        home = Path(settings.home)
        config = settings.logging
        register_secrets(settings_secrets(settings))
    register_secrets(env_secrets())
    if config is None:
        from tradebot.core.ops_config import LoggingConfig

        config = LoggingConfig.model_validate({})
    if home is None:
        env_home = os.environ.get("TRADEBOT_HOME", "").strip()
        home = Path(env_home).expanduser() if env_home else Path("~/.tradebot").expanduser()
    use_json = config.json_lines if json_lines is None else json_lines
    root = logging.getLogger()
    for handler in _INSTALLED:
        root.removeHandler(handler)
        handler.close()
    _INSTALLED.clear()

    context_filter = _ContextFilter()
    err = _StderrHandler()
    err.setLevel(level.upper() if level else logging.WARNING)
    err.setFormatter(_JsonFormatter() if json_lines else _HumanFormatter(bare=level is None))
    err.addFilter(context_filter)
    if level is None:
        err.addFilter(_NotOnBareStderr())
    _INSTALLED.append(err)
    if config.file:
        file = _HomeFileHandler(home, config.max_bytes, config.backups)
        file.setLevel(config.level)
        file.setFormatter(_JsonFormatter() if use_json else _HumanFormatter(bare=False))
        file.addFilter(context_filter)
        _INSTALLED.append(file)
    for handler in _INSTALLED:
        root.addHandler(handler)
    root.setLevel(min(h.level for h in _INSTALLED))
    for name, lib_level in THIRD_PARTY_LEVELS.items():
        lib = logging.getLogger(name)
        lib.setLevel(max(lib_level, root.level) if name.startswith("uvicorn") else lib_level)
        lib.propagate = True
        if name == "optuna" and "optuna" in sys.modules:  # optuna prints on its own handler
            for h in list(lib.handlers):
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                    lib.removeHandler(h)
    if not current_context().get("run"):
        set_context(run=new_run_id())
    if not _STARTED:
        mark_step_start()
