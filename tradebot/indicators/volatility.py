"""Volatility indicators: ranges and bands."""

from __future__ import annotations

import numpy as np

from tradebot.indicators._backend import f64, talib_module
from tradebot.indicators.trend import _number, _period, _series


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


def natr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Normalized ATR, 100·ATR/close (TA-Lib NATR; 0 where close is 0; with period 1 TA-Lib
    returns the raw true range). Leading NaN are skipped; a later NaN propagates, as TA-Lib."""
    period = _period("natr", "period", period)
    h, lo, c = _series("natr", high=high, low=low, close=close)
    ta = talib_module()
    if ta is not None:
        return ta.NATR(h, lo, c, timeperiod=period)
    from tradebot.indicators.fallback_volatility import natr_nb

    return natr_nb(h, lo, c, period)


def keltner(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 20,
            multiplier: float = 2.0, atr_period: int = 10
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower) Keltner channel: EMA(close, period) ± multiplier·ATR(atr_period),
    EMA and Wilder ATR as TA-Lib computes them (numba; leading NaN skipped)."""
    period = _period("keltner", "period", period)
    atr_period = _period("keltner", "atr_period", atr_period)
    mult = _number("keltner", "multiplier", multiplier, minimum=0.0)
    h, lo, c = _series("keltner", high=high, low=low, close=close)
    from tradebot.indicators.fallback_volatility import keltner_nb

    return keltner_nb(h, lo, c, period, mult, atr_period)


def donchian(high: np.ndarray, low: np.ndarray, period: int = 20
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(upper, middle, lower) Donchian channel: highest high, midpoint, lowest low over the
    last ``period`` bars including the current one; NaN while the window holds a NaN."""
    period = _period("donchian", "period", period)
    h, lo = _series("donchian", high=high, low=low)
    from tradebot.indicators.fallback_volatility import donchian_nb

    return donchian_nb(h, lo, period)
