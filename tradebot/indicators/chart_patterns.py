"""Chart patterns from swing points: support/resistance, head and shoulders, double tops
and bottoms, triangles.

Every detector works on swing points (:mod:`tradebot.indicators.swings`), and a swing at
bar ``t`` is only known at bar ``t + right``. Each result therefore carries
``confirmed_idx``: the first bar at which the result could have been computed from the
candles up to and including that bar. Running a detector on the candles ``[0, k]``
finds exactly the results of the full run whose ``confirmed_idx <= k`` (pattern
existence never depends on later candles; only ``breakout_idx`` and the levels measured
at the breakout do). A strategy acts on a pattern from ``max(confirmed_idx,
breakout_idx)``. For support/resistance per bar without look-ahead use
:func:`nearest_levels`.

Tolerances and depths are relative to price (``0.01`` = 1 %). Lines are
``price = intercept + slope * bar`` with ``bar`` the absolute index in the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradebot.core.errors import ParameterError
from tradebot.indicators.swings import as_prices, check_window, swing_indices

__all__ = [
    "Level", "Pattern", "support_resistance", "levels_at", "nearest_levels", "head_and_shoulders",
    "double_top", "double_bottom", "triangles",
]


@dataclass(frozen=True)
class Level:
    """A support/resistance level: a cluster of swing prices.

    ``kind`` is ``"resistance"`` (only swing highs), ``"support"`` (only swing lows) or
    ``"both"``. ``strength`` is the touches weighted by recency: each touch counts
    ``0.5 ** ((last_bar - bar) / half_life)``. ``confirmed_idx`` is the bar at which the
    last touch was confirmed, i.e. from which every field of this level is known.
    """

    price: float
    kind: str
    touches: int
    strength: float
    first_idx: int
    last_idx: int
    confirmed_idx: int
    touch_idx: tuple[int, ...] = ()


@dataclass(frozen=True)
class Pattern:
    """A detected chart pattern.

    ``idx``: the bars of the pattern's points (for H&S: left shoulder, trough, head,
    trough, right shoulder; double top: top, trough, top; triangles: every swing point
    used). ``levels``: key prices (``neckline``, ``breakout_level``, ``target`` ...; see
    each detector). ``direction``: +1 bullish, -1 bearish, 0 either way.
    """

    kind: str
    idx: tuple[int, ...]
    levels: dict[str, float] = field(hash=False)
    start_idx: int
    end_idx: int
    confirmed_idx: int
    breakout_idx: int | None
    direction: int


def _tol(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ParameterError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def _opt_window(name: str, value: Any) -> int | None:
    return None if value is None else check_window(name, value, 1)


# ----------------------------------------------------------------------------- S/R levels

def _clusters(prices: np.ndarray, tolerance: float, max_width: float) -> list[np.ndarray]:
    """Single-linkage groups of ``prices`` (sorted ascending), as positions into ``prices``:
    a new group starts where a price is more than ``tolerance`` above its neighbour, or
    more than ``max_width`` above the group's first price."""
    groups: list[np.ndarray] = []
    start = 0
    k = prices.shape[0]
    for i in range(1, k + 1):
        if i == k or (prices[i] - prices[i - 1] > tolerance * abs(prices[i - 1])
                      or prices[i] - prices[start] > max_width * abs(prices[start])):
            groups.append(np.arange(start, i))
            start = i
    return groups


