"""Build the feature matrix of a spec: one function for a whole history and the newest bar.

:func:`build_features` computes every declared feature over the candles it is given and
masks the first ``spec.warmup_bars`` rows with NaN (not settled yet). The newest bar in
paper/live is :func:`features_at_last_bar`, which calls the very same function on the
last ``warmup_bars + 1`` candles: its row equals the whole-history row within the settle
tolerance (exactly, for the non-recursive features).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import ConfigError, UsageError
from tradebot.ml.spec import FeatureSpec, load_spec


@dataclass(frozen=True)
class FeatureMatrix:
    """``values[t, j]`` is feature ``columns[j]`` known at the close of bar ``t``."""

    values: np.ndarray  # float64, (bars, features), column-major (F order: each column contiguous)
    columns: tuple[str, ...]
    timestamp: np.ndarray  # int64, the bars' open times
    spec_hash: str
    warmup_bars: int

    def valid_rows(self) -> np.ndarray:
        """Rows where every feature is finite (the warm-up and any gaps are not)."""
        return np.isfinite(self.values).all(axis=1)

    def to_frame(self) -> Any:
        import pandas as pd

        index = pd.DatetimeIndex(pd.to_datetime(self.timestamp, unit="ms", utc=True), name="date")
        return pd.DataFrame(self.values, index=index, columns=list(self.columns), copy=False)


def _resolve(spec: FeatureSpec | str | Path | Mapping[str, Any]) -> FeatureSpec:
    return spec if isinstance(spec, FeatureSpec) else load_spec(spec)


def _check_length(spec: FeatureSpec, n: int, needed: int, what: str) -> None:
    if n < needed:
        by = spec.warmup_by_feature()
        worst = max(by, key=lambda k: by[k])
        raise UsageError(f"feature spec {spec.name!r} needs at least {needed} bars of history for {what} "
                         f"({worst} needs {by[worst]} bars of warm-up), the data has {n}")


def build_features(candles: Candles, spec: FeatureSpec | str | Path | Mapping[str, Any],
                   mask_warmup: bool = True, others: Mapping[str, Candles] | None = None) -> FeatureMatrix:
    """The feature matrix of ``spec`` over ``candles`` (rows = bars, in the spec's column order).

    ``others``: the candles of every other symbol the spec names (``spec.symbols``), same
    timeframe; they are aligned to ``candles`` by time (:mod:`tradebot.ml.align`)."""
    spec = _resolve(spec)
    n = len(candles)
    base_ms = _base_ms(candles, spec)  # the wrong timeframe is said before the length
    _check_length(spec, n, spec.warmup_bars + 1, "one settled row")
    # built column by column into a (features, bars) array: every write is contiguous, and its
    # transpose is the (bars, features) matrix in F order without a copy
    cols = np.empty((len(spec.columns), n), dtype=np.float64)
    j = 0
    for feature in spec.features:
        kind = feature.feature_kind
        base = feature.base_columns
        source = candles if feature.symbol is None else _other(candles, feature.symbol, others)
        if feature.timeframe is not None:
            from tradebot.ml.align import resample

            source = resample(source, base_ms * feature.every, feature.timeframe)
        try:
            arrays = kind.compute(source, feature.param_dict) if len(source) else [
                np.zeros(0) for _ in base]
        except ValueError as e:  # an indicator refusing its parameters
            raise ConfigError(f"feature {feature.kind!r}: {e}") from None
        if source is not candles:
            arrays = _aligned(candles, source, feature.timeframe is not None, base_ms * feature.every, base_ms,
                              arrays)
        if len(arrays) != len(base):
            raise ConfigError(f"feature {feature.kind!r} returned {len(arrays)} columns, declared {len(base)}")
        first = j
        for a in arrays:
            a = np.asarray(a, dtype=np.float64)
            if a.shape != (n,):  # after alignment: one value per base bar
                raise ConfigError(f"feature {feature.kind!r} returned shape {a.shape}, expected ({n},)")
            cols[j] = a
            j += 1
        del arrays
        for lag in feature.lags:
            for k in range(len(base)):
                col = cols[j]
                col[:lag] = np.nan
                col[lag:] = cols[first + k, : n - lag]
                j += 1
    if mask_warmup:
        cols[:, : spec.warmup_bars] = np.nan
    return FeatureMatrix(cols.T, spec.columns, np.asarray(candles.timestamp, dtype=np.int64),
                         spec.sha256, spec.warmup_bars)


def features_at_last_bar(candles: Candles, spec: FeatureSpec | str | Path | Mapping[str, Any],
                         others: Mapping[str, Candles] | None = None) -> np.ndarray:
    """The feature row of the newest bar: :func:`build_features` on the last
    ``spec.warmup_bars + 1`` candles (more may be passed; only that tail is used)."""
    spec = _resolve(spec)
    need = spec.warmup_bars + 1
    _check_length(spec, len(candles), need, "the newest bar")
    tail = candles.slice(len(candles) - need, len(candles))
    if others and spec.symbols:  # the other symbols' candles over the same span
        start = int(tail.timestamp[0])
        others = {k: v.between(start, None) for k, v in others.items()}
    return build_features(tail, spec, others=others).values[-1].copy()


def _base_ms(candles: Candles, spec: FeatureSpec) -> int:
    """The base timeframe in ms (only needed, and only checked, when a feature has its own)."""
    if not any(f.timeframe for f in spec.features):
        return 0
    from tradebot.core.timeframes import timeframe_ms

    assert spec.timeframe is not None  # parse_spec requires it
    if candles.timeframe and candles.timeframe != spec.timeframe:
        raise UsageError(f"feature spec {spec.name!r} is for {spec.timeframe} candles, these are "
                         f"{candles.timeframe} ({candles.symbol or 'candles'})")
    return timeframe_ms(spec.timeframe)


def _other(candles: Candles, symbol: str, others: Mapping[str, Candles] | None) -> Candles:
    other = (others or {}).get(symbol)
    if other is None:
        raise UsageError(f"the feature spec needs the candles of {symbol} (same exchange and timeframe as "
                         f"{candles.symbol or 'the traded symbol'}); none were given")
    if candles.timeframe and other.timeframe and other.timeframe != candles.timeframe:
        raise UsageError(f"the candles of {symbol} are {other.timeframe}, the traded ones {candles.timeframe}")
    return other


def _aligned(candles: Candles, source: Candles, closed: bool, tf_ms: int, base_ms: int,
             arrays: list[np.ndarray]) -> list[np.ndarray]:
    from tradebot.ml.align import align_asof, align_closed

    if closed:
        return [align_closed(candles.timestamp, base_ms, source.timestamp, tf_ms, a) for a in arrays]
    return [align_asof(candles.timestamp, source.timestamp, a) for a in arrays]
