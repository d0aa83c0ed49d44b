"""Numba candlestick patterns, following TA-Lib's ``ta_CDL*.c`` step for step.

TA-Lib judges "long", "short", "near"... against the average of a candle range over
the previous N bars (its *candle settings*). The averages are kept as running totals,
seeded over the N bars before the first output and then moved one bar at a time
(``total += range[i] - range[i - N]``); we keep the same totals in the same order, so
the comparisons see the same floating-point numbers as TA-Lib's.

Every ``*_nb`` kernel takes float64 ``open, high, low, close`` arrays without NaN and
returns int32 with TA-Lib's values (+100 bullish, -100 bearish, 0 none) and zeros during
the lookback.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from tradebot._jit import njit

# Range types (TA_RangeType)
REALBODY = 0
HIGHLOW = 1
SHADOWS = 2

# TA-Lib's default candle settings: (range type, averaging period, factor)
BODY_LONG = (REALBODY, 10, 1.0)
BODY_VERY_LONG = (REALBODY, 10, 3.0)
BODY_SHORT = (REALBODY, 10, 1.0)
BODY_DOJI = (HIGHLOW, 10, 0.1)
SHADOW_LONG = (REALBODY, 0, 1.0)
SHADOW_VERY_LONG = (REALBODY, 0, 2.0)
SHADOW_SHORT = (SHADOWS, 10, 1.0)
SHADOW_VERY_SHORT = (HIGHLOW, 10, 0.1)
NEAR = (HIGHLOW, 5, 0.2)
FAR = (HIGHLOW, 5, 0.6)
EQUAL = (HIGHLOW, 5, 0.05)


@intrinsic
def _fma_ll(typingctx, a, b, c):
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, inline="always")
def fma(a, b, c):
    """``a * b + c`` rounded once, as TA-Lib's C build computes ``c + a * b``."""
    return _fma_ll(float(a), float(b), float(c))


@njit(cache=True, inline="always")
def _color(o, c, i):
    return 1 if c[i] >= o[i] else -1


@njit(cache=True, inline="always")
def _body(o, c, i):
    return abs(c[i] - o[i])


@njit(cache=True, inline="always")
def _upper(o, h, c, i):
    return h[i] - (c[i] if c[i] >= o[i] else o[i])


@njit(cache=True, inline="always")
def _lower(o, lo, c, i):
    return (o[i] if c[i] >= o[i] else c[i]) - lo[i]


@njit(cache=True)
def _ranges_nb(kind, o, h, lo, c):
    """TA_CANDLERANGE of every bar."""
    n = o.shape[0]
    out = np.empty(n)
    for i in range(n):
        if kind == REALBODY:
            out[i] = abs(c[i] - o[i])
        elif kind == HIGHLOW:
            out[i] = h[i] - lo[i]
        else:
            out[i] = _upper(o, h, c, i) + _lower(o, lo, c, i)
    return out


@njit(cache=True)
def _averages_nb(setting, rng, first):
    """TA_CANDLEAVERAGE at every bar ``j >= first`` (NaN before), with the running total
    seeded over ``rng[first - period:first]`` and moved one bar at a time, as TA-Lib does."""
    kind, period, factor = setting
    n = rng.shape[0]
    div = 2.0 if kind == SHADOWS else 1.0
    out = np.full(n, np.nan)
    if first < 0:
        return out
    if period == 0:
        for j in range(first, n):
            out[j] = factor * rng[j] / div
        return out
    total = 0.0
    for j in range(first - period, first):
        total += rng[j]
    for j in range(first, n):
        out[j] = factor * (total / period) / div
        total += rng[j] - rng[j - period]
    return out


@njit(cache=True)
def _avg(setting, o, h, lo, c, first):
    return _averages_nb(setting, _ranges_nb(setting[0], o, h, lo, c), first)


def lookback(name: str) -> int:
    """TA-Lib's lookback of the fallback pattern ``name`` with default settings."""
    return LOOKBACKS[name]


LOOKBACKS = {
    "doji": 10, "hammer": 11, "invertedhammer": 11, "hangingman": 11,
    "shootingstar": 11, "engulfing": 2, "harami": 11, "piercing": 11, "darkcloudcover": 11,
    "morningstar": 12, "eveningstar": 12, "3whitesoldiers": 12, "3blackcrows": 13,
}


@njit(cache=True)
def doji_nb(o, h, lo, c):
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    start = BODY_DOJI[1]
    if n <= start:
        return out
    doji = _avg(BODY_DOJI, o, h, lo, c, start)
    for i in range(start, n):
        if _body(o, c, i) <= doji[i]:
            out[i] = 100
    return out