def support_resistance(high: Any, low: Any, close: Any, left: int = 5, right: int = 5,
                       tolerance: float = 0.005, min_touches: int = 2, lookback: int | None = None,
                       half_life: float | None = None, max_width: float | None = None) -> list[Level]:
    """Levels where swing highs/lows cluster, sorted by price.

    Swing prices (highs of swing highs, lows of swing lows) are sorted and split where
    two neighbours differ by more than ``tolerance`` (relative): single linkage; so that
    dense swings do not chain into one wide band, a cluster is also cut where a price is
    more than ``max_width`` (relative, default ``2 * tolerance``) above its lowest. A
    cluster with at least ``min_touches`` swings is a level at the mean of its prices.
    ``lookback`` keeps only swings at bars ``>= len - lookback``. ``half_life`` (bars) of
    the recency weight defaults to ``lookback`` or the series length.
    """
    h, lo, c = as_prices(high=high, low=low, close=close)
    tolerance = _tol("tolerance", tolerance)
    min_touches = check_window("min_touches", min_touches, 1)
    lookback = _opt_window("lookback", lookback)
    max_width = 2 * tolerance if max_width is None else _tol("max_width", max_width)
    n = c.shape[0]
    hi_idx, lo_idx = swing_indices(h, lo, left, right)
    if lookback is not None:
        hi_idx = hi_idx[hi_idx >= n - lookback]
        lo_idx = lo_idx[lo_idx >= n - lookback]
    bars = np.concatenate([hi_idx, lo_idx])
    prices = np.concatenate([h[hi_idx], lo[lo_idx]])
    is_high = np.concatenate([np.ones(hi_idx.shape[0], bool), np.zeros(lo_idx.shape[0], bool)])
    order = np.lexsort((bars, prices))
    bars, prices, is_high = bars[order], prices[order], is_high[order]
    hl = float(half_life) if half_life is not None else float(lookback or max(n, 1))
    if not hl > 0:
        raise ParameterError(f"half_life must be > 0, got {half_life!r}")
    levels = []
    for grp in _clusters(prices, tolerance, max_width):
        if grp.shape[0] < min_touches:
            continue
        p = 0.0
        for v in prices[grp]:  # sequential sum: the same as the nearest_levels kernel
            p += float(v)
        tb = bars[grp]
        highs = int(is_high[grp].sum())
        kind = "resistance" if highs == grp.shape[0] else "support" if highs == 0 else "both"
        strength = float(np.sum(0.5 ** ((n - 1 - tb) / hl)))
        touch = tuple(sorted(int(b) for b in tb))
        levels.append(Level(p / grp.shape[0], kind, int(grp.shape[0]), strength, touch[0], touch[-1],
                            touch[-1] + right, touch))
    return levels


def levels_at(high: Any, low: Any, close: Any, idx: int, **kwargs: Any) -> list[Level]:
    """:func:`support_resistance` as known at bar ``idx`` (candles ``[0, idx]`` only)."""
    n = len(close)
    idx = check_window("idx", idx)
    if idx >= n:
        raise ParameterError(f"idx {idx} is past the last bar ({n - 1})")
    return support_resistance(high[:idx + 1], low[:idx + 1], close[:idx + 1], **kwargs)


