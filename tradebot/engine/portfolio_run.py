"""The Python side of the portfolio engine: inputs to arrays, the compiled loop, results.

The public names are in :mod:`tradebot.engine.portfolio`; this module holds their bodies
(numba is imported only when a portfolio runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tradebot.core.errors import ConfigError
from tradebot.core.signals import Signals
from tradebot.engine.backtest import atr_for, trades_to_records
from tradebot.engine.config import EngineConfig
from tradebot.engine.layout import N_BLOCKED_COLS, N_FILL_COLS, N_TRADE_COLS, S_CASH
from tradebot.engine.portfolio import (
    ACCOUNT_FIELDS,
    PORTFOLIO_BLOCKED_DTYPE,
    AlignedMarkets,
    PortfolioConfig,
    PortfolioResult,
    PortfolioStepResult,
)
from tradebot.engine.result import BacktestResult, fills_to_records

_STAKE = {"fixed": 0.0, "fraction": 1.0, "equal": 2.0}
_RANK = {"order": 0.0, "score": 1.0, "signal": 2.0}
PS_HEADER = 4  # portfolio_nb.PS_HEADER (kept here: no numba import to read a state)


def configs_for(config: EngineConfig | Sequence[EngineConfig], symbols: Sequence[str]
                ) -> list[EngineConfig]:
    """One EngineConfig per market; per-market configs must agree on the account fields."""
    n = len(symbols)
    if isinstance(config, EngineConfig):
        return [config] * n
    cfgs = list(config)
    if len(cfgs) != n:
        raise ConfigError(f"portfolio: {len(cfgs)} engine configs for {n} markets")
    for name in ACCOUNT_FIELDS:
        values = [getattr(c, name) for c in cfgs]
        if any(v != values[0] for v in values[1:]):
            parts = ", ".join(f"{s}={v!r}" for s, v in zip(symbols, values, strict=True))
            raise ConfigError(f"portfolio: {name} belongs to the account and must be the same "
                              f"for every pair ({parts})")
    return cfgs


def portfolio_vector(portfolio: PortfolioConfig) -> np.ndarray:
    return np.array([portfolio.max_open_positions, _STAKE[portfolio.stake],
                     portfolio.stake_amount, _RANK[portfolio.rank]], dtype=np.float64)


def _on_union(a: np.ndarray, present: np.ndarray, what: str, symbol: str) -> np.ndarray:
    """A per-bar array of one market on the union timeline (given on it, or on the
    market's own candles)."""
    a = np.asarray(a)
    n = present.shape[0]
    if a.shape == (n,):
        return a
    k = int(present.sum())
    if a.shape == (k,):
        out = np.zeros(n, dtype=a.dtype)
        out[present] = a
        return out
    raise ValueError(f"{symbol}: {what} has shape {a.shape}, expected ({n},) (the union "
                     f"timeline) or ({k},) (its own candles)")


def _signal_matrix(aligned: AlignedMarkets, signals: Sequence[Signals],
                   cfgs: list[EngineConfig]) -> np.ndarray:
    """The loop's signal matrix: (n_markets, n_bars) uint8, market-major (each row built
    in place from the market's arrays), one bit per signal (``portfolio_nb.SIG_*``: entry
    1, exit 2, short entry 4, short exit 8). Short signals count only for a market allowed
    to go short. (A bit where the market has no candle is ignored by the loop.)"""
    m, n = aligned.n_markets, aligned.n_bars
    if len(signals) != m:
        raise ValueError(f"{len(signals)} signal sets for {m} markets")
    out = np.empty((m, n), dtype=np.uint8)
    tmp = np.empty(n, dtype=np.uint8)
    for i, (sig, cfg) in enumerate(zip(signals, cfgs, strict=True)):
        p, sym = aligned.present[i], aligned.symbols[i]
        row = out[i]
        np.multiply(_bits(_on_union(sig.exits, p, "exits", sym)), 2, out=row)
        np.add(row, _bits(_on_union(sig.entries, p, "entries", sym)), out=row)
        if cfg.allow_short and sig.short_entries.size > 0:
            for a, what, bit in ((sig.short_entries, "short_entries", 4),
                                 (sig.short_exits, "short_exits", 8)):
                np.multiply(_bits(_on_union(a, p, what, sym)), bit, out=tmp)
                np.add(row, tmp, out=row)
    return out


def _bits(a: np.ndarray) -> np.ndarray:
    """A signal array as 0/1 bytes (any nonzero value is a signal, as ``bool``)."""
    if a.dtype == np.bool_:
        return a.view(np.uint8)
    return (a != 0).view(np.uint8)


def _needs_atr(c: EngineConfig) -> bool:
    """The condition of :func:`tradebot.engine.backtest.atr_for` (ATR slippage, or
    fixed-risk sizing without a stop-loss)."""
    return c.slippage_atr_mult > 0.0 or (c.sizing == "fixed_risk" and c.stop_loss_pct is None)


def _atr_matrix(aligned: AlignedMarkets, cfgs: list[EngineConfig]) -> np.ndarray:
    m, n = aligned.n_markets, aligned.n_bars
    if not any(_needs_atr(c) for c in cfgs):
        return np.zeros((m, 0))
    rows = [atr_for(aligned.candles(i), c) if _needs_atr(c) else np.zeros(0)
            for i, c in enumerate(cfgs)]
    if all(r.size == 0 for r in rows):
        return np.zeros((m, 0))
    out = np.full((n, m), np.nan).T
    for i, r in enumerate(rows):
        if r.size:
            out[i, aligned.present[i]] = r
    return out


def signal_strength(aligned: AlignedMarkets) -> np.ndarray:
    """Each bar's close over the market's previous real close, minus 1 (NaN at its first
    candle and where it has none): the long entry's strength for ``rank="signal"``."""
    out = np.full((aligned.n_bars, aligned.n_markets), np.nan).T
    for i in range(aligned.n_markets):
        p = aligned.present[i]
        c = aligned.close[i, p]
        r = np.full(c.shape[0], np.nan)
        if c.shape[0] > 1:
            r[1:] = c[1:] / c[:-1] - 1.0
        out[i, p] = r
    return out


def _keys(aligned: AlignedMarkets, portfolio: PortfolioConfig,
          scores: np.ndarray | None) -> np.ndarray:
    m, n = aligned.n_markets, aligned.n_bars
    if portfolio.rank == "order":
        return np.zeros((m, 0))
    if portfolio.rank == "signal":
        return signal_strength(aligned)
    if scores is None:
        raise ConfigError("portfolio: rank='score' needs a scores array (n_markets, n_bars)")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (m, n):
        raise ValueError(f"scores has shape {s.shape}, expected ({m}, {n})")
    return s


def _params(cfgs: list[EngineConfig]) -> np.ndarray:
    vectors: dict[int, np.ndarray] = {}  # one config shared by every market: one vector
    for c in cfgs:
        if id(c) not in vectors:
            vectors[id(c)] = c.to_vector()
    return np.ascontiguousarray(np.stack([vectors[id(c)] for c in cfgs]))


def _loop(cfgs: Sequence[EngineConfig], n_bars: int) -> Any:
    """engine/portfolio_nb.py for a step of ``n_bars``: compiled, or its interpreted copy
    (the same source, bit for bit) for a few bars in a process that has not loaded numba,
    as the single-market step does (see :mod:`tradebot.engine.interpreted`)."""
    from tradebot.engine import interpreted

    if all(interpreted.available(c.to_vector(), n_bars) for c in cfgs):
        return interpreted.module("tradebot.engine.portfolio_nb")
    from tradebot.engine import portfolio_nb

    return portfolio_nb


def new_portfolio_state(config: EngineConfig | Sequence[EngineConfig],
                        portfolio: PortfolioConfig, n_markets: int) -> np.ndarray:
    if n_markets < 1:
        raise ConfigError("portfolio: the pair list is empty")
    cfg = config if isinstance(config, EngineConfig) else list(config)[0]
    return np.asarray(_loop([cfg], 0).new_portfolio_state_nb(cfg.to_vector(), n_markets))


def _inputs(aligned: AlignedMarkets, signals: Sequence[Signals],
            config: EngineConfig | Sequence[EngineConfig], portfolio: PortfolioConfig,
            scores: np.ndarray | None) -> tuple[list[EngineConfig], tuple[Any, ...]]:
    cfgs = configs_for(config, aligned.symbols)
    sig = _signal_matrix(aligned, signals, cfgs)
    args = (np.ascontiguousarray(aligned.timestamp, dtype=np.int64),
            *(_bar_major(a) for a in (
                aligned.present.astype(np.bool_, copy=False), aligned.open, aligned.high,
                aligned.low, aligned.close, aligned.volume, _atr_matrix(aligned, cfgs))),
            sig, _bar_major(_keys(aligned, portfolio, scores)), _params(cfgs),
            portfolio_vector(portfolio))
    return cfgs, args


def _with_match(cfgs: list[EngineConfig]) -> np.ndarray | None:
    """The kernel's ``with_match`` flag: None (the matching code is not compiled) unless a
    market uses the order-matching model."""
    return np.zeros(0) if any(c.matching for c in cfgs) else None


def _bar_major(a: np.ndarray) -> np.ndarray:
    """An (n_markets, n_bars) array as the loop takes it: its (n_bars, n_markets)
    C-ordered transpose (no copy for the bar-major arrays of :func:`align`)."""
    if a.dtype != np.bool_:
        a = a.astype(np.float64, copy=False)
    return np.ascontiguousarray(a.T)


def _buffers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.empty((64, N_TRADE_COLS + 1)), np.empty((8, N_BLOCKED_COLS + 1)),
            np.empty((128, N_FILL_COLS + 1)))


