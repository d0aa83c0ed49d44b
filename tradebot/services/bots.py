"""Bots of ``tradebot serve``: a paper account the server advances at each candle close.

A bot is a row (name, account, market, strategy, parameters, source, status) that survives
restarts. Running it is one call of :func:`tradebot.services.paper.run_paper`, the service
behind ``tradebot paper``, under the same per-account ``flock``: a bot and a cron line on one
account never run at once (whichever comes second finds the account busy and skips).

Statuses: ``stopped`` (created, or stopped), ``running`` (the scheduler runs it), ``paused``
(kept, not run), ``killed`` (kill switch: not run until started again explicitly),
``flattening`` (run with an exit signal on every bar and no entry, so the engine closes the
position at the next candle's open with the account's fees and slippage, as any exit; the
bot stops once the account is flat)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import TradebotError, UsageError
from tradebot.services.api_tokens import write_session

if TYPE_CHECKING:
    from tradebot.data.api_models import Bot
    from tradebot.services.context import Context

STATUSES = ("stopped", "running", "paused", "killed", "flattening")
#: seconds after a candle's close before the bot reads it (as ``tradebot paper --loop``)
CLOSE_GRACE_S = 2.0
_CONFIG_KEYS = ("strategy", "exchange", "symbol", "timeframe", "params", "source")


@dataclass(frozen=True)
class BotInfo:
    name: str
    account: str
    config: dict[str, Any]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    last_run_at: dt.datetime | None
    last_result: dict[str, Any] | None
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("created_at", "updated_at", "last_run_at"):
            d[k] = None if d[k] is None else d[k].isoformat()
        return d


def _info(row: Bot) -> BotInfo:
    return BotInfo(row.name, row.account, dict(row.config), row.status, row.created_at, row.updated_at,
                   row.last_run_at, row.last_result, row.last_error)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def bot_context(ctx: Context, config: dict[str, Any]) -> Context:
    """The server's settings with the bot's market and strategy on top, sharing its store."""
    from tradebot.services.jobs import scoped_context

    return scoped_context(ctx, {"strategy": {"name": config["strategy"], "params": dict(config["params"])},
                                "market": {"exchange": config["exchange"], "symbol": config["symbol"],
                                           "timeframe": config["timeframe"]}})


def check_config(ctx: Context, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """A bot's config, complete and checked (strategy, parameters, timeframe, source); no writes."""
    from tradebot.core.timeframes import timeframe_ms
    from tradebot.services.paper import SOURCES, check_account_name

    check_account_name(name)
    unknown = sorted(set(config) - set(_CONFIG_KEYS) - {"account"})
    if unknown:
        raise UsageError(f"bot {name!r}: unknown config field(s) {', '.join(unknown)} "
                         f"(expected {', '.join(_CONFIG_KEYS)})")
    m = ctx.settings.market
    full: dict[str, Any] = {"strategy": config.get("strategy") or ctx.settings.strategy.name,
            "exchange": config.get("exchange") or m.exchange, "symbol": config.get("symbol") or m.symbol,
            "timeframe": config.get("timeframe") or m.timeframe, "params": dict(config.get("params") or {}),
            "source": config.get("source") or "auto"}
    if full["source"] not in SOURCES:
        raise UsageError(f"bot {name!r}: unknown source {full['source']!r}: expected one of {', '.join(SOURCES)}")
    timeframe_ms(full["timeframe"])
    strategy = ctx.registry.create(full["strategy"], full["params"])
    full["params"] = strategy.parameters
    return full


def create_bot(ctx: Context, name: str, config: dict[str, Any]) -> BotInfo:
    from sqlalchemy import or_, select

    from tradebot.data.api_models import Bot

    full = check_config(ctx, name, config)
    account = str(config.get("account") or name)
    from tradebot.services.paper import check_account_name

    check_account_name(account)
    with write_session(ctx.store) as session:
        if session.scalar(select(Bot.id).where(or_(Bot.name == name, Bot.account == account))) is not None:
            raise UsageError(f"bot {name!r}: a bot with this name or account {account!r} exists")
        now = _now()
        row = Bot(name=name, account=account, config=full, status="stopped", created_at=now, updated_at=now,
                  kill_switch=False)
        session.add(row)
        session.flush()
        return _info(row)


class BotNotFoundError(UsageError):
    """No bot has the requested name."""


def _row(session: Any, name: str) -> Bot:
    from sqlalchemy import select

    from tradebot.data.api_models import Bot

    row = session.scalar(select(Bot).where(Bot.name == name))
    if row is None:
        raise BotNotFoundError(f"no bot named {name!r}")
    return row  # type: ignore[no-any-return]


def list_bots(ctx: Context) -> list[BotInfo]:
    from sqlalchemy import select

    from tradebot.data.api_models import Bot

    with ctx.store.session() as session:
        return [_info(r) for r in session.scalars(select(Bot).order_by(Bot.id))]


def get_bot(ctx: Context, name: str) -> BotInfo:
    with ctx.store.session() as session:
        return _info(_row(session, name))


_ACTIONS = {"start": "running", "pause": "paused", "stop": "stopped", "kill": "killed",
            "flatten": "flattening"}


