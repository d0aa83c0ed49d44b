"""Synthetic candles with a known answer, for tests and benchmarks of the learning code.

:func:`regime_market` is either a market with a planted, learnable trend or a driftless
random walk of the same noise, so a test can require "edge" on the one and "no evidence of
edge" on the other.
"""

from __future__ import annotations

import numpy as np

from tradebot.core.candles import Candles


def regime_market(n: int, seed: int, planted: bool, *, symbol: str = "TEST/USDT",
                  exchange: str = "") -> Candles:
    """Hourly candles from 2024-01-01. ``planted``: a drift of ±0.25% per bar that flips sign
    with probability 1/60 each bar (regimes a trend feature can learn) under 1% noise per bar;
    else a driftless geometric random walk with the same noise."""
    rng = np.random.default_rng(seed)
    drift = np.zeros(n)
    if planted:
        flips = rng.random(n) < 1 / 60
        drift = 0.0025 * np.where(np.cumsum(flips) % 2 == 0, 1.0, -1.0)
    close = 100.0 * np.exp(np.cumsum(drift + 0.01 * rng.standard_normal(n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + 0.003 * rng.random(n))
    low = np.minimum(open_, close) * (1 - 0.003 * rng.random(n))
    volume = 1000.0 * np.exp(0.3 * rng.standard_normal(n))
    ts = 1_704_067_200_000 + 3_600_000 * np.arange(n, dtype=np.int64)
    return Candles(ts, open_, high, low, close, volume, exchange=exchange, symbol=symbol, timeframe="1h",
                   source="test")


#: the planted regimes of :func:`planted_regime_market`, in the regime classifiers' default order
PLANTED_REGIMES = ("trend_up", "trend_down", "range", "high_vol")


def planted_regime_market(n: int, seed: int, *, min_len: int = 150, max_len: int = 400,
                          kinds: tuple[str, ...] = PLANTED_REGIMES, drift: float = 0.003,
                          noise: float = 0.01, high_vol_noise: float = 0.03, reversion: float = 0.15,
                          symbol: str = "TEST/USDT", exchange: str = "") -> tuple[Candles, np.ndarray]:
    """Hourly candles from 2024-01-01 made of segments of random length in ``[min_len, max_len]``
    bars, each a regime drawn from ``kinds`` (never the same twice in a row), and the planted
    label of every bar (an index into ``kinds``, int64):

    * ``trend_up`` / ``trend_down``: a drift of ±``drift`` per bar under ``noise`` (a trend
      follower wins);
    * ``range``: the log price pulled back to the segment's starting level by ``reversion``
      of the gap each bar, same noise (mean reversion wins);
    * ``high_vol``: no drift, ``high_vol_noise`` per bar.
    """
    if n < 2 or not 1 <= min_len <= max_len:
        raise ValueError("planted_regime_market needs n >= 2 and 1 <= min_len <= max_len")
    unknown = set(kinds) - set(PLANTED_REGIMES)
    if unknown or len(kinds) < 2:
        raise ValueError(f"kinds must be at least two of {PLANTED_REGIMES}, got {kinds}")
    rng = np.random.default_rng(seed)
    labels = np.empty(n, dtype=np.int64)
    logp = np.empty(n)
    level = 0.0
    i = 0
    prev = -1
    while i < n:
        k = int(rng.integers(len(kinds)))
        while k == prev:
            k = int(rng.integers(len(kinds)))
        prev = k
        stop = min(n, i + int(rng.integers(min_len, max_len + 1)))
        kind = kinds[k]
        anchor = level
        for t in range(i, stop):
            if kind == "trend_up":
                level += drift + noise * rng.standard_normal()
            elif kind == "trend_down":
                level += -drift + noise * rng.standard_normal()
            elif kind == "range":
                level += reversion * (anchor - level) + noise * rng.standard_normal()
            else:
                level += high_vol_noise * rng.standard_normal()
            logp[t] = level
        labels[i:stop] = k
        i = stop
    close = 100.0 * np.exp(logp)
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.where(np.asarray(kinds)[labels] == "high_vol", high_vol_noise, noise) * 0.3
    high = np.maximum(open_, close) * (1 + wick * rng.random(n))
    low = np.minimum(open_, close) * (1 - wick * rng.random(n))
    volume = 1000.0 * np.exp(0.3 * rng.standard_normal(n))
    ts = 1_704_067_200_000 + 3_600_000 * np.arange(n, dtype=np.int64)
    candles = Candles(ts, open_, high, low, close, volume, exchange=exchange, symbol=symbol, timeframe="1h",
                      source="test")
    return candles, labels


#: The planted-regime setting of the selection proof (tests/ml/select/test_selection_proof.py,
#: ``bench/bench_agents.py --proof``; decisions 0024/0025), chosen on seeds 100-109: 400 days
#: of hourly bars, up-trend and range segments of 600-1500 bars (12-31 windows of 48 bars, so
#: the regime features' 48-bar horizon sees a pure regime at the start of most windows). No
#: down-trend: there a long-only trend follower does not win (flat does), so it is not a
#: regime of the issue's "trend follower vs mean reverter" proof.
PROOF_BARS = 9600
PROOF_SEGMENTS = (600, 1500)
PROOF_KINDS = ("trend_up", "range")


def proof_market(seed: int, planted: bool = True, n: int = PROOF_BARS) -> Candles:
    """The selection proof's market: :func:`planted_regime_market` with the proof's segments
    and kinds (default drift and noise), or (``planted=False``) a driftless random walk of the
    same length (:func:`regime_market`)."""
    if not planted:
        return regime_market(n, seed, False)
    lo, hi = PROOF_SEGMENTS
    return planted_regime_market(n, seed, min_len=lo, max_len=hi, kinds=PROOF_KINDS)[0]
