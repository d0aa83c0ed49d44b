"""Strategy use cases beyond backtesting: the look-ahead check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebot.services.backtest import load_market
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.strategies.lookahead import LookaheadReport


def lookahead(ctx: Context, name: str, params: dict[str, Any] | None = None,
              points: int = 20) -> LookaheadReport:
    """Run the look-ahead check of ``name`` on the configured market (cache or sim)."""
    from tradebot.strategies.lookahead import check_lookahead

    strategy = ctx.registry.create(name, params or {})
    s = ctx.settings
    candles = load_market(ctx, s.since_ms(), s.until_ms())
    return check_lookahead(strategy, candles, points=points, seed=s.seed)
