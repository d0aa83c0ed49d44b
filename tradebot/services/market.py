"""Which candles a command runs on: the one place that resolves a market.

Every command that needs a market (backtest, optimize, ``strategies check``, paper) asks
:func:`resolve_market`. The rule:

* exchange ``sim`` (``--exchange sim``): the built-in synthetic market, always;
* the market is cached: the cache;
* no market was given at all (exchange, symbol and timeframe all at their defaults: none
  from the command line, the environment or a config file) and the cache is empty: the
  ``sim`` market (the offline first run, ``tradebot backtest --strategy rsi``);
* anything else: :class:`MarketNotCachedError` (exit 2), one line naming what was asked,
  what is cached (closest first) and the ``tradebot fetch`` command that would get it.

Nothing here writes: resolving only reads the cache directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradebot.core.errors import DataValidationError, UsageError

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.core.config import Settings
    from tradebot.services.context import Context

SIM = "sim"
_MARKET_FIELDS = frozenset({"exchange", "symbol", "timeframe"})
_SHOWN = 3  # cached markets named in the error line


class MarketNotCachedError(UsageError):
    """The requested market is not cached (and the ``sim`` market was not asked for)."""


@dataclass(frozen=True)
class Market:
    """A resolved market: where its candles come from (``sim`` or the cache)."""

    exchange: str
    symbol: str
    timeframe: str
    sim: bool  # the built-in synthetic market

    @property
    def label(self) -> str:
        return f"{SIM if self.sim else self.exchange} {self.symbol} {self.timeframe}"


def market_given(settings: Settings) -> bool:
    """True if the command line, the environment or a config file named any market field."""
    return bool(settings.market.model_fields_set & _MARKET_FIELDS)


def resolve_market(ctx: Context, exchange: str | None = None, symbol: str | None = None,
                   timeframe: str | None = None, *, given: bool | None = None) -> Market:
    """The market to run on (see the module docstring); raises before anything is written.

    ``exchange``/``symbol``/``timeframe`` default to the settings' market; ``given`` (whether
    the user named a market) defaults to :func:`market_given` of the settings.
    """
    m = ctx.settings.market
    ex, sym, tf = exchange or m.exchange, symbol or m.symbol, timeframe or m.timeframe
    if ex.strip().lower() == SIM:
        return Market(SIM, sym, tf, sim=True)
    if ctx.cache.exists(ex, sym, tf):
        return Market(ex, sym, tf, sim=False)
    if given is None:
        given = market_given(ctx.settings)
    entries = ctx.cache.scan()
    if not given and not entries:
        return Market(ex, sym, tf, sim=True)
    raise MarketNotCachedError(not_cached_message(ctx, ex, sym, tf))


def not_cached_message(ctx: Context, exchange: str, symbol: str, timeframe: str) -> str:
    """One line: what was asked, what is cached (closest first), how to get it."""
    import difflib

    asked = f"{exchange} {symbol} {timeframe}"
    cached = sorted({f"{e.exchange} {e.symbol} {e.timeframe}" for e in ctx.cache.scan()
                     if not e.error and e.exchange})
    if cached:
        cached.sort(key=lambda c: -difflib.SequenceMatcher(None, asked.lower(), c.lower()).ratio())
        shown = ", ".join(cached[:_SHOWN])
        more = f" and {len(cached) - _SHOWN} more (`tradebot data list`)" if len(cached) > _SHOWN else ""
        have = f"cached: {shown}{more}"
    else:
        have = f"nothing is cached under {ctx.cache.root}"
    return (f"no cached candles for {asked} ({have}); get them with "
            f"`tradebot fetch {exchange} {symbol} -t {timeframe}`, or use --exchange sim for the "
            "built-in synthetic market")


def load_candles(ctx: Context, market: Market, since_ms: int | None,
                 until_ms: int | None) -> Candles:
    """The market's candles in ``[since_ms, until_ms)``; at least 2, else an error."""
    if market.sim:
        from tradebot.exchanges.sim import sim_candles

        candles = sim_candles(market.symbol, market.timeframe, since_ms=since_ms,
                              until_ms=until_ms, seed=ctx.settings.seed)
        what = f"sim {market.symbol} {market.timeframe}"
    else:
        candles = ctx.cache.load(market.exchange, market.symbol, market.timeframe)
        what = f"cached {market.exchange} {market.symbol} {market.timeframe}"
    candles = candles.between(since_ms, until_ms)
    if len(candles) < 2:
        raise DataValidationError(f"{what}: fewer than 2 candles in the requested range")
    return candles
