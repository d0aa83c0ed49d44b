"""orderflow_math's rolling windows in numpy (a process that has not loaded numba, e.g. a cron
paper step following support_resistance or order_flow) give the compiled kernels' numbers."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.strategies import orderflow_math as om
from tradebot.strategies.orderflow_nb import rolling_max_nb, rolling_min_nb, rolling_sum_nb


@pytest.mark.parametrize("window", [1, 2, 7, 50, 999, 1000, 1001])
def test_numpy_rolling_windows_equal_the_kernels(window: int) -> None:
    rng = np.random.default_rng(window)
    x = rng.normal(0, 1, 1000) * 10 ** rng.uniform(-3, 3, 1000)
    x[[0, 10, 11, 500]] = np.nan  # a NaN last value, and NaN inside windows
    x[600:620] = np.nan  # windows of NaN only
    x[700:705] = 3.0  # ties
    np.testing.assert_array_equal(om._rolling_sum_np(x, window), rolling_sum_nb(x, window))
    np.testing.assert_array_equal(om._rolling_extreme_np(x, window, True), rolling_max_nb(x, window))
    np.testing.assert_array_equal(om._rolling_extreme_np(x, window, False), rolling_min_nb(x, window))
    assert om.rolling_max_nb is rolling_max_nb  # the old names still resolve