def _blocked(raw: np.ndarray) -> np.ndarray:
    out = np.empty(raw.shape[0], dtype=PORTFOLIO_BLOCKED_DTYPE)
    out["market"] = raw[:, N_BLOCKED_COLS]
    out["bar_idx"] = raw[:, 0]
    out["reason"] = raw[:, 1]
    return out


def run_portfolio(aligned: AlignedMarkets, signals: Sequence[Signals],
                  config: EngineConfig | Sequence[EngineConfig], portfolio: PortfolioConfig,
                  scores: np.ndarray | None = None) -> PortfolioResult:
    from tradebot.engine.portfolio_nb import close_open_trades_nb, run_portfolio_nb

    cfgs, args = _inputs(aligned, signals, config, portfolio, scores)
    n, m = aligned.n_bars, aligned.n_markets
    params = args[-2]
    ps = new_portfolio_state(cfgs, portfolio, m)
    equity = np.empty(n)
    cash = np.empty(n)
    trades, blocked, fills = _buffers()
    wm = _with_match(cfgs)
    trades, n_trades, blocked, n_blocked, fills, n_fills = run_portfolio_nb(
        0, n, *args, ps, trades, 0, blocked, 0, fills, 0, equity, cash, np.empty((0, m)), wm)
    if n > 0:
        trades, n_trades = close_open_trades_nb(n - 1, params, ps, trades, n_trades, wm)
    t = trades[:n_trades]
    f = fills[:n_fills]
    return PortfolioResult(
        aligned.timestamp, equity, cash, trades_to_records(t[:, :N_TRADE_COLS]),
        t[:, N_TRADE_COLS].astype(np.int64), fills_to_records(f[:, :N_FILL_COLS]),
        f[:, N_FILL_COLS].astype(np.int64), _blocked(blocked[:n_blocked]), aligned.symbols,
        cfgs[0].initial_capital, aligned)


