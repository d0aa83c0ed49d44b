"""Machine learning foundations: declared features, labels and purged cross-validation.

- :mod:`tradebot.ml.spec` parses a feature spec (TOML or dict) into frozen dataclasses with
  a stable sha256; :mod:`tradebot.ml.feature_kinds` holds the feature registry.
- :mod:`tradebot.ml.features` builds the feature matrix (one function for a whole history
  and for the newest bar).
- :mod:`tradebot.ml.lookahead` checks that a spec is causal.
- :mod:`tradebot.ml.labels` makes forward-return, triple-barrier and meta labels and
  average-uniqueness sample weights.
- :mod:`tradebot.ml.cv` has purged k-fold and walk-forward splitters (scikit-learn API).

Nothing here imports scikit-learn at module import time.
"""
