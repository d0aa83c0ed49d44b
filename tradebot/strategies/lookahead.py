"""Look-ahead check: do a strategy's signals change when future candles are removed?

For a set of cut points k, the signals computed on ``candles[:k]`` must equal the first
k signals computed on the whole history; any bar where they differ used data from after
it. Indicators are compared too (NaN equal to NaN, otherwise relative 1e-9), so the
report can name the indicator that leaks. In the spirit of freqtrade's
lookahead-analysis, but automatic and exhaustive over the cut points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tradebot.core.candles import Candles
from tradebot.strategies.base import Strategy

_SIGNALS = ("entries", "exits", "short_entries", "short_exits")


@dataclass(frozen=True)
class SignalChange:
    bar: int
    timestamp_ms: int
    signal: str
    full: bool  # value with the whole history
    truncated: bool  # value with history cut after ``cut`` bars
    cut: int


@dataclass(frozen=True)
class LookaheadReport:
    strategy: str
    params: dict[str, object]
    bars: int
    cuts: list[int]
    changes: list[SignalChange] = field(default_factory=list)
    leaking_indicators: dict[str, int] = field(default_factory=dict)  # name -> first bad bar

    @property
    def ok(self) -> bool:
        return not self.changes and not self.leaking_indicators


def cut_points(n: int, warmup: int, points: int, seed: int = 0) -> list[int]:
    """Evenly spread cut points after the warm-up, plus a few random ones (deterministic)."""
    lo = min(max(warmup + 2, 2), n - 1)
    if n - lo < 2:
        return []
    even = np.linspace(lo, n - 1, num=max(points // 2, 1)).astype(int)
    rng = np.random.default_rng(seed)
    rand = rng.integers(lo, n, size=max(points - even.size, 0))
    return sorted({int(k) for k in np.concatenate([even, rand])})


def _same(a: np.ndarray, b: np.ndarray) -> int | None:
    """First index where float arrays differ (NaN equals NaN), or None."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    close = np.isclose(a, b, rtol=1e-9, atol=0.0)
    bad = ~(both_nan | close)
    return int(np.argmax(bad)) if bad.any() else None


def check_lookahead(strategy: Strategy, candles: Candles, points: int = 20,
                    seed: int = 0) -> LookaheadReport:
    """Recompute indicators and signals on truncated histories and compare."""
    n = len(candles)
    full_ind = strategy.compute_indicators(candles)
    full = strategy.signals_from(candles, full_ind)
    cuts = cut_points(n, strategy.warmup_bars, points, seed)
    changes: list[SignalChange] = []
    leaks: dict[str, int] = {}
    for k in cuts:
        part = candles.slice(0, k)
        ind = strategy.compute_indicators(part)
        for name, values in ind.items():
            if name in full_ind and np.ndim(values) == 1:
                bad = _same(values, np.asarray(full_ind[name])[:k])
                if bad is not None:
                    leaks[name] = min(bad, leaks.get(name, bad))
        sig = strategy.signals_from(part, ind)
        for kind in _SIGNALS:
            a = np.asarray(getattr(full, kind), dtype=np.bool_)
            b = np.asarray(getattr(sig, kind), dtype=np.bool_)
            if a.size == 0 and b.size == 0:
                continue
            a = a[:k] if a.size else np.zeros(k, dtype=np.bool_)
            b = b if b.size else np.zeros(k, dtype=np.bool_)
            for bar in np.flatnonzero(a != b):
                changes.append(SignalChange(int(bar), int(candles.timestamp[bar]), kind,
                                            bool(a[bar]), bool(b[bar]), k))
    unique = {(c.bar, c.signal): c for c in changes}
    return LookaheadReport(strategy.name, strategy.parameters, n, cuts,
                           sorted(unique.values(), key=lambda c: (c.bar, c.signal)), leaks)
