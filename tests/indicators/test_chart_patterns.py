"""Swing points and chart patterns: constructed shapes, negatives, no look-ahead, real candles."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradebot.core.errors import ParameterError
from tradebot.indicators import chart_patterns as cp
from tradebot.indicators.swings import confirmed_at, known_mask, swing_indices, swing_points

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NAUTILUS = DATA / "nautilus_BTC-PERP-1m.csv.gz"


def path(points: Sequence[tuple[int, float]], spread: float = 0.5, noise: float = 0.0,
         seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(high, low, close) of a piecewise-linear close through ``points`` (bar, price)."""
    x = [p[0] for p in points]
    c = np.interp(np.arange(x[-1] + 1), x, [p[1] for p in points])
    if noise:
        c = c + np.random.default_rng(seed).normal(0, noise, c.shape[0])
    return c + spread, c - spread, c


def mirror(points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(b, 200.0 - p) for b, p in points]


def random_walk(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    wick = np.abs(rng.normal(0, 0.002, (2, n))) * c
    return c + wick[0], c - wick[1], c


HS = [(0, 95), (20, 110), (35, 100), (55, 120), (75, 100), (95, 110), (130, 85)]
DOUBLE = [(0, 90), (20, 110), (40, 100), (60, 110.5), (90, 90)]
ASC = [(0, 100), (10, 90), (20, 110), (30, 94), (40, 110), (50, 98), (60, 110), (70, 102), (80, 110), (90, 106),
       (110, 125)]
SYM = [(0, 105), (10, 88), (20, 124), (30, 92), (40, 120), (50, 96), (60, 116), (70, 100), (80, 112), (88, 104),
       (110, 85)]
RANGE = [(0, 100), (10, 90), (20, 110), (30, 90), (40, 110), (50, 90), (60, 110), (70, 100)]
UPTREND = [(i * 10, 100 + i * 3 + (6 if i % 2 else 0)) for i in range(20)]  # rising zigzag channel


# ----------------------------------------------------------------------------------- swings

def slow_swings(x: np.ndarray, left: int, right: int) -> np.ndarray:
    out = np.zeros(x.shape[0], bool)
    for t in range(left, x.shape[0] - right):
        others = [x[j] for j in range(t - left, t + right + 1) if j != t]
        out[t] = bool(all(x[t] > o for o in others))  # NaN compares False
    return out


@pytest.mark.parametrize("left,right", [(5, 5), (2, 7), (1, 1), (3, 0)])
def test_swing_points_equal_slow_reference(left: int, right: int) -> None:
    h, lo, _ = random_walk(800, 1)
    h, lo = np.round(h, 1), np.round(lo, 1)  # ties: equal highs are not strict maxima
    h[100] = np.nan
    sh, sl = swing_points(h, lo, left, right)
    np.testing.assert_array_equal(sh, slow_swings(h, left, right))
    np.testing.assert_array_equal(sl, slow_swings(-lo, left, right))
    assert sh.sum() > 20 and sl.sum() > 20


def test_swings_are_known_only_at_confirmation_and_prefix_consistent() -> None:
    h, lo, _ = random_walk(600, 2)
    sh, sl = swing_points(h, lo, 4, 6)
    conf = confirmed_at(sh, 6)
    np.testing.assert_array_equal(conf, np.flatnonzero(sh) + 6)
    np.testing.assert_array_equal(np.flatnonzero(known_mask(sh, 6)), conf)
    for k in (50, 201, 599):
        ph, pl = swing_points(h[:k + 1], lo[:k + 1], 4, 6)
        full_h, full_l = np.flatnonzero(sh), np.flatnonzero(sl)
        np.testing.assert_array_equal(np.flatnonzero(ph), full_h[full_h + 6 <= k])
        np.testing.assert_array_equal(np.flatnonzero(pl), full_l[full_l + 6 <= k])


def test_bad_input_is_a_clear_parameter_error() -> None:
    h, lo, c = path(RANGE)
    with pytest.raises(ParameterError, match="same length"):
        cp.support_resistance(h, lo[:-1], c)
    with pytest.raises(ParameterError, match="left"):
        swing_points(h, lo, left=-1)
    with pytest.raises(ParameterError, match="right must be an integer"):
        cp.double_top(h, lo, c, right=2.5)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="1-D"):
        cp.triangles(h.reshape(-1, 1), lo, c)
    with pytest.raises(ParameterError, match="tolerance"):
        cp.head_and_shoulders(h, lo, c, tolerance=-1)
    assert cp.head_and_shoulders(h[:3], lo[:3], c[:3]) == [] and cp.support_resistance([], [], []) == []


