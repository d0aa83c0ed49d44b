"""Rolling kernels against obvious pure-Python windows."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot.ml.rolling_nb import rolling_mean_std_nb, rolling_sum_nb


def _slow(x: list[float], w: int, ddof: int) -> tuple[list[float], list[float]]:
    mean, std = [], []
    for t in range(len(x)):
        win = x[max(0, t - w + 1): t + 1]
        if t < w - 1 or any(math.isnan(v) for v in win):
            mean.append(math.nan)
            std.append(math.nan)
            continue
        m = sum(win) / w
        mean.append(m)
        std.append(math.sqrt(sum((v - m) ** 2 for v in win) / (w - ddof)))
    return mean, std


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e3, 1e3), st.just(math.nan)), min_size=0, max_size=40),
       st.integers(2, 8), st.sampled_from([0, 1]))
def test_rolling_mean_std_matches_reference(x, w, ddof):
    arr = np.array(x, dtype=np.float64)
    mean, std = rolling_mean_std_nb(arr, w, ddof)
    ref_m, ref_s = _slow(x, w, ddof)
    np.testing.assert_allclose(mean, ref_m, rtol=1e-9, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(std, ref_s, rtol=1e-7, atol=1e-7, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=0, max_size=40), st.integers(1, 8))
def test_rolling_sum_matches_reference(x, w):
    out = rolling_sum_nb(np.array(x, dtype=np.float64), w)
    ref = [sum(x[t - w + 1: t + 1]) if t >= w - 1 else math.nan for t in range(len(x))]
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9, equal_nan=True)
