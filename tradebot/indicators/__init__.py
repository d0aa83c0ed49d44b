"""Indicators: TA-Lib when it imports, a tested numba fallback otherwise.

Set ``TRADEBOT_TALIB=0`` to force the fallback. Every function takes float64
numpy arrays and returns arrays of the same length with NaN during the warm-up.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np


@cache
def _talib():  # type: ignore[no-untyped-def]
    if os.environ.get("TRADEBOT_TALIB", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        import talib
    except ImportError:
        return None
    return talib


def backend() -> str:
    """``"talib"`` or ``"fallback"``: which implementation the functions below use."""
    return "talib" if _talib() is not None else "fallback"


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def sma(close: np.ndarray, period: int = 30) -> np.ndarray:
    ta = _talib()
    if ta is not None:
        return ta.SMA(_f64(close), timeperiod=period)
    from tradebot.indicators.fallback import sma_nb

    return sma_nb(_f64(close), period)


def ema(close: np.ndarray, period: int = 30) -> np.ndarray:
    ta = _talib()
    if ta is not None:
        return ta.EMA(_f64(close), timeperiod=period)
    from tradebot.indicators.fallback import ema_nb

    return ema_nb(_f64(close), period)


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    ta = _talib()
    if ta is not None:
        return ta.RSI(_f64(close), timeperiod=period)
    from tradebot.indicators.fallback import rsi_nb

    return rsi_nb(_f64(close), period)


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(macd line, signal line, histogram)."""
    ta = _talib()
    if ta is not None:
        return ta.MACD(_f64(close), fastperiod=fast, slowperiod=slow, signalperiod=signal)
    from tradebot.indicators.fallback import macd_nb

    return macd_nb(_f64(close), fast, slow, signal)


def bbands(
    close: np.ndarray, period: int = 20, nbdev_up: float = 2.0, nbdev_dn: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower) Bollinger Bands."""
    ta = _talib()
    if ta is not None:
        return ta.BBANDS(_f64(close), timeperiod=period, nbdevup=nbdev_up, nbdevdn=nbdev_dn,
                         matype=0)
    from tradebot.indicators.fallback import bbands_nb

    return bbands_nb(_f64(close), period, nbdev_up, nbdev_dn)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    ta = _talib()
    if ta is not None:
        return ta.ATR(_f64(high), _f64(low), _f64(close), timeperiod=period)
    from tradebot.indicators.fallback import atr_nb

    return atr_nb(_f64(high), _f64(low), _f64(close), period)
