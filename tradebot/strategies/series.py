"""Small series helpers for strategies, numpy only (no numba: a module that needs only these
does not load numba, e.g. ichimoku in a cron paper step)."""

from __future__ import annotations

import numpy as np


def shift(x: np.ndarray, bars: int) -> np.ndarray:
    """``x`` delayed by ``bars`` (value of t-bars at t), NaN at the start."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    out = np.full(a.shape[0], np.nan)
    if 0 < bars < a.shape[0]:
        out[bars:] = a[:-bars]
    elif bars == 0:
        out[:] = a
    return out
