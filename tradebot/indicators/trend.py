"""Trend indicators: moving averages and trend strength."""

from __future__ import annotations

import numpy as np

from tradebot.indicators._backend import f64, talib_module


def sma(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Simple moving average."""
    ta = talib_module()
    if ta is not None:
        return ta.SMA(f64(close), timeperiod=period)
    from tradebot.indicators.fallback import sma_nb

    return sma_nb(f64(close), period)


def ema(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Exponential moving average, seeded with the SMA of the first ``period`` values."""
    ta = talib_module()
    if ta is not None:
        return ta.EMA(f64(close), timeperiod=period)
    from tradebot.indicators.fallback import ema_nb

    return ema_nb(f64(close), period)
