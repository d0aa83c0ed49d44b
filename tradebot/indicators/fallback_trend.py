"""Numba kernels of the trend indicators, ports of TA-Lib's arithmetic where TA-Lib has one.

Like TA-Lib's Python wrapper, the TA-Lib-backed kernels skip leading NaN: they start at the
first bar where every input is a number, and the warm-up counts from there. A NaN later in
the series goes through the same arithmetic as in TA-Lib (running sums stay NaN from then on).
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit
from tradebot.indicators.fallback import atr_nb, true_range_nb

#: TA-Lib's zero test before the DI/ADX/NATR divisions: the build we test against (C library
#: 0.8) treats only an exact 0 as zero (older releases used a 1e-8 band).
TA_EPSILON = 0.0


@njit(cache=True)
def lead_nb(a, b, c):
    """First index where ``a``, ``b`` and ``c`` are all numbers (TA-Lib's ``begidx``).

    Like the wrapper, an all-NaN input starts at the last bar (which then gives NaN).
    """
    n = a.shape[0]
    for i in range(n):
        if not (np.isnan(a[i]) or np.isnan(b[i]) or np.isnan(c[i])):
            return i
    return max(n - 1, 0)


@njit(cache=True)
def _wma_core(x, period, out):
    """TA-Lib's running sums, recomputed from the window every ``8·period`` outputs (as the
    TA-Lib build we test against does: no drift, and a NaN clears at the next resync)."""
    n = x.shape[0]
    if period == 1:
        for i in range(n):
            out[i] = x[i]
        return
    if n < period:
        return
    divider = (period * (period + 1)) // 2
    every = 8 * period
    period_sum = 0.0
    period_sub = 0.0
    for i in range(period - 1):
        v = x[i]
        period_sub += v
        period_sum += v * (i + 1)
    trailing = 0.0
    for i in range(period - 1, n):
        if (i - period + 2) % every == 0:
            period_sub = 0.0
            period_sum = 0.0
            for j in range(period):
                v = x[i - period + 1 + j]
                period_sub += v
                period_sum += v * (j + 1)
        else:
            v = x[i]
            period_sub += v
            period_sub -= trailing
            period_sum += v * period
        trailing = x[i - period + 1]
        out[i] = period_sum / divider
        period_sum -= period_sub


@njit(cache=True)
def wma_nb(x, period):
    """Linearly weighted moving average (TA-Lib WMA, its running-sum arithmetic)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if period < 1 or n == 0:
        return out
    s = lead_nb(x, x, x)
    _wma_core(x[s:], period, out[s:])
    return out


@njit(cache=True)
def _stacked_ema_nb(x, period, depth, out, offset):
    """EMA applied ``depth`` (2 or 3) times in one pass, each stage seeded as TA-Lib seeds
    it (the SMA of its input's first ``period`` values); writes DEMA (depth 2) or TEMA
    (depth 3) into ``out[offset + i]``. Same arithmetic as three separate EMA passes."""
    n = x.shape[0]
    k = 2.0 / (period + 1)
    e1 = 0.0
    e2 = 0.0
    e3 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    p1 = period - 1
    for i in range(n):
        v = x[i]
        if i < p1:
            s1 += v
            continue
        if i == p1:
            s1 += v
            e1 = s1 / period
        else:
            e1 = (v - e1) * k + e1
        if i < 2 * p1:
            s2 += e1
            continue
        if i == 2 * p1:
            s2 += e1
            e2 = s2 / period
        else:
            e2 = (e1 - e2) * k + e2
        if depth == 2:
            out[offset + i] = (2.0 * e1) - e2
            continue
        if i < 3 * p1:
            s3 += e2
            continue
        if i == 3 * p1:
            s3 += e2
            e3 = s3 / period
        else:
            e3 = (e2 - e3) * k + e3
        out[offset + i] = e3 + ((3.0 * e1) - (3.0 * e2))


