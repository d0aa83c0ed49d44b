"""Downsampling for the HTML report: long series shrink to a size a browser draws quickly,
without hiding what a reader looks for.

* Lines (equity, drawdown, exposure): the bars are cut into ``buckets`` runs of consecutive
  bars and each run keeps its lowest and its highest point, in time order; the first and the
  last point of the series are always kept. Peaks, troughs (so the maximum drawdown) and the
  final value survive exactly.
* Candles: groups of ``k`` consecutive candles become one candle (open of the first, highest
  high, lowest low, close of the last), as a longer timeframe would show them.

Trade markers are never downsampled. Each function returns what it kept and a sentence
saying so (``None`` when nothing was dropped), for the page's notes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Above this many points a line is downsampled (2 points per bucket).
MAX_LINE_POINTS = 4000
#: Above this many candles they are grouped.
MAX_CANDLES = 1500

__all__ = ["MAX_CANDLES", "MAX_LINE_POINTS", "CandleSample", "line_indices", "group_candles"]


def line_indices(values: np.ndarray, max_points: int = MAX_LINE_POINTS) -> np.ndarray:
    """Indices of ``values`` to draw: all of them when there are at most ``max_points``,
    else the min and max of each of ``max_points // 2`` buckets plus the first and last."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    starts = edges[:-1]
    filled = np.where(np.isnan(v), np.inf, v)
    lo = np.minimum.reduceat(filled, starts)
    filled_hi = np.where(np.isnan(v), -np.inf, v)
    hi = np.maximum.reduceat(filled_hi, starts)
    keep = [0, n - 1]
    for b in range(buckets):
        a, z = int(edges[b]), int(edges[b + 1])
        seg_lo, seg_hi = filled[a:z], filled_hi[a:z]
        keep.append(a + int(np.argmax(seg_lo == lo[b])))
        keep.append(a + int(np.argmax(seg_hi == hi[b])))
    return np.unique(np.asarray(keep, dtype=np.int64))


def line_note(what: str, n: int, kept: int) -> str | None:
    if kept >= n:
        return None
    return (f"{what}: {n:,} points drawn as {kept:,} (the lowest and highest point of each of "
            f"{math.ceil(kept / 2):,} runs of bars, plus the first and last; peaks, troughs and "
            "the final value are exact)")


@dataclass(frozen=True)
class CandleSample:
    """Candles as drawn: possibly grouped ``per`` to one."""

    timestamp: np.ndarray  # ms of each drawn candle's first bar
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    per: int  # source candles per drawn candle (1: not grouped)
    source_rows: int

    @property
    def note(self) -> str | None:
        if self.per <= 1:
            return None
        return (f"candles: {self.source_rows:,} candles drawn as {self.timestamp.size:,}, each "
                f"grouping {self.per} consecutive candles (open of the first, highest high, "
                "lowest low, close of the last); every trade marker is kept at its exact time "
                "and price")


def group_candles(timestamp: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                  close: np.ndarray, max_candles: int = MAX_CANDLES) -> CandleSample:
    """Group consecutive candles so that at most ``max_candles`` are drawn."""
    ts = np.asarray(timestamp, dtype=np.int64)
    n = ts.size
    per = max(1, math.ceil(n / max_candles)) if n else 1
    if per == 1:
        return CandleSample(ts, np.asarray(open_, float), np.asarray(high, float),
                            np.asarray(low, float), np.asarray(close, float), 1, n)
    starts = np.arange(0, n, per, dtype=np.int64)
    ends = np.minimum(starts + per, n) - 1
    return CandleSample(ts[starts], np.asarray(open_, float)[starts],
                        np.maximum.reduceat(np.asarray(high, float), starts),
                        np.minimum.reduceat(np.asarray(low, float), starts),
                        np.asarray(close, float)[ends], per, n)
