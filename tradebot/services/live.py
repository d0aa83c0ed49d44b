"""``tradebot live``: a portfolio account (one market or many) whose decisions become
orders on an exchange.

A live account IS a portfolio account (``portfolio_accounts.mode`` ``live`` or
``dry-run``), cron-safe as the paper ones: the same exclusive lock per account name (one
name space for every kind of account), every check before anything is written or sent,
catch-up over the closed candles by advancing the compiled portfolio loop from the
persisted state (so a live account's decisions on a history are the backtest's). One run:

1. checks: the account's strategy, exchange, timeframe and symbols (a later run must ask
   for what the account was created with), the symbols and timeframe on the exchange
   (``load_markets``), the switches (below);
2. under the lock: the kill switch and, for a real account, reconciliation of the
   exchange against the ledger (a difference beyond dust stops trading: exit 3);
3. the closed candles are fetched from the exchange into the cache (as ``fetch`` does),
   the portfolio loop advances over the new bars, the state is committed;
4. open orders of earlier runs are brought forward (``submit_or_adopt``: pending ones are
   retried, an order whose answer was lost is adopted; one of an older bar that never
   reached the exchange is superseded), their fills taken into the ledger;
5. the orders the engine left pending become intents (:mod:`tradebot.services.live_step`),
   each rounded to the market's rules (an order that cannot satisfy them is stored
   ``rejected`` with the reason, never sent), checked by the guards (limits, price
   deviation, kill switch), and sent — or, in a dry run, filled at the last price with the
   configured taker fee (in the quote asset);
6. fills (``fetch_my_trades`` of each order) go to ``live_fills`` with their fees.

Real orders need all three switches: API keys (environment or a 0600 secrets file),
``live.enabled = true``, and when the account is created a typed confirmation (the symbol)
or ``--yes-i-understand-real-money``. Without them the account is a dry run: the whole
step, nothing sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import ConfigError, TradebotError, UsageError
from tradebot.core.orders import OrderRecord, OrderState
from tradebot.core.pairs import PairList
from tradebot.core.timeframes import timeframe_ms
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.exchanges.ccxt_exchange import CcxtExchange
    from tradebot.services.live_step import Intent
    from tradebot.services.paper_portfolio import _Account

__all__ = ["LiveResult", "LiveStopped", "OrderLine", "live_mode", "open_exchange", "run_live"]

S = OrderState
LIVE, DRY = "live", "dry-run"


class LiveStopped(TradebotError):
    """Trading stopped by reconciliation (exit 3); the message is the report."""

    exit_code = 3


@dataclass(frozen=True)
class OrderLine:
    """One intent of a run and what became of it (``action``: sent, adopted, pending,
    rejected, simulated, refreshed, done)."""

    client_order_id: str
    symbol: str
    side: str
    amount: float
    state: str
    action: str
    signal_close: float | None = None  # the engine's price (the decision bar's close)
    average: float | None = None  # the exchange's average fill price
    reason: str | None = None


@dataclass(frozen=True)
class LiveResult:
    account: str
    mode: str  # live or dry-run
    testnet: bool
    symbols: tuple[str, ...]
    processed: int  # bars of the union timeline processed by this run
    first_ms: int | None
    last_ms: int | None
    intents: int
    sent: int
    adopted: int
    pending: int
    rejected: int
    fills: int
    equity: float  # the engine's (simulated) equity at the last close
    cash: float
    orders: tuple[OrderLine, ...] = field(default_factory=tuple)
    stopped: str | None = None  # the kill switch's reason when it refused entries

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def live_mode(ctx: Context) -> str:
    """``live`` when ``live.enabled`` is true, else ``dry-run``."""
    return LIVE if ctx.settings.live.enabled else DRY


def _check_existing(acct: _Account, mode: str, acct_mode: str | None, pairs: PairList | None,
                    requested: dict[str, str | None]) -> None:
    name = acct.name
    if acct_mode not in (LIVE, DRY):
        raise UsageError(f"account {name!r} is a paper account; a live account needs another --account name")
    if acct_mode == DRY and mode == LIVE:
        raise UsageError(f"live account {name!r} is a dry run (created without live.enabled); real orders need "
                         "a new account (another --account name)")
    if acct_mode == LIVE and mode == DRY:
        raise UsageError(f"live account {name!r} trades real money but live.enabled is false: nothing was sent "
                         "(set live.enabled = true to run it)")
    if pairs is not None and tuple(pairs.symbols) != acct.symbols:
        raise UsageError(f"live account {name!r} trades {','.join(acct.symbols)}; --symbol/--symbols "
                         f"{','.join(pairs.symbols)} only applies to a new account (use another --account name)")
    have = {"strategy": acct.strategy, "exchange": acct.exchange, "timeframe": acct.timeframe}
    for key, want in requested.items():
        if want is not None and key in have and str(want).strip().lower() != have[key].lower():
            raise UsageError(f"live account {name!r} trades {acct.strategy} on {acct.exchange} {acct.timeframe}; "
                             f"--{key} {want} only applies to a new account (use another --account name)")


def _plan_new(ctx: Context, account: str, pairs: PairList | None, mode: str, now: int) -> _Account:
    """Every check of a new live account; no writes."""
    from tradebot.engine.portfolio import check_quotes, new_portfolio_state
    from tradebot.services.backtest import engine_config
    from tradebot.services.paper import _peek_account
    from tradebot.services.paper_portfolio import _Account
    from tradebot.services.portfolio_backtest import check_rank, portfolio_config

    if _peek_account(ctx, account) is not None:
        raise UsageError(f"account {account!r} is a one-market paper account; a live account needs another "
                         "--account name")
    if pairs is None or not pairs.symbols:
        raise UsageError(f"no live account named {account!r}; give --symbol or --symbols to create one")
    s = ctx.settings
    m = s.market
    if m.market_type != "spot":
        raise UsageError(f"live trading is spot only (market.market_type is {m.market_type!r})")
    if s.portfolio.pair_params:
        raise UsageError("portfolio.pair_params: a live account takes one parameter set for all pairs")
    try:
        check_quotes(pairs.symbols)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    pcfg = portfolio_config(s, len(pairs.symbols))
    strategy = ctx.registry.create(s.strategy.name, dict(s.strategy.params))
    check_rank(strategy, pcfg.rank)
    cfg = engine_config(s)
    if cfg.allow_short:
        raise UsageError("risk: allow_short is on; a live account trades spot and cannot sell short")
    tf = timeframe_ms(m.timeframe)
    start = (now // tf) * tf - tf  # the last closed bar
    history_start = start - max(strategy.warmup_bars, 1) * tf
    state = new_portfolio_state(cfg, pcfg, len(pairs.symbols))
    config = {"engine": asdict(cfg), "portfolio": asdict(pcfg), "market_source": "exchange",
              "pairlist": pairs.to_dict(), "mode": mode, "order_scope": secrets.token_hex(8)}
    return _Account(None, account, m.exchange.strip().lower(), m.timeframe, tuple(pairs.symbols), strategy.name,
                    strategy.parameters, config, cfg.initial_capital, history_start, start - tf, state.tolist(), 0,
                    mode)


def _exchange(ctx: Context, exchange_id: str, mode: str, testnet: bool) -> CcxtExchange:
    """The adapter: keys only for a real account (a dry run reads public data only)."""
    from tradebot.exchanges.ccxt_exchange import CcxtExchange
    from tradebot.exchanges.credentials import load_credentials
    from tradebot.exchanges.factory import _credentials
    from tradebot.exchanges.retry import RetryPolicy

    eid = exchange_id.strip().lower()
    if eid == "sim":
        raise UsageError("live trading needs a real exchange (--exchange binance, ...), not the sim market")
    keys: dict[str, str | None] = {}
    if mode == LIVE:
        keys = load_credentials(eid).adapter_kwargs()
    conf = _credentials(ctx.settings, eid)
    recv = ctx.settings.live.recv_window_ms
    return CcxtExchange(eid, market_type="spot", base_url=(conf.base_url or None) if conf is not None else None,
                        timeout_ms=conf.timeout_ms if conf is not None else 10_000,
                        rate_limit=conf.rate_limit if conf is not None else True, retry=RetryPolicy(),
                        sandbox=testnet, recv_window_ms=recv, api_key=keys.get("api_key"),
                        secret=keys.get("secret"), password=keys.get("password"),
                        markets_cache=ctx.home / "cache" / "markets", markets_ttl_s=ctx.settings.live.markets_ttl_s)


def _confirm(account: str, pairs: PairList | None, yes: bool, confirm: Callable[[str], bool] | None) -> None:
    if yes:
        return
    symbol = pairs.symbols[0] if pairs is not None and pairs.symbols else "?"
    if confirm is None or not confirm(symbol):
        raise UsageError(f"live account {account!r} would trade real money: confirm by typing {symbol} on a "
                         "terminal, or pass --yes-i-understand-real-money; nothing was sent")


def open_exchange(ctx: Context, account: str, *, testnet: bool = False) -> CcxtExchange:
    """The adapter a run of ``account`` trades through (keys only for a real account), for a
    caller that keeps it across runs (``--loop``: markets are loaded once)."""
    from tradebot.services.paper_portfolio import get_account

    acct = get_account(ctx, account)
    exchange_id = acct.exchange if acct is not None else ctx.settings.market.exchange
    return _exchange(ctx, exchange_id, live_mode(ctx), bool(testnet or ctx.settings.live.testnet))


def run_live(ctx: Context, account: str, pairs: PairList | None = None, *, testnet: bool = False,
             yes: bool = False, confirm: Callable[[str], bool] | None = None, wait: bool = False,
             now_ms: int | None = None, requested: dict[str, str | None] | None = None,
             exchange: CcxtExchange | None = None) -> LiveResult:
    """One run of the live account ``account`` (see the module docstring). ``pairs``: the
    markets of a new account (an existing one keeps its own). ``confirm(symbol)``: asks the
    user to type the symbol (the CLI on a terminal); ``yes``: the unattended confirmation.
    ``now_ms``: the market clock (default: the exchange's time). ``exchange``: an adapter
    from :func:`open_exchange` to reuse (not closed here)."""
    from tradebot.services.paper import account_lock, check_account_name
    from tradebot.services.paper_portfolio import get_account

    check_account_name(account)
    requested = requested or {}
    mode = live_mode(ctx)
    testnet = bool(testnet or ctx.settings.live.testnet)
    acct = get_account(ctx, account)
    if acct is not None:
        _check_existing(acct, mode, acct.mode, pairs, requested)
    exchange_id = acct.exchange if acct is not None else ctx.settings.market.exchange
    if exchange is not None and exchange.id != exchange_id.strip().lower():
        raise UsageError(f"live account {account!r} trades on {exchange_id}, not {exchange.id}")
    ex = exchange if exchange is not None else _exchange(ctx, exchange_id, mode, testnet)
    try:
        symbols = acct.symbols if acct is not None else (pairs.symbols if pairs is not None else ())
        if acct is None:
            if pairs is None:
                raise UsageError(f"no live account named {account!r}; give --symbol or --symbols to create one")
            pairs = PairList(tuple(ex.resolve_symbol(s) for s in pairs.symbols), pairs.source, pairs.details)
            symbols = pairs.symbols
        rules = {sym: ex.market_rules(sym) for sym in symbols}  # unknown symbol: exit 2
        ex.check_timeframe(acct.timeframe if acct is not None else ctx.settings.market.timeframe)
        now = int(now_ms) if now_ms is not None else ex.server_time_ms()
        if acct is None:
            _plan_new(ctx, account, pairs, mode, now)
            if mode == LIVE:
                _confirm(account, pairs, yes or not ctx.settings.live.confirm_first_run, confirm)
        with account_lock(ctx.home, account, wait):
            acct = get_account(ctx, account)
            created = acct is None
            if acct is not None:
                _check_existing(acct, mode, acct.mode, pairs if pairs is not None and
                                pairs.symbols != acct.symbols else None, requested)
            else:
                acct = _create(ctx, _plan_new(ctx, account, pairs, mode, now), mode, testnet)
            from tradebot.services.live_run import LiveRun

            return LiveRun(ctx, acct, mode, testnet, ex, rules, now, created).run()
    finally:
        if exchange is None:
            ex.close()


def _create(ctx: Context, plan: _Account, mode: str, testnet: bool) -> _Account:
    """Store the new account (its own transaction) and record who confirmed what."""
    from sqlalchemy import select

    from tradebot.data.portfolio_models import PortfolioAccount
    from tradebot.services.live_ledger import record_event
    from tradebot.services.paper_portfolio import get_account

    with ctx.store.session() as session:
        if session.scalars(select(PortfolioAccount.id).where(PortfolioAccount.name == plan.name)).first():
            raise UsageError(f"account {plan.name!r} was created by another run")
        row = PortfolioAccount(name=plan.name, exchange=plan.exchange, timeframe=plan.timeframe,
                               symbols=list(plan.symbols), strategy=plan.strategy, params=plan.params,
                               config=plan.config, initial_capital=plan.initial_capital,
                               history_start_ms=plan.history_start_ms, last_bar_ms=plan.last_bar_ms,
                               state=plan.state, trades_count=0, mode=mode)
        session.add(row)
        session.flush()
        record_event(session, row.id, "created", {"mode": mode, "testnet": testnet, "symbols": list(plan.symbols),
                                                  "strategy": plan.strategy, "exchange": plan.exchange,
                                                  "timeframe": plan.timeframe})
    created = get_account(ctx, plan.name)
    assert created is not None
    return created


def last_closes(aligned: Any) -> np.ndarray:
    """Each market's last real close on ``aligned`` (NaN before its first candle)."""
    from tradebot.analysis.portfolio_report import forward_fill

    return np.asarray(forward_fill(aligned.close)[:, -1], dtype=np.float64)


def order_line(intent: Intent | None, rec: OrderRecord, action: str) -> OrderLine:
    return OrderLine(rec.client_order_id, rec.symbol, rec.side, rec.amount, rec.state.value, action,
                     None if intent is None else intent.signal_close, rec.average, rec.reason)
