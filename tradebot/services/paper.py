"""``tradebot paper``: advance a simulated account over the candles closed since its last run.

Safe from cron: an exclusive lock per account (a second run says so and exits, or waits),
one database transaction per run (killed at any instant, a run leaves the account as it
was), and re-running for the same candle changes nothing. The account trades through the
engine's step runner, so replaying a history candle by candle gives the backtest's trades.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.core.timeframes import timeframe_ms
from tradebot.engine.config import EngineConfig
from tradebot.services.context import Context, ensure_home

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


def load_closed_candles(ctx: Context, exchange: str, symbol: str, timeframe: str,
                        since_ms: int, now_ms: int, source: str) -> tuple[Candles, str]:
    """Closed candles from ``since_ms`` to ``now_ms`` from the chosen source."""
    tf = timeframe_ms(timeframe)
    if source == "auto":
        source = "cache" if ctx.cache.exists(exchange, symbol, timeframe) else "sim"
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
    elif source == "sim":
        from tradebot.exchanges.sim import sim_candles

        candles = sim_candles(symbol, timeframe, since_ms=since_ms,
                              until_ms=(now_ms // tf) * tf, seed=ctx.settings.seed)
    else:
        raise UsageError(f"unknown --source {source!r}: expected one of {', '.join(SOURCES)}")
    return _closed(candles.between(since_ms, None), now_ms, tf), source


def run_paper(ctx: Context, account: str, *, source: str = "auto", since_ms: int | None = None,
              now_ms: int | None = None, wait: bool = False) -> PaperRunResult:
    """One cron run: process every candle closed since the account's last one."""
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.engine.step import advance, new_state
    from tradebot.services.backtest import engine_config, trade_rows

    now = int(time.time() * 1000) if now_ms is None else now_ms
    store = ctx.store
    with account_lock(ctx.home, account, wait):
        with store.session() as session:
            acct = PaperRepository(session).get(account)
        s = ctx.settings
        if acct is None:
            tf = timeframe_ms(s.market.timeframe)
            strategy = ctx.registry.create(s.strategy.name, dict(s.strategy.params))
            last_closed = (now // tf) * tf - tf
            if since_ms is not None:  # a replay: the history starts where trading starts,
                start = history_start = -(-since_ms // tf) * tf  # as in a backtest --since
            else:  # live from the last closed candle, indicators warmed up on earlier ones
                start = last_closed
                history_start = start - max(strategy.warmup_bars, 1) * tf
            cfg = engine_config(s)
            with store.session() as session:
                acct = PaperRepository(session).create(
                    name=account, exchange=s.market.exchange, symbol=s.market.symbol,
                    timeframe=s.market.timeframe, strategy=strategy.name,
                    params=strategy.parameters, config={"engine": asdict(cfg)},
                    initial_capital=cfg.initial_capital, history_start_ms=history_start,
                    last_bar_ms=start - tf, state=new_state(cfg).tolist())
        elif since_ms is not None and since_ms > (acct.last_bar_ms or 0) + timeframe_ms(acct.timeframe):
            raise UsageError(f"paper account {account!r} already exists; --since only applies "
                             "to a new account")
        cfg = EngineConfig(**acct.config["engine"])
        candles, used = load_closed_candles(ctx, acct.exchange, acct.symbol, acct.timeframe,
                                            acct.history_start_ms, now, source)
        last = acct.last_bar_ms if acct.last_bar_ms is not None else acct.history_start_ms - 1
        start_idx = int(np.searchsorted(candles.timestamp, last, side="right"))
        n = len(candles)
        state = np.asarray(acct.state, dtype=np.float64)
        if start_idx >= n:
            units = float(state[1])
            eq = float(state[0] + units * candles.close[-1]) if n else float(state[0])
            return PaperRunResult(account, 0, None, None, 0, eq, units, 0, used)
        strategy = ctx.registry.create(acct.strategy, acct.params)
        res = advance(candles, strategy.signals_for(candles), cfg, state, start_idx)
        ts = candles.timestamp
        trades = trade_rows(res.trades, ts)
        equity = [{"ts_ms": int(ts[start_idx + i]), "equity": float(e), "position": float(p)}
                  for i, (e, p) in enumerate(zip(res.equity, res.position, strict=True))]
        with store.session() as session:
            PaperRepository(session).record_step(acct, last_bar_ms=int(ts[-1]),
                                                 state=res.state.tolist(), trades=trades,
                                                 equity=equity)
        _notify(ctx, acct, candles, start_idx, state, res, trades, equity)
        tf = timeframe_ms(acct.timeframe)
        span = ts[start_idx:]
        missing = int(((span[-1] - (last if acct.last_bar_ms is not None else span[0] - tf)) // tf)
                      - span.size) if span.size else 0
        return PaperRunResult(account, n - start_idx, int(span[0]), int(span[-1]), len(trades),
                              float(res.equity[-1]), float(res.position[-1]), max(missing, 0), used)


def _notify(ctx: Context, acct: Any, candles: Candles, start_idx: int, before: np.ndarray,
            res: Any, trades: list[dict[str, Any]], equity: list[dict[str, Any]]) -> None:
    """Tell the configured channels what this run did (after it is stored; never raises)."""
    from tradebot.engine.kernels import S_CASH, S_ENTRY_IDX, S_ENTRY_PRICE, S_UNITS
    from tradebot.notify import build_notifier
    from tradebot.services.paper_events import run_events

    notifier = build_notifier(ctx.settings.notify)
    if not ctx.settings.notify.channels:
        return
    st = res.state
    open_entry = None
    if st[S_UNITS] != 0.0 and int(st[S_ENTRY_IDX]) >= start_idx:
        open_entry = (int(candles.timestamp[int(st[S_ENTRY_IDX])]), float(np.sign(st[S_UNITS])),
                      float(abs(st[S_UNITS])), float(st[S_ENTRY_PRICE]))
    prev_close = candles.close[start_idx - 1] if start_idx > 0 else candles.open[start_idx]
    equity_before = float(before[S_CASH] + before[S_UNITS] * prev_close)
    for event in run_events(acct.name, acct.symbol, trades, int(candles.timestamp[start_idx]),
                            open_entry, equity, equity_before,
                            ctx.settings.risk.daily_profit_target):
        notifier.send(event)


def account_report(ctx: Context, account: str) -> dict[str, Any]:
    """Open position, equity, trades and daily P&L against the target of a paper account."""
    from tradebot.analysis.metrics import daily_pnl, daily_summary
    from tradebot.data.paper_repository import PaperRepository

    with ctx.store.session() as session:
        repo = PaperRepository(session)
        acct = repo.get(account)
        if acct is None:
            raise UsageError(f"no paper account named {account!r}")
        trades = repo.trades(acct.id)
        equity = repo.equity(acct.id)
    ts = np.array([e[0] for e in equity], dtype=np.int64)
    eq = np.array([e[1] for e in equity], dtype=np.float64)
    target = ctx.settings.risk.daily_profit_target
    daily = daily_pnl(ts, eq, acct.initial_capital, None, target) if ts.size else []
    return {
        "account": acct.name, "market": f"{acct.exchange} {acct.symbol} {acct.timeframe}",
        "strategy": acct.strategy, "params": acct.params, "initial_capital": acct.initial_capital,
        "last_bar_ms": acct.last_bar_ms, "equity": float(eq[-1]) if eq.size else acct.initial_capital,
        "position": float(equity[-1][2]) if equity else 0.0,
        "entry_price": acct.state[2] if equity and equity[-1][2] != 0 else None,
        "trades": trades, "daily": daily, "daily_summary": daily_summary(daily, target) if daily else None,
    }