def nearest_levels(high: Any, low: Any, close: Any, left: int = 5, right: int = 5,
                   tolerance: float = 0.005, min_touches: int = 2,
                   window: int = 500, max_width: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per bar ``t``: ``(support, resistance)``, the nearest level at or below ``close[t]``
    and the nearest above it (NaN when none), from the levels of
    ``support_resistance(candles[0..t], lookback=window)`` (same parameters): only swings confirmed by bar
    ``t`` and at bars ``> t - window``. No look-ahead: the result on a prefix is the
    prefix of the result. Any level counts (a broken resistance becomes support).
    """
    h, lo, c = as_prices(high=high, low=low, close=close)
    tolerance = _tol("tolerance", tolerance)
    min_touches = check_window("min_touches", min_touches, 1)
    window = check_window("window", window, 1)
    max_width = 2 * tolerance if max_width is None else _tol("max_width", max_width)
    hi_idx, lo_idx = swing_indices(h, lo, left, right)
    bars = np.concatenate([hi_idx, lo_idx])
    prices = np.concatenate([h[hi_idx], lo[lo_idx]])
    order = np.argsort(bars, kind="stable")
    args = (c, bars[order].astype(np.int64), prices[order], int(right), window, tolerance, max_width, min_touches)
    import sys

    if "numba" not in sys.modules and c.shape[0] <= NEAREST_PY_MAX_BARS:
        return _nearest_levels_py(*args)
    from tradebot.indicators.chart_patterns_nb import _nearest_levels_nb

    return _nearest_levels_nb(*args)  # type: ignore[no-any-return]


#: Longest series :func:`nearest_levels` runs in Python when numba is not loaded yet (about
#: 4 microseconds a bar: 0.1 s for 20,000 bars, against a second of CPU to load numba).
NEAREST_PY_MAX_BARS = 100_000


def _nearest_levels_py(close: np.ndarray, bars: np.ndarray, prices: np.ndarray, right: int, window: int,
                       tolerance: float, max_width: float, min_touches: int) -> tuple[np.ndarray, np.ndarray]:
    """``chart_patterns_nb._nearest_levels_nb`` in Python: the same steps and sums in the same
    order (tested equal)."""
    import bisect

    n = close.shape[0]
    m = bars.shape[0]
    bl, pl, cl = bars.tolist(), prices.tolist(), close.tolist()
    sup = [math.nan] * n
    res = [math.nan] * n
    levels: list[float] = []
    lo = hi = 0
    for t in range(n):
        changed = False
        while hi < m and bl[hi] + right <= t:
            hi += 1
            changed = True
        while lo < hi and bl[lo] < t + 1 - window:
            lo += 1
            changed = True
        if changed:
            p = sorted(pl[lo:hi])
            levels = []
            k = len(p)
            start = 0
            for i in range(1, k + 1):
                if i == k or (p[i] - p[i - 1] > tolerance * abs(p[i - 1])
                              or p[i] - p[start] > max_width * abs(p[start])):
                    if i - start >= min_touches:
                        s = 0.0
                        for j in range(start, i):
                            s += p[j]
                        levels.append(s / (i - start))
                    start = i
        x = cl[t]
        if not levels or x != x:
            continue
        j = bisect.bisect_right(levels, x)  # first level > close
        if j > 0:
            sup[t] = levels[j - 1]
        if j < len(levels):
            res[t] = levels[j]
    return np.array(sup, dtype=np.float64), np.array(res, dtype=np.float64)


# ------------------------------------------------------------------- shared pattern helpers

def _first_cross(pc: np.ndarray, ph: np.ndarray, j0: int, j1: int, slope: float, icpt: float,
                 stop: float) -> int | None:
    """First bar in ``[j0, j1)`` whose close is below the line, unless a high above
    ``stop`` comes first (the pattern failed)."""
    if j1 <= j0:
        return None
    seg = np.arange(j0, j1)
    below = np.flatnonzero(pc[j0:j1] < icpt + slope * seg)
    if below.shape[0] == 0:
        return None
    failed = np.flatnonzero(ph[j0:j1] > stop)
    if failed.shape[0] and failed[0] < below[0]:
        return None
    return j0 + int(below[0])


def _signed(high: Any, low: Any, close: Any, inverse: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays in which the bullish variant is the bearish one: negate and swap."""
    h, lo, c = as_prices(high=high, low=low, close=close)
    return (-lo, -h, -c) if inverse else (h, lo, c)


# ------------------------------------------------------------------------ head & shoulders

def head_and_shoulders(high: Any, low: Any, close: Any, left: int = 5, right: int = 5,
                       tolerance: float = 0.02, min_height: float = 0.0, max_wait: int | None = None,
                       inverse: bool = False) -> list[Pattern]:
    """Head and shoulders (``inverse=True``: inverse H&S, from swing lows).

    Three consecutive swing highs ``a < b < c`` with ``high[b]`` above both shoulders,
    the shoulders within ``tolerance`` of each other, the lowest lows between them
    (``t1``, ``t2``) defining the neckline, both shoulders above it, and the head at least
    ``min_height`` (relative) above it. ``idx = (a, t1, b, t2, c)``; ``confirmed_idx =
    c + right``. Breakout: the first close below the neckline within ``max_wait`` bars
    after ``c`` (default ``c - a``), unless a high above the head comes first.
    Levels: ``neckline`` and ``breakout_level`` (the neckline at the breakout bar, or at
    ``confirmed_idx`` without one), ``neckline_slope``, ``neckline_intercept``, ``head``,
    ``left_shoulder``, ``right_shoulder``, ``height`` (head to neckline, > 0) and
    ``target`` (breakout level -/+ height).
    """
    ph, pl, pc = _signed(high, low, close, inverse)
    left = check_window("left", left, 1)
    right = check_window("right", right, 1)
    tolerance = _tol("tolerance", tolerance)
    min_height = _tol("min_height", min_height)
    max_wait = _opt_window("max_wait", max_wait)
    peaks, _ = swing_indices(ph, pl, left, right)
    s = -1.0 if inverse else 1.0
    out: list[Pattern] = []
    for i in range(peaks.shape[0] - 2):
        a, b, c = int(peaks[i]), int(peaks[i + 1]), int(peaks[i + 2])
        ha, hb, hc = ph[a], ph[b], ph[c]
        if not (hb > ha and hb > hc) or abs(ha - hc) > tolerance * max(abs(ha), abs(hc)):
            continue
        t1 = a + 1 + int(np.argmin(pl[a + 1:b]))
        t2 = b + 1 + int(np.argmin(pl[b + 1:c]))
        slope = (pl[t2] - pl[t1]) / (t2 - t1)
        icpt = pl[t1] - slope * t1
        height = hb - (icpt + slope * b)
        if not (ha > icpt + slope * a and hc > icpt + slope * c and height > 0
                and height >= min_height * abs(hb)):
            continue
        confirmed = c + right
        wait = max_wait if max_wait is not None else c - a
        brk = _first_cross(pc, ph, c + 1, min(pc.shape[0], c + wait + 1), slope, icpt, hb)
        neck = icpt + slope * (brk if brk is not None else confirmed)
        levels = {"neckline": s * neck, "breakout_level": s * neck, "neckline_slope": s * slope,
                  "neckline_intercept": s * icpt, "head": s * hb, "left_shoulder": s * ha,
                  "right_shoulder": s * hc, "height": float(height), "target": s * (neck - height)}
        out.append(Pattern("inverse_head_and_shoulders" if inverse else "head_and_shoulders",
                           (a, t1, b, t2, c), {k: float(v) for k, v in levels.items()}, a, c, confirmed,
                           brk, 1 if inverse else -1))
    return out


# ---------------------------------------------------------------------- double top/bottom

def _double(high: Any, low: Any, close: Any, left: int, right: int, tolerance: float, min_depth: float,
            max_bars: int | None, max_wait: int | None, bottom: bool) -> list[Pattern]:
    ph, pl, pc = _signed(high, low, close, bottom)
    left = check_window("left", left, 1)
    right = check_window("right", right, 1)
    tolerance = _tol("tolerance", tolerance)
    min_depth = _tol("min_depth", min_depth)
    max_bars = _opt_window("max_bars", max_bars)
    max_wait = _opt_window("max_wait", max_wait)
    peaks, _ = swing_indices(ph, pl, left, right)
    s = -1.0 if bottom else 1.0
    out: list[Pattern] = []
    from tradebot.indicators.chart_patterns_nb import _double_top_nb

    for a, m, c in _double_top_nb(ph, pl, peaks.astype(np.int64), tolerance, min_depth, max_bars or 0):
        a, m, c = int(a), int(m), int(c)
        top = max(ph[a], ph[c])
        neck = pl[m]
        height = min(ph[a], ph[c]) - neck
        wait = max_wait if max_wait is not None else c - a
        brk = _first_cross(pc, ph, c + 1, min(pc.shape[0], c + wait + 1), 0.0, neck, top)
        levels = {"neckline": s * neck, "breakout_level": s * neck, "first": s * ph[a], "second": s * ph[c],
                  "height": float(height), "target": s * (neck - height)}
        out.append(Pattern("double_bottom" if bottom else "double_top", (a, m, c),
                           {k: float(v) for k, v in levels.items()}, a, c, c + right, brk, 1 if bottom else -1))
    return out


def double_top(high: Any, low: Any, close: Any, left: int = 5, right: int = 5, tolerance: float = 0.01,
               min_depth: float = 0.02, max_bars: int | None = None, max_wait: int | None = None) -> list[Pattern]:
    """Double tops: swing highs ``a < c`` within ``tolerance`` of each other with the
    lowest low between them (bar ``m``, the neckline) at least ``min_depth`` (relative)
    below the lower top, and each top the highest high on its side of ``m``. For each ``c`` the nearest
    such ``a`` (at most ``max_bars`` before) is taken. ``idx = (a, m, c)``,
    ``confirmed_idx = c + right``. Breakout: the first close below the neckline within
    ``max_wait`` bars after ``c`` (default ``c - a``), unless a high above both tops
    comes first. Levels: ``neckline``, ``breakout_level``, ``first``, ``second``,
    ``height`` (lower top to neckline), ``target`` (neckline - height).
    """
    return _double(high, low, close, left, right, tolerance, min_depth, max_bars, max_wait, False)


def double_bottom(high: Any, low: Any, close: Any, left: int = 5, right: int = 5, tolerance: float = 0.01,
                  min_depth: float = 0.02, max_bars: int | None = None,
                  max_wait: int | None = None) -> list[Pattern]:
    """Double bottoms: :func:`double_top` mirrored (swing lows, neckline at the highest
    high between, breakout on a close above it, ``target`` = neckline + height)."""
    return _double(high, low, close, left, right, tolerance, min_depth, max_bars, max_wait, True)


# -------------------------------------------------------------------------------- triangles

def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares line ``y = icpt + slope * x``: ``(slope, icpt)``."""
    xm = float(x.mean())
    dx = x - xm
    slope = float(dx @ (y - y.mean())) / float(dx @ dx)
    return slope, float(y.mean()) - slope * xm


def _triangle(h: np.ndarray, lo: np.ndarray, hx: np.ndarray, lx: np.ndarray, flat_tol: float, fit_tol: float,
              min_convergence: float) -> tuple[str, float, float, float, float, float] | None:
    if max(hx[0], lx[0]) >= min(hx[-1], lx[-1]):  # the two sets of points must overlap in time
        return None
    us, ui = _fit(hx.astype(np.float64), h[hx])
    ls, li = _fit(lx.astype(np.float64), lo[lx])
    x0, x1 = min(hx[0], lx[0]), max(hx[-1], lx[-1])
    height = (ui + us * x0) - (li + ls * x0)
    width = (ui + us * x1) - (li + ls * x1)
    if not (height > 0 and 0 < width <= (1 - min_convergence) * height):
        return None
    lim = fit_tol * height
    if np.max(np.abs(h[hx] - (ui + us * hx))) > lim or np.max(np.abs(lo[lx] - (li + ls * lx))) > lim:
        return None
    bars = np.arange(x0, x1 + 1)
    if np.max(h[x0:x1 + 1] - (ui + us * bars)) > lim or np.max((li + ls * bars) - lo[x0:x1 + 1]) > lim:
        return None
    du, dl = us * (x1 - x0) / height, ls * (x1 - x0) / height
    if abs(du) <= flat_tol and dl > flat_tol:
        kind = "ascending_triangle"
    elif abs(dl) <= flat_tol and du < -flat_tol:
        kind = "descending_triangle"
    elif du < -flat_tol and dl > flat_tol:
        kind = "symmetrical_triangle"
    else:
        return None
    return kind, us, ui, ls, li, height


def triangles(high: Any, low: Any, close: Any, left: int = 5, right: int = 5, window: int = 100,
              min_points: int = 2, max_points: int = 4, flat_tol: float = 0.15, fit_tol: float = 0.15,
              min_convergence: float = 0.3, max_wait: int | None = None) -> list[Pattern]:
    """Ascending, descending and symmetrical triangles.

    At each bar ``e`` where a swing is confirmed, the last ``k`` swing highs and last ``k``
    swing lows confirmed by ``e`` and within ``window`` bars (``k`` from ``max_points``
    down to ``min_points``) get least-squares lines. Slopes are measured as the line's
    change over the pattern span divided by its starting height (upper minus lower
    line): ``flat`` when within ``flat_tol``. Ascending: flat upper, rising lower;
    descending: falling upper, flat lower; symmetrical: falling upper, rising lower.
    The lines must converge (end width at most ``1 - min_convergence`` of the start) and
    fit: points and every high/low of the span within ``fit_tol`` x height of the lines.
    A triangle overlapping an earlier one of the same kind is the same one still forming
    and is not reported again. ``confirmed_idx = e``. Breakout: the first close outside
    the lines after the last point, before the apex (and within ``max_wait`` bars). Levels:
    ``upper_slope``, ``upper_intercept``, ``lower_slope``, ``lower_intercept``,
    ``apex_idx``, ``apex_price``, ``height``, ``resistance``/``support`` (the lines at
    ``confirmed_idx``), ``breakout_level`` (the crossed line at the breakout, NaN if
    none), ``breakout_dir`` (+1, -1, 0) and ``target`` (breakout level +/- height, NaN).
    """
    h, lo, c = as_prices(high=high, low=low, close=close)
    left = check_window("left", left, 1)
    right = check_window("right", right, 1)
    window = check_window("window", window, 2)
    min_points = check_window("min_points", min_points, 2)
    max_points = check_window("max_points", max_points, min_points)
    flat_tol, fit_tol = _tol("flat_tol", flat_tol), _tol("fit_tol", fit_tol)
    min_convergence = _tol("min_convergence", min_convergence)
    if min_convergence >= 1:
        raise ParameterError(f"min_convergence must be < 1, got {min_convergence}")
    max_wait = _opt_window("max_wait", max_wait)
    n = c.shape[0]
    hi_idx, lo_idx = swing_indices(h, lo, left, right)
    events = np.unique(np.concatenate([hi_idx, lo_idx]) + right)
    last_end: dict[str, int] = {}
    out: list[Pattern] = []
    bias = {"ascending_triangle": 1, "descending_triangle": -1, "symmetrical_triangle": 0}
    for e in events.tolist():
        he = int(np.searchsorted(hi_idx, e - right, "right"))
        hs = int(np.searchsorted(hi_idx, e - window, "left"))
        le = int(np.searchsorted(lo_idx, e - right, "right"))
        ls_ = int(np.searchsorted(lo_idx, e - window, "left"))
        top = min(max_points, he - hs, le - ls_)
        for k in range(top, min_points - 1, -1):
            hx, lx = hi_idx[he - k:he], lo_idx[le - k:le]
            fit = _triangle(h, lo, hx, lx, flat_tol, fit_tol, min_convergence)
            if fit is None:
                continue
            kind, us, ui, lsl, li, height = fit
            x0, x1 = int(min(hx[0], lx[0])), int(max(hx[-1], lx[-1]))
            if x0 <= last_end.get(kind, -1):  # the same triangle, still forming
                last_end[kind] = max(last_end[kind], x1)
                continue
            last_end[kind] = x1
            apex = (li - ui) / (us - lsl)
            j1 = min(n, int(math.floor(apex)) + 1)
            if max_wait is not None:
                j1 = min(j1, x1 + max_wait + 1)
            brk, bdir, blevel = None, 0, math.nan
            if j1 > x1 + 1:
                seg = np.arange(x1 + 1, j1)
                up = np.flatnonzero(c[x1 + 1:j1] > ui + us * seg)
                dn = np.flatnonzero(c[x1 + 1:j1] < li + lsl * seg)
                first_up = int(up[0]) if up.shape[0] else seg.shape[0]
                first_dn = int(dn[0]) if dn.shape[0] else seg.shape[0]
                if min(first_up, first_dn) < seg.shape[0]:
                    bdir = 1 if first_up < first_dn else -1
                    brk = x1 + 1 + min(first_up, first_dn)
                    blevel = (ui + us * brk) if bdir > 0 else (li + lsl * brk)
            levels = {"upper_slope": us, "upper_intercept": ui, "lower_slope": lsl, "lower_intercept": li,
                      "apex_idx": apex, "apex_price": ui + us * apex, "height": height,
                      "resistance": ui + us * e, "support": li + lsl * e, "breakout_level": blevel,
                      "breakout_dir": float(bdir), "target": blevel + bdir * height if bdir else math.nan}
            pts = tuple(sorted(int(v) for v in np.concatenate([hx, lx])))
            out.append(Pattern(kind, pts, {k2: float(v) for k2, v in levels.items()}, x0, x1, int(e), brk,
                               bias[kind]))
            break
    return out


def __getattr__(name: str) -> object:
    """The kernels by their old names here (``chart_patterns._double_top_nb``)."""
    if name in ("_nearest_levels_nb", "_double_top_nb"):
        from tradebot.indicators import chart_patterns_nb

        return getattr(chart_patterns_nb, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