@njit(cache=True)
def _hammer_like_nb(o, h, lo, c, kind):
    """kind 0 hammer, 1 hanging man, 2 inverted hammer, 3 shooting star."""
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    start = 11
    if n <= start:
        return out
    short = _avg(BODY_SHORT, o, h, lo, c, start)
    long_ = _avg(SHADOW_LONG, o, h, lo, c, start)
    vshort = _avg(SHADOW_VERY_SHORT, o, h, lo, c, start)
    near = _avg(NEAR, o, h, lo, c, start - 1)
    for i in range(start, n):
        if not _body(o, c, i) < short[i]:
            continue
        bot = min(c[i], o[i])
        top = max(c[i], o[i])
        if kind <= 1:
            if not (_lower(o, lo, c, i) > long_[i] and _upper(o, h, c, i) < vshort[i]):
                continue
            if kind == 0 and bot <= lo[i - 1] + near[i - 1]:
                out[i] = 100
            elif kind == 1 and bot >= h[i - 1] - near[i - 1]:
                out[i] = -100
        else:
            if not (_upper(o, h, c, i) > long_[i] and _lower(o, lo, c, i) < vshort[i]):
                continue
            if kind == 2 and top < min(c[i - 1], o[i - 1]):
                out[i] = 100
            elif kind == 3 and bot > max(c[i - 1], o[i - 1]):
                out[i] = -100
    return out


@njit(cache=True)
def hammer_nb(o, h, lo, c):
    return _hammer_like_nb(o, h, lo, c, 0)


@njit(cache=True)
def hangingman_nb(o, h, lo, c):
    return _hammer_like_nb(o, h, lo, c, 1)


@njit(cache=True)
def invertedhammer_nb(o, h, lo, c):
    return _hammer_like_nb(o, h, lo, c, 2)


@njit(cache=True)
def shootingstar_nb(o, h, lo, c):
    return _hammer_like_nb(o, h, lo, c, 3)


@njit(cache=True)
def engulfing_nb(o, h, lo, c):
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    for i in range(2, n):
        c1 = _color(o, c, i - 1)
        c2 = _color(o, c, i)
        if (c2 == 1 and c1 == -1
                and ((c[i] >= o[i - 1] and o[i] < c[i - 1])
                     or (c[i] > o[i - 1] and o[i] <= c[i - 1]))) or \
                (c2 == -1 and c1 == 1
                 and ((o[i] >= c[i - 1] and c[i] < o[i - 1])
                      or (o[i] > c[i - 1] and c[i] <= o[i - 1]))):
            if o[i] != c[i - 1] and c[i] != o[i - 1]:
                out[i] = c2 * 100
            else:
                out[i] = c2 * 80
    return out


@njit(cache=True)
def harami_nb(o, h, lo, c):
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    start = 11
    if n <= start:
        return out
    long_ = _avg(BODY_LONG, o, h, lo, c, start - 1)
    short = _avg(BODY_SHORT, o, h, lo, c, start)
    for i in range(start, n):
        if _body(o, c, i - 1) > long_[i - 1] and _body(o, c, i) <= short[i]:
            top, bot = max(c[i], o[i]), min(c[i], o[i])
            top1, bot1 = max(c[i - 1], o[i - 1]), min(c[i - 1], o[i - 1])
            if top < top1 and bot > bot1:
                out[i] = -_color(o, c, i - 1) * 100
            elif top <= top1 and bot >= bot1:
                out[i] = -_color(o, c, i - 1) * 80
    return out


@njit(cache=True)
def piercing_nb(o, h, lo, c):
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    start = 11
    if n <= start:
        return out
    long1 = _avg(BODY_LONG, o, h, lo, c, start - 1)
    long0 = _avg(BODY_LONG, o, h, lo, c, start)
    for i in range(start, n):
        if (_color(o, c, i - 1) == -1 and _body(o, c, i - 1) > long1[i - 1]
                and _color(o, c, i) == 1 and _body(o, c, i) > long0[i]
                and o[i] < lo[i - 1] and c[i] < o[i - 1]
                and c[i] > fma(_body(o, c, i - 1), 0.5, c[i - 1])):
            out[i] = 100
    return out


@njit(cache=True)
def darkcloudcover_nb(o, h, lo, c, penetration=0.5):
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    start = 11
    if n <= start:
        return out
    long1 = _avg(BODY_LONG, o, h, lo, c, start - 1)
    for i in range(start, n):
        if (_color(o, c, i - 1) == 1 and _body(o, c, i - 1) > long1[i - 1]
                and _color(o, c, i) == -1 and o[i] > h[i - 1] and c[i] > o[i - 1]
                and c[i] < c[i - 1] - _body(o, c, i - 1) * penetration):
            out[i] = -100
    return out