@njit(cache=True)
def _stacked_nb(x, period, depth):
    """DEMA (depth 2) or TEMA (depth 3) with TA-Lib's leading-NaN skip and period-1 copy."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if period < 1 or n == 0:
        return out
    s = lead_nb(x, x, x)
    if period == 1:  # TA-Lib copies the input (a NaN does not propagate)
        out[s:] = x[s:]
        return out
    _stacked_ema_nb(x[s:], period, depth, out, s)
    return out


@njit(cache=True)
def dema_nb(x, period):
    """Double EMA: 2·EMA − EMA(EMA) (TA-Lib DEMA)."""
    return _stacked_nb(x, period, 2)


@njit(cache=True)
def tema_nb(x, period):
    """Triple EMA: 3·EMA − 3·EMA² + EMA³ (TA-Lib TEMA)."""
    return _stacked_nb(x, period, 3)


@njit(cache=True)
def _is_zero(v):
    return not (v < -TA_EPSILON or v > TA_EPSILON)  # NaN counts as zero, as in TA-Lib


@njit(cache=True)
def _di_core(high, low, close, period, plus, out):
    """+DI (``plus``) or −DI over period >= 2, TA-Lib PLUS_DI/MINUS_DI."""
    n = close.shape[0]
    if n <= period:
        return
    dm = 0.0
    tr = 0.0
    ph, pl, pc = high[0], low[0], close[0]
    for today in range(1, n):
        h, lo = high[today], low[today]
        dp = h - ph
        dn = pl - lo
        ph, pl = h, lo
        if plus:
            move = dp > 0 and dp > dn
            val = dp
        else:
            move = dn > 0 and dn > dp
            val = dn
        t = true_range_nb(ph, pl, pc)
        pc = close[today]
        if today < period:  # the first period - 1 moves are summed
            if move:
                dm += val
            tr += t
            continue
        dm = dm - dm / period + val if move else dm - dm / period
        tr = tr - tr / period + t
        out[today] = 0.0 if _is_zero(tr) else 100.0 * (dm / tr)


@njit(cache=True)
def _adx_core(high, low, close, period, out):
    """TA-Lib ADX (period >= 2): first value at 2·period − 1."""
    n = close.shape[0]
    if n < 2 * period:
        return
    mdm = 0.0
    pdm = 0.0
    tr = 0.0
    sum_dx = 0.0
    adx = 0.0
    ph, pl, pc = high[0], low[0], close[0]
    for today in range(1, n):
        h, lo = high[today], low[today]
        dp = h - ph
        dn = pl - lo
        ph, pl = h, lo
        t = true_range_nb(ph, pl, pc)
        pc = close[today]
        if today < period:
            if dn > 0 and dp < dn:
                mdm += dn
            elif dp > 0 and dp > dn:
                pdm += dp
            tr += t
            continue
        mdm -= mdm / period
        pdm -= pdm / period
        if dn > 0 and dp < dn:
            mdm += dn
        elif dp > 0 and dp > dn:
            pdm += dp
        tr = tr - tr / period + t
        dx = 0.0
        has_dx = False
        if not _is_zero(tr):
            mdi = 100.0 * (mdm / tr)
            pdi = 100.0 * (pdm / tr)
            s = mdi + pdi
            if not _is_zero(s):
                dx = 100.0 * (abs(mdi - pdi) / s)
                has_dx = True
        if today < 2 * period - 1:
            if has_dx:
                sum_dx += dx
            continue
        if today == 2 * period - 1:
            if has_dx:
                sum_dx += dx
            adx = sum_dx / period
        elif has_dx:
            adx = (adx * (period - 1) + dx) / period
        out[today] = adx


@njit(cache=True)
def adx_nb(high, low, close, period):
    """(ADX, +DI, −DI) as TA-Lib ADX, PLUS_DI and MINUS_DI (period >= 2)."""
    n = close.shape[0]
    adx = np.full(n, np.nan)
    pdi = np.full(n, np.nan)
    mdi = np.full(n, np.nan)
    if period < 2 or n == 0:
        return adx, pdi, mdi
    s = lead_nb(high, low, close)
    h, lo, c = high[s:], low[s:], close[s:]
    _adx_core(h, lo, c, period, adx[s:])
    _di_core(h, lo, c, period, True, pdi[s:])
    _di_core(h, lo, c, period, False, mdi[s:])
    return adx, pdi, mdi


@njit(cache=True, fastmath={"contract"})
def _sar_core(high, low, acceleration, maximum, out):
    """TA-Lib SAR on series starting with a valid bar; first value at index 1.

    ``contract`` lets ``sar + af * (ep - sar)`` become one fused multiply-add, as in the
    TA-Lib build we test against: a one-ulp difference can flip a stop-and-reverse.
    """
    n = high.shape[0]
    if n < 2:
        return
    af = acceleration
    if af > maximum:
        acceleration = maximum
        af = acceleration
    dp = high[1] - high[0]
    dn = low[0] - low[1]
    is_long = not (dn > 0 and dp < dn)  # TA-Lib: short when the first -DM is positive
    if is_long:
        ep = high[1]
        sar = low[0]
    else:
        ep = low[1]
        sar = high[0]
    new_low = low[1]
    new_high = high[1]
    for today in range(1, n):
        prev_low = new_low
        prev_high = new_high
        new_low = low[today]
        new_high = high[today]
        if is_long:
            if new_low <= sar:
                is_long = False
                sar = ep
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
                out[today] = sar
                af = acceleration
                ep = new_low
                sar = sar + af * (ep - sar)
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
            else:
                out[today] = sar
                if new_high > ep:
                    ep = new_high
                    af += acceleration
                    if af > maximum:
                        af = maximum
                sar = sar + af * (ep - sar)
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
        elif new_high >= sar:
            is_long = True
            sar = ep
            if sar > prev_low:
                sar = prev_low
            if sar > new_low:
                sar = new_low
            out[today] = sar
            af = acceleration
            ep = new_high
            sar = sar + af * (ep - sar)
            if sar > prev_low:
                sar = prev_low
            if sar > new_low:
                sar = new_low
        else:
            out[today] = sar
            if new_low < ep:
                ep = new_low
                af += acceleration
                if af > maximum:
                    af = maximum
            sar = sar + af * (ep - sar)
            if sar < prev_high:
                sar = prev_high
            if sar < new_high:
                sar = new_high


@njit(cache=True)
def sar_nb(high, low, acceleration, maximum):
    """Parabolic SAR as TA-Lib SAR (first bar consumed; its high/low seed the stop)."""
    n = high.shape[0]
    out = np.full(n, np.nan)
    if n == 0:
        return out
    s = lead_nb(high, low, low)
    _sar_core(high[s:], low[s:], acceleration, maximum, out[s:])
    return out


@njit(cache=True)
def rolling_max_nb(x, period):
    """Max over the last ``period`` bars (NaN in the warm-up and when the window has NaN)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if period < 1:
        return out
    dq = np.empty(n, dtype=np.int64)  # indices of decreasing values
    head = 0
    tail = 0
    last_nan = -1
    for i in range(n):
        v = x[i]
        if np.isnan(v):
            last_nan = i
        else:
            while tail > head and x[dq[tail - 1]] <= v:
                tail -= 1
            dq[tail] = i
            tail += 1
        while tail > head and dq[head] <= i - period:
            head += 1
        if i >= period - 1 and last_nan <= i - period:
            out[i] = x[dq[head]]
    return out