# ------------------------------------------------------------------------------ S/R levels

def test_support_resistance_three_touches() -> None:
    h, lo, c = path(RANGE)
    levels = cp.support_resistance(h, lo, c)
    assert [(lv.kind, lv.price, lv.touches, lv.touch_idx) for lv in levels] == [
        ("support", 89.5, 3, (10, 30, 50)), ("resistance", 110.5, 3, (20, 40, 60))]
    sup, res = levels
    assert (sup.first_idx, sup.last_idx, sup.confirmed_idx) == (10, 50, 55)
    assert (res.first_idx, res.last_idx, res.confirmed_idx) == (20, 60, 65)
    assert 0 < sup.strength < 3 and res.strength > sup.strength  # more recent touches weigh more
    assert cp.support_resistance(h, lo, c, min_touches=4) == []
    # lookback=45 on 71 bars: swings at bars >= 26 only (lows 30, 50; highs 40, 60)
    assert [lv.touch_idx for lv in cp.support_resistance(h, lo, c, lookback=45)] == [(30, 50), (40, 60)]
    assert cp.support_resistance(h, lo, c, lookback=30) == []  # bars >= 41: one low, one high
    # levels_at: what was known at bar 50 (lows at 10, 30 and highs 20, 40 confirmed)
    assert [(lv.price, lv.touches) for lv in cp.levels_at(h, lo, c, 50)] == [(89.5, 2), (110.5, 2)]


def test_support_resistance_tolerance_clusters_noisy_touches() -> None:
    pts = [(0, 100), (10, 90), (20, 110), (30, 90.3), (40, 110.4), (50, 89.8), (60, 109.7), (70, 100)]
    h, lo, c = path(pts)
    levels = cp.support_resistance(h, lo, c, tolerance=0.005)
    assert [(lv.kind, lv.touches) for lv in levels] == [("support", 3), ("resistance", 3)]
    assert levels[0].price == pytest.approx((89.5 + 89.8 + 89.3) / 3)
    assert cp.support_resistance(h, lo, c, tolerance=0.001) == []  # touches too far apart
    both = cp.support_resistance(h, lo, c, tolerance=0.5, max_width=1.0)
    assert len(both) == 1 and both[0].kind == "both" and both[0].touches == 6


def test_nearest_levels_on_range() -> None:
    h, lo, c = path(RANGE)
    sup, res = cp.nearest_levels(h, lo, c)
    assert np.isnan(sup[:35]).all() and np.isnan(res[:45]).all()  # 2nd low known at 35, 2nd high at 45
    assert sup[35] == 89.5 and res[45] == 110.5 and sup[70] == 89.5 and res[70] == 110.5
    sup_w, _ = cp.nearest_levels(h, lo, c, window=15)
    assert np.isnan(sup_w).all()  # two touches never within 15 bars