@njit(cache=True)
def _star_nb(o, h, lo, c, penetration, bullish):
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    start = 12
    if n <= start:
        return out
    long2 = _avg(BODY_LONG, o, h, lo, c, start - 2)
    short1 = _avg(BODY_SHORT, o, h, lo, c, start - 1)
    short0 = _avg(BODY_SHORT, o, h, lo, c, start)
    for i in range(start, n):
        if not (_body(o, c, i - 2) > long2[i - 2] and _body(o, c, i - 1) <= short1[i - 1]
                and _body(o, c, i) > short0[i]):
            continue
        if bullish:
            if (_color(o, c, i - 2) == -1
                    and max(o[i - 1], c[i - 1]) < min(o[i - 2], c[i - 2])
                    and _color(o, c, i) == 1
                    and c[i] > fma(_body(o, c, i - 2), penetration, c[i - 2])):
                out[i] = 100
        elif (_color(o, c, i - 2) == 1
                and min(o[i - 1], c[i - 1]) > max(o[i - 2], c[i - 2])
                and _color(o, c, i) == -1
                and c[i] < c[i - 2] - _body(o, c, i - 2) * penetration):
            out[i] = -100
    return out


@njit(cache=True)
def morningstar_nb(o, h, lo, c, penetration=0.3):
    return _star_nb(o, h, lo, c, penetration, True)


@njit(cache=True)
def eveningstar_nb(o, h, lo, c, penetration=0.3):
    return _star_nb(o, h, lo, c, penetration, False)


@njit(cache=True)
def threewhitesoldiers_nb(o, h, lo, c):
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    start = 12
    if n <= start:
        return out
    vs2 = _avg(SHADOW_VERY_SHORT, o, h, lo, c, start - 2)
    vs1 = _avg(SHADOW_VERY_SHORT, o, h, lo, c, start - 1)
    vs0 = _avg(SHADOW_VERY_SHORT, o, h, lo, c, start)
    near2 = _avg(NEAR, o, h, lo, c, start - 2)
    near1 = _avg(NEAR, o, h, lo, c, start - 1)
    far2 = _avg(FAR, o, h, lo, c, start - 2)
    far1 = _avg(FAR, o, h, lo, c, start - 1)
    short0 = _avg(BODY_SHORT, o, h, lo, c, start)
    for i in range(start, n):
        if (_color(o, c, i - 2) == 1 and _upper(o, h, c, i - 2) < vs2[i - 2]
                and _color(o, c, i - 1) == 1 and _upper(o, h, c, i - 1) < vs1[i - 1]
                and _color(o, c, i) == 1 and _upper(o, h, c, i) < vs0[i]
                and c[i] > c[i - 1] and c[i - 1] > c[i - 2]
                and o[i - 1] > o[i - 2] and o[i - 1] <= c[i - 2] + near2[i - 2]
                and o[i] > o[i - 1] and o[i] <= c[i - 1] + near1[i - 1]
                and _body(o, c, i - 1) > _body(o, c, i - 2) - far2[i - 2]
                and _body(o, c, i) > _body(o, c, i - 1) - far1[i - 1]
                and _body(o, c, i) > short0[i]):
            out[i] = 100
    return out


@njit(cache=True)
def threeblackcrows_nb(o, h, lo, c):
    n = o.shape[0]
    out = np.zeros(n, np.int32)
    start = 13
    if n <= start:
        return out
    vs2 = _avg(SHADOW_VERY_SHORT, o, h, lo, c, start - 2)
    vs1 = _avg(SHADOW_VERY_SHORT, o, h, lo, c, start - 1)
    vs0 = _avg(SHADOW_VERY_SHORT, o, h, lo, c, start)
    for i in range(start, n):
        if (_color(o, c, i - 3) == 1
                and _color(o, c, i - 2) == -1 and _lower(o, lo, c, i - 2) < vs2[i - 2]
                and _color(o, c, i - 1) == -1 and _lower(o, lo, c, i - 1) < vs1[i - 1]
                and _color(o, c, i) == -1 and _lower(o, lo, c, i) < vs0[i]
                and o[i - 1] < o[i - 2] and o[i - 1] > c[i - 2]
                and o[i] < o[i - 1] and o[i] > c[i - 1]
                and h[i - 3] > c[i - 2]
                and c[i - 2] > c[i - 1] and c[i - 1] > c[i]):
            out[i] = -100
    return out
