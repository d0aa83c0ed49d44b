"""Trend indicators: moving averages and trend strength."""

from __future__ import annotations

import math
import numbers

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


# -- input checks (shared with volatility.py) -------------------------------------------------

def _period(indicator: str, name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a one-line ``ValueError`` naming both."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{indicator}: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{indicator}: {name} must be >= {minimum}, got {value}")
    return int(value)


def _number(indicator: str, name: str, value: object, minimum: float | None = None) -> float:
    """``value`` as a finite float (>= ``minimum`` when given), or a one-line ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
            float(value)):
        raise ValueError(f"{indicator}: {name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{indicator}: {name} must be >= {minimum}, got {value}")
    return float(value)


def _series(indicator: str, **arrays: object) -> list[np.ndarray]:
    """The arrays as contiguous float64, all 1-D and of one length, else a ``ValueError``."""
    out = []
    for name, a in arrays.items():
        try:
            x = f64(a)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{indicator}: {name} is not a numeric array ({e})") from None
        if x.ndim != 1:
            raise ValueError(f"{indicator}: {name} must be 1-D, got shape {x.shape}")
        out.append(x)
    lengths = {name: x.shape[0] for name, x in zip(arrays, out, strict=True)}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise ValueError(f"{indicator}: arrays differ in length ({shown})")
    return out


# -- moving averages --------------------------------------------------------------------------

def wma(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Linearly weighted moving average (TA-Lib WMA). Leading NaN are skipped; a later NaN
    stays NaN until TA-Lib's next resync of its running sums (every 8·period bars)."""
    period = _period("wma", "period", period)
    (x,) = _series("wma", close=close)
    ta = talib_module()
    if ta is not None:
        return ta.WMA(x, timeperiod=period)
    from tradebot.indicators import fallback_trend as ft

    return ft.wma_nb(x, period)


