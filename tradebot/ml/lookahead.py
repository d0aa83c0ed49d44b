"""Causality check for feature specs: do any values change when future candles are removed?

For a set of cut points k, the matrix built on ``candles[:k]`` must equal the first k rows
of the matrix built on the whole history (NaN equal to NaN, otherwise relative 1e-9);
every value that differs used data from after its bar, and is reported with its column.
Warm-up rows are compared too (the matrices are built unmasked for the check).

The check also confirms the newest-bar path: :func:`features_at_last_bar` on
``candles[:k]`` must match row ``k - 1`` of the full matrix (relative 1e-7), which fails when
a feature declares less warm-up than its values need to settle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.ml.features import _resolve, build_features, features_at_last_bar
from tradebot.ml.spec import FeatureSpec
from tradebot.strategies.lookahead import cut_points

TAIL_RTOL = 1e-7
TAIL_ATOL = 1e-10


@dataclass(frozen=True)
class FeatureChange:
    column: str
    bar: int
    timestamp_ms: int
    full: float  # value with the whole history
    truncated: float  # value with the history cut after ``cut`` bars
    cut: int


@dataclass(frozen=True)
class FeatureLookaheadReport:
    spec: str
    spec_hash: str
    bars: int
    cuts: list[int]
    changes: list[FeatureChange] = field(default_factory=list)  # one per (bar, column), first cut
    tail_mismatches: dict[str, int] = field(default_factory=dict)  # column -> first cut where it differs

    @property
    def ok(self) -> bool:
        return not self.changes and not self.tail_mismatches

    @property
    def leaking_columns(self) -> dict[str, int]:
        """Column -> first bar whose value changed."""
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.column] = min(c.bar, out.get(c.column, c.bar))
        return out

    def summary(self) -> str:
        if self.ok:
            return f"feature spec {self.spec!r}: no look-ahead over {len(self.cuts)} cuts of {self.bars} bars"
        parts = [f"{col} (from bar {bar})" for col, bar in self.leaking_columns.items()]
        parts += [f"{col} (newest-bar value differs at cut {cut}; warm-up too short)"
                  for col, cut in self.tail_mismatches.items()]
        return f"feature spec {self.spec!r}: look-ahead in " + ", ".join(parts)


def _differs(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        close = np.isclose(a, b, rtol=rtol, atol=atol)
    return ~(both_nan | close)


def check_feature_lookahead(spec: FeatureSpec | str | Path | Mapping[str, Any], candles: Candles,
                            points: int = 20, seed: int = 0,
                            others: Mapping[str, Candles] | None = None) -> FeatureLookaheadReport:
    """Rebuild the matrix on truncated histories and report every value that changes
    (``others``: the other symbols' candles, cut at the same instant)."""
    spec = _resolve(spec)
    n = len(candles)
    full = build_features(candles, spec, mask_warmup=False, others=others).values
    cols = spec.columns
    cuts = cut_points(n, spec.warmup_bars, points, seed)
    changes: dict[tuple[int, str], FeatureChange] = {}
    tail: dict[str, int] = {}
    for k in cuts:
        cut_ms = int(candles.timestamp[k]) if k < n else None
        others_k = None if others is None else {s: o.between(None, cut_ms) for s, o in others.items()}
        part = build_features(candles.slice(0, k), spec, mask_warmup=False, others=others_k).values
        bad_rows, bad_cols = np.nonzero(_differs(full[:k], part, 1e-9, 0.0))
        for r, j in zip(bad_rows.tolist(), bad_cols.tolist(), strict=True):
            changes.setdefault((r, cols[j]), FeatureChange(cols[j], r, int(candles.timestamp[r]),
                                                           float(full[r, j]), float(part[r, j]), k))
        last = features_at_last_bar(candles.slice(0, k), spec, others_k)
        for j in np.flatnonzero(_differs(full[k - 1], last, TAIL_RTOL, TAIL_ATOL)).tolist():
            tail.setdefault(cols[j], k)
    ordered = sorted(changes.values(), key=lambda c: (c.bar, cols.index(c.column)))
    return FeatureLookaheadReport(spec.name, spec.sha256, n, cuts, ordered, tail)
