"""Recorded errors, heartbeats and incidents: one alert when something breaks, one when it recovers.

An *incident* is keyed by what is wrong (``paper:<account>:failing``,
``paper:<account>:stopped``, ``data:<exchange>:<symbol>:<tf>:stale``, ``backup:failed``).
:func:`observe` is told, each time something is checked, whether it is failing; the first
failing observation opens the incident and sends one alert, later ones only count, and the
first healthy observation resolves it and sends one recovery message. Alerts go through the
``[notify]`` channels that take ``run_failed`` events (apprise), bypassing quiet hours.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradebot.core.config import Settings
    from tradebot.data.db import Store
    from tradebot.services.context import Context

__all__ = [
    "Incident",
    "check_health",
    "list_errors",
    "list_incidents",
    "observe",
    "record_error",
    "run_failed",
    "run_succeeded",
]

log = logging.getLogger("tradebot.ops")
QUIET = {"tb_stderr": False}  # as tradebot.core.logging_setup.QUIET: the log file only by default
UTC = dt.UTC


@dataclass(frozen=True)
class Incident:
    key: str
    kind: str
    detail: str
    opened_at: dt.datetime
    resolved_at: dt.datetime | None
    occurrences: int


def _now(now_ms: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp((time.time() * 1000 if now_ms is None else now_ms) / 1000, UTC)


# --------------------------------------------------------------------------- errors


def record_error(store: Store, command: str, error: BaseException | str, *, account: str | None = None,
                 context: dict[str, Any] | None = None, now_ms: int | None = None) -> None:
    """Store one error with its context (messages are scrubbed of configured secrets)."""
    from tradebot.core.logging_setup import current_context, scrub
    from tradebot.data.ops_models import OpsError

    kind = type(error).__name__ if isinstance(error, BaseException) else "Error"
    message = scrub(str(error))
    ctx = {k: scrub(str(v)) for k, v in (context or {}).items()}
    ctx.setdefault("run", current_context().get("run", ""))
    with store.session() as session:
        session.add(OpsError(occurred_at=_now(now_ms), command=command, account=account,
                             error_type=kind, message=message, context=ctx))


def list_errors(store: Store, *, account: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` errors (optionally one account's), newest first."""
    from sqlalchemy import select

    from tradebot.data.ops_models import OpsError

    query = select(OpsError).order_by(OpsError.id.desc()).limit(limit)
    if account is not None:
        query = query.where(OpsError.account == account)
    with store.session() as session:
        return [{"id": e.id, "at": e.occurred_at.isoformat(timespec="seconds"), "command": e.command,
                 "account": e.account, "type": e.error_type, "message": e.message, "context": e.context}
                for e in session.scalars(query)]


# --------------------------------------------------------------------------- incidents


def observe(store: Store, settings: Settings, key: str, *, failing: bool, kind: str, detail: str,
            now_ms: int | None = None) -> str | None:
    """Record one check of ``key``; returns ``"opened"``, ``"resolved"`` or None (no change).

    Opening sends one alert and resolving one recovery message, each after the change is
    committed (the row update is the lock: two processes cannot both open one incident on
    PostgreSQL's or SQLite's serialised writes of the same row)."""
    from sqlalchemy import select

    from tradebot.data.ops_models import OpsIncident

    now = _now(now_ms)
    change: str | None = None
    opened_at = now
    with store.session() as session:
        row = session.scalars(select(OpsIncident).where(OpsIncident.key == key,
                                                        OpsIncident.resolved_at.is_(None))
                              .order_by(OpsIncident.id.desc()).limit(1)).first()
        if failing and row is None:
            session.add(OpsIncident(key=key, kind=kind, detail=detail, opened_at=now, occurrences=1))
            change = "opened"
        elif failing and row is not None:
            row.occurrences += 1
        elif not failing and row is not None:
            row.resolved_at = now
            opened_at = row.opened_at
            change = "resolved"
    if change == "opened":
        log.error("incident opened: %s", detail, extra=QUIET)
        _alert(settings, f"tradebot alert: {kind}", detail, "failure")
    elif change == "resolved":
        minutes = (now - opened_at).total_seconds() / 60
        log.warning("incident resolved: %s (after %.0f min)", key, minutes, extra=QUIET)
        _alert(settings, f"tradebot recovered: {kind}",
               f"{key}: back to normal after {minutes:.0f} min", "success")
    return change