def set_status(ctx: Context, name: str, action: str) -> BotInfo:
    """``start``, ``pause``, ``stop``, ``kill`` (the kill switch) or ``flatten`` one bot."""
    if action not in _ACTIONS:
        raise UsageError(f"unknown bot action {action!r}: expected one of {', '.join(_ACTIONS)}")
    with write_session(ctx.store) as session:
        row = _row(session, name)
        if action == "pause" and row.status != "running":
            raise UsageError(f"bot {name!r} is {row.status}; only a running bot can be paused")
        row.status = _ACTIONS[action]
        row.kill_switch = action == "kill"
        row.updated_at = _now()
        session.flush()
        return _info(row)


def kill_all(ctx: Context) -> list[str]:
    """The kill switch of every bot: all of them stop being run at once."""
    from sqlalchemy import select

    from tradebot.data.api_models import Bot

    with write_session(ctx.store) as session:
        rows = list(session.scalars(select(Bot).where(Bot.status != "killed")))
        for row in rows:
            row.status, row.kill_switch, row.updated_at = "killed", True, _now()
        return [r.name for r in rows]


def run_bot(ctx: Context, name: str, now_ms: int | None = None) -> dict[str, Any]:
    """Advance the bot's account once (``tradebot paper`` for it). Returns what happened:
    ``{"outcome": "ran", ...PaperRunResult}``, ``{"outcome": "busy"}`` (another process, e.g.
    cron, holds the account) or ``{"outcome": "failed", "error": ...}``; recorded on the bot."""
    from tradebot.services.paper import AccountBusy, run_paper

    bot = get_bot(ctx, name)
    cfg = bot.config
    sub = bot_context(ctx, cfg)
    flattening = bot.status == "flattening"
    if flattening:
        sub.__dict__["registry"] = _FlatteningRegistry(sub.registry)
    out: dict[str, Any]
    try:
        r = run_paper(sub, bot.account, source=cfg["source"], now_ms=now_ms, wait=False,
                      requested={k: cfg[k] for k in ("strategy", "exchange", "symbol", "timeframe")},
                      requested_params={k: v for k, v in cfg["params"].items()})
    except AccountBusy:
        out = {"outcome": "busy", "detail": f"paper account {bot.account!r} is being run by another process"}
    except TradebotError as e:
        out = {"outcome": "failed", "error": str(e)}
    except Exception as e:  # a bug: recorded on the bot, the scheduler goes on
        out = {"outcome": "failed", "error": f"internal error: {type(e).__name__}: {e}"}
    else:
        out = {"outcome": "ran", **asdict(r)}
        out["trips"] = list(r.trips)
    with write_session(ctx.store) as session:
        row = _row(session, name)
        row.last_run_at = _now()
        row.last_result = out
        row.last_error = out.get("error")
        if out["outcome"] == "ran" and out.get("last_ms") is not None:
            row.last_bar_ms = out["last_ms"]
        if flattening and out["outcome"] == "ran" and out["position"] == 0 and row.status == "flattening":
            row.status, row.updated_at = "stopped", _now()
            out["flattened"] = True
    return out


class _FlatteningStrategy:
    """A strategy whose signals are: no entry, an exit on every bar (long and short)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def signals_for(self, candles: Any) -> Any:
        import numpy as np

        from tradebot.core.signals import Signals

        n = len(candles)
        no, yes = np.zeros(n, dtype=np.bool_), np.ones(n, dtype=np.bool_)
        return Signals(entries=no, exits=yes, short_entries=no.copy(), short_exits=yes.copy())


class _FlatteningRegistry:
    """The registry, with every strategy it creates wrapped in :class:`_FlatteningStrategy`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create(self, name: str, params: Any = None) -> Any:
        return _FlatteningStrategy(self._inner.create(name, params))


class BotScheduler:
    """A thread that runs every ``running`` bot after each close of its timeframe (plus a
    grace of :data:`CLOSE_GRACE_S`), reading the bots from the store each round so API
    changes and restarts are seen; :meth:`wake` re-reads at once."""

    def __init__(self, ctx: Context, *, clock: Callable[[], float] = time.time,
                 max_sleep_s: float = 30.0) -> None:
        self.ctx = ctx
        self.clock = clock
        self.max_sleep_s = max_sleep_s
        self._due: dict[str, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tradebot-bots", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sleep = self.run_due()
            except Exception:  # the store is unreachable for a moment: try again later
                sleep = self.max_sleep_s
            self._wake.wait(max(0.05, min(sleep, self.max_sleep_s)))
            self._wake.clear()

    def run_due(self) -> float:
        """Run the bots that are due; seconds until the next one is."""
        from tradebot.core.timeframes import timeframe_ms

        bots = [b for b in list_bots(self.ctx) if b.status in ("running", "flattening")]
        names = {b.name for b in bots}
        for gone in set(self._due) - names:
            del self._due[gone]
        for b in bots:
            if self._stop.is_set():
                break
            now = self.clock()
            if self._due.get(b.name, 0.0) > now:
                continue
            run_bot(self.ctx, b.name)
            tf_s = timeframe_ms(b.config["timeframe"]) / 1000.0
            self._due[b.name] = (self.clock() // tf_s + 1) * tf_s + CLOSE_GRACE_S
        if not self._due:
            return self.max_sleep_s
        return min(self._due.values()) - self.clock()