@njit(cache=True)
def rolling_min_nb(x, period):
    """Min over the last ``period`` bars (NaN in the warm-up and when the window has NaN)."""
    return -rolling_max_nb(-x, period)


@njit(cache=True)
def midpoint_nb(high, low, period):
    """(highest high + lowest low) / 2 over ``period`` bars."""
    return (rolling_max_nb(high, period) + rolling_min_nb(low, period)) / 2.0


@njit(cache=True)
def ichimoku_nb(high, low, tenkan, kijun, senkou_b, displacement):
    """(tenkan, kijun, senkou_a, senkou_b) with the spans as known at each bar (no look-ahead)."""
    n = high.shape[0]
    t = midpoint_nb(high, low, tenkan)
    k = midpoint_nb(high, low, kijun)
    raw_b = midpoint_nb(high, low, senkou_b)
    span_a = np.full(n, np.nan)
    span_b = np.full(n, np.nan)
    for i in range(displacement, n):
        span_a[i] = (t[i - displacement] + k[i - displacement]) / 2.0
        span_b[i] = raw_b[i - displacement]
    return t, k, span_a, span_b


@njit(cache=True)
def supertrend_nb(high, low, close, period, multiplier):
    """(line, direction): bands hl2 ± multiplier·ATR(Wilder) that only tighten within a trend.

    Direction starts at +1 on the first bar with an ATR, flips to −1 when the close falls
    below the previous lower band and back to +1 above the previous upper band.
    """
    n = close.shape[0]
    line = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    if period < 1 or n == 0:
        return line, direction
    s = lead_nb(high, low, close)
    atr = np.full(n, np.nan)
    atr[s:] = atr_nb(high[s:], low[s:], close[s:], period)
    up = np.nan
    dn = np.nan
    d = 0.0
    for i in range(s, n):
        a = atr[i]
        if np.isnan(a):
            if d != 0.0:  # NaN after the start: stop (like the ATR itself)
                break
            continue
        mid = (high[i] + low[i]) / 2.0
        basic_up = mid - multiplier * a
        basic_dn = mid + multiplier * a
        if d == 0.0:
            up, dn, d = basic_up, basic_dn, 1.0
        else:
            pc = close[i - 1]
            new_up = max(basic_up, up) if pc > up else basic_up
            new_dn = min(basic_dn, dn) if pc < dn else basic_dn
            if d < 0 and close[i] > dn:
                d = 1.0
            elif d > 0 and close[i] < up:
                d = -1.0
            up, dn = new_up, new_dn
        direction[i] = d
        line[i] = up if d > 0 else dn
    return line, direction