def list_incidents(store: Store, *, open_only: bool = False, limit: int = 50) -> list[Incident]:
    from sqlalchemy import select

    from tradebot.data.ops_models import OpsIncident

    query = select(OpsIncident).order_by(OpsIncident.id.desc()).limit(limit)
    if open_only:
        query = query.where(OpsIncident.resolved_at.is_(None))
    with store.session() as session:
        return [Incident(r.key, r.kind, r.detail, r.opened_at, r.resolved_at, r.occurrences)
                for r in session.scalars(query)]


def _alert(settings: Settings, title: str, body: str, notify_type: str) -> None:
    """Deliver to every channel taking ``run_failed`` events (never raises)."""
    channels = {n: c for n, c in settings.notify.channels.items() if "run_failed" in c.events}
    if not channels:
        return
    try:
        from tradebot.notify.apprise_notifier import AppriseNotifier

        notifier = AppriseNotifier(settings.notify.model_copy(update={"channels": channels}))
        for name in channels:
            notifier.deliver(name, title, body, notify_type)
    except Exception as e:  # an alert must never break the run that raised it
        log.error("alert not delivered: %s", type(e).__name__)


# --------------------------------------------------------------------------- heartbeats


def _beat(store: Store, name: str, ok: bool, now: dt.datetime) -> None:
    from tradebot.core.logging_setup import mark_step_start, step_seconds
    from tradebot.data.ops_models import OpsHeartbeat

    duration = step_seconds()
    mark_step_start()  # a --loop's next step starts now

    with store.session() as session:
        row = session.get(OpsHeartbeat, name)
        if row is None:
            row = OpsHeartbeat(name=name, failures=0, runs_ok=0)
            session.add(row)
        if ok:
            row.last_ok_at, row.failures, row.last_duration_s = now, 0, duration
            row.runs_ok = (row.runs_ok or 0) + 1
        else:
            row.last_failed_at, row.failures = now, (row.failures or 0) + 1


def run_failed(ctx: Context, command: str, account: str | None, error: BaseException,
               now_ms: int | None = None, *, count_refusals: bool = False) -> None:
    """A scheduled run failed: log it, store it, open (or count) the account's incident.

    Refusals (exit 2: bad options or config) are not operational failures and store nothing,
    unless ``count_refusals`` (a scheduled backup that cannot write its archive is a failure).
    Never raises (the run's own error is what the caller reports)."""
    from tradebot.core.errors import DataValidationError, Interrupted, UsageError

    if isinstance(error, Interrupted) or (isinstance(error, UsageError) and not count_refusals
                                           and not isinstance(error, DataValidationError)):
        return  # a refusal or an interrupt: the user sees it, nothing is stored
    if not _scheduled(ctx, command, account):
        return  # a first run that never started: nothing to watch yet
    log.error("%s failed: %s: %s", command, type(error).__name__, error,
              exc_info=(type(error), error, error.__traceback__), extra=QUIET)
    try:
        store = ctx.store
        record_error(store, command, error, account=account, now_ms=now_ms)
        name = f"{command}:{account}" if account else command
        _beat(store, name, False, _now(now_ms))
        observe(store, ctx.settings, f"{name}:failing", failing=True, kind=f"{name} failing",
                detail=f"{name}: run failed: {type(error).__name__}: {error}", now_ms=now_ms)
    except Exception as e:  # the store itself may be what broke
        log.error("could not record the failure of %s: %s", command, e, extra=QUIET)