def advance_portfolio(aligned: AlignedMarkets, signals: Sequence[Signals],
                      config: EngineConfig | Sequence[EngineConfig],
                      portfolio: PortfolioConfig, state: np.ndarray, start: int,
                      scores: np.ndarray | None = None) -> PortfolioStepResult:
    cfgs, args = _inputs(aligned, signals, config, portfolio, scores)
    n, m = aligned.n_bars, aligned.n_markets
    run_portfolio_nb = _loop(cfgs, n - start).run_portfolio_nb
    ps = np.array(state, dtype=np.float64)
    fresh = new_portfolio_state(cfgs, portfolio, m)
    if ps.shape != fresh.shape or int(ps[0]) != m:
        raise ConfigError(f"portfolio: the persisted state has {ps.shape[0]} values, a "
                          f"{m}-market account of this config needs {fresh.shape[0]}")
    if not 0 <= start <= n:
        raise ValueError(f"start={start} outside [0, {n}]")
    equity = np.full(n, np.nan)
    cash = np.full(n, np.nan)
    pos = np.zeros((n, m))
    trades, blocked, fills = _buffers()
    trades, n_trades, blocked, n_blocked, fills, n_fills = run_portfolio_nb(
        start, n, *args, ps, trades, 0, blocked, 0, fills, 0, equity, cash, pos,
        _with_match(cfgs))
    t = trades[:n_trades]
    f = fills[:n_fills]
    return PortfolioStepResult(
        ps, equity[start:], cash[start:], pos[start:], trades_to_records(t[:, :N_TRADE_COLS]),
        t[:, N_TRADE_COLS].astype(np.int64), fills_to_records(f[:, :N_FILL_COLS]),
        f[:, N_FILL_COLS].astype(np.int64), _blocked(blocked[:n_blocked]))


def state_cash(state: np.ndarray) -> float:
    """The free cash held in a persisted portfolio state."""
    return float(state[PS_HEADER + S_CASH])


def per_market_results(res: PortfolioResult) -> tuple[BacktestResult, ...]:
    """Each market's trades, fills and equity contribution on the union timeline."""
    from tradebot.engine.kernels import positions_from_fills_nb

    al = res.aligned
    n = res.timestamp.shape[0]
    out = []
    for m in range(len(res.symbols)):
        trades = res.trades[res.trade_market == m]
        fills = res.fills[res.fill_market == m]
        blocked = res.blocked[res.blocked["market"] == m]
        b = np.empty(blocked.shape[0], dtype=[("bar_idx", np.int64), ("reason", np.int8)])
        b["bar_idx"] = blocked["bar_idx"]
        b["reason"] = blocked["reason"]
        # the mark: the market's last real close (0 before its first candle)
        p = al.present[m]
        idx = np.maximum.accumulate(np.where(p, np.arange(n), -1))
        mark = np.where(idx >= 0, al.close[m, np.maximum(idx, 0)], 0.0)
        if len(res.symbols) == 1:
            equity = res.equity
        else:
            pos = positions_from_fills_nb(n, fills["bar_idx"].astype(np.int64),
                                          fills["side"].astype(np.float64),
                                          fills["qty"].astype(np.float64))
            flow = np.zeros(n)
            side = fills["side"].astype(np.float64)
            np.add.at(flow, fills["bar_idx"],
                      -side * fills["qty"] * fills["price"] - fills["fee"])
            equity = res.initial_capital + np.cumsum(flow) + pos * mark
        out.append(BacktestResult(res.timestamp, mark, equity, trades, res.initial_capital,
                                  b, fills))
    return tuple(out)
