"""Price levels: floor-trader pivot points from the previous completed session."""

from __future__ import annotations

import numpy as np

from tradebot.indicators.momentum import check_arrays
from tradebot.indicators.volume import session_ids

METHODS = ("classic", "fibonacci", "camarilla", "woodie")
LEVELS = ("pp", "r1", "r2", "r3", "s1", "s2", "s3")

__all__ = ["pivot_points"]


def _levels(h: np.ndarray, lo: np.ndarray, c: np.ndarray, method: str) -> dict[str, np.ndarray]:
    """The seven levels from one session's high, low and close (arrays of sessions)."""
    rng = h - lo
    if method == "woodie":
        pp = (h + lo + 2.0 * c) / 4.0
    else:
        pp = (h + lo + c) / 3.0
    if method in ("classic", "woodie"):
        return {"pp": pp, "r1": 2.0 * pp - lo, "s1": 2.0 * pp - h,
                "r2": pp + rng, "s2": pp - rng,
                "r3": h + 2.0 * (pp - lo), "s3": lo - 2.0 * (h - pp)}
    if method == "fibonacci":
        return {"pp": pp, "r1": pp + 0.382 * rng, "s1": pp - 0.382 * rng,
                "r2": pp + 0.618 * rng, "s2": pp - 0.618 * rng,
                "r3": pp + rng, "s3": pp - rng}
    # camarilla
    return {"pp": pp, "r1": c + rng * 1.1 / 12.0, "s1": c - rng * 1.1 / 12.0,
            "r2": c + rng * 1.1 / 6.0, "s2": c - rng * 1.1 / 6.0,
            "r3": c + rng * 1.1 / 4.0, "s3": c - rng * 1.1 / 4.0}


def pivot_points(high: np.ndarray, low: np.ndarray, close: np.ndarray,
                 timestamp_ms: np.ndarray, period: str = "D",
                 method: str = "classic") -> dict[str, np.ndarray]:
    """Pivot levels ``pp, r1..r3, s1..s3`` for every bar.

    The levels of a bar come from the high, low and close of the previous session present
    in the data (UTC day ``"D"``, week ``"W"`` from Monday, month ``"M"``), never from the
    session the bar is in: no look-ahead. Bars of the first session get NaN.

    Methods: ``classic`` (PP = (H+L+C)/3), ``woodie`` (PP = (H+L+2C)/4, classic
    spacing), ``fibonacci`` (PP ± 0.382/0.618/1.0 × range), ``camarilla``
    (C ± 1.1/12, 1.1/6, 1.1/4 × range; PP classic).
    """
    if method not in METHODS:
        raise ValueError(f"pivot_points: method must be one of {', '.join(METHODS)}, "
                         f"got {method!r}")
    h, lo, c = check_arrays("pivot_points", high=high, low=low, close=close)
    session = session_ids(timestamp_ms, period, "pivot_points", "period")
    n = c.shape[0]
    if session.shape[0] != n:
        raise ValueError(f"pivot_points: timestamp_ms must have the same length as the "
                         f"prices ({session.shape[0]} vs {n})")
    out = {k: np.full(n, np.nan) for k in LEVELS}
    if n == 0:
        return out
    change = np.empty(n, dtype=bool)
    change[0] = True
    change[1:] = session[1:] != session[:-1]
    starts = np.flatnonzero(change)
    if starts.shape[0] < 2:
        return out
    ends = np.append(starts[1:], n) - 1
    s_high = np.maximum.reduceat(h, starts)
    s_low = np.minimum.reduceat(lo, starts)
    s_close = c[ends]
    levels = _levels(s_high, s_low, s_close, method)
    seg = np.cumsum(change) - 1  # session index of each bar
    later = seg >= 1
    for k in LEVELS:
        out[k][later] = levels[k][seg[later] - 1]
    return out