def _scheduled(ctx: Context, command: str, account: str | None) -> bool:
    """Whether ``account`` exists in an existing store (so a failure can be recorded)."""
    from tradebot.data.db import database_url

    url = database_url(ctx.home, ctx.settings.database_url)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        return False
    if command != "paper" or account is None:
        return True
    try:
        from tradebot.data.paper_repository import PaperRepository

        with ctx.store.session() as session:
            return PaperRepository(session).get(account) is not None
    except Exception:
        return True  # the store is what broke: record what we can


def run_succeeded(ctx: Context, command: str, account: str | None, summary: str = "",
                  now_ms: int | None = None) -> None:
    """A scheduled run finished: heartbeat, and resolve the account's open incidents."""
    if summary:
        log.info("%s", summary)
    try:
        store = ctx.store
        name = f"{command}:{account}" if account else command
        _beat(store, name, True, _now(now_ms))
        for suffix in ("failing", "stopped"):
            observe(store, ctx.settings, f"{name}:{suffix}", failing=False, kind=f"{name} {suffix}",
                    detail="", now_ms=now_ms)
    except Exception as e:
        log.error("could not record the run of %s: %s", command, e)


# --------------------------------------------------------------------------- periodic check


def check_health(ctx: Context, now_ms: int | None = None) -> list[tuple[str, bool, str]]:
    """One pass of the unattended checks (cron: ``tradebot watch``): each paper account's
    heartbeat (no successful run for ``[ops] heartbeat_candles`` candles) and the staleness of
    the ``[fetch]`` markets' cached candles (``stale_candles``). Opens/resolves incidents and
    returns ``(key, failing, detail)`` per check."""
    from tradebot.core.timeframes import timeframe_ms
    from tradebot.data.ops_models import OpsHeartbeat
    from tradebot.data.paper_repository import PaperRepository

    settings = ctx.settings
    now = _now(now_ms)
    now_v = int(now.timestamp() * 1000)
    store = ctx.store
    results: list[tuple[str, bool, str]] = []
    with store.session() as session:
        accounts = PaperRepository(session).all()
        beats = {b.name: b for b in session.query(OpsHeartbeat).all()}
    for acct in accounts:
        name = f"paper:{acct.name}"
        beat = beats.get(name)
        allowed = settings.ops.heartbeat_candles * timeframe_ms(acct.timeframe)
        last = beat.last_ok_at if beat is not None else None
        if last is None:
            continue  # never run by a scheduler that reports: nothing to miss yet
        age = now_v - int(last.timestamp() * 1000)
        failing = age > allowed
        detail = (f"{name}: no successful run for {age / 60000:.0f} min "
                  f"(> {settings.ops.heartbeat_candles} {acct.timeframe} candles)")
        observe(store, settings, f"{name}:stopped", failing=failing, kind=f"{name} stopped",
                detail=detail, now_ms=now_v)
        results.append((f"{name}:stopped", failing, detail))
    for market in settings.fetch.markets:
        exchange, _, symbol = market.partition(":")
        for tf in settings.fetch.timeframes:
            key = f"data:{exchange}:{symbol}:{tf}:stale"
            last_ms = _last_cached_ms(ctx, exchange, symbol, tf)
            allowed = settings.ops.stale_candles * timeframe_ms(tf)
            failing = last_ms is None or now_v - last_ms > allowed
            detail = (f"{exchange} {symbol} {tf}: " + ("no cached candles" if last_ms is None else
                      f"last candle {(now_v - last_ms) / 60000:.0f} min old (> {settings.ops.stale_candles} "
                      "candles)"))
            observe(store, settings, key, failing=failing, kind=f"stale data {exchange} {symbol} {tf}",
                    detail=detail, now_ms=now_v)
            results.append((key, failing, detail))
    return results


def _last_cached_ms(ctx: Context, exchange: str, symbol: str, timeframe: str) -> int | None:
    try:
        entry = ctx.cache.info(exchange, symbol, timeframe)
    except Exception:
        return None
    return None if entry.error else entry.end_ms
