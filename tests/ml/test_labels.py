"""Labels: kernels against slow obvious implementations, conventions, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.ml.labels import (
    average_uniqueness,
    forward_return_labels,
    meta_labels,
    sample_weights,
    triple_barrier_labels,
)
from tradebot.ml.labels_nb import average_uniqueness_nb, concurrency_nb, triple_barrier_nb

from .conftest import random_candles


def _slow_barrier(o, h, lo, c, side, entry, pdist, sdist, horizon):
    n = len(c)
    out = []
    for t in range(n):
        s = side[t]
        if s == 0 or t + horizon > n - 1 or math.isnan(entry[t]) or entry[t] <= 0:
            out.append((0, -1, math.nan, -1, -1))
            continue
        e = entry[t]
        pt = None if math.isnan(pdist[t]) else e + s * pdist[t]
        sl = None if math.isnan(sdist[t]) else e - s * sdist[t]

        def beyond(price, level, direction):  # is ``price`` at or past ``level`` going ``direction``?
            return price >= level if direction > 0 else price <= level

        first_pt = next((j for j in range(t + 1, t + horizon + 1)
                         if pt is not None and beyond(h[j] if s > 0 else lo[j], pt, s)), -1)
        first_sl = next((j for j in range(t + 1, t + horizon + 1)
                         if sl is not None and beyond(lo[j] if s > 0 else h[j], sl, -s)), -1)
        if first_sl != -1 and (first_pt == -1 or first_sl <= first_pt):
            j = first_sl
            px = o[j] if (o[j] < sl if s > 0 else o[j] > sl) else sl
            out.append((-1, j, s * (px / e - 1), first_pt, first_sl))
        elif first_pt != -1:
            j = first_pt
            px = o[j] if (o[j] > pt if s > 0 else o[j] < pt) else pt
            out.append((1, j, s * (px / e - 1), first_pt, first_sl))
        else:
            out.append((0, t + horizon, s * (c[t + horizon] / e - 1), -1, -1))
    return out


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 40), st.integers(1, 8), st.booleans())
def test_triple_barrier_kernel_matches_reference(seed, n, horizon, disable_one):
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    o = c * (1 + 0.005 * rng.standard_normal(n))
    h = np.maximum(o, c) * (1 + 0.01 * rng.random(n))
    lo = np.minimum(o, c) * (1 - 0.01 * rng.random(n))
    side = rng.choice(np.array([-1, 0, 1], dtype=np.int8), n)
    entry = np.where(rng.random(n) < 0.1, np.nan, c)
    pdist = rng.uniform(0.2, 2.5, n)
    sdist = rng.uniform(0.2, 2.5, n)
    if disable_one:
        (pdist if seed % 2 else sdist)[:] = np.nan
    got = triple_barrier_nb(o, h, lo, c, side, entry, pdist, sdist, horizon)
    ref = _slow_barrier(o, h, lo, c, side, entry, pdist, sdist, horizon)
    for i, name in enumerate(("barrier", "t1", "ret", "pt_touch", "sl_touch")):
        expected = np.array([r[i] for r in ref], dtype=np.float64)
        np.testing.assert_allclose(got[i].astype(np.float64), expected, rtol=1e-12, equal_nan=True, err_msg=name)


def _slow_uniqueness(t0, t1, n_bars):
    conc = [sum(1 for a, b in zip(t0, t1, strict=True) if b >= 0 and a <= x <= b) for x in range(n_bars)]
    return [math.nan if b < 0 else sum(1 / conc[x] for x in range(a, b + 1)) / (b - a + 1)
            for a, b in zip(t0, t1, strict=True)]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(-1, 10)), min_size=1, max_size=30))
def test_uniqueness_kernels_match_reference(pairs):
    t0 = np.array([a for a, _ in pairs], dtype=np.int64)
    t1 = np.array([a + d if d >= 0 else -1 for a, d in pairs], dtype=np.int64)
    n_bars = int(max(t0.max(), t1.max())) + 1
    conc = concurrency_nb(t0, t1, n_bars)
    ref_conc = [sum(1 for a, b in zip(t0, t1, strict=True) if b >= 0 and a <= x <= b) for x in range(n_bars)]
    assert conc.tolist() == ref_conc
    np.testing.assert_allclose(average_uniqueness_nb(t0, t1, n_bars), _slow_uniqueness(t0, t1, n_bars),
                               rtol=1e-9, equal_nan=True)


def test_uniqueness_of_simple_overlaps():
    # two labels over the same 2 bars, one alone: 1/2, 1/2, 1
    u = average_uniqueness(np.array([1, 1, 3]), np.array([0, 0, 2]))
    np.testing.assert_allclose(u, [0.5, 0.5, 1.0])
    # overlapping forward returns of horizon h: inner labels have uniqueness 1/(h+1)
    lab = forward_return_labels(np.linspace(1, 2, 50), 4)
    u = average_uniqueness(lab.t1)
    assert u[20] == pytest.approx(1 / 5) and np.isnan(u[-1])
    with pytest.raises(UsageError, match="0 <= t0 <= t1"):
        average_uniqueness(np.array([0]), np.array([2]))


def test_forward_return_labels_dead_zone_and_end():
    close = np.array([100.0, 101.0, 100.5, 100.4, 103.0, 103.0])
    lab = forward_return_labels(close, 1, dead_zone=0.002)
    # returns: +1%, -0.495%, -0.0995%, +2.59%, 0, undefined
    np.testing.assert_array_equal(lab.label, [1, -1, 0, 1, 0, np.nan])
    assert lab.t1.tolist() == [1, 2, 3, 4, 5, -1]
    binary = forward_return_labels(close, 1, dead_zone=0.002, binary=True)
    np.testing.assert_array_equal(binary.label, [1, 0, np.nan, 1, np.nan, np.nan])
    two = forward_return_labels(close, 2)
    assert np.isnan(two.label[-2:]).all() and two.ret[0] == pytest.approx(0.005)


def _bars(rows, start=0):
    arr = np.array(rows, dtype=np.float64)
    n = arr.shape[0]
    return Candles(np.arange(n, dtype=np.int64) * 60_000 + start, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3],
                   np.ones(n))


Q = (100, 101, 99, 100)  # a quiet bar: with ATR(1) = its true range 2.0, the event bar is bar 1


def test_triple_barrier_stop_first_when_one_bar_touches_both():
    # event at bar 1 (ATR 2.0): profit at 100 + 2 = 102, stop at 100 - 2 = 98; bar 2 touches both
    c = _bars([Q, Q, (100, 103, 97, 100), (100, 100.5, 99.5, 100), (100, 100, 100, 100)])
    lab = triple_barrier_labels(c, horizon=2, profit=1.0, stop=1.0, atr_period=1)
    assert np.isnan(lab.label[0])  # no ATR yet
    assert lab.label[1] == -1 and lab.barrier[1] == -1 and lab.t1[1] == 2
    assert lab.pt_touch[1] == 2 and lab.sl_touch[1] == 2  # both barriers' touch bars are reported
    assert lab.ret[1] == pytest.approx(-0.02)


def test_triple_barrier_vertical_gap_and_short():
    # a quiet bar, then a gap down through the stop: the exit is the open, not the stop level
    c = _bars([Q, Q, (100, 100.5, 99.6, 100.2), (95, 96, 94, 95), (95, 95, 95, 95)])
    lab = triple_barrier_labels(c, horizon=2, profit=1.0, stop=1.0, atr_period=1)
    assert lab.barrier[1] == -1 and lab.t1[1] == 3 and lab.ret[1] == pytest.approx(-0.05)
    short = triple_barrier_labels(c, horizon=2, profit=1.0, stop=1.0, atr_period=1, side=-1)
    assert short.barrier[1] == 1 and short.ret[1] == pytest.approx(0.05) and short.label[1] == 1
    flat = _bars([Q, Q, (100, 100.5, 99.6, 100.3), (100, 100.5, 99.6, 99.9), (100, 100, 100, 100)])
    v = triple_barrier_labels(flat, horizon=2, profit=1.0, stop=1.0, atr_period=1)
    assert v.barrier[1] == 0 and v.t1[1] == 3 and v.label[1] == -1  # the sign of -0.1%
    z = triple_barrier_labels(flat, horizon=2, profit=1.0, stop=1.0, atr_period=1, vertical="zero")
    assert z.label[1] == 0
    assert np.isnan(v.label[3:]).all()  # vertical barrier past the data


def test_triple_barrier_on_a_walk_is_consistent():
    c = random_candles(600, seed=4)
    lab = triple_barrier_labels(c, horizon=20, profit=1.5, stop=1.5, atr_period=14)
    ok = lab.valid
    assert np.isnan(lab.label[:14]).all() and np.isnan(lab.label[-20:]).all() and ok.sum() > 500
    t = np.flatnonzero(ok)
    assert ((lab.t1[t] > t) & (lab.t1[t] <= t + 20)).all()
    assert (np.sign(lab.ret[t][lab.barrier[t] != 0]) == lab.barrier[t][lab.barrier[t] != 0]).all()
    events = np.zeros(600, dtype=bool)
    events[::7] = True
    sub = triple_barrier_labels(c, horizon=20, profit=1.5, stop=1.5, atr_period=14, events=events)
    np.testing.assert_array_equal(sub.label[events], lab.label[events])
    assert np.isnan(sub.label[~events]).all()


def test_meta_labels_follow_the_base_trade():
    c = random_candles(400, seed=5)
    entries = np.zeros(400, dtype=bool)
    entries[20::15] = True
    meta = meta_labels(c, entries, horizon=24, profit=2.0, stop=1.0)
    assert np.isnan(meta.label[~entries]).all()
    defined = np.flatnonzero(meta.valid)
    assert set(np.unique(meta.label[defined])) <= {0.0, 1.0} and defined.size > 15
    np.testing.assert_array_equal(meta.label[defined], (meta.barrier[defined] == 1).astype(float))
    # entered at the next open, like the engine's market order
    t = defined[0]
    px = c.open[t + 1]
    exit_px = px * (1 + meta.ret[t])
    if meta.barrier[t] == 0:
        assert exit_px == pytest.approx(c.close[t + 24])
    short = meta_labels(c, entries, horizon=24, profit=2.0, stop=1.0, side=-1)
    assert not np.array_equal(short.label[defined], meta.label[defined])


def test_sample_weights_mean_one_over_defined_labels():
    c = random_candles(300, seed=6)
    lab = triple_barrier_labels(c, horizon=10)
    w = sample_weights(lab)
    assert w[lab.valid].mean() == pytest.approx(1.0) and (w[~lab.valid] == 0).all()
    assert (w[lab.valid] > 0).all()


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: forward_return_labels(c.close, 50), "label horizon of 50 bars is longer than the data (50 bars)"),
    (lambda c: forward_return_labels(c.close, 0), "label horizon must be a positive number of bars"),
    (lambda c: forward_return_labels(c.close, 2, dead_zone=-1), "dead zone must be a non-negative return"),
    (lambda c: triple_barrier_labels(c, 5, profit=-1), "profit barrier must be a positive multiple"),
    (lambda c: triple_barrier_labels(c, 5, profit=None, stop=None), "at least one of the profit and stop"),
    (lambda c: triple_barrier_labels(c, 5, side=2), "side must be 1 (long), -1 (short) or 0"),
    (lambda c: triple_barrier_labels(c, 5, entry="open"), "entry must be 'close' or 'next_open'"),
    (lambda c: triple_barrier_labels(c, 5, vertical="x"), "vertical must be 'sign' or 'zero'"),
    (lambda c: meta_labels(c, np.ones(3, dtype=bool), 5), "entries must be a boolean mask of 50 bars"),
])
def test_bad_label_settings_are_usage_errors(call, message):
    with pytest.raises(UsageError) as e:
        call(random_candles(50))
    assert message in str(e.value) and e.value.exit_code == 2
