"""``tradebot paper`` over a pair list: one simulated wallet trading several markets.

Cron-safe as the one-market account (:mod:`tradebot.services.paper`): the same exclusive
lock per account name (one name space for both kinds of account), every check before
anything is written, and one database transaction per run that creates the account (on
its first run), appends its closed trades and its equity per bar, and moves its portfolio
engine state and last bar forward, so a run killed at any instant leaves the account as it
was, and re-running for the same candles changes nothing.

Catch-up: each run loads the closed candles of every pair from the account's history start,
aligns them on the union of their timestamps (:func:`tradebot.engine.portfolio.align`) and
advances the portfolio loop (:func:`~tradebot.engine.portfolio.advance_portfolio`) from
the persisted state over the bars after the last processed one. That is the loop of the
portfolio backtest, so a history replayed in any chunks trades as one backtest over it.
A candle that arrives late for a bar already processed is not traded (the bar is past).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import StoreError, UsageError
from tradebot.core.pairs import PairList
from tradebot.core.timeframes import timeframe_ms
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.data.portfolio_models import PortfolioAccount

SOURCES = ("auto", "cache", "sim", "exchange")


@dataclass(frozen=True)
class PortfolioPaperResult:
    account: str
    symbols: tuple[str, ...]
    processed: int  # bars of the union timeline processed by this run
    first_ms: int | None
    last_ms: int | None
    trades_closed: int
    equity: float
    cash: float
    open_positions: int
    source: str
    blocked: int = 0


@dataclass(frozen=True)
class _Account:
    """A portfolio account as read (or as it will be created)."""

    id: int | None
    name: str
    exchange: str
    timeframe: str
    symbols: tuple[str, ...]
    strategy: str
    params: dict[str, Any]
    config: dict[str, Any]
    initial_capital: float
    history_start_ms: int
    last_bar_ms: int | None
    state: list[float]
    trades_count: int
    mode: str = "paper"  # paper, or live / dry-run (tradebot live's accounts)


def _info(row: PortfolioAccount) -> _Account:
    return _Account(row.id, row.name, row.exchange, row.timeframe, tuple(row.symbols), row.strategy,
                    dict(row.params), dict(row.config), row.initial_capital, row.history_start_ms,
                    row.last_bar_ms, list(row.state), row.trades_count, row.mode or "paper")


def get_account(ctx: Context, name: str) -> _Account | None:
    """The portfolio account ``name``, or None (a default SQLite file is not created to look)."""
    from sqlalchemy import select

    from tradebot.data.portfolio_models import PortfolioAccount

    if ctx.settings.database_url is None and not (ctx.home / "tradebot.db").is_file():
        return None
    with ctx.store.session() as session:
        row = session.scalars(select(PortfolioAccount).where(PortfolioAccount.name == name)).first()
        return _info(row) if row is not None else None


def _single_account_exists(ctx: Context, name: str) -> bool:
    from tradebot.services.paper import _peek_account

    return _peek_account(ctx, name) is not None


def _resolve_source(ctx: Context, source: str, exchange: str) -> str:
    if source not in SOURCES:
        raise UsageError(f"unknown --source {source!r}: expected one of {', '.join(SOURCES)}")
    if source == "auto":
        return "sim" if exchange.strip().lower() == "sim" else "cache"
    return source


def _plan_new(ctx: Context, account: str, pairs: PairList, source: str, since_ms: int | None,
              now: int) -> _Account:
    """Every check of a new account (pairs, rules, strategy, the cache); no writes."""
    from tradebot.engine.portfolio import new_portfolio_state
    from tradebot.services.backtest import engine_config
    from tradebot.services.portfolio_backtest import check_pairs_cached, check_rank, portfolio_config

    s = ctx.settings
    m = s.market
    if len(pairs.symbols) < 2:
        raise UsageError("a portfolio paper account trades two or more pairs (one pair: use --symbol)")
    if s.portfolio.pair_params:  # the account stores one parameter set; it would not trade what was tested
        raise UsageError("portfolio.pair_params: a portfolio paper account takes one parameter set for all "
                         "pairs; per-pair parameters are for backtests (tradebot optimize --per-pair)")
    pcfg = portfolio_config(s, len(pairs.symbols))
    strategy = ctx.registry.create(s.strategy.name, dict(s.strategy.params))
    check_rank(strategy, pcfg.rank)
    used = _resolve_source(ctx, source, m.exchange)
    if used == "cache":
        check_pairs_cached(ctx, pairs)
    tf = timeframe_ms(m.timeframe)
    last_closed = (now // tf) * tf - tf
    if since_ms is not None:
        start = history_start = -(-since_ms // tf) * tf
    else:
        start = last_closed
        history_start = start - max(strategy.warmup_bars, 1) * tf
    cfg = engine_config(s)
    state = new_portfolio_state(cfg, pcfg, len(pairs.symbols))
    config = {"engine": asdict(cfg), "portfolio": asdict(pcfg), "market_source": used,
              "pairlist": pairs.to_dict()}
    return _Account(None, account, m.exchange, m.timeframe, pairs.symbols, strategy.name,
                    strategy.parameters, config, cfg.initial_capital, history_start, start - tf,
                    state.tolist(), 0)


def _check_existing(acct: _Account, pairs: PairList | None, requested: dict[str, str | None],
                    since_ms: int | None) -> None:
    if pairs is not None and tuple(pairs.symbols) != acct.symbols:
        raise UsageError(f"paper account {acct.name!r} trades {','.join(acct.symbols)}; the pair list "
                         f"{','.join(pairs.symbols)} only applies to a new account (use another --account name)")
    have = {"strategy": acct.strategy, "exchange": acct.exchange, "timeframe": acct.timeframe}
    for key, want in requested.items():
        if want is not None and key in have and want != have[key]:
            raise UsageError(f"paper account {acct.name!r} trades {acct.strategy} on {acct.exchange} "
                             f"{acct.timeframe}; --{key} {want} only applies to a new account "
                             "(use another --account name)")
    if since_ms is not None:
        tf = timeframe_ms(acct.timeframe)
        if -(-since_ms // tf) * tf != acct.history_start_ms:
            raise UsageError(f"paper account {acct.name!r} keeps its history from its creation; --since "
                             "only applies to a new account (use another --account name)")


def _prepare(ctx: Context, account: str, acct: _Account | None, pairs: PairList | None, source: str,
             since_ms: int | None, now: int, requested: dict[str, str | None]) -> _Account:
    if acct is not None:
        if acct.mode != "paper":  # its state follows the exchange's orders: only tradebot live moves it
            raise UsageError(f"account {acct.name!r} is a {acct.mode} account of tradebot live; run it with "
                             "tradebot live --account (paper would move its state without its orders)")
        _check_existing(acct, pairs, requested, since_ms)
        _resolve_source(ctx, source, acct.exchange)
        return acct
    if _single_account_exists(ctx, account):
        raise UsageError(f"paper account {account!r} is a one-market account; a pair list needs a new "
                         "account name")
    if pairs is None:
        raise UsageError(f"no portfolio paper account named {account!r}; give --symbols to create one")
    return _plan_new(ctx, account, pairs, source, since_ms, now)


def run_paper_portfolio(ctx: Context, account: str, pairs: PairList | None, *, source: str = "auto",
                        since_ms: int | None = None, now_ms: int | None = None, wait: bool = False,
                        requested: dict[str, str | None] | None = None) -> PortfolioPaperResult:
    """One cron run of a portfolio paper account: every bar closed since its last one."""
    from tradebot.data.validation import format_ts
    from tradebot.engine.config import EngineConfig
    from tradebot.engine.portfolio import PortfolioConfig, advance_portfolio, align
    from tradebot.services.paper import account_lock, check_account_name, load_closed_candles
    from tradebot.services.portfolio_backtest import strategy_scores

    check_account_name(account)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if since_ms is not None and since_ms > now:
        raise UsageError(f"--since {format_ts(since_ms)} is in the future (now: {format_ts(now)})")
    requested = requested or {}
    _prepare(ctx, account, get_account(ctx, account), pairs, source, since_ms, now, requested)
    with account_lock(ctx.home, account, wait):
        acct = _prepare(ctx, account, get_account(ctx, account), pairs, source, since_ms, now, requested)
        used = acct.config.get("market_source", "cache") if source == "auto" else _resolve_source(
            ctx, source, acct.exchange)
        candles = [load_closed_candles(ctx, acct.exchange, sym, acct.timeframe, acct.history_start_ms,
                                       now, used)[0] for sym in acct.symbols]
        cfg = EngineConfig(**acct.config["engine"])
        pcfg = PortfolioConfig(**acct.config["portfolio"])
        nonempty = [c for c in candles if len(c)]
        if not nonempty:
            return _unchanged(ctx, acct, used)
        aligned = align(candles, acct.symbols)
        last = acct.last_bar_ms if acct.last_bar_ms is not None else acct.history_start_ms - 1
        start = int(np.searchsorted(aligned.timestamp, last, side="right"))
        n = aligned.n_bars
        if start >= n:
            if acct.id is None:  # nothing closed yet: the account is created with its state
                _store(ctx, acct, None, aligned, start, [], [])
            return _unchanged(ctx, acct, used)
        strategy = ctx.registry.create(acct.strategy, acct.params)
        signals = [strategy.signals_for(c) for c in candles]
        res = advance_portfolio(aligned, signals, cfg, pcfg, np.asarray(acct.state, dtype=np.float64),
                                start, strategy_scores(strategy, aligned, pcfg.rank))
        trades, equity = _rows(aligned, start, res)
        _store(ctx, acct, res.state.tolist(), aligned, start, trades, equity)
        _notify(ctx, acct, trades, equity)
        ts = aligned.timestamp
        return PortfolioPaperResult(account, acct.symbols, n - start, int(ts[start]), int(ts[-1]), len(trades),
                                    float(res.equity[-1]), float(res.cash[-1]),
                                    int(np.count_nonzero(res.position[-1])), used, int(res.blocked.size))


def _notify(ctx: Context, acct: _Account, trades: list[dict[str, Any]], equity: list[dict[str, Any]]) -> None:
    """Tell the configured channels what this run did, as a one-market account does: each
    closed trade (with its pair) and the summary of each day of the whole account that ended
    in this run (after the run is stored; a notifier never raises)."""
    if not ctx.settings.notify.channels or not equity:
        return
    from sqlalchemy import select

    from tradebot.data.portfolio_models import PortfolioAccount, PortfolioAccountEquity, PortfolioAccountTrade
    from tradebot.notify import build_notifier
    from tradebot.services.paper_events import day_start, day_summaries, run_events

    since = day_start(acct.last_bar_ms if acct.id is not None else None, int(equity[0]["ts_ms"]))
    with ctx.store.session() as session:
        account_id = session.scalars(select(PortfolioAccount.id).where(PortfolioAccount.name == acct.name)).one()
        rows = [(int(t), float(e)) for t, e in session.execute(
            select(PortfolioAccountEquity.ts_ms, PortfolioAccountEquity.equity)
            .where(PortfolioAccountEquity.account_id == account_id, PortfolioAccountEquity.ts_ms >= since)
            .order_by(PortfolioAccountEquity.ts_ms))]
        before = session.scalars(select(PortfolioAccountEquity.equity)
                                 .where(PortfolioAccountEquity.account_id == account_id,
                                        PortfolioAccountEquity.ts_ms < since)
                                 .order_by(PortfolioAccountEquity.ts_ms.desc()).limit(1)).first()
        exits = [int(t) for t in session.scalars(select(PortfolioAccountTrade.exit_ts_ms).where(
            PortfolioAccountTrade.account_id == account_id, PortfolioAccountTrade.exit_ts_ms >= since))]
    start = acct.initial_capital if before is None else float(before)
    events: list[Any] = []
    for sym in acct.symbols:
        events += run_events(acct.name, sym, [t for t in trades if t["symbol"] == sym], ())
    events.sort(key=lambda e: e.ts_ms)
    events += day_summaries(acct.name, rows, start, exits, ctx.settings.risk.daily_profit_target)
    notifier = build_notifier(ctx.settings.notify)
    for event in events:
        notifier.send(event)


def _unchanged(ctx: Context, acct: _Account, used: str) -> PortfolioPaperResult:
    """An up-to-date account: its equity and cash at the last processed bar."""
    from sqlalchemy import select

    from tradebot.data.portfolio_models import PortfolioAccountEquity

    last = None
    if acct.id is not None:
        with ctx.store.session() as session:
            last = session.execute(select(PortfolioAccountEquity.equity, PortfolioAccountEquity.cash,
                                          PortfolioAccountEquity.positions)
                                   .where(PortfolioAccountEquity.account_id == acct.id)
                                   .order_by(PortfolioAccountEquity.ts_ms.desc()).limit(1)).first()
    if last is None:
        return PortfolioPaperResult(acct.name, acct.symbols, 0, None, None, 0, acct.initial_capital,
                                    acct.initial_capital, 0, used)
    held = sum(1 for p in last[2] if p[0] != 0)
    return PortfolioPaperResult(acct.name, acct.symbols, 0, None, None, 0, float(last[0]), float(last[1]),
                                held, used)


def _rows(aligned: Any, start: int, res: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from tradebot.analysis.portfolio_report import forward_fill
    from tradebot.services.backtest import trade_rows

    ts = aligned.timestamp
    trades = [{**t, "symbol": aligned.symbols[int(m)]}
              for t, m in zip(trade_rows(res.trades, ts), res.trade_market, strict=True)]
    marks = forward_fill(aligned.close)[:, start:]
    equity = [{"ts_ms": int(ts[start + i]), "equity": float(res.equity[i]), "cash": float(res.cash[i]),
               "positions": [[float(u), None if np.isnan(marks[m, i]) else float(marks[m, i])]
                             for m, u in enumerate(res.position[i])]}
              for i in range(res.equity.shape[0])]
    return trades, equity


def _store(ctx: Context, acct: _Account, state: list[float] | None, aligned: Any, start: int,
           trades: list[dict[str, Any]], equity: list[dict[str, Any]]) -> None:
    """One transaction: create the account if new, append the trades and equity, move the
    state and the last bar; refuses when another run moved the account meanwhile."""
    from sqlalchemy import insert, select

    from tradebot.data.base import utcnow
    from tradebot.data.portfolio_models import PortfolioAccount, PortfolioAccountEquity, PortfolioAccountTrade

    last_bar = int(aligned.timestamp[-1]) if equity else acct.last_bar_ms
    try:
        with ctx.store.session() as session:
            if acct.id is None:
                taken = session.scalars(select(PortfolioAccount.id).where(PortfolioAccount.name == acct.name))
                if taken.first() is not None:
                    raise UsageError(f"paper account {acct.name!r} was created by another run")
                row = PortfolioAccount(name=acct.name, exchange=acct.exchange, timeframe=acct.timeframe,
                                       symbols=list(acct.symbols), strategy=acct.strategy, params=acct.params,
                                       config=acct.config, initial_capital=acct.initial_capital,
                                       history_start_ms=acct.history_start_ms, last_bar_ms=acct.last_bar_ms,
                                       state=acct.state, trades_count=0)
                session.add(row)
                session.flush()
            else:
                found = session.get(PortfolioAccount, acct.id, with_for_update=True)
                if found is None or found.last_bar_ms != acct.last_bar_ms:
                    raise UsageError(f"paper account {acct.name!r} was advanced by another run")
                row = found
            if trades:
                session.execute(insert(PortfolioAccountTrade), [
                    {**t, "account_id": row.id, "seq": acct.trades_count + i} for i, t in enumerate(trades)])
            if equity:
                session.execute(insert(PortfolioAccountEquity), [{**e, "account_id": row.id} for e in equity])
            if state is not None:
                row.state = state
                row.last_bar_ms = last_bar
                row.trades_count = acct.trades_count + len(trades)
            row.updated_at = utcnow()
    except StoreError as e:
        if "locked" not in str(e):
            raise
        raise StoreError(f"{e} (another process holds a lock on it); paper account {acct.name!r} "
                         "was not changed, run again later") from e


def portfolio_account_report(ctx: Context, account: str) -> dict[str, Any] | None:
    """A portfolio paper account: equity, cash, positions per pair at the last mark, the
    per-pair table, exposure by asset over time, correlation of the markets' daily returns,
    daily P&L against the target and the closed trades; None when ``account`` is not a
    portfolio account."""
    from sqlalchemy import select

    from tradebot.analysis.metrics import daily_pnl, daily_summary
    from tradebot.analysis.portfolio_report import asset_exposure, correlation, pair_table
    from tradebot.data.base import TradeColumns
    from tradebot.data.portfolio_models import PortfolioAccountEquity, PortfolioAccountTrade
    from tradebot.engine.result import EXIT_SIGNAL, TRADE_DTYPE

    acct = get_account(ctx, account)
    if acct is None:
        return None
    fields = [k for k in vars(TradeColumns) if not k.startswith("_")]
    with ctx.store.session() as session:
        trades = [{"seq": t.seq, "pair": t.symbol, **{k: getattr(t, k) for k in fields}}
                  for t in session.scalars(select(PortfolioAccountTrade).where(
                      PortfolioAccountTrade.account_id == acct.id).order_by(PortfolioAccountTrade.seq))]
        eq_rows = [(e.ts_ms, e.equity, e.cash, e.positions) for e in session.scalars(
            select(PortfolioAccountEquity).where(PortfolioAccountEquity.account_id == acct.id)
            .order_by(PortfolioAccountEquity.ts_ms))]
    syms = acct.symbols
    m = len(syms)
    ts = np.array([r[0] for r in eq_rows], dtype=np.int64)
    eq = np.array([r[1] for r in eq_rows], dtype=np.float64)
    units = np.array([[p[0] for p in r[3]] for r in eq_rows], dtype=np.float64).T.reshape(m, ts.size)
    marks = np.array([[np.nan if p[1] is None else p[1] for p in r[3]] for r in eq_rows],
                     dtype=np.float64).T.reshape(m, ts.size)
    by_pair = [[t for t in trades if t["pair"] == s] for s in syms]
    closed = np.zeros(len(trades), dtype=TRADE_DTYPE)
    if ts.size and trades:
        closed["exit_idx"] = np.clip(np.searchsorted(ts, [t["exit_ts_ms"] for t in trades]), 0, ts.size - 1)
        closed["exit_reason"] = EXIT_SIGNAL
    target = ctx.settings.risk.daily_profit_target
    daily = daily_pnl(ts, eq, acct.initial_capital, closed, target) if ts.size else []
    positions = [{"pair": s, "units": float(units[i, -1]), "mark": None if np.isnan(marks[i, -1]) else
                  float(marks[i, -1])} for i, s in enumerate(syms) if ts.size and units[i, -1] != 0]
    return {
        "account": acct.name, "kind": "portfolio",
        "market": f"{acct.exchange} {','.join(syms)} {acct.timeframe}",
        "pairs": list(syms), "strategy": acct.strategy, "params": acct.params,
        "rules": acct.config.get("portfolio"), "initial_capital": acct.initial_capital,
        "last_bar_ms": acct.last_bar_ms, "equity": float(eq[-1]) if eq.size else acct.initial_capital,
        "cash": float(eq_rows[-1][2]) if eq_rows else acct.initial_capital,
        "positions": positions, "trades": trades,
        "portfolio": {
            "symbols": list(syms),
            "pairs": pair_table(syms, by_pair, units, acct.initial_capital),
            "exposure": asset_exposure(syms, ts, units, marks, eq) if ts.size else None,
            "correlation": correlation(syms, ts, marks) if ts.size else None,
        },
        "daily": daily, "daily_summary": daily_summary(daily, target) if daily else None,
    }


def account_equity(ctx: Context, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps ms, equity) of every processed bar of the portfolio account ``name``."""
    from sqlalchemy import select

    from tradebot.data.portfolio_models import PortfolioAccount, PortfolioAccountEquity

    with ctx.store.session() as session:
        rows = session.execute(select(PortfolioAccountEquity.ts_ms, PortfolioAccountEquity.equity)
                               .join(PortfolioAccount, PortfolioAccount.id == PortfolioAccountEquity.account_id)
                               .where(PortfolioAccount.name == name).order_by(PortfolioAccountEquity.ts_ms)).all()
    return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float64))
