"""chart_patterns.nearest_levels without numba (``_nearest_levels_py``, used by a process that
has not loaded numba, e.g. a cron paper step following support_resistance) gives the compiled
kernel's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.indicators import chart_patterns as cp
from tradebot.indicators.chart_patterns_nb import _nearest_levels_nb
from tradebot.indicators.swings import swing_indices


@pytest.mark.parametrize(("left", "right", "window", "tol", "width", "touches"),
                         [(5, 5, 500, 0.005, 0.01, 2), (2, 3, 60, 0.01, 0.03, 1), (3, 1, 2000, 0.002, 0.002, 3)])
def test_python_nearest_levels_equal_the_kernel(left: int, right: int, window: int, tol: float, width: float,
                                                touches: int) -> None:
    rng = np.random.default_rng(window)
    n = 3000
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    h = c * (1 + rng.uniform(0, 0.003, n))
    lo = c * (1 - rng.uniform(0, 0.003, n))
    c[[5, 700, 701]] = np.nan  # a close that is not a number: no level that bar
    hi_idx, lo_idx = swing_indices(h, lo, left, right)
    bars = np.concatenate([hi_idx, lo_idx])
    prices = np.concatenate([h[hi_idx], lo[lo_idx]])
    order = np.argsort(bars, kind="stable")
    args = (c, bars[order].astype(np.int64), prices[order], right, window, tol, width, touches)
    want = _nearest_levels_nb(*args)
    got = cp._nearest_levels_py(*args)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)
        assert np.isfinite(g).sum() > n // 4
