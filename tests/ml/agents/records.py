"""Small CandidateRecords for the agent tests: planted regimes and pure noise."""

from __future__ import annotations

import numpy as np

from tradebot.ml.select.record import CandidateRecord

DAY_MS = 86_400_000


def make_record(returns: np.ndarray, context: np.ndarray, names: tuple[str, ...] | None = None,
                feature_names: tuple[str, ...] | None = None) -> CandidateRecord:
    w, c = returns.shape
    starts = np.arange(w, dtype=np.int64) * 7 * DAY_MS + 1_704_067_200_000
    bounds = np.column_stack([np.arange(w) * 168, np.arange(1, w + 1) * 168]).astype(np.int64)
    return CandidateRecord(names or tuple(f"c{i}" for i in range(c)), starts, starts + 7 * DAY_MS, bounds,
                           np.asarray(returns, dtype=np.float64), np.asarray(context, dtype=np.float64),
                           feature_names or tuple(f"f{i}" for i in range(context.shape[1])))


def planted_record(seed: int, n_windows: int = 120, edge: float = 0.02, noise: float = 0.01) -> CandidateRecord:
    """Regimes 1 (trend) and 2 (range) in segments of 4-12 windows; ``trend`` earns ``edge`` in
    regime 1 and loses it in regime 2, ``reversion`` the opposite, ``flat`` earns nothing. The
    context is a noisy trend score (like an efficiency ratio), a noisy volatility and a
    feature of pure noise, NaN in the first window (features warming up)."""
    rng = np.random.default_rng(seed)
    regime = np.empty(n_windows, dtype=np.int64)
    i, r = 0, int(rng.integers(2))
    while i < n_windows:
        n = int(rng.integers(4, 13))
        regime[i:i + n] = r
        i += n
        r = 1 - r
    trend = np.where(regime == 0, edge, -edge) + noise * rng.standard_normal(n_windows)
    reversion = np.where(regime == 1, edge, -edge) + noise * rng.standard_normal(n_windows)
    flat = np.zeros(n_windows)
    returns = np.column_stack([trend, reversion, flat])
    er = np.where(regime == 0, 0.6, 0.2) + 0.1 * rng.standard_normal(n_windows)
    vol = 0.01 + 0.002 * rng.standard_normal(n_windows)
    junk = rng.standard_normal(n_windows)
    context = np.column_stack([er, vol, junk])
    context[0] = np.nan
    return make_record(returns, context, ("trend", "reversion", "flat"), ("er", "vol", "junk"))


def noise_record(seed: int, n_windows: int = 104, n_arms: int = 4, noise: float = 0.02) -> CandidateRecord:
    """Driftless returns with no relation to a context of pure noise."""
    rng = np.random.default_rng(seed)
    returns = noise * rng.standard_normal((n_windows, n_arms))
    context = rng.standard_normal((n_windows, 3))
    return make_record(returns, context, feature_names=("er", "vol", "junk"))
