"""Market regimes: per bar, a named condition (trending up, trending down, ranging, high
volatility, ...) and its probability, from causal features only.

- :mod:`.settings` — the names, their count and every window and threshold (frozen, hashed);
- :mod:`.features` — the causal regime features (ADX, realised volatility and its
  percentile, returns over several horizons, efficiency ratio, range width), numpy only;
- :mod:`.rules` — the transparent rule-based classifier (numpy only);
- :mod:`.learned` — a Gaussian mixture whose components are mapped to stable names
  (scikit-learn, imported inside functions);
- :mod:`.summary` — time in each regime, mean duration, transition matrix, and agreement
  with planted labels after a recognition lag.

Decision record: docs/decisions/0022-market-regimes.md.
"""
