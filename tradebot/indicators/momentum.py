"""Momentum indicators: oscillators and rate of change."""

from __future__ import annotations

from typing import Any

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


# -- input checks shared by the momentum, volume and levels families ----------------------

MAX_PERIOD = 100_000  # TA-Lib's own upper bound


def check_period(indicator: str, name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int in ``[minimum, 100000]``, else a one-line ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{indicator}: {name} must be an integer, got {value!r}")
    if not minimum <= int(value) <= MAX_PERIOD:
        raise ValueError(f"{indicator}: {name} must be between {minimum} and {MAX_PERIOD}, "
                         f"got {value}")
    return int(value)


def check_arrays(indicator: str, **arrays: object) -> list[np.ndarray]:
    """The inputs as contiguous float64 1-D arrays of one length, else a one-line ValueError."""
    out = []
    for name, a in arrays.items():
        try:
            x = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{indicator}: {name} must be a 1-D array of numbers") from None
        if x.ndim != 1:
            raise ValueError(f"{indicator}: {name} must be 1-D, got shape {x.shape}")
        out.append(f64(x))
    lengths = {x.shape[0] for x in out}
    if len(lengths) > 1:
        got = ", ".join(f"{k}={x.shape[0]}" for k, x in zip(arrays, out, strict=True))
        raise ValueError(f"{indicator}: {', '.join(arrays)} must have the same length ({got})")
    return out


def run_fallback(kernel: Any, arrays: list[np.ndarray], *params: Any) -> Any:
    """Run a numba kernel the way TA-Lib's wrapper runs its C function: from the first bar
    where no input is NaN, with NaN in front (so leading NaN give TA-Lib's output)."""
    n = arrays[0].shape[0] if arrays else 0
    begin = 0
    if n:
        bad = np.isnan(arrays[0])
        for a in arrays[1:]:
            bad |= np.isnan(a)
        begin = int(np.argmin(bad)) if not bad.all() else n - 1
    if begin == 0:
        return kernel(*arrays, *params)
    res = kernel(*(a[begin:] for a in arrays), *params)

    def pad(r: np.ndarray) -> np.ndarray:
        full = np.full(n, np.nan)
        full[begin:] = r
        return full

    return tuple(pad(r) for r in res) if isinstance(res, tuple) else pad(res)


def stoch(high: np.ndarray, low: np.ndarray, close: np.ndarray, fastk: int = 5,
          slowk: int = 3, slowd: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Slow stochastic (SMA smoothing): (slow %K, slow %D), 0..100; 0 on a flat window."""
    fastk = check_period("stoch", "fastk", fastk)
    slowk = check_period("stoch", "slowk", slowk)
    slowd = check_period("stoch", "slowd", slowd)
    arrs = check_arrays("stoch", high=high, low=low, close=close)
    ta = talib_module()
    if ta is not None:
        return ta.STOCH(*arrs, fastk_period=fastk, slowk_period=slowk, slowk_matype=0,
                        slowd_period=slowd, slowd_matype=0)
    from tradebot.indicators.fallback_momentum import stoch_nb

    return run_fallback(stoch_nb, arrs, fastk, slowk, slowd)


def stochrsi(close: np.ndarray, period: int = 14, fastk: int = 5,
             fastd: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic RSI: (fast %K, fast %D) of the RSI over ``fastk`` bars, %D an SMA."""
    period = check_period("stochrsi", "period", period, minimum=2)
    fastk = check_period("stochrsi", "fastk", fastk)
    fastd = check_period("stochrsi", "fastd", fastd)
    arrs = check_arrays("stochrsi", close=close)
    ta = talib_module()
    if ta is not None:
        return ta.STOCHRSI(arrs[0], timeperiod=period, fastk_period=fastk, fastd_period=fastd,
                           fastd_matype=0)
    from tradebot.indicators.fallback_momentum import stochrsi_nb

    return run_fallback(stochrsi_nb, arrs, period, fastk, fastd)


def cci(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Commodity Channel Index of the typical price; 0 on a flat window."""
    period = check_period("cci", "period", period, minimum=2)
    arrs = check_arrays("cci", high=high, low=low, close=close)
    ta = talib_module()
    if ta is not None:
        return ta.CCI(*arrs, timeperiod=period)
    from tradebot.indicators.fallback_momentum import cci_nb

    return run_fallback(cci_nb, arrs, period)


def willr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Williams %R, -100..0; 0 on a flat window."""
    period = check_period("willr", "period", period, minimum=2)
    arrs = check_arrays("willr", high=high, low=low, close=close)
    ta = talib_module()
    if ta is not None:
        return ta.WILLR(*arrs, timeperiod=period)
    from tradebot.indicators.fallback_momentum import willr_nb

    return run_fallback(willr_nb, arrs, period)


def roc(close: np.ndarray, period: int = 10) -> np.ndarray:
    """Rate of change in percent, ``(close / close[-period] - 1) * 100``."""
    period = check_period("roc", "period", period)
    arrs = check_arrays("roc", close=close)
    ta = talib_module()
    if ta is not None:
        return ta.ROC(arrs[0], timeperiod=period)
    from tradebot.indicators.fallback_momentum import roc_nb

    return run_fallback(roc_nb, arrs, period)


def mfi(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
        period: int = 14) -> np.ndarray:
    """Money Flow Index, 0..100 (a volume-weighted RSI of the typical price)."""
    period = check_period("mfi", "period", period, minimum=2)
    arrs = check_arrays("mfi", high=high, low=low, close=close, volume=volume)
    ta = talib_module()
    if ta is not None:
        return ta.MFI(*arrs, timeperiod=period)
    from tradebot.indicators.fallback_momentum import mfi_nb

    return run_fallback(mfi_nb, arrs, period)
