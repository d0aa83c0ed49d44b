"""Market regimes: what the performance-by-regime table adds to a backtest, and a learned fit.

Prints, for one year of 5-minute candles (105,120 bars, the planted-regime market):
the regime features, the rule-based classification, the whole by-regime table of a
backtest result (the cost every backtest report now pays), and a Gaussian-mixture fit
(``tradebot regime train``'s work) with its agreement with the planted regimes.

    .venv/bin/python bench/bench_regimes.py
"""

from __future__ import annotations

import time

import numpy as np


def main() -> None:
    from tradebot.analysis.regime_report import regime_performance
    from tradebot.ml.regime.features import regime_features
    from tradebot.ml.regime.learned import classify_learned, fit_learned
    from tradebot.ml.regime.rules import classify_rules
    from tradebot.ml.regime.settings import RegimeSettings
    from tradebot.ml.regime.summary import agreement
    from tradebot.testing.markets import PLANTED_REGIMES, planted_regime_market

    n = 365 * 288
    candles, truth = planted_regime_market(n, 1)
    s = RegimeSettings()
    regime_features(candles.slice(0, 3000), s)  # first calls (indicator backend) out of the timing
    t0 = time.perf_counter()
    feats = regime_features(candles, s)
    t1 = time.perf_counter()
    rules = classify_rules(feats, s)
    t2 = time.perf_counter()
    eq = 1000.0 * np.cumprod(1 + 0.001 * np.random.default_rng(0).standard_normal(n))
    entries = candles.timestamp[np.arange(500, n, 200)]
    regime_performance(candles, candles.timestamp, eq, entries, np.ones(entries.size), np.ones(entries.size), s)
    t3 = time.perf_counter()
    import numba  # noqa: F401  (loaded in a backtest by the engine: the compiled percentile is used)

    regime_features(candles.slice(0, 3000), s)  # compile/load the kernel out of the timing
    tk = time.perf_counter()
    regime_performance(candles, candles.timestamp, eq, entries, np.ones(entries.size), np.ones(entries.size), s)
    tk = time.perf_counter() - tk
    t3 = time.perf_counter()
    model = fit_learned(feats, s, seed=1)
    t4 = time.perf_counter()
    got = classify_learned(model, feats)
    a_l = agreement(got.labels, truth, got.names, PLANTED_REGIMES, got.lag)
    a_r = agreement(rules.labels, truth, rules.names, PLANTED_REGIMES, rules.lag)
    print(f"bars                         {n:,}")
    print(f"regime features              {t1 - t0:.3f} s")
    print(f"rule-based classification    {t2 - t1:.3f} s")
    print(f"by-regime table, numpy       {t3 - t2:.3f} s  (features + rules + table; numba not loaded)")
    print(f"by-regime table, compiled    {tk:.3f} s  (numba loaded, as in every backtest)")
    print(f"learned fit (GaussianMixture) {t4 - t3:.3f} s")
    print(f"agreement after {a_l['lag_bars']} bars: learned {a_l['agreement']:.3f}, rules {a_r['agreement']:.3f} "
          f"({a_l['counted_share']:.1%} of bars counted)")


if __name__ == "__main__":
    main()
