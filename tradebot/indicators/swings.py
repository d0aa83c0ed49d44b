"""Swing highs and lows (fractal pivots) and when they become known.

A bar ``t`` is a *swing high* when ``high[t]`` is the strict maximum of the window
``[t - left, t + right]`` (every other bar of the window is strictly lower), a *swing
low* when ``low[t]`` is the strict minimum. Only bars whose whole window lies inside
the series qualify, so the first ``left`` and last ``right`` bars are never swings, and
a bar whose window holds a NaN is not a swing.

Look-ahead: the window reaches ``right`` bars into the future, so a swing at bar ``t``
is only **known at bar** ``t + right`` (its *confirmation* bar). The masks returned by
:func:`swing_points` are indexed by the swing bar ``t`` itself; a strategy must not use
them before ``t + right``. Use :func:`confirmed_at` for the confirmation bars or
:func:`known_mask` for a mask that is True at the confirmation bar instead. Because the
whole window must be inside the data, the swings of a prefix ``[0, k]`` are exactly the
swings of the full series whose confirmation bar is ``<= k``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tradebot.core.errors import ParameterError

__all__ = ["swing_points", "confirmed_at", "known_mask", "swing_indices", "check_window", "as_prices"]


def check_window(name: str, value: Any, minimum: int = 0) -> int:
    """``value`` as an int ``>= minimum`` or a :class:`ParameterError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ParameterError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def as_prices(**arrays: Any) -> list[np.ndarray]:
    """The named arrays as contiguous 1-D float64 of one common length (or a ParameterError)."""
    out: list[np.ndarray] = []
    length = None
    for name, a in arrays.items():
        try:
            x = np.ascontiguousarray(a, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ParameterError(f"{name} must be a numeric array: {e}") from None
        if x.ndim != 1:
            raise ParameterError(f"{name} must be 1-D, got shape {x.shape}")
        if length is not None and x.shape[0] != length:
            names = ", ".join(arrays)
            raise ParameterError(f"{names} must have the same length ({name} has {x.shape[0]}, expected {length})")
        length = x.shape[0]
        out.append(x)
    return out


def _strict_max(x: np.ndarray, left: int, right: int) -> np.ndarray:
    n = x.shape[0]
    mask = np.zeros(n, dtype=bool)
    width = left + right + 1
    if n < width:
        return mask
    w = sliding_window_view(x, width)  # row i covers [i, i + width): centre i + left
    centre = w[:, left]
    ok = ~np.isnan(centre)
    if left:
        with np.errstate(invalid="ignore"):
            ok &= centre > w[:, :left].max(axis=1)  # NaN in the window -> NaN max -> False
    if right:
        with np.errstate(invalid="ignore"):
            ok &= centre > w[:, left + 1:].max(axis=1)
    mask[left:n - right] = ok
    return mask


def swing_points(high: Any, low: Any, left: int = 5, right: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """``(swing_high_mask, swing_low_mask)``: boolean arrays indexed by the swing bar.

    A swing at bar ``t`` is known only at bar ``t + right`` (see the module docstring).
    """
    left = check_window("left", left)
    right = check_window("right", right)
    h, lo = as_prices(high=high, low=low)
    return _strict_max(h, left, right), _strict_max(-lo, left, right)


def swing_indices(high: Any, low: Any, left: int = 5, right: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Bars (int64, ascending) of the swing highs and of the swing lows."""
    sh, sl = swing_points(high, low, left, right)
    return np.flatnonzero(sh), np.flatnonzero(sl)


def confirmed_at(mask: Any, right: int) -> np.ndarray:
    """The confirmation bar of each swing in ``mask`` (in bar order): ``t + right``."""
    right = check_window("right", right)
    return np.flatnonzero(np.asarray(mask, dtype=bool)) + right


def known_mask(mask: Any, right: int) -> np.ndarray:
    """``mask`` moved ``right`` bars later: True at the bar each swing becomes known.

    Safe to use bar by bar in a strategy (no look-ahead).
    """
    right = check_window("right", right)
    m = np.asarray(mask, dtype=bool)
    out = np.zeros_like(m)
    if right < m.shape[0]:
        out[right:] = m[:m.shape[0] - right]
    return out
