"""Portfolios: one account (one cash balance) trading N markets on one aligned timeline.

The markets are aligned on the union of their timestamps (:func:`align`); a market with no
candle at a bar neither trades nor is marked to a made-up price (its position keeps the
value of its last real close). :func:`run_portfolio` runs the compiled portfolio loop
(:mod:`tradebot.engine.portfolio_nb`) over the whole history; :func:`advance_portfolio`
runs the same loop from a persisted state over the bars after ``start`` (paper), so a
history replayed candle by candle trades exactly as one batch run.

Per bar: the exits and stops of every market first (in pair order), then the entries that
are due, ranked by the declared rule when slots (``max_open_positions``) or cash run short,
each sized from its stake; then the account is marked at the close, the account-wide risk
rules (daily loss, trades per day, drawdown breaker, loss cooldown) are applied and the
signals of the markets that have a candle at this bar become orders. The rules are written
down in docs/decisions/0017-portfolio-ordering-and-alignment.md.

A portfolio of one market is today's single-market backtest
(:func:`tradebot.engine.backtest.run_signals`) bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import ConfigError
from tradebot.core.signals import Signals
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import BLOCK_REASONS, BacktestResult

STAKES = ("fixed", "fraction", "equal")
RANKS = ("order", "signal", "score")

#: Blocked-entry reasons a portfolio adds to ``result.BLOCK_REASONS`` (codes 0..3).
BLOCK_NO_SLOT = 4  # every slot (max_open_positions) taken when the entry came due
BLOCK_NO_CASH = 5  # no free cash left when the entry came due
#: The names of every reason a portfolio's ``blocked['reason']`` can hold.
PORTFOLIO_BLOCK_REASONS = {**BLOCK_REASONS, BLOCK_NO_SLOT: "max_open_positions",
                           BLOCK_NO_CASH: "no_cash"}

#: Blocked entries of a portfolio: the market (index into ``symbols``) added.
PORTFOLIO_BLOCKED_DTYPE = np.dtype([("market", np.int64), ("bar_idx", np.int64),
                                    ("reason", np.int8)])


@dataclass(frozen=True)
class PortfolioConfig:
    """How a portfolio shares its cash between its markets.

    - ``max_open_positions`` (>= 1): positions held at once, all markets together; an entry
      that comes due while every slot is taken is cancelled (blocked, reason
      ``max_open_positions``).
    - ``stake``: the cash one new position may use, on top of the sizing mode (the sizing
      mode sees the stake as the account's cash: ``fixed_fraction`` 1.0 spends the whole
      stake, fee included):
      ``"fixed"``: ``stake_amount`` quote currency; ``"fraction"``: ``stake_amount`` × the
      account equity at the previous close; ``"equal"``: free cash / free slots. Always
      capped by the free cash.
    - ``rank``: the order in which entries due at the same bar take slots and cash:
      ``"order"`` (pair order), ``"signal"`` (signal strength: the deciding bar's
      close-to-close return in the entry's direction, strongest first), ``"score"`` (the
      ``scores`` array given to :func:`run_portfolio`, at the deciding bar, highest first).
      Ties go by pair order.

    Initial cash, fees, slippage, sizing mode and risk rules come from the
    :class:`EngineConfig` (one, or one per market: fees, slippage, stops, latency, shorts,
    order matching and the position cap may differ per market; the account-wide fields
    must agree, see :data:`ACCOUNT_FIELDS`).
    """

    max_open_positions: int
    stake: str = "equal"
    stake_amount: float = 0.0
    rank: str = "order"

    def __post_init__(self) -> None:
        v = self.max_open_positions
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"portfolio: max_open_positions={v!r} must be an integer >= 1")
        if self.stake not in STAKES:
            raise ConfigError(f"portfolio: stake={self.stake!r} must be one of "
                              + ", ".join(STAKES))
        if self.rank not in RANKS:
            raise ConfigError(f"portfolio: rank={self.rank!r} must be one of "
                              + ", ".join(RANKS))
        a = self.stake_amount
        if not (isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a)
                and a >= 0):
            raise ConfigError(f"portfolio: stake_amount={a!r} must be a number >= 0")
        if self.stake == "fixed" and a <= 0:
            raise ConfigError(f"portfolio: stake_amount={a!r} must be > 0 for a fixed stake")
        if self.stake == "fraction" and not 0 < a <= 1:
            raise ConfigError(f"portfolio: stake_amount={a!r} must be in (0, 1] for a "
                              "fraction stake")


#: EngineConfig fields that belong to the account, not to a market: per-market configs
#: must agree on them.
ACCOUNT_FIELDS = (
    "initial_capital", "sizing", "size_value", "risk_pct", "kelly_fraction", "max_fraction",
    "min_trades", "max_trades_per_day", "max_daily_loss", "max_drawdown_pct",
    "flatten_on_breaker", "breaker_cooldown_bars", "cooldown_after_losses", "cooldown_bars",
)


@dataclass(frozen=True)
class AlignedMarkets:
    """N markets on the union of their timestamps.

    ``present[m, t]`` is True when market ``m`` has a real candle at bar ``t``; the price
    arrays hold NaN where it has none (nothing is filled in). :func:`align` lays the
    (n_markets, n_bars) arrays out bar-major (Fortran order), as the loop reads them;
    other layouts are accepted (copied once per run).
    """

    timestamp: np.ndarray  # (n_bars,) int64 ms, sorted, unique
    present: np.ndarray  # (n_markets, n_bars) bool
    open: np.ndarray  # (n_markets, n_bars) float64, NaN where not present
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    symbols: tuple[str, ...]
    timeframe: str = ""

    @property
    def n_markets(self) -> int:
        return int(self.present.shape[0])

    @property
    def n_bars(self) -> int:
        return int(self.timestamp.shape[0])

    def candles(self, m: int) -> Candles:
        """Market ``m``'s real candles (its own timeline, no gaps filled)."""
        p = self.present[m]
        return Candles(self.timestamp[p], self.open[m, p], self.high[m, p], self.low[m, p],
                       self.close[m, p], self.volume[m, p], symbol=self.symbols[m],
                       timeframe=self.timeframe)


