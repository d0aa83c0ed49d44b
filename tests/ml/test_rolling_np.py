"""The numpy path of the feature windows equals the compiled kernels bit for bit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tradebot.ml.rolling import rolling_mean_std, rolling_mean_std_np, rolling_sum, rolling_sum_np
from tradebot.ml.rolling_nb import rolling_mean_std_nb, rolling_sum_nb


def _series(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.exp(rng.standard_normal(n)) * 10.0 ** rng.integers(-3, 6, n)  # mixed magnitudes: rounding matters
    x[rng.random(n) < 0.01] = np.nan
    if n > 50:
        x[17] = np.inf
        x[40] = -np.inf
    return x


@pytest.mark.parametrize("n", [0, 3, 24, 500, 3000])
@pytest.mark.parametrize("window", [1, 2, 12, 24, 50])
def test_identical_to_the_kernels(n: int, window: int) -> None:
    for seed in range(3):
        x = _series(n, seed)
        for ddof in (0, 1):
            want_m, want_s = rolling_mean_std_nb(x, window, ddof)
            got_m, got_s = rolling_mean_std_np(x, window, ddof)
            np.testing.assert_array_equal(got_m, want_m)
            np.testing.assert_array_equal(got_s, want_s)
        np.testing.assert_array_equal(rolling_sum_np(x, window), rolling_sum_nb(x, window))


def test_dispatchers_give_the_kernels_numbers() -> None:
    x = _series(1000, 9)
    np.testing.assert_array_equal(rolling_mean_std(x, 24, 1)[1], rolling_mean_std_nb(x, 24, 1)[1])
    np.testing.assert_array_equal(rolling_sum(x, 20), rolling_sum_nb(x, 20))


def test_default_spec_features_are_built_without_numba() -> None:
    code = """
import sys
from tradebot.ml.features import build_features
from tradebot.ml.spec import load_spec
from tradebot.testing.markets import regime_market
m = build_features(regime_market(2000, 0, True), load_spec("default"))
print("numba" in sys.modules, int(m.valid_rows().sum()))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded, rows = done.stdout.split()
    assert loaded == "False" and int(rows) > 1000
