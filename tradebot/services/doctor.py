"""``tradebot doctor``: one line per check with a verdict (ok, warn, fail, skip).

Checks: config valid; store reachable and at the latest migration; cache files readable;
free disk space under the home; clock skew against the configured exchange (skipped
offline); TA-Lib and compiled kernels; notification channels (a test message with
``send_test``); each paper account's last successful run. ``quick`` (the container's
HEALTHCHECK) runs only config, store and disk. Any ``fail`` makes the command exit 1.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tradebot.core.config import Settings

__all__ = ["Check", "run_checks"]

Verdict = Literal["ok", "warn", "fail", "skip"]
#: clock skew beyond this fails (exchanges reject signed requests at ~1 s)
MAX_SKEW_MS = 1000


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _guard(name: str, fn: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        out = fn()
    except Exception as e:  # a check that breaks is a failed check, named
        return [Check(name, "fail", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")]
    return out if isinstance(out, list) else [out]


def run_checks(config: Path | None = None, *, quick: bool = False, offline: bool = False,
               send_test: bool = False, environ: dict[str, str] | None = None) -> list[Check]:
    """Every check, in order; never raises."""
    from tradebot.core.config import load_settings

    checks: list[Check] = []
    try:
        settings = load_settings(config, env=environ) if environ is not None else load_settings(config)
    except Exception as e:
        return [Check("config", "fail", str(e))]
    files = [str(p) for p in getattr(settings, "_source_files", ())]
    checks.append(Check("config", "ok", f"valid ({', '.join(files) or 'defaults and environment'})"))
    store_ok = _guard("store", lambda: _store(settings))
    checks += store_ok
    checks += _guard("disk", lambda: _disk(settings))
    if quick:
        return checks
    checks += _guard("cache", lambda: _cache(settings))
    checks += _guard("clock", lambda: _clock(settings, offline))
    checks += _guard("ta-lib", _talib)
    checks += _guard("kernels", _kernels)
    checks += _guard("notify", lambda: _notify(settings, send_test))
    if store_ok[0].verdict == "ok":
        checks += _guard("accounts", lambda: _accounts(settings))
    return checks


def _sqlite_file(settings: Settings) -> Path | None:
    """The SQLite store's file (None for a server database)."""
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        return None
    if not settings.database_url:
        return Path(settings.home).expanduser() / "tradebot.db"
    url = settings.database_url
    return Path(url.split(":///", 1)[1]) if ":///" in url else None


def _sqlite_query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read-only query of an SQLite store without loading SQLAlchemy (doctor stays fast)."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _head() -> str:
    """The newest migration's number, as tradebot.data.db computes it (without SQLAlchemy)."""
    folder = Path(__file__).resolve().parents[1] / "data" / "migrations" / "versions"
    return max(p.name[:4] for p in folder.glob("[0-9][0-9][0-9][0-9]_*.py"))


def _store(settings: Settings) -> Check:
    db = _sqlite_file(settings)
    head = _head()
    if db is not None:
        if not db.exists():
            return Check("store", "ok", f"{db} not created yet (the first command creates it)")
        try:
            rows = _sqlite_query(db, "SELECT version_num FROM alembic_version")
            revision = rows[0][0] if rows else None
        except Exception as e:
            if "no such table" in str(e):
                revision = None
            else:
                return Check("store", "fail", f"{db} unreadable: {str(e).splitlines()[0]}")
        where = str(db)
    else:
        from tradebot.data.db import current_revision, mask_url

        where = mask_url(settings.database_url or "")
        try:
            revision = current_revision(settings.database_url or "")
        except Exception as e:
            return Check("store", "fail", f"{where} unreachable: {str(e).splitlines()[0]}")
    if revision != head:
        return Check("store", "fail", f"{where} at migration {revision or 'none'}, latest is {head}: "
                                      "run `tradebot db upgrade`")
    return Check("store", "ok", f"{where} reachable, at the latest migration {head}")


def _disk(settings: Settings) -> Check:
    home = Path(settings.home)
    probe = home if home.exists() else next((p for p in home.parents if p.exists()), Path("/"))
    free_mb = shutil.disk_usage(probe).free / 1e6
    floor = settings.ops.min_free_mb
    verdict: Verdict = "ok" if free_mb >= floor else "fail"
    return Check("disk", verdict, f"{free_mb:,.0f} MB free under {probe} (minimum {floor} MB)")


def _cache(settings: Settings) -> Check:
    root = Path(settings.home) / "data"
    if not any(root.glob("*/*.parquet")):
        return Check("cache", "ok", "no candle files")
    from tradebot.data.cache import CandleCache

    entries = CandleCache(root).scan()
    bad = [e for e in entries if e.error]
    if bad:
        return Check("cache", "fail", "; ".join(f"{e.path}: {e.error}" for e in bad[:5])
                     + (f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""))
    return Check("cache", "ok", f"{len(entries)} candle file(s) readable")