def quote_of(symbol: str) -> str:
    """The quote currency of ``BASE/QUOTE`` (``BASE/QUOTE:SETTLE`` for derivatives)."""
    if "/" not in symbol:
        return ""
    return symbol.split("/", 1)[1].split(":", 1)[0]


def check_quotes(symbols: Sequence[str]) -> None:
    """Refuse a pair list whose quote currencies differ (one cash balance, one currency)."""
    by_quote: dict[str, list[str]] = {}
    for s in symbols:
        by_quote.setdefault(quote_of(s), []).append(s)
    if len(by_quote) > 1:
        parts = "; ".join(f"{q or '?'}: {', '.join(v)}" for q, v in by_quote.items())
        raise ConfigError(f"portfolio: the pairs must share one quote currency ({parts})")


def align(markets: Sequence[Candles], symbols: Sequence[str]) -> AlignedMarkets:
    """Put ``markets`` (one Candles each, same timeframe) on the union of their timestamps.

    Raises ConfigError for an empty list, a length mismatch, duplicate symbols, mixed quote
    currencies or different timeframes.
    """
    syms = tuple(symbols)
    if not markets:
        raise ConfigError("portfolio: the pair list is empty")
    if len(syms) != len(markets):
        raise ConfigError(f"portfolio: {len(markets)} markets but {len(syms)} symbols")
    dup = sorted({s for s in syms if syms.count(s) > 1})
    if dup:
        raise ConfigError(f"portfolio: duplicate pairs: {', '.join(dup)}")
    check_quotes(syms)
    tfs = {c.timeframe for c in markets if c.timeframe}
    if len(tfs) > 1:
        parts = ", ".join(f"{s} {c.timeframe}" for s, c in zip(syms, markets, strict=True))
        raise ConfigError(f"portfolio: the pairs must share one timeframe ({parts})")
    ts_list = [np.ascontiguousarray(c.timestamp, dtype=np.int64) for c in markets]
    for s, ts in zip(syms, ts_list, strict=True):
        if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            raise ConfigError(f"portfolio: {s}: timestamps are not strictly increasing")
    if len(ts_list) == 1:
        timestamp = ts_list[0].copy()
    else:
        timestamp = np.unique(np.concatenate(ts_list))
    m, n = len(markets), timestamp.shape[0]
    # (n_markets, n_bars) views of (n_bars, n_markets) arrays: the loop reads every
    # market at one bar, which is then one contiguous run of memory
    present = np.zeros((n, m), dtype=np.bool_).T
    arrays = {k: np.full((n, m), np.nan).T
              for k in ("open", "high", "low", "close", "volume")}
    for i, (c, ts) in enumerate(zip(markets, ts_list, strict=True)):
        idx = np.searchsorted(timestamp, ts)
        present[i, idx] = True
        for k, a in arrays.items():
            a[i, idx] = getattr(c, k)
    return AlignedMarkets(timestamp, present, arrays["open"], arrays["high"], arrays["low"],
                          arrays["close"], arrays["volume"], syms,
                          next(iter(tfs)) if tfs else "")


