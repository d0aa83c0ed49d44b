"""Synthetic candles with a known answer, for tests and benchmarks of the learning code.

:func:`regime_market` is either a market with a planted, learnable trend or a driftless
random walk of the same noise, so a test can require "edge" on the one and "no evidence of
edge" on the other.
"""

from __future__ import annotations

import numpy as np

from tradebot.core.candles import Candles


def regime_market(n: int, seed: int, planted: bool, *, symbol: str = "TEST/USDT",
                  exchange: str = "") -> Candles:
    """Hourly candles from 2024-01-01. ``planted``: a drift of ±0.25% per bar that flips sign
    with probability 1/60 each bar (regimes a trend feature can learn) under 1% noise per bar;
    else a driftless geometric random walk with the same noise."""
    rng = np.random.default_rng(seed)
    drift = np.zeros(n)
    if planted:
        flips = rng.random(n) < 1 / 60
        drift = 0.0025 * np.where(np.cumsum(flips) % 2 == 0, 1.0, -1.0)
    close = 100.0 * np.exp(np.cumsum(drift + 0.01 * rng.standard_normal(n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + 0.003 * rng.random(n))
    low = np.minimum(open_, close) * (1 - 0.003 * rng.random(n))
    volume = 1000.0 * np.exp(0.3 * rng.standard_normal(n))
    ts = 1_704_067_200_000 + 3_600_000 * np.arange(n, dtype=np.int64)
    return Candles(ts, open_, high, low, close, volume, exchange=exchange, symbol=symbol, timeframe="1h",
                   source="test")