def slow_nearest(h: np.ndarray, lo: np.ndarray, c: np.ndarray, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """The obvious definition: support_resistance on every prefix, then the nearest."""
    window = int(kw.pop("window"))
    sup, res = np.full(c.shape[0], np.nan), np.full(c.shape[0], np.nan)
    for t in range(c.shape[0]):
        prices = [lv.price for lv in cp.support_resistance(h[:t + 1], lo[:t + 1], c[:t + 1], lookback=window, **kw)]
        below = [p for p in prices if p <= c[t]]
        above = [p for p in prices if p > c[t]]
        sup[t] = max(below) if below else np.nan
        res[t] = min(above) if above else np.nan
    return sup, res


@pytest.mark.parametrize("kw", [dict(window=120), dict(window=60, left=2, right=3, tolerance=0.002, min_touches=3)])
def test_nearest_levels_kernel_equals_slow_reference(kw: dict[str, Any]) -> None:
    h, lo, c = random_walk(700, 3)
    sup, res = cp.nearest_levels(h, lo, c, **kw)
    want_sup, want_res = slow_nearest(h, lo, c, **dict(kw))
    np.testing.assert_allclose(sup, want_sup, rtol=1e-12)
    np.testing.assert_allclose(res, want_res, rtol=1e-12)
    assert np.isfinite(sup).sum() > 100 and np.isfinite(res).sum() > 100


def test_nearest_levels_has_no_look_ahead() -> None:
    h, lo, c = random_walk(3000, 4)
    sup, res = cp.nearest_levels(h, lo, c, window=300)
    for k in (100, 999, 2500):
        ps, pr = cp.nearest_levels(h[:k], lo[:k], c[:k], window=300)
        np.testing.assert_array_equal(ps, sup[:k])
        np.testing.assert_array_equal(pr, res[:k])


# ------------------------------------------------------------------------ head & shoulders

def test_head_and_shoulders() -> None:
    h, lo, c = path(HS)
    (p,) = cp.head_and_shoulders(h, lo, c)
    assert p.kind == "head_and_shoulders" and p.direction == -1
    assert p.idx == (20, 35, 55, 75, 95) and (p.start_idx, p.end_idx, p.confirmed_idx) == (20, 95, 100)
    want_brk = 95 + int(np.flatnonzero(c[96:] < 99.5)[0]) + 1
    assert p.breakout_idx == want_brk == 110
    lv = p.levels
    assert lv["neckline"] == lv["breakout_level"] == 99.5 and lv["neckline_slope"] == 0
    assert (lv["head"], lv["left_shoulder"], lv["right_shoulder"]) == (120.5, 110.5, 110.5)
    assert lv["height"] == 21 and lv["target"] == 99.5 - 21
    assert cp.head_and_shoulders(h, lo, c, inverse=True) == []


def test_inverse_head_and_shoulders_with_sloped_neckline() -> None:
    pts = mirror(HS)
    pts[4] = (75, 96.0)  # second peak of the mirror higher: a rising neckline
    h, lo, c = path(pts)
    (p,) = cp.head_and_shoulders(h, lo, c, inverse=True)
    assert p.kind == "inverse_head_and_shoulders" and p.direction == 1 and p.idx == (20, 35, 55, 75, 95)
    lv = p.levels
    slope = (96.5 - 100.5) / 40
    assert lv["neckline_slope"] == pytest.approx(slope) and lv["head"] == 79.5
    assert lv["neckline_intercept"] + slope * 55 == pytest.approx(lv["head"] + lv["height"])
    line = lv["neckline_intercept"] + slope * np.arange(c.shape[0])
    assert p.breakout_idx == 95 + 1 + int(np.flatnonzero(c[96:] > line[96:])[0])
    assert lv["target"] == pytest.approx(lv["breakout_level"] + lv["height"])


def test_head_and_shoulders_negatives() -> None:
    pts = list(HS)
    pts[5] = (95, 103)  # shoulders 110 and 103: 6 % apart, beyond 2 %
    assert cp.head_and_shoulders(*path(pts)) == []
    assert len(cp.head_and_shoulders(*path(pts), tolerance=0.07)) == 1
    assert cp.head_and_shoulders(*path(UPTREND)) == []
    assert cp.head_and_shoulders(*path(HS), min_height=0.2) == []  # head only 17 % above the neckline
    h, lo, c = path(HS)
    late = cp.head_and_shoulders(h, lo, c, max_wait=10)
    assert late[0].breakout_idx is None and late[0].levels["neckline"] == 99.5


# ---------------------------------------------------------------------- double top/bottom

def test_double_top() -> None:
    h, lo, c = path(DOUBLE, noise=0.05, seed=7)
    (p,) = cp.double_top(h, lo, c)
    assert p.kind == "double_top" and p.direction == -1
    a, m, b = p.idx
    assert abs(a - 20) <= 1 and abs(m - 40) <= 1 and abs(b - 60) <= 1 and p.confirmed_idx == b + 5
    assert p.levels["neckline"] == lo[m] == lo[21:60].min()
    assert p.levels["first"] == h[a] and p.levels["second"] == h[b]
    assert p.breakout_idx == b + 1 + int(np.flatnonzero(c[b + 1:] < lo[m])[0])
    assert p.levels["target"] == pytest.approx(lo[m] - (min(h[a], h[b]) - lo[m]))
    assert cp.double_bottom(h, lo, c) == []


def test_double_bottom() -> None:
    h, lo, c = path(mirror(DOUBLE))
    (p,) = cp.double_bottom(h, lo, c)
    assert p.kind == "double_bottom" and p.idx == (20, 40, 60) and p.direction == 1
    assert p.levels["neckline"] == 100.5 and p.levels["height"] == 100.5 - 89.5  # to the higher bottom
    assert (p.levels["first"], p.levels["second"]) == (89.5, 89.0)
    assert p.breakout_idx == 61 + int(np.flatnonzero(c[61:] > 100.5)[0])
    assert p.levels["target"] == 100.5 + 11


def test_double_top_negatives() -> None:
    pts = list(DOUBLE)
    pts[3] = (60, 115)  # tops 4.5 % apart
    assert cp.double_top(*path(pts)) == []
    assert len(cp.double_top(*path(pts), tolerance=0.05)) == 1
    shallow = [(0, 90), (20, 110), (40, 109), (60, 110.2), (90, 90)]  # 1 % dip, min_depth 2 %
    assert cp.double_top(*path(shallow)) == []
    assert len(cp.double_top(*path(shallow), min_depth=0.005)) == 1
    assert cp.double_top(*path(DOUBLE), max_bars=30) == []
    assert cp.double_top(*path(UPTREND)) == [] and cp.double_bottom(*path(UPTREND)) == []
    blocked = [(0, 90), (20, 110), (30, 100), (40, 112), (50, 100), (60, 110.5), (90, 90)]  # higher peak between
    assert [p.idx for p in cp.double_top(*path(blocked))] == []


def slow_double_top(ph: np.ndarray, pl: np.ndarray, peaks: np.ndarray, tol: float, depth: float,
                    max_bars: int) -> list[tuple[int, int, int]]:
    out = []
    for ci in range(1, len(peaks)):
        c = peaks[ci]
        for a in peaks[:ci][::-1]:
            if max_bars and c - a > max_bars:
                break
            m = a + 1 + int(np.argmin(pl[a + 1:c]))
            if m + 1 < c and ph[m + 1:c].max() >= ph[c]:
                break
            left_ok = m == a + 1 or ph[a + 1:m].max() < ph[a]
            top = min(ph[a], ph[c])
            if left_ok and abs(ph[a] - ph[c]) <= tol * max(ph[a], ph[c]) and top - pl[m] >= depth * top:
                out.append((int(a), m, int(c)))
                break
    return out


@pytest.mark.parametrize("tol,depth,max_bars", [(0.01, 0.01, 0), (0.003, 0.004, 0), (0.02, 0.0, 60)])
def test_double_top_kernel_equals_slow_reference(tol: float, depth: float, max_bars: int) -> None:
    h, lo, _ = random_walk(4000, 5)
    peaks, _ = swing_indices(h, lo, 3, 3)
    got = [tuple(int(v) for v in r) for r in cp._double_top_nb(h, lo, peaks, tol, depth, max_bars)]
    want = slow_double_top(h, lo, peaks, tol, depth, max_bars)
    assert got == want and len(want) > 5


# -------------------------------------------------------------------------------- triangles

def test_ascending_and_descending_triangles() -> None:
    cases: list[tuple[Sequence[tuple[int, float]], str, tuple[str, float], str, int]] = [
            (ASC, "ascending_triangle", ("upper", 110.5), "lower", 1),
            (mirror(ASC), "descending_triangle", ("lower", 89.5), "upper", -1)]
    for pts, kind, flat, sloped, direction in cases:
        h, lo, c = path(pts)
        (p,) = cp.triangles(h, lo, c)
        assert p.kind == kind and p.direction == direction
        lv = p.levels
        assert lv[f"{flat[0]}_slope"] == pytest.approx(0, abs=1e-12)
        assert lv[f"{flat[0]}_intercept"] == pytest.approx(flat[1])
        assert lv[f"{sloped}_slope"] == pytest.approx(0.2 * direction)
        assert lv["apex_idx"] == pytest.approx(115) and lv["apex_price"] == pytest.approx(flat[1])
        assert p.idx == (20, 30, 40, 50) and p.confirmed_idx == 55 and p.end_idx == 50
        assert p.breakout_idx == 95 and lv["breakout_dir"] == direction
        assert lv["breakout_level"] == pytest.approx(flat[1])
        assert lv["target"] == pytest.approx(flat[1] + direction * lv["height"])


def test_symmetrical_triangle() -> None:
    h, lo, c = path(SYM, noise=0.02, seed=3)
    (p,) = cp.triangles(h, lo, c)
    lv = p.levels
    assert p.kind == "symmetrical_triangle" and p.direction == 0
    assert lv["upper_slope"] == pytest.approx(-0.2, abs=0.01) and lv["lower_slope"] == pytest.approx(0.2, abs=0.01)
    assert lv["apex_idx"] == pytest.approx(107.5, abs=2)
    assert p.breakout_idx is not None and 88 < p.breakout_idx < 95 and lv["breakout_dir"] == -1
    line = lv["lower_intercept"] + lv["lower_slope"] * p.breakout_idx
    assert c[p.breakout_idx] < line == pytest.approx(lv["breakout_level"])
    assert p.confirmed_idx == max(p.idx) + 5


def test_triangle_negatives() -> None:
    assert cp.triangles(*path(UPTREND)) == []  # parallel channel: no convergence
    assert cp.triangles(*path(RANGE)) == []  # rectangle
    broadening = [(0, 100), (10, 98), (20, 102), (30, 95), (40, 105), (50, 92), (60, 108), (70, 89), (80, 100)]
    assert cp.triangles(*path(broadening)) == []
    assert cp.triangles(*path(ASC), window=30) == []  # never two highs and two lows in 30 bars


# ------------------------------------------------------------------------ no look-ahead

DETECTORS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], list[Any]]] = {
    "hs": lambda h, lo, c: cp.head_and_shoulders(h, lo, c, left=3, right=3),
    "ihs": lambda h, lo, c: cp.head_and_shoulders(h, lo, c, left=3, right=3, inverse=True),
    "dt": lambda h, lo, c: cp.double_top(h, lo, c, left=3, right=3, min_depth=0.005),
    "db": lambda h, lo, c: cp.double_bottom(h, lo, c, left=3, right=3, min_depth=0.005),
    "tri": lambda h, lo, c: cp.triangles(h, lo, c, left=3, right=3, window=60),
    "sr": lambda h, lo, c: cp.support_resistance(h, lo, c, left=3, right=3),
}