@dataclass(frozen=True)
class PortfolioResult:
    """The account's equity and cash at every close of the union timeline, and what each
    market did.

    ``trades``/``fills``/``blocked`` hold every market's rows, each with its market index
    (``trade_market``, ``fill_market``, ``blocked['market']``); :attr:`per_market` splits
    them into one :class:`BacktestResult` per market on the union timeline (bar indices
    are union bars). A market's ``equity`` there is its contribution: the initial capital
    plus the cash its fills moved plus its position marked at its last real close (for a
    portfolio of one market: the portfolio equity itself).
    """

    timestamp: np.ndarray  # (n_bars,) int64 ms
    equity: np.ndarray  # (n_bars,) account equity at each close
    cash: np.ndarray  # (n_bars,) free cash at each close
    trades: np.ndarray  # TRADE_DTYPE, all markets, in booking order
    trade_market: np.ndarray  # (n_trades,) int64 market index of each trade
    fills: np.ndarray  # FILL_DTYPE, all markets, in execution order
    fill_market: np.ndarray  # (n_fills,) int64
    blocked: np.ndarray  # PORTFOLIO_BLOCKED_DTYPE
    symbols: tuple[str, ...]
    initial_capital: float
    aligned: AlignedMarkets = field(repr=False, compare=False)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if self.equity.size else self.initial_capital

    def trades_by_market(self) -> dict[str, np.ndarray]:
        """Each symbol's trades (TRADE_DTYPE, in booking order)."""
        return {s: self.trades[self.trade_market == m] for m, s in enumerate(self.symbols)}

    @cached_property
    def per_market(self) -> tuple[BacktestResult, ...]:
        """One BacktestResult per market on the union timeline (computed on demand)."""
        from tradebot.engine.portfolio_run import per_market_results

        return per_market_results(self)


@dataclass(frozen=True)
class PortfolioStepResult:
    """What :func:`advance_portfolio` did over bars ``[start, n_bars)``."""

    state: np.ndarray  # the portfolio state after the last bar (persist it)
    equity: np.ndarray  # account equity at each processed close
    cash: np.ndarray  # free cash at each processed close
    position: np.ndarray  # (n_processed, n_markets) signed units held at each close
    trades: np.ndarray  # TRADE_DTYPE, round trips closed in these bars
    trade_market: np.ndarray
    fills: np.ndarray  # FILL_DTYPE, executions in these bars
    fill_market: np.ndarray
    blocked: np.ndarray  # PORTFOLIO_BLOCKED_DTYPE


def run_portfolio(aligned: AlignedMarkets, signals: Sequence[Signals],
                  config: EngineConfig | Sequence[EngineConfig], portfolio: PortfolioConfig,
                  scores: np.ndarray | None = None) -> PortfolioResult:
    """Simulate one account over ``aligned`` with shared cash.

    ``signals[m]`` is market ``m``'s Signals, either on the union timeline (length
    ``n_bars``) or on its own candles (length = its number of candles, e.g.
    ``strategy.signals_for(aligned.candles(m))``). ``config`` is one EngineConfig for all
    markets or one per market (account-wide fields must agree). ``scores`` (n_markets,
    n_bars) float64 is required for ``rank="score"``.
    """
    from tradebot.engine.portfolio_run import run_portfolio as _run

    return _run(aligned, signals, config, portfolio, scores)


def new_portfolio_state(config: EngineConfig | Sequence[EngineConfig],
                        portfolio: PortfolioConfig, n_markets: int) -> np.ndarray:
    """The state of a fresh portfolio account (all cash), a flat float64 vector."""
    from tradebot.engine.portfolio_run import new_portfolio_state as _new

    return _new(config, portfolio, n_markets)


def advance_portfolio(aligned: AlignedMarkets, signals: Sequence[Signals],
                      config: EngineConfig | Sequence[EngineConfig],
                      portfolio: PortfolioConfig, state: np.ndarray, start: int,
                      scores: np.ndarray | None = None) -> PortfolioStepResult:
    """Run bars ``[start, aligned.n_bars)`` from ``state`` (the same loop as
    :func:`run_portfolio`; bar indices count from the first bar of ``aligned``, which
    must be the account's history start). A still-open position is not booked as a
    trade here (it stays in ``state``)."""
    from tradebot.engine.portfolio_run import advance_portfolio as _advance

    return _advance(aligned, signals, config, portfolio, state, start, scores)
