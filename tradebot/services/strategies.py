"""Strategy use cases beyond backtesting: the look-ahead check (of strategies and of feature specs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebot.services.backtest import load_market
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.ml.lookahead import FeatureLookaheadReport
    from tradebot.strategies.lookahead import LookaheadReport


def lookahead(ctx: Context, name: str, params: dict[str, Any] | None = None,
              points: int = 20) -> LookaheadReport:
    """Run the look-ahead check of ``name`` on the configured market (cache or sim)."""
    from tradebot.services.ml_models import bind_model
    from tradebot.strategies.lookahead import check_lookahead

    strategy = ctx.registry.create(name, params or {})
    s = ctx.settings
    bind_model(ctx, strategy, symbol=s.market.symbol, timeframe=s.market.timeframe)  # ml: its registry model
    candles = load_market(ctx, s.since_ms(), s.until_ms())
    return check_lookahead(strategy, candles, points=points, seed=s.seed)


def feature_lookahead(ctx: Context, spec: str, points: int = 20) -> FeatureLookaheadReport:
    """Run the look-ahead check of feature spec ``spec`` (built-in name or TOML file) on the
    configured market (cache or sim): :func:`tradebot.ml.lookahead.check_feature_lookahead`."""
    from tradebot.ml.lookahead import check_feature_lookahead
    from tradebot.ml.spec import load_spec

    loaded = load_spec(spec)  # a bad spec fails before the market is read
    s = ctx.settings
    candles = load_market(ctx, s.since_ms(), s.until_ms())
    others = None
    if loaded.symbols:
        from tradebot.services.market import resolve_market
        from tradebot.services.train import other_symbols

        others = other_symbols(ctx, resolve_market(ctx), loaded, candles)
    return check_feature_lookahead(loaded, candles, points=points, seed=s.seed, others=others)
