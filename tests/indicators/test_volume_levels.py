"""Volume indicators and pivot levels: OBV/AD equal TA-Lib on both backends; CMF, VWAP and
pivot points equal slow obvious implementations; bad input gets a one-line ValueError."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import numpy as np
import pytest

import tradebot.indicators as ind
from tradebot.indicators import fallback_volume as fv

talib = pytest.importorskip("talib", reason="TA-Lib is the reference of the fallback")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_FILES = [
    "octobot_Binance_BTC_USDT-4h.csv.gz",
    "freqtrade-testdata_ADA_BTC-5m.csv.gz",
    "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz",  # gaps
    "nautilus_BTC-PERP-1m.csv.gz",
]
REL = 1e-8
H = 3_600_000


def assert_same(got, want, what: str, rel: float = REL, atol: float = 0.0) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rel, atol=atol, err_msg=what)


def walk(seed: int, n: int, start: float = 100.0, step_ms: int = H):
    rng = np.random.default_rng(seed)
    c = start * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    h = c * (1 + np.abs(0.01 * rng.standard_normal(n)))
    lo = c * (1 - np.abs(0.01 * rng.standard_normal(n)))
    v = rng.exponential(10.0, n)
    ts = 1_704_067_200_000 + 5 * H + step_ms * np.arange(n, dtype=np.int64)
    return ts, h, lo, c, v


@functools.cache
def load_real(name: str):
    from tradebot.data.csv_io import read_candles_csv

    k = read_candles_csv(DATA / name)
    return (np.asarray(k.timestamp, dtype=np.int64),
            *(np.ascontiguousarray(a, dtype=np.float64) for a in (k.high, k.low, k.close,
                                                                  k.volume)))


def real_or_skip(name: str):
    if not (DATA / name).exists():
        pytest.skip(f"real candles not found: {DATA / name} (the shared data folder is absent)")
    return load_real(name)


# -- slow references -----------------------------------------------------------------------

def ref_cmf(h, lo, c, v, p):
    out = np.full(len(c), np.nan)
    for t in range(p - 1, len(c)):
        num = den = 0.0
        for i in range(t - p + 1, t + 1):
            r = h[i] - lo[i]
            num += ((c[i] - lo[i]) - (h[i] - c[i])) / r * v[i] if r > 0 else 0.0
            den += v[i]
        out[t] = num / den if den != 0 else 0.0
    return out


def ref_vwap_rolling(h, lo, c, v, p):
    out = np.full(len(c), np.nan)
    tp = (h + lo + c) / 3.0
    for t in range(p - 1, len(c)):
        den = v[t - p + 1:t + 1].sum()
        if den != 0:
            out[t] = (tp[t - p + 1:t + 1] * v[t - p + 1:t + 1]).sum() / den
    return out


def session_key(ms: int, anchor: str):
    d = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    if anchor == "D":
        return d.date()
    if anchor == "W":
        return d.isocalendar()[:2]
    return d.year, d.month


def ref_vwap_anchored(ts, h, lo, c, v, anchor):
    out = np.full(len(c), np.nan)
    tp = (h + lo + c) / 3.0
    for t in range(len(c)):
        k = session_key(int(ts[t]), anchor)
        same = [i for i in range(t + 1) if session_key(int(ts[i]), anchor) == k]
        den = sum(v[i] for i in same)
        if den != 0:
            out[t] = sum(tp[i] * v[i] for i in same) / den
    return out


def ref_pivots(ts, h, lo, c, anchor, method):
    keys = [session_key(int(t), anchor) for t in ts]
    order = list(dict.fromkeys(keys))
    out = {k: np.full(len(c), np.nan) for k in ("pp", "r1", "r2", "r3", "s1", "s2", "s3")}
    for t in range(len(c)):
        j = order.index(keys[t])
        if j == 0:
            continue
        idx = [i for i in range(len(c)) if keys[i] == order[j - 1]]
        H_, L_, C_ = max(h[i] for i in idx), min(lo[i] for i in idx), c[idx[-1]]
        rg = H_ - L_
        pp = (H_ + L_ + 2 * C_) / 4 if method == "woodie" else (H_ + L_ + C_) / 3
        if method in ("classic", "woodie"):
            lv = (pp, 2 * pp - L_, pp + rg, H_ + 2 * (pp - L_),
                  2 * pp - H_, pp - rg, L_ - 2 * (H_ - pp))
        elif method == "fibonacci":
            lv = (pp, pp + .382 * rg, pp + .618 * rg, pp + rg,
                  pp - .382 * rg, pp - .618 * rg, pp - rg)
        else:
            lv = (pp, C_ + rg * 1.1 / 12, C_ + rg * 1.1 / 6, C_ + rg * 1.1 / 4,
                  C_ - rg * 1.1 / 12, C_ - rg * 1.1 / 6, C_ - rg * 1.1 / 4)
        for k, x in zip(("pp", "r1", "r2", "r3", "s1", "s2", "s3"), lv, strict=True):
            out[k][t] = x
    return out


# -- OBV and AD against TA-Lib ---------------------------------------------------------------

def check_obv_ad(h, lo, c, v, where):
    assert_same(fv.obv_nb(c, v), talib.OBV(c, v), f"obv {where}")
    assert_same(fv.ad_nb(h, lo, c, v), talib.AD(h, lo, c, v), f"ad {where}")


@pytest.mark.parametrize("name", REAL_FILES)
def test_obv_ad_real_candles_equal_talib(name):
    _, h, lo, c, v = real_or_skip(name)
    check_obv_ad(h, lo, c, v, name)


def test_obv_ad_edge_cases():
    _, h, lo, c, v = walk(1, 500)
    check_obv_ad(h, lo, c, v, "walk")
    check_obv_ad(h, lo, c, np.zeros(500), "zero volume")
    x = np.full(50, 7.0)
    check_obv_ad(x, x, x, v[:50], "flat")
    for n in (0, 1, 2):
        check_obv_ad(h[:n], lo[:n], c[:n], v[:n], f"n={n}")


@pytest.mark.parametrize("lead_nan", [0, 5])
def test_public_obv_ad_agree_across_backends(monkeypatch, lead_nan):
    _, h, lo, c, v = walk(2, 1000)
    c[:lead_nan] = np.nan
    monkeypatch.delenv("TRADEBOT_TALIB", raising=False)
    ind._talib.cache_clear()
    want = [ind.obv(c, v), ind.ad(h, lo, c, v)]
    monkeypatch.setenv("TRADEBOT_TALIB", "0")
    ind._talib.cache_clear()
    try:
        assert ind.backend() == "fallback"
        got = [ind.obv(c, v), ind.ad(h, lo, c, v)]
    finally:
        monkeypatch.delenv("TRADEBOT_TALIB")
        ind._talib.cache_clear()
    for g, w in zip(got, want, strict=True):
        assert_same(g, w, "obv/ad across backends")


# -- CMF, VWAP, pivots against references ------------------------------------------------------

@pytest.mark.parametrize("period", [1, 3, 20])
def test_cmf_equals_reference(period):
    _, h, lo, c, v = walk(3, 400)
    h[50:80] = lo[50:80] = c[50:80]  # bars without range
    v[100:140] = 0.0  # a window without volume -> 0
    got = ind.cmf(h, lo, c, v, period)
    assert_same(got, ref_cmf(h, lo, c, v, period), f"cmf({period})", rel=1e-9, atol=1e-12)
    assert np.isnan(got[:period - 1]).all()
    assert np.all(np.abs(got[period - 1:]) <= 1.0 + 1e-12)


@pytest.mark.parametrize("period", [1, 5, 30])
def test_rolling_vwap_equals_reference(period):
    _, h, lo, c, v = walk(4, 400)
    v[100:140] = 0.0  # NaN where a whole window has no volume
    got = ind.vwap(h, lo, c, v, period=period)
    assert_same(got, ref_vwap_rolling(h, lo, c, v, period), f"vwap({period})", rel=1e-9)


@pytest.mark.parametrize("anchor", ["D", "W", "M"])
def test_anchored_vwap_equals_reference(anchor):
    step = {"D": H, "W": 6 * H, "M": 30 * H}[anchor]
    ts, h, lo, c, v = walk(5, 300, step_ms=step)
    v[:3] = 0.0
    got = ind.vwap(h, lo, c, v, timestamp_ms=ts, anchor=anchor)
    assert_same(got, ref_vwap_anchored(ts, h, lo, c, v, anchor), f"vwap {anchor}", rel=1e-12)


def test_anchored_vwap_resets_at_utc_midnight():
    ts = 1_704_067_200_000 + H * np.arange(48, dtype=np.int64)  # 2024-01-01 00:00 UTC
    x = np.arange(48, dtype=float) + 1.0
    got = ind.vwap(x, x, x, np.ones(48), timestamp_ms=ts, anchor="D")
    assert got[0] == 1.0 and got[24] == 25.0  # first bar of each day is its own VWAP
    assert got[23] == pytest.approx(np.mean(x[:24]))


@pytest.mark.parametrize("method", ["classic", "fibonacci", "camarilla", "woodie"])
@pytest.mark.parametrize("anchor", ["D", "W"])
def test_pivot_points_equal_reference(method, anchor):
    ts, h, lo, c, _ = walk(6, 24 * 21, step_ms=H)
    keep = np.ones(len(ts), dtype=bool)
    keep[100:150] = False  # a gap of two days
    ts, h, lo, c = ts[keep], h[keep], lo[keep], c[keep]
    got = ind.pivot_points(h, lo, c, ts, period=anchor, method=method)
    want = ref_pivots(ts, h, lo, c, anchor, method)
    for k, w in want.items():
        assert_same(got[k], w, f"pivots {method} {anchor} {k}", rel=1e-12)


def test_pivot_points_have_no_look_ahead():
    ts, h, lo, c, _ = walk(7, 24 * 5)
    full = ind.pivot_points(h, lo, c, ts)
    first_day_end = int(np.flatnonzero(ts // 86_400_000 != ts[0] // 86_400_000)[0])
    assert np.isnan(full["pp"][:first_day_end]).all()
    assert not np.isnan(full["pp"][first_day_end:]).any()
    for t in (first_day_end, 50, 90, len(c) - 1):  # truncating the future changes nothing
        part = ind.pivot_points(h[:t + 1], lo[:t + 1], c[:t + 1], ts[:t + 1])
        for k in full:
            np.testing.assert_array_equal(part[k], full[k][:t + 1])


def test_real_candles_vwap_and_pivots_run():
    ts, h, lo, c, v = real_or_skip("freqtrade-testdata_UNITTEST_BTC-1m.csv.gz")
    d = ind.vwap(h, lo, c, v, timestamp_ms=ts, anchor="D")
    assert np.isfinite(d[v.cumsum() > 0]).all()
    p = ind.pivot_points(h, lo, c, ts, period="D", method="camarilla")
    assert set(p) == {"pp", "r1", "r2", "r3", "s1", "s2", "s3"}
    ok = ~np.isnan(p["pp"])
    assert ok.any() and np.all(p["r3"][ok] >= p["s3"][ok])


def test_short_series_no_crash():
    for n in (0, 1, 3):
        ts, h, lo, c, v = walk(8, n)
        assert np.isnan(ind.cmf(h, lo, c, v, 20)).all()
        assert np.isnan(ind.vwap(h, lo, c, v, period=20)).all()
        assert ind.vwap(h, lo, c, v, timestamp_ms=ts).shape == (n,)
        assert all(np.isnan(a).all() for a in ind.pivot_points(h, lo, c, ts).values())


@pytest.mark.parametrize(("call", "message"), [
    (lambda ts, h, lo, c, v: ind.vwap(h, lo, c, v), "vwap: give period=N"),
    (lambda ts, h, lo, c, v: ind.vwap(h, lo, c, v, ts, anchor=None), "vwap: give period=N"),
    (lambda ts, h, lo, c, v: ind.vwap(h, lo, c, v, ts, anchor="H"), "vwap: anchor must be"),
    (lambda ts, h, lo, c, v: ind.vwap(h, lo, c, v, period=0), "vwap: period must be between"),
    (lambda ts, h, lo, c, v: ind.vwap(h, lo, c, v, ts[:-1]), "vwap: timestamp_ms must have"),
    (lambda ts, h, lo, c, v: ind.vwap(h, lo, c, v, ts[::-1]), "vwap: timestamp_ms must be sorted"),
    (lambda ts, h, lo, c, v: ind.cmf(h, lo, c, v, 2.0), "cmf: period must be an integer"),
    (lambda ts, h, lo, c, v: ind.cmf(h, lo, c[:3], v), "cmf: high, low, close, volume must"),
    (lambda ts, h, lo, c, v: ind.obv(c, v[:-2]), "obv: close, volume must have"),
    (lambda ts, h, lo, c, v: ind.ad(h, lo, c, None), "ad: volume must be"),
    (lambda ts, h, lo, c, v: ind.pivot_points(h, lo, c, ts, method="x"),
     "pivot_points: method must be"),
    (lambda ts, h, lo, c, v: ind.pivot_points(h, lo, c, ts, period="Q"),
     "pivot_points: period must be"),
])
def test_bad_input_is_one_line_value_error(call, message):
    with pytest.raises(ValueError, match=message) as err:
        call(*walk(1, 50))
    assert "\n" not in str(err.value)
