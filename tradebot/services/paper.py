"""``tradebot paper``: advance a simulated account over the candles closed since its last run.

Safe from cron: an exclusive lock per account (a second run says so and exits, or waits),
one database transaction per run (killed at any instant, a run leaves the account as it
was), and re-running for the same candle changes nothing. The account trades through the
engine's step runner, so replaying a history candle by candle gives the backtest's trades.

The same transaction keeps the account's ledger: balances per asset, orders and their
fills, the open position marked at the last close, and risk events (entries the risk rules
blocked, daily limits reached, breaker trips, cooldowns, ``[notify.rules]`` alerts; see
:mod:`tradebot.services.paper_events`). Trips and alerts are sent once, as ``risk_tripped``.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import StoreError, UsageError
from tradebot.core.timeframes import timeframe_ms
from tradebot.engine.config import EngineConfig
from tradebot.services.context import Context, ensure_home

if TYPE_CHECKING:
    from tradebot.data.paper_repository import AccountInfo, LedgerUpdate, PaperRepository, RiskEventRow
    from tradebot.engine.step import StepResult

SOURCES = ("auto", "cache", "sim", "exchange")


class AccountBusy(Exception):
    """Another run holds the account's lock."""


@dataclass(frozen=True)
class PaperRunResult:
    account: str
    processed: int  # candles processed by this run
    first_ms: int | None
    last_ms: int | None
    trades_closed: int
    equity: float
    position: float
    missing: int  # candles missing from the source in the processed range (never invented)
    source: str
    fills: int = 0  # executions in the processed candles
    blocked: int = 0  # entry signals the risk rules refused
    trips: tuple[str, ...] = ()  # risk trips and alerts (``risk_tripped`` events), in order
    model: str | None = None  # the ml strategy: the registry model (NAME:VERSION) that decided


