"""The rolling windows of the features: compiled, or the same arithmetic in numpy, bit for bit.

The kernels of :mod:`tradebot.ml.rolling_nb` sum each window afresh, in bar order. A paper
step of the ``ml`` strategy needs them over one account's history (some thousands of bars),
where loading numba (its target initialisation: about a second of CPU, half a paper step's
budget) costs far more than the arithmetic. So, like the engine's step runner
(:mod:`tradebot.engine.interpreted`), the feature kinds call these dispatchers: the compiled
kernel when numba is already loaded in the process or the series is long, else
:func:`rolling_mean_std_np` / :func:`rolling_sum_np`, which vectorise across bars but add
each window's values in the kernel's order (one vector add per position in the window), so
every sum, mean and standard deviation is the same IEEE double — tests/ml/test_rolling_np.py
compares them bit for bit. A feature never depends on which path computed it.
"""

from __future__ import annotations

import sys

import numpy as np

#: longest series the numpy path takes when numba is not loaded (about 2 * window vector
#: operations over the series: ~0.1 s for a default spec at this length)
NUMPY_MAX_BARS = 200_000


def _compiled(n: int) -> bool:
    return "numba" in sys.modules or n > NUMPY_MAX_BARS


def rolling_mean_std(x: np.ndarray, window: int, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``x[t-window+1 .. t]`` (see :func:`rolling_mean_std_nb`)."""
    a = np.ascontiguousarray(x, dtype=np.float64)
    if _compiled(a.shape[0]):
        from tradebot.ml.rolling_nb import rolling_mean_std_nb

        return rolling_mean_std_nb(a, int(window), int(ddof))  # type: ignore[no-any-return]
    return rolling_mean_std_np(a, int(window), int(ddof))


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of ``x[t-window+1 .. t]`` (see :func:`rolling_sum_nb`)."""
    a = np.ascontiguousarray(x, dtype=np.float64)
    if _compiled(a.shape[0]):
        from tradebot.ml.rolling_nb import rolling_sum_nb

        return rolling_sum_nb(a, int(window))  # type: ignore[no-any-return]
    return rolling_sum_np(a, int(window))


def _window_sum(x: np.ndarray, window: int, m: int) -> np.ndarray:
    """``s[i] = x[i] + x[i+1] + ... + x[i+window-1]`` added left to right, for i < m."""
    s = np.zeros(m)
    for j in range(window):
        s += x[j:j + m]
    return s


def rolling_mean_std_np(x: np.ndarray, window: int, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rolling_mean_std_nb` in numpy: the same operations in the same order per window."""
    n = x.shape[0]
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    if window < 1 or window - ddof < 1 or n < window:
        return mean, std
    m = n - window + 1  # windows ending at bars window-1 .. n-1
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: NaN, as in the kernel
        s = _window_sum(x, window, m)
        mu = s / window
        ss = np.zeros(m)
        for j in range(window):
            d = x[j:j + m] - mu
            ss += d * d
        sd = np.sqrt(ss / (window - ddof))
    ok = ~np.isnan(s)  # the kernel leaves a window holding a NaN as NaN
    mean[window - 1:] = np.where(ok, mu, np.nan)
    std[window - 1:] = np.where(ok, sd, np.nan)
    return mean, std


def rolling_sum_np(x: np.ndarray, window: int) -> np.ndarray:
    """:func:`rolling_sum_nb` in numpy: the same additions in the same order per window."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if window < 1 or n < window:
        return out
    with np.errstate(invalid="ignore", over="ignore"):
        out[window - 1:] = _window_sum(x, window, n - window + 1)
    return out
