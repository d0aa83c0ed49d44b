"""Volume indicators: on-balance volume, accumulation/distribution, money flow, VWAP."""

from __future__ import annotations

from typing import Any

import numpy as np

from tradebot.indicators._backend import talib_module
from tradebot.indicators.momentum import check_arrays, check_period, run_fallback

DAY_MS = 86_400_000
ANCHORS = ("D", "W", "M")

__all__ = ["obv", "ad", "cmf", "vwap", "session_ids"]


def session_ids(timestamp_ms: np.ndarray, anchor: str, indicator: str = "session",
                param: str = "anchor") -> np.ndarray:
    """An int64 session number per bar: UTC day (``"D"``), ISO week starting Monday 00:00
    UTC (``"W"``) or calendar month (``"M"``). Timestamps must be sorted."""
    if anchor not in ANCHORS:
        raise ValueError(f"{indicator}: {param} must be one of {', '.join(ANCHORS)}, "
                         f"got {anchor!r}")
    try:
        ts = np.asarray(timestamp_ms, dtype=np.int64)
    except (TypeError, ValueError):
        raise ValueError(f"{indicator}: timestamp_ms must be integer milliseconds") from None
    if ts.ndim != 1:
        raise ValueError(f"{indicator}: timestamp_ms must be 1-D, got shape {ts.shape}")
    if ts.shape[0] > 1 and bool(np.any(np.diff(ts) < 0)):
        raise ValueError(f"{indicator}: timestamp_ms must be sorted (oldest first)")
    days = np.floor_divide(ts, DAY_MS)
    if anchor == "D":
        return days
    if anchor == "W":
        return np.floor_divide(days + 3, 7)  # 1970-01-01 was a Thursday
    return ts.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume (starts at the first bar's volume, as TA-Lib)."""
    arrs = check_arrays("obv", close=close, volume=volume)
    ta = talib_module()
    if ta is not None:
        return ta.OBV(*arrs)
    from tradebot.indicators.fallback_volume import obv_nb

    return run_fallback(obv_nb, arrs)


def ad(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Chaikin accumulation/distribution line."""
    arrs = check_arrays("ad", high=high, low=low, close=close, volume=volume)
    ta = talib_module()
    if ta is not None:
        return ta.AD(*arrs)
    from tradebot.indicators.fallback_volume import ad_nb

    return run_fallback(ad_nb, arrs)


def cmf(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
        period: int = 20) -> np.ndarray:
    """Chaikin money flow over ``period`` bars, -1..1: NaN in the first ``period - 1`` bars,
    0 for a window without volume (no TA-Lib counterpart; the same code on both backends)."""
    period = check_period("cmf", "period", period)
    arrs = check_arrays("cmf", high=high, low=low, close=close, volume=volume)
    from tradebot.indicators.fallback_volume import cmf_nb

    return run_fallback(cmf_nb, arrs, period)


def vwap(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
         timestamp_ms: np.ndarray | None = None, anchor: str | None = "D",
         period: int | None = None) -> np.ndarray:
    """Volume-weighted average of the typical price ``(high + low + close) / 3``.

    With ``period``: rolling over the last ``period`` bars (NaN for the first
    ``period - 1``). Otherwise session-anchored: restarts at each UTC day (``anchor="D"``),
    week (``"W"``, from Monday) or month (``"M"``); needs ``timestamp_ms``. NaN where the
    window or session so far has no volume. No TA-Lib counterpart.
    """
    arrs = check_arrays("vwap", high=high, low=low, close=close, volume=volume)
    from tradebot.indicators import fallback_volume as fv

    rolling: Any = fv.vwap_rolling_nb
    anchored: Any = fv.vwap_anchored_nb
    if period is not None:
        period = check_period("vwap", "period", period)
        return rolling(*arrs, period)
    if anchor is None or timestamp_ms is None:
        raise ValueError("vwap: give period=N for a rolling VWAP, or anchor ('D', 'W', 'M') "
                         "with timestamp_ms for a session VWAP")
    session = session_ids(timestamp_ms, anchor, "vwap")
    if session.shape[0] != arrs[0].shape[0]:
        raise ValueError(f"vwap: timestamp_ms must have the same length as the prices "
                         f"({session.shape[0]} vs {arrs[0].shape[0]})")
    return anchored(*arrs, session)
