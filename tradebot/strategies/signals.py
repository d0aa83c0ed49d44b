"""Signal building blocks: boolean arrays from indicators, composable in a few lines.

Every block takes numpy arrays (or scalars where a level makes sense) and returns a
boolean array of the same length. NaN never signals (comparisons with NaN are False),
so warm-up periods are quiet without special cases. None of them looks ahead: the
value at bar t uses bars up to t only.
"""

from __future__ import annotations

import numpy as np

Level = float | np.ndarray


def _arr(x: Level, n: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    return np.full(n, float(a)) if a.ndim == 0 else a


def crosses_above(a: np.ndarray, b: Level) -> np.ndarray:
    """``a`` closes above ``b`` at t after being at or below it at t-1."""
    a = np.asarray(a, dtype=np.float64)
    b = _arr(b, a.shape[0])
    out = np.zeros(a.shape[0], dtype=np.bool_)
    out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def crosses_below(a: np.ndarray, b: Level) -> np.ndarray:
    """``a`` closes below ``b`` at t after being at or above it at t-1."""
    a = np.asarray(a, dtype=np.float64)
    b = _arr(b, a.shape[0])
    out = np.zeros(a.shape[0], dtype=np.bool_)
    out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
    return out


def above(a: np.ndarray, level: Level) -> np.ndarray:
    """``a > level`` (a threshold test at every bar)."""
    a = np.asarray(a, dtype=np.float64)
    return a > _arr(level, a.shape[0])


def below(a: np.ndarray, level: Level) -> np.ndarray:
    """``a < level``."""
    a = np.asarray(a, dtype=np.float64)
    return a < _arr(level, a.shape[0])


def in_range(a: np.ndarray, low: Level, high: Level) -> np.ndarray:
    """``low <= a <= high``."""
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[0]
    return (a >= _arr(low, n)) & (a <= _arr(high, n))


def pattern_present(values: np.ndarray, side: str = "any") -> np.ndarray:
    """A candlestick pattern output (+100/-100/0) as a mask: ``bullish``, ``bearish`` or ``any``."""
    v = np.asarray(values)
    if side == "bullish":
        return v > 0
    if side == "bearish":
        return v < 0
    if side == "any":
        return v != 0
    raise ValueError(f"pattern_present: side must be bullish, bearish or any, not {side!r}")


def confirmed(mask: np.ndarray, bars: int) -> np.ndarray:
    """True where ``mask`` has held for the last ``bars`` bars (including this one)."""
    if bars < 1:
        raise ValueError(f"confirmed: bars must be >= 1, not {bars}")
    m = np.asarray(mask, dtype=np.bool_)
    if bars == 1:
        return m.copy()
    run = np.convolve(m.astype(np.int64), np.ones(bars, dtype=np.int64))[: m.shape[0]]
    return run >= bars


def rising(a: np.ndarray, bars: int = 1) -> np.ndarray:
    """``a`` is higher than ``bars`` bars ago."""
    a = np.asarray(a, dtype=np.float64)
    out = np.zeros(a.shape[0], dtype=np.bool_)
    if bars < a.shape[0]:
        out[bars:] = a[bars:] > a[:-bars]
    return out


def falling(a: np.ndarray, bars: int = 1) -> np.ndarray:
    """``a`` is lower than ``bars`` bars ago."""
    a = np.asarray(a, dtype=np.float64)
    out = np.zeros(a.shape[0], dtype=np.bool_)
    if bars < a.shape[0]:
        out[bars:] = a[bars:] < a[:-bars]
    return out


def all_of(*masks: np.ndarray) -> np.ndarray:
    """Every mask true."""
    if not masks:
        raise ValueError("all_of needs at least one mask")
    out = np.asarray(masks[0], dtype=np.bool_).copy()
    for m in masks[1:]:
        out &= np.asarray(m, dtype=np.bool_)
    return out


def any_of(*masks: np.ndarray) -> np.ndarray:
    """At least one mask true."""
    if not masks:
        raise ValueError("any_of needs at least one mask")
    out = np.asarray(masks[0], dtype=np.bool_).copy()
    for m in masks[1:]:
        out |= np.asarray(m, dtype=np.bool_)
    return out


def at_least(k: int, *masks: np.ndarray) -> np.ndarray:
    """At least ``k`` of the masks true (for confluence rules)."""
    if not masks:
        raise ValueError("at_least needs at least one mask")
    count = np.sum([np.asarray(m, dtype=np.int64) for m in masks], axis=0)
    return count >= k
