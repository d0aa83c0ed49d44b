"""Momentum indicators: oscillators and rate of change."""

from __future__ import annotations

import numpy as np

from tradebot.indicators._backend import f64, talib_module


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's Relative Strength Index."""
    ta = talib_module()
    if ta is not None:
        return ta.RSI(f64(close), timeperiod=period)
    from tradebot.indicators.fallback import rsi_nb

    return rsi_nb(f64(close), period)


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(macd line, signal line, histogram)."""
    ta = talib_module()
    if ta is not None:
        return ta.MACD(f64(close), fastperiod=fast, slowperiod=slow, signalperiod=signal)
    from tradebot.indicators.fallback import macd_nb

    return macd_nb(f64(close), fast, slow, signal)