def _clock(settings: Settings, offline: bool) -> Check:
    exchange = settings.market.exchange
    if offline:
        return Check("clock", "skip", "offline (--offline)")
    if exchange == "sim":
        return Check("clock", "skip", "the sim exchange has no clock")
    from tradebot.exchanges.factory import exchange_from_settings
    from tradebot.exchanges.retry import RetryPolicy

    ex = exchange_from_settings(settings, exchange, retry=RetryPolicy(max_attempts=1), timeout_ms=5000)
    try:
        before = time.time() * 1000
        server = ex.server_time_ms()
        after = time.time() * 1000
    except Exception as e:
        return Check("clock", "skip", f"{exchange} unreachable ({type(e).__name__}); skew not measured")
    finally:
        close = getattr(ex, "close", None)
        if callable(close):
            close()
    skew = server - (before + after) / 2
    verdict: Verdict = "ok" if abs(skew) <= MAX_SKEW_MS else "fail"
    return Check("clock", verdict, f"{skew:+.0f} ms against {exchange} (limit ±{MAX_SKEW_MS} ms)")


def _talib() -> Check:
    from tradebot.indicators._backend import talib_module

    talib = talib_module()
    if talib is None:
        return Check("ta-lib", "warn", "TA-Lib not importable: indicators use the numba fallback")
    return Check("ta-lib", "ok", f"TA-Lib {getattr(talib, '__version__', '?')}")


def _kernels() -> Check:
    from tradebot._jit import cache_dir

    folder = cache_dir()
    count = len(list(folder.rglob("*.nbi"))) if folder.is_dir() else 0
    if count == 0:
        return Check("kernels", "warn", f"no compiled kernels in {folder}: the first run compiles them")
    return Check("kernels", "ok", f"{count} compiled kernel index(es) in {folder}")


def _notify(settings: Settings, send_test: bool) -> list[Check]:
    channels = settings.notify.channels
    if not channels:
        return [Check("notify", "skip", "no [notify] channels configured")]
    from tradebot.notify.apprise_notifier import AppriseNotifier

    notifier = AppriseNotifier(settings.notify)
    out: list[Check] = []
    for name, error in notifier.config_errors.items():
        out.append(Check(f"notify {name}", "fail", error))
    for name, ch in notifier.channels.items():
        if ch.error:
            continue
        if not send_test:
            out.append(Check(f"notify {name}", "ok", f"{ch.masked} configured (--send-test sends a message)"))
            continue
        result = notifier.deliver(name, "tradebot doctor", "Test message from `tradebot doctor --send-test`.")
        reason = f" ({result.reason})" if result.reason else ""
        out.append(Check(f"notify {name}", "ok" if result.status == "sent" else "fail",
                         f"{ch.masked}: test message {result.status}{reason}"))
    return out


def _accounts(settings: Settings) -> list[Check]:
    from tradebot.core.timeframes import timeframe_ms

    db = _sqlite_file(settings)
    acct_sql = "SELECT name, timeframe FROM paper_accounts ORDER BY name"
    beat_sql = "SELECT name, last_ok_at, failures FROM ops_heartbeats"
    if db is not None:
        if not db.exists():
            return []
        accounts, beat_rows = _sqlite_query(db, acct_sql), _sqlite_query(db, beat_sql)
    else:
        from sqlalchemy import text

        from tradebot.data.db import open_store

        store = open_store(settings.database_url or "", migrate=False)
        try:
            with store.engine.connect() as conn:
                accounts = [tuple(r) for r in conn.execute(text(acct_sql))]
                beat_rows = [tuple(r) for r in conn.execute(text(beat_sql))]
        finally:
            store.close()
    beats = {name: (_when(last), failures) for name, last, failures in beat_rows}
    now = dt.datetime.now(dt.UTC)
    out: list[Check] = []
    for acct_name, timeframe in accounts:
        last_ok, failures = beats.get(f"paper:{acct_name}", (None, 0))
        name = f"account {acct_name}"
        if last_ok is None:
            out.append(Check(name, "warn", "no successful scheduled run recorded yet"))
            continue
        age_min = (now - last_ok).total_seconds() / 60
        allowed = settings.ops.heartbeat_candles * timeframe_ms(timeframe) / 60000
        failing = f", {failures} failure(s) since" if failures else ""
        verdict: Verdict = "ok" if age_min <= allowed and not failures else "fail"
        out.append(Check(name, verdict, f"last successful run {age_min:,.0f} min ago "
                                        f"({timeframe} candles; limit {allowed:,.0f} min){failing}"))
    return out


def _when(value: Any) -> dt.datetime | None:
    """A stored timestamp (SQLite: naive UTC text; PostgreSQL: aware datetime) as aware UTC."""
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