def dema(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Double EMA, 2·EMA − EMA(EMA) (TA-Lib DEMA); first value at 2·(period − 1).
    Leading NaN are skipped; a later NaN propagates, as TA-Lib."""
    period = _period("dema", "period", period)
    (x,) = _series("dema", close=close)
    ta = talib_module()
    if ta is not None:
        return ta.DEMA(x, timeperiod=period)
    from tradebot.indicators import fallback_trend as ft

    return ft.dema_nb(x, period)


def tema(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Triple EMA, 3·EMA − 3·EMA² + EMA³ (TA-Lib TEMA); first value at 3·(period − 1).
    Leading NaN are skipped; a later NaN propagates, as TA-Lib."""
    period = _period("tema", "period", period)
    (x,) = _series("tema", close=close)
    ta = talib_module()
    if ta is not None:
        return ta.TEMA(x, timeperiod=period)
    from tradebot.indicators import fallback_trend as ft

    return ft.tema_nb(x, period)


# -- trend strength and stops -----------------------------------------------------------------

def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ADX, +DI, −DI), Wilder's, as TA-Lib ADX/PLUS_DI/MINUS_DI (period >= 2; DI from bar
    ``period``, ADX from ``2·period − 1``). Leading NaN skipped; a later NaN propagates."""
    period = _period("adx", "period", period, minimum=2)
    h, lo, c = _series("adx", high=high, low=low, close=close)
    ta = talib_module()
    if ta is not None:
        return (ta.ADX(h, lo, c, timeperiod=period), ta.PLUS_DI(h, lo, c, timeperiod=period),
                ta.MINUS_DI(h, lo, c, timeperiod=period))
    from tradebot.indicators import fallback_trend as ft

    return ft.adx_nb(h, lo, c, period)


def psar(high: np.ndarray, low: np.ndarray, acceleration: float = 0.02, maximum: float = 0.2
         ) -> np.ndarray:
    """Parabolic SAR (TA-Lib SAR): NaN on the first bar; ``acceleration`` above ``maximum`` is
    lowered to it, as TA-Lib. Leading NaN skipped; NaN later compares false, as in TA-Lib."""
    acc = _number("psar", "acceleration", acceleration, minimum=0.0)
    mx = _number("psar", "maximum", maximum, minimum=0.0)
    h, lo = _series("psar", high=high, low=low)
    ta = talib_module()
    if ta is not None:
        return ta.SAR(h, lo, acceleration=acc, maximum=mx)
    from tradebot.indicators import fallback_trend as ft

    return ft.sar_nb(h, lo, acc, mx)


def ichimoku(high: np.ndarray, low: np.ndarray, close: np.ndarray, tenkan: int = 9,
             kijun: int = 26, senkou_b: int = 52, displacement: int = 26
             ) -> dict[str, np.ndarray]:
    """Ichimoku lines as known at each bar (no look-ahead; numba, no TA-Lib equivalent).

    ``tenkan``/``kijun``: midpoints of the high-low range over their periods.
    ``senkou_a``/``senkou_b``: the cloud over bar t, i.e. the spans computed at
    t − ``displacement`` (charts plot them ``displacement`` bars ahead).
    ``chikou``: the close itself, which charts draw ``displacement`` bars back; aligning it
    to the past would use future data, so it is returned unshifted.
    A window containing NaN gives NaN.
    """
    tenkan = _period("ichimoku", "tenkan", tenkan)
    kijun = _period("ichimoku", "kijun", kijun)
    senkou_b = _period("ichimoku", "senkou_b", senkou_b)
    displacement = _period("ichimoku", "displacement", displacement, minimum=0)
    h, lo, c = _series("ichimoku", high=high, low=low, close=close)
    import sys

    if "numba" not in sys.modules and h.shape[0] <= ICHIMOKU_NUMPY_MAX_BARS:
        t, k, a, b = _ichimoku_np(h, lo, tenkan, kijun, senkou_b, displacement)
    else:
        from tradebot.indicators import fallback_trend as ft

        t, k, a, b = ft.ichimoku_nb(h, lo, tenkan, kijun, senkou_b, displacement)
    return {"tenkan": t, "kijun": k, "senkou_a": a, "senkou_b": b, "chikou": c.copy()}


#: Longest series :func:`ichimoku` computes in numpy when numba is not loaded yet (a cron
#: paper step: loading numba costs about a second of CPU, these rolling extremes milliseconds).
ICHIMOKU_NUMPY_MAX_BARS = 200_000


def _rolling_max_np(x: np.ndarray, period: int) -> np.ndarray:
    """``fallback_trend.rolling_max_nb`` in numpy: NaN in the warm-up and for a window holding
    a NaN (``max`` propagates it); a maximum is exact, so the same numbers."""
    from numpy.lib.stride_tricks import sliding_window_view

    n = x.shape[0]
    out = np.full(n, np.nan)
    if 1 <= period <= n:
        out[period - 1:] = sliding_window_view(x, period).max(axis=1)
    return out


def _ichimoku_np(high: np.ndarray, low: np.ndarray, tenkan: int, kijun: int, senkou_b: int,
                 displacement: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``fallback_trend.ichimoku_nb`` in numpy, the same operations (tested bit for bit)."""
    def mid(p: int) -> np.ndarray:
        return (_rolling_max_np(high, p) + -_rolling_max_np(-low, p)) / 2.0

    n = high.shape[0]
    t, k, raw_b = mid(tenkan), mid(kijun), mid(senkou_b)
    span_a = np.full(n, np.nan)
    span_b = np.full(n, np.nan)
    if displacement < n:
        span_a[displacement:] = (t[:n - displacement] + k[:n - displacement]) / 2.0
        span_b[displacement:] = raw_b[:n - displacement]
    return t, k, span_a, span_b


def supertrend(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 10,
               multiplier: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(line, direction +1/−1): hl2 ± multiplier·ATR (Wilder, as TA-Lib) bands that only
    tighten within a trend; NaN before bar ``period`` and after a NaN in the inputs."""
    period = _period("supertrend", "period", period)
    mult = _number("supertrend", "multiplier", multiplier, minimum=0.0)
    h, lo, c = _series("supertrend", high=high, low=low, close=close)
    from tradebot.indicators import fallback_trend as ft

    return ft.supertrend_nb(h, lo, c, period, mult)
