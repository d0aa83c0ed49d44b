"""Order-flow and volume-profile arithmetic from candles (no look-ahead).

- :func:`buy_share` / :func:`volume_delta`: estimated buy and sell volume of a candle
  (the close's position in its range), or the real buy volume when it is known.
- :func:`rolling_sum`, :func:`rolling_max`, :func:`rolling_min`: trailing windows that
  end at bar t (inclusive), NaN until the window is full.
- :func:`volume_profile`: a rolling volume profile per bar: point of control (POC) and
  value area (VAL/VAH) from the ``window`` candles ending at bar t.

Every value at bar t uses bars ``<= t`` only, and is computed the same way whatever
comes after t, so a truncated history gives bit-identical values.
"""

from __future__ import annotations

import numpy as np

from tradebot.strategies.series import shift  # noqa: F401  (here for the strategies that import it from here)


def _f64(x: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def buy_share(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Estimated share of a candle's volume bought at the ask: ``(close-low)/(high-low)``.

    A candle without range (high == low) is split evenly (0.5: zero delta).
    """
    h, lo, c = _f64(high), _f64(low), _f64(close)
    rng = h - lo
    out = np.full(h.shape[0], 0.5)
    ok = rng > 0
    out[ok] = np.clip((c[ok] - lo[ok]) / rng[ok], 0.0, 1.0)
    return out


def volume_delta(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                 buy_volume: np.ndarray | None = None) -> np.ndarray:
    """Buy minus sell volume per bar.

    With ``buy_volume`` (real taker-buy volume, e.g. Binance klines or aggregated
    trades) it is ``2*buy_volume - volume``; otherwise the estimate
    ``volume * (2*share - 1)`` from :func:`buy_share`. NaN buy volume falls back to the
    estimate for that bar.
    """
    v = _f64(volume)
    est = v * (2.0 * buy_share(high, low, close) - 1.0)
    if buy_volume is None:
        return est
    b = _f64(buy_volume)
    if b.shape != v.shape:
        raise ValueError(f"buy_volume has {b.shape[0]} bars, the candles have {v.shape[0]}")
    real = 2.0 * np.clip(b, 0.0, v) - v
    return np.where(np.isnan(b), est, real)


#: Longest series the rolling windows take in numpy when numba is not loaded yet (a cron
#: paper step: loading numba costs about a second of CPU).
NUMPY_MAX_BARS = 200_000


def _numpy(n: int) -> bool:
    import sys

    return "numba" not in sys.modules and n <= NUMPY_MAX_BARS


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    a = _f64(x)
    if _numpy(a.shape[0]):
        return _rolling_sum_np(a, int(window))
    from tradebot.strategies.orderflow_nb import rolling_sum_nb

    return rolling_sum_nb(a, int(window))  # type: ignore[no-any-return]


def rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    a = _f64(x)
    if _numpy(a.shape[0]):
        return _rolling_extreme_np(a, int(window), True)
    from tradebot.strategies.orderflow_nb import rolling_max_nb

    return rolling_max_nb(a, int(window))  # type: ignore[no-any-return]


def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    a = _f64(x)
    if _numpy(a.shape[0]):
        return _rolling_extreme_np(a, int(window), False)
    from tradebot.strategies.orderflow_nb import rolling_min_nb

    return rolling_min_nb(a, int(window))  # type: ignore[no-any-return]


def _rolling_sum_np(x: np.ndarray, window: int) -> np.ndarray:
    """``rolling_sum_nb`` in numpy: each window summed from its first value, in bar order
    (one vector add per position in the window), the same doubles."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    m = n - window + 1
    if window < 1 or m < 1:
        return out
    s = np.zeros(m)
    for j in range(window):
        s += x[j:j + m]
    out[window - 1:] = s
    return out


def _rolling_extreme_np(x: np.ndarray, window: int, high: bool) -> np.ndarray:
    """``rolling_max_nb`` / ``rolling_min_nb`` in numpy. The kernels start from the window's
    last value and take a larger (smaller) one (a NaN never compares): NaN when the last value
    is NaN, else the extreme of the window's numbers."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window < 1 or n < window:
        return out
    import warnings

    from numpy.lib.stride_tricks import sliding_window_view

    win = sliding_window_view(x, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        ext = np.nanmax(win, axis=1) if high else np.nanmin(win, axis=1)
    out[window - 1:] = np.where(np.isnan(x[window - 1:]), np.nan, ext)
    return out


def volume_profile(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                   window: int, bins: int = 24, value_area: float = 0.7
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rolling (POC, VAL, VAH) per bar from the ``window`` candles ending at that bar.

    The POC is the middle of the bin holding the most volume (the lowest on a tie);
    VAL/VAH are the lower/upper edges of the value area. NaN before ``window`` bars.
    """
    if window < 1 or bins < 1 or not 0 < value_area <= 1:
        raise ValueError(f"volume_profile: bad window={window}, bins={bins}, "
                         f"value_area={value_area}")
    from tradebot.strategies.orderflow_nb import rolling_profile_nb

    poc, val, vah = rolling_profile_nb(_f64(high), _f64(low), _f64(close), _f64(volume),
                                       int(window), int(bins), float(value_area))
    return poc, val, vah


def __getattr__(name: str) -> object:
    """The kernels by their old names here (``orderflow_math.rolling_sum_nb``...)."""
    if name in ("rolling_sum_nb", "rolling_max_nb", "rolling_min_nb", "profile_nb", "rolling_profile_nb"):
        from tradebot.strategies import orderflow_nb

        return getattr(orderflow_nb, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
