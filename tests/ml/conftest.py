from __future__ import annotations

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.exchanges.sim import sim_candles


@pytest.fixture(scope="session")
def sim() -> Candles:
    """Two months of hourly synthetic candles (about 1400 bars)."""
    return sim_candles("BTC/USDT", "1h").slice(0, 1400)


def random_candles(n: int, seed: int = 0, drift: float = 0.0, start_ms: int = 1_704_067_200_000,
                   step_ms: int = 3_600_000) -> Candles:
    """A geometric random walk with consistent OHLC (start 2024-01-01 00:00 UTC, a Monday)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(drift + 0.01 * rng.standard_normal(n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + 0.004 * rng.random(n))
    low = np.minimum(open_, close) * (1 - 0.004 * rng.random(n))
    volume = 1000.0 * np.exp(0.3 * rng.standard_normal(n))
    ts = start_ms + step_ms * np.arange(n, dtype=np.int64)
    return Candles(ts, open_, high, low, close, volume, symbol="TEST/USDT", timeframe="1h", source="test")
