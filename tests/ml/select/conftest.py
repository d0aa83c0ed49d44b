"""Helpers of the selector tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tradebot.core.candles import Candles
from tradebot.core.config import load_settings
from tradebot.services.context import Context


def synth_context(home: Path, candles: Candles) -> Context:
    """A context on ``home`` whose cache holds ``candles`` as synth TEST/USDT 1h (5 bps slippage)."""
    ctx = Context(load_settings(overrides={
        "home": str(home), "market": {"exchange": "synth", "symbol": "TEST/USDT", "timeframe": "1h"},
        "slippage": {"bps": 5.0}}, env={}))
    ctx.cache.save(replace(candles, exchange="synth", symbol="TEST/USDT"))
    return ctx
