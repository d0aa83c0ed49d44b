"""Ichimoku without numba (indicators/trend.py ``_ichimoku_np``, used by a process that has not
loaded numba, e.g. a cron paper step) gives the compiled kernel's numbers bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.indicators import trend
from tradebot.indicators.fallback_trend import ichimoku_nb


@pytest.mark.parametrize("params", [(9, 26, 52, 26), (3, 5, 8, 0), (1, 1, 1, 1), (20, 40, 90, 300), (9, 26, 52, 999)])
def test_numpy_ichimoku_equals_the_kernel(params: tuple[int, int, int, int]) -> None:
    rng = np.random.default_rng(sum(params))
    n = 600
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high = close * (1 + rng.uniform(0, 0.01, n))
    low = close * (1 - rng.uniform(0, 0.01, n))
    high[[0, 1, 77, 300]] = np.nan  # leading and inner NaN: the windows holding them are NaN
    low[[0, 150, 151]] = np.nan
    high[400:410] = 123.0  # ties
    want = ichimoku_nb(high, low, *params)
    got = trend._ichimoku_np(high, low, *params)
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g, w)
        assert np.isfinite(g).any() or params[3] >= n