@pytest.mark.parametrize("name", list(DETECTORS))
def test_truncated_history_never_sees_the_future(name: str) -> None:
    h, lo, c = random_walk(3000, 6)
    full = DETECTORS[name](h, lo, c)
    assert len(full) > 0
    for k in (200, 1111, 2000, 2999):
        part = DETECTORS[name](h[:k + 1], lo[:k + 1], c[:k + 1])
        assert all(r.confirmed_idx <= k for r in part)
        if name != "sr":  # patterns: exactly the full run's patterns known by bar k
            key = [(r.kind, r.idx) for r in part]
            assert key == [(r.kind, r.idx) for r in full if r.confirmed_idx <= k]
            for r in part:  # a breakout seen in the prefix is the same in the full run
                if r.breakout_idx is not None:
                    same = next(f for f in full if (f.kind, f.idx) == (r.kind, r.idx))
                    assert same.breakout_idx == r.breakout_idx


# -------------------------------------------------------------------------- real candles

@pytest.fixture(scope="module")
def nautilus() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not NAUTILUS.exists():
        pytest.skip(f"real candles not found: {NAUTILUS}")
    from tradebot.data.csv_io import read_candles_csv

    cd = read_candles_csv(NAUTILUS)
    return cd.high, cd.low, cd.close