@contextmanager
def account_lock(home: Path, account: str, wait: bool) -> Iterator[None]:
    """An exclusive ``flock`` on ``$TRADEBOT_HOME/locks/paper-<account>.lock``."""
    lock_dir = ensure_home(home) / "locks"
    lock_dir.mkdir(exist_ok=True)
    fd = os.open(lock_dir / f"paper-{account}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise AccountBusy(account) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _closed(candles: Candles, now_ms: int, tf: int) -> Candles:
    stop = int(np.searchsorted(candles.timestamp, now_ms - tf, side="right"))
    return candles.slice(0, stop)


def check_account_name(name: str) -> str:
    """A paper account name names its lock file: not blank, no path separator or control
    character, no surrounding spaces, at most 64 characters."""
    import unicodedata

    if not name.strip():
        raise UsageError("--account: the account name must not be empty")
    bad = next((c for c in name if c in "/\\" or unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        what = "a path separator" if bad in "/\\" else f"the control character {bad!r}"
        raise UsageError(f"--account {name!r}: {what} is not allowed in an account name")
    if name != name.strip():
        raise UsageError(f"--account {name!r}: an account name must not start or end with spaces")
    if len(name) > _NAME_MAX:
        raise UsageError(f"--account {name[:20]!r}...: an account name has at most {_NAME_MAX} "
                         f"characters (got {len(name)})")
    return name


_NAME_MAX = 64


def _source_for(ctx: Context, source: str, exchange: str, symbol: str, timeframe: str, *,
                given: bool, recorded: str | None = None) -> str:
    """The resolved source (``cache``, ``sim`` or ``exchange``) of ``--source``; ``auto`` asks
    :func:`~tradebot.services.market.resolve_market` (``recorded``: the source an existing
    account was created with). Reads only; raises before anything is written."""
    from tradebot.services.market import MarketNotCachedError, not_cached_message, resolve_market

    if source not in SOURCES:
        raise UsageError(f"unknown --source {source!r}: expected one of {', '.join(SOURCES)}")
    if source in ("sim", "exchange"):
        return source
    if source == "cache":
        if not ctx.cache.exists(exchange, symbol, timeframe):
            raise MarketNotCachedError(not_cached_message(ctx, exchange, symbol, timeframe))
        return "cache"
    if recorded == "sim":  # created on the sim market: stays on it
        return "sim"
    if recorded == _LEGACY:  # as ``auto`` was before sources were recorded
        return "cache" if ctx.cache.exists(exchange, symbol, timeframe) else "sim"
    market = resolve_market(ctx, exchange, symbol, timeframe, given=given)
    return "sim" if market.sim else "cache"


def load_closed_candles(ctx: Context, exchange: str, symbol: str, timeframe: str,
                        since_ms: int, now_ms: int, source: str) -> tuple[Candles, str]:
    """Closed candles from ``since_ms`` to ``now_ms`` from the chosen source."""
    tf = timeframe_ms(timeframe)
    source = _source_for(ctx, source, exchange, symbol, timeframe, given=True)
    label = source
    if source == "exchange":
        from tradebot.data.downloader import Downloader
        from tradebot.exchanges.factory import exchange_from_settings

        ex = exchange_from_settings(ctx.settings, exchange)
        try:
            Downloader(ex, ctx.cache, exchange).fetch(symbol, timeframe, since_ms=since_ms)
        finally:
            ex.close()
        source = "cache"
    if source == "cache":
        candles = ctx.cache.load(exchange, symbol, timeframe)
    else:
        from tradebot.exchanges.sim import sim_candles

        candles = sim_candles(symbol, timeframe, since_ms=since_ms,
                              until_ms=(now_ms // tf) * tf, seed=ctx.settings.seed)
    return _closed(candles.between(since_ms, None), now_ms, tf), label


@dataclass(frozen=True)
class _Plan:
    """A run, checked before anything is written: the market, the resolved source and, for a
    new account, the row to create once its candles have loaded."""

    exchange: str
    symbol: str
    timeframe: str
    source: str  # cache, sim or exchange
    history_start_ms: int
    new: dict[str, Any] | None  # PaperRepository.create's arguments


def _prepare(ctx: Context, account: str, acct: AccountInfo | None, source: str,
             since_ms: int | None, now: int, requested: dict[str, str | None],
             requested_params: dict[str, str] | None) -> _Plan:
    """Every check of a run (options, strategy, market, the existing account); no writes."""
    from tradebot.engine.step import new_state
    from tradebot.services.backtest import engine_config
    from tradebot.services.market import market_given
    from tradebot.services.ml_models import bind_model
    from tradebot.services.paper_events import assets

    if acct is not None and acct.strategy.startswith("agent:"):  # a selector account (paper_selector)
        raise UsageError(f"paper account {account!r} is traded by agent {acct.strategy[6:]!r}'s choice of "
                         f"candidates; run it with `tradebot paper-select --account {account}`")
    if acct is not None:
        _check_requested(acct, requested)
        if requested_params:
            _check_params(ctx, acct, requested_params)
        _check_since(acct, since_ms)
        used = _source_for(ctx, source, acct.exchange, acct.symbol, acct.timeframe, given=True,
                           recorded=acct.config.get("market_source", _LEGACY))
        return _Plan(acct.exchange, acct.symbol, acct.timeframe, used, acct.history_start_ms, None)
    s = ctx.settings
    m = s.market
    tf = timeframe_ms(m.timeframe)
    strategy = ctx.registry.create(s.strategy.name, dict(s.strategy.params))
    bind_model(ctx, strategy, symbol=m.symbol, timeframe=m.timeframe)  # ml: checked before any write
    used = _source_for(ctx, source, m.exchange, m.symbol, m.timeframe, given=market_given(s))
    last_closed = (now // tf) * tf - tf
    if since_ms is not None:  # a replay: the history starts where trading starts,
        start = history_start = -(-since_ms // tf) * tf  # as in a backtest --since
    else:  # live from the last closed candle, indicators warmed up on earlier ones
        start = last_closed
        history_start = start - max(strategy.warmup_bars, 1) * tf
    cfg = engine_config(s)
    row = dict(name=account, exchange=m.exchange, symbol=m.symbol, timeframe=m.timeframe,
               strategy=strategy.name, params=strategy.parameters,
               config={"engine": asdict(cfg), "market_source": used},
               initial_capital=cfg.initial_capital, history_start_ms=history_start,
               last_bar_ms=start - tf, state=new_state(cfg).tolist(),
               balances=dict(zip(assets(m.symbol)[::-1], (cfg.initial_capital, 0.0), strict=True)))
    return _Plan(m.exchange, m.symbol, m.timeframe, used, history_start, row)


#: an account from before its source was recorded: ``auto`` as it was then (cache, else sim)
_LEGACY = "legacy"


def _peek_account(ctx: Context, account: str) -> AccountInfo | None:
    """The account if the database exists (a default SQLite file is not created to look)."""
    from tradebot.data.paper_repository import PaperRepository

    if ctx.settings.database_url is None and not (ctx.home / "tradebot.db").is_file():
        return None
    with ctx.store.session() as session:
        return PaperRepository(session).get(account)


def _check_since(acct: AccountInfo, since_ms: int | None) -> None:
    """``--since`` on an existing account must be the one it was created with (a cron line
    re-run unchanged); any other start is refused like a changed strategy."""
    if since_ms is None:
        return
    from tradebot.data.validation import format_ts

    tf = timeframe_ms(acct.timeframe)
    if -(-since_ms // tf) * tf != acct.history_start_ms:
        raise UsageError(
            f"paper account {acct.name!r} keeps its history from {format_ts(acct.history_start_ms)}; "
            f"--since {format_ts(since_ms)} only applies to a new account (use another --account name)")


def run_paper(ctx: Context, account: str, *, source: str = "auto", since_ms: int | None = None,
              now_ms: int | None = None, wait: bool = False,
              requested: dict[str, str | None] | None = None,
              requested_params: dict[str, str] | None = None,
              progress: Callable[[int], None] | None = None) -> PaperRunResult:
    """One cron run: process every candle closed since the account's last one.

    ``requested``: the new-account options given explicitly (``strategy``, ``exchange``,
    ``symbol``, ``timeframe``) and ``requested_params`` (``--param`` values); an existing
    account that differs is refused, untouched. Every option is checked before anything
    is written (no lock file, database or account for a refused run); a new account is
    stored only once its candles have loaded. ``progress(n)`` is called once, right before the
    engine processes the ``n`` new candles (where its kernels compile if they are not cached).
    """
    from tradebot.core.errors import UnknownStrategyError
    from tradebot.data.ml_decisions import add_decisions
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.data.validation import format_ts
    from tradebot.engine.step import advance
    from tradebot.services.backtest import trade_rows
    from tradebot.services.ml_paper import paper_signals
    from tradebot.services.paper_events import risk_tripped

    check_account_name(account)
    if source not in SOURCES:
        raise UsageError(f"unknown --source {source!r}: expected one of {', '.join(SOURCES)}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if since_ms is not None and since_ms > now:
        raise UsageError(f"--since {format_ts(since_ms)} is in the future (now: {format_ts(now)})")
    requested = requested or {}
    _prepare(ctx, account, _peek_account(ctx, account), source, since_ms, now, requested,
             requested_params)
    store = ctx.store
    with account_lock(ctx.home, account, wait):
        with store.session() as session:
            acct = PaperRepository(session).get(account)
        plan = _prepare(ctx, account, acct, source, since_ms, now, requested, requested_params)
        candles, used = load_closed_candles(ctx, plan.exchange, plan.symbol, plan.timeframe,
                                            plan.history_start_ms, now, plan.source)
        if acct is None:  # stored only now that its candles have loaded
            with store.session() as session:
                acct = PaperRepository(session).create(**(plan.new or {}))
        cfg = EngineConfig(**acct.config["engine"])
        last = acct.last_bar_ms if acct.last_bar_ms is not None else acct.history_start_ms - 1
        start_idx = int(np.searchsorted(candles.timestamp, last, side="right"))
        n = len(candles)
        state = np.asarray(acct.state, dtype=np.float64)
        if start_idx >= n:
            units = float(state[1])
            eq = float(state[0] + units * candles.close[-1]) if n else float(state[0])
            return PaperRunResult(account, 0, None, None, 0, eq, units, 0, used)
        try:
            strategy = ctx.registry.create(acct.strategy, acct.params)
        except UnknownStrategyError as e:
            raise UnknownStrategyError(f"paper account {account!r} trades strategy "
                                       f"{acct.strategy!r}, which is not available ({e}); the "
                                       "account was not changed") from e
        if progress is not None:
            progress(n - start_idx)
        signals, decisions, model = paper_signals(ctx, strategy, acct.symbol, acct.timeframe, candles, start_idx)
        res = advance(candles, signals, cfg, state, start_idx)
        ts = candles.timestamp
        trades = trade_rows(res.trades, ts)
        equity = [{"ts_ms": int(ts[start_idx + i]), "equity": float(e), "position": float(p)}
                  for i, (e, p) in enumerate(zip(res.equity, res.position, strict=True))]
        prev_close = candles.close[start_idx - 1] if start_idx > 0 else candles.open[start_idx]
        equity_before = float(state[0] + state[1] * prev_close)
        try:
            with store.session() as session:
                repo = PaperRepository(session)
                ledger = _ledger(ctx, repo, acct, candles, start_idx, state, res, cfg, equity_before)
                repo.record_step(acct, last_bar_ms=int(ts[-1]), state=res.state.tolist(),
                                 trades=trades, equity=equity, ledger=ledger)
                if decisions:  # which model version made each decision (the ml strategy)
                    add_decisions(session, acct.id, decisions)
        except StoreError as e:
            if "locked" not in str(e):
                raise
            raise StoreError(f"{e} (another process holds a lock on it); paper account {account!r} "
                             "was not changed, run again later") from e
        _notify(ctx, acct, trades, equity, equity_before, ledger)
        tf = timeframe_ms(acct.timeframe)
        span = ts[start_idx:]
        # holes after the last candle processed before (not before a replay's first candle)
        started = acct.last_bar_ms is not None and acct.last_bar_ms >= acct.history_start_ms
        missing = int(((span[-1] - (last if started else span[0] - tf)) // tf) - span.size)
        return PaperRunResult(account, n - start_idx, int(span[0]), int(span[-1]), len(trades),
                              float(res.equity[-1]), float(res.position[-1]), max(missing, 0), used,
                              len(ledger.fills), int(res.blocked.size),
                              tuple(e.rule for e in risk_tripped(account, ledger.risk_events)), model)


def _check_requested(acct: AccountInfo, requested: dict[str, str | None]) -> None:
    have = {"strategy": acct.strategy, "exchange": acct.exchange, "symbol": acct.symbol,
            "timeframe": acct.timeframe}
    for key, want in requested.items():
        if want is not None and key in have and want != have[key]:
            raise UsageError(
                f"paper account {acct.name!r} trades {acct.strategy} on {acct.exchange} "
                f"{acct.symbol} {acct.timeframe}; --{key} {want} only applies to a new account "
                "(use another --account name)")


def _check_params(ctx: Context, acct: AccountInfo, requested: dict[str, str]) -> None:
    """``--param`` values must be the account's own: parameters are fixed at creation."""
    cls = ctx.registry.get(acct.strategy).cls
    for name, raw in requested.items():
        p = cls.params.get(name)
        if p is None:
            from tradebot.strategies.params import unknown_parameter

            raise unknown_parameter(acct.strategy, name, list(cls.params))
        if p.coerce(acct.strategy, name, raw) != acct.params.get(name, p.default):
            raise UsageError(
                f"paper account {acct.name!r} trades {acct.strategy} with {name}={acct.params.get(name, p.default)}; "
                f"--param {name}={raw} only applies to a new account (use another --account name)")


def _ledger(ctx: Context, repo: PaperRepository, acct: AccountInfo, candles: Candles, start_idx: int,
            before: np.ndarray, res: StepResult, cfg: EngineConfig, equity_before: float) -> LedgerUpdate:
    """The run's ledger update, from its engine output and what the store holds (read in
    the run's transaction)."""
    from tradebot.engine.step import upgrade_state
    from tradebot.services.paper_events import (
        DAY_MS,
        alert_events,
        alert_memory,
        ledger_update,
    )

    ts = candles.timestamp
    first = int(ts[start_idx])
    day0 = first // DAY_MS * DAY_MS
    book = repo.book(acct.id, acct.symbol)
    rules = ctx.settings.notify.rules
    alerting = rules.drawdown_above_pct is not None or rules.loss_above is not None
    marks = repo.risk_marks(acct.id, day0) if (res.blocked.size or alerting) else []
    reached = {(rule, t // DAY_MS) for t, kind, rule in marks if kind == "limit_reached"}
    alerts: list[RiskEventRow] = []
    if alerting:
        peak = max(repo.peak_equity(acct.id) or acct.initial_capital, acct.initial_capital)
        day_start = repo.equity_before(acct.id, day0)
        if day_start is None:  # the account's first day: it started with its capital
            day_start = acct.initial_capital
        memory = alert_memory(marks, peak, day_start)
        alerts = alert_events(rules, acct.name, ts[start_idx:], np.asarray(res.equity),
                              equity_before, memory)
    before_state = upgrade_state(np.asarray(before, dtype=np.float64), cfg)  # as the engine read it
    return ledger_update(symbol=acct.symbol, ts=ts, close=candles.close, start=start_idx, book=book,
                         before=before_state, after=res.state, fills=res.fills, trades=res.trades,
                         blocked=res.blocked, equity=np.asarray(res.equity), cfg=cfg,
                         reached=reached, alerts=alerts)


def _notify(ctx: Context, acct: AccountInfo, trades: list[dict[str, Any]], equity: list[dict[str, Any]],
            equity_before: float, ledger: LedgerUpdate) -> None:
    """Tell the configured channels what this run did (after it is stored; never raises)."""
    if not ctx.settings.notify.channels:
        return
    from tradebot.notify import build_notifier
    from tradebot.services.paper_events import risk_tripped, run_events

    notifier = build_notifier(ctx.settings.notify)
    days = _days(ctx, acct, equity, equity_before) if equity else []
    for event in run_events(acct.name, acct.symbol, trades, ledger.fills, risk_tripped(acct.name, ledger.risk_events),
                            days):
        notifier.send(event)


def _days(ctx: Context, acct: AccountInfo, equity: list[dict[str, Any]], equity_before: float) -> list[Any]:
    """The daily summaries of the days that ended in this run (read back from the store:
    a cron run of one candle ends the day before it)."""
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services.paper_events import day_start, day_summaries

    since = day_start(acct.last_bar_ms, int(equity[0]["ts_ms"]))
    with ctx.store.session() as session:
        repo = PaperRepository(session)
        rows = repo.equity_since(acct.id, since)
        before = repo.equity_before(acct.id, since)
        exits = repo.exits_since(acct.id, since)
    start = acct.initial_capital if before is None else before
    return day_summaries(acct.name, rows, start, exits, ctx.settings.risk.daily_profit_target)


def _closed_trades(trades: list[dict[str, Any]], ts: np.ndarray) -> np.ndarray:
    """Stored closed trades as the engine's TRADE_DTYPE (exit bar index into ``ts``), so the
    daily P&L rows count the trades closed each day."""
    from tradebot.engine.result import EXIT_SIGNAL, TRADE_DTYPE

    exits = np.array([t["exit_ts_ms"] for t in trades if t["exit_reason"] != "still_open"], dtype=np.int64)
    out = np.zeros(exits.size, dtype=TRADE_DTYPE)
    out["exit_idx"] = np.clip(np.searchsorted(ts, exits), 0, max(ts.size - 1, 0))
    out["exit_reason"] = EXIT_SIGNAL  # any closed reason: only the exit day is counted
    return out


def account_report(ctx: Context, account: str, recent: int = 20) -> dict[str, Any]:
    """A paper account: balances per asset, open position, equity, trades, daily P&L against
    the target, the ``recent`` last orders, fills and risk events, entries blocked by
    rule, VaR/CVaR (95 %, of daily returns), exposure (share of closes in the market), and
    the probabilistic Sharpe ratio with block-bootstrap 95 % intervals of the daily returns
    (``psr``, ``ci95``, ``confidence``; seeded from the settings' seed)."""
    from tradebot.analysis.metrics import daily_pnl, daily_returns, daily_summary, var_cvar
    from tradebot.analysis.report import daily_confidence
    from tradebot.data.ml_decisions import model_summary
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services.paper_events import assets
    from tradebot.services.regime import paper_regime_table

    with ctx.store.session() as session:
        repo = PaperRepository(session)
        acct = repo.get(account)
        if acct is None:
            known = [a.name for a in repo.all()]
            hint = f" (accounts: {', '.join(known)})" if known else " (there are no paper accounts yet)"
            raise UsageError(f"no paper account named {account!r}{hint}")
        trades = repo.trades(acct.id)
        equity = repo.equity(acct.id)
        balances = repo.balances(acct.id)
        positions = repo.positions(acct.id)
        orders = repo.orders(acct.id, last=recent)
        fills = repo.fills(acct.id, last=recent)
        counts = repo.risk_counts(acct.id)
        events = repo.risk_events(acct.id, last=recent, exclude_kinds=("entry_blocked",))
        models = model_summary(session, acct.id)  # the ml strategy: which versions decided
    ts = np.array([e[0] for e in equity], dtype=np.int64)
    eq = np.array([e[1] for e in equity], dtype=np.float64)
    held = np.array([e[2] != 0.0 for e in equity], dtype=np.bool_)
    target = ctx.settings.risk.daily_profit_target
    daily = daily_pnl(ts, eq, acct.initial_capital, _closed_trades(trades, ts), target) if ts.size else []
    var95, cvar95 = var_cvar(daily_returns(ts, eq, acct.initial_capital)) if ts.size else (None, None)
    if not balances:  # an account from before the ledger, not run since
        base, quote = assets(acct.symbol)
        balances = [{"asset": quote, "amount": acct.state[0], "as_of_ms": acct.last_bar_ms},
                    {"asset": base, "amount": acct.state[1], "as_of_ms": acct.last_bar_ms}]
    blocked = counts.get("entry_blocked", {})
    return {
        "account": acct.name, "market": f"{acct.exchange} {acct.symbol} {acct.timeframe}",
        "strategy": acct.strategy, "params": acct.params, "initial_capital": acct.initial_capital,
        "last_bar_ms": acct.last_bar_ms, "equity": float(eq[-1]) if eq.size else acct.initial_capital,
        "position": float(equity[-1][2]) if equity else 0.0,
        "entry_price": acct.state[2] if equity and equity[-1][2] != 0 else None,
        "balances": balances, "positions": positions,
        "var_95_pct": None if var95 is None else var95 * 100.0,
        "cvar_95_pct": None if cvar95 is None else cvar95 * 100.0,
        "exposure_pct": float(held.mean() * 100.0) if held.size else None,
        "orders": orders, "fills": fills, "risk_events": events,
        "blocked_entries": [{"reason": r, "count": n} for r, n in sorted(blocked.items())],
        "risk_counts": counts,
        "trades": trades, "daily": daily, "daily_summary": daily_summary(daily, target) if daily else None,
        **daily_confidence(daily, target, ctx.settings.seed),
        "by_regime": paper_regime_table(ctx, acct.exchange, acct.symbol, acct.timeframe,
                                        acct.config.get("market_source", ""), ts, eq,
                                        trades),
        **({"models": models} if models else {}),
    }
