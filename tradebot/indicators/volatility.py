"""Volatility indicators: ranges and bands."""

from __future__ import annotations

import numpy as np

from tradebot.indicators._backend import f64, talib_module


def bbands(
    close: np.ndarray, period: int = 20, nbdev_up: float = 2.0, nbdev_dn: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower) Bollinger Bands."""
    ta = talib_module()
    if ta is not None:
        return ta.BBANDS(f64(close), timeperiod=period, nbdevup=nbdev_up, nbdevdn=nbdev_dn,
                         matype=0)
    from tradebot.indicators.fallback import bbands_nb

    return bbands_nb(f64(close), period, nbdev_up, nbdev_dn)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's Average True Range."""
    ta = talib_module()
    if ta is not None:
        return ta.ATR(f64(high), f64(low), f64(close), timeperiod=period)
    from tradebot.indicators.fallback import atr_nb

    return atr_nb(f64(high), f64(low), f64(close), period)