def test_real_candles_levels_and_patterns(nautilus: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    h, lo, c = nautilus
    assert c.shape[0] > 40_000
    counts: dict[str, int] = {}
    runs: dict[str, Callable[[], Sequence[Any]]] = {
        "sr": lambda: cp.support_resistance(h, lo, c),
        "hs": lambda: cp.head_and_shoulders(h, lo, c),
        "ihs": lambda: cp.head_and_shoulders(h, lo, c, inverse=True),
        "dt": lambda: cp.double_top(h, lo, c),
        "db": lambda: cp.double_bottom(h, lo, c),
        "tri": lambda: cp.triangles(h, lo, c),
        "sr_recent": lambda: cp.support_resistance(h, lo, c, lookback=2000),
        "nearest": lambda: list(np.flatnonzero(np.isfinite(cp.nearest_levels(h, lo, c)[0])))}
    for name, run in runs.items():
        run()  # numba compile / warm caches
        t0 = time.perf_counter()
        out = run()
        assert time.perf_counter() - t0 < 5, name
        counts[name] = len(out)
    assert counts["sr"] > 0 and counts["sr_recent"] > 0 and counts["nearest"] > c.shape[0] // 2
    assert all(counts[k] > 0 for k in ("hs", "ihs", "dt", "db", "tri")), counts
    for lv in cp.support_resistance(h, lo, c):
        assert lv.touches >= 2 and lo.min() <= lv.price <= h.max() and lv.confirmed_idx < c.shape[0]
    for p in cp.triangles(h, lo, c) + cp.double_top(h, lo, c):
        assert p.start_idx <= p.end_idx < p.confirmed_idx < c.shape[0]
        assert p.breakout_idx is None or p.end_idx < p.breakout_idx < c.shape[0]
