"""Volatility indicators: NATR's kernel equals TA-Lib; Keltner and Donchian equal slow
references; bad input gets a clear error."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

import tradebot.indicators as ind
from tradebot.indicators import fallback_volatility as fv
from tradebot.indicators import volatility as vol

talib = pytest.importorskip("talib", reason="TA-Lib is the reference of the fallback")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_FILES = [
    "octobot_Binance_ETH_USDT-4h.csv.gz",
    "freqtrade-testdata_BTC_USDT-5m.csv.gz",
    "freqtrade-testdata_XLM_BTC-5m.csv.gz",  # ~1e-5 BTC prices
    "nautilus_BTC-PERP-1m.csv.gz",
    "isda_BinanceFutures_FIL_USDT-1m-21months.csv.gz",
]
REL = 1e-8


def assert_same(got, want, what: str, rel: float = REL) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rel, atol=0, err_msg=what)


def random_walk(seed: int, n: int, start: float = 100.0, sigma: float = 0.01):
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(sigma * rng.standard_normal(n)))
    high = close * (1 + np.abs(sigma * rng.standard_normal(n)))
    low = close * (1 - np.abs(sigma * rng.standard_normal(n)))
    return high, low, close


def check_natr(high, low, close, where, periods=(1, 2, 5, 14, 30)):
    for p in periods:
        assert_same(fv.natr_nb(high, low, close, p), talib.NATR(high, low, close, p),
                    f"natr({p}) {where}")


@pytest.mark.parametrize("seed", range(5))
def test_natr_random_walks_equal_talib(seed):
    high, low, close = random_walk(seed, 3000, start=[100.0, 30000.0, 0.5, 1e-2, 5e-5][seed])
    check_natr(high, low, close, f"random walk {seed}")


@functools.cache
def load_real(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from tradebot.data.csv_io import read_candles_csv

    c = read_candles_csv(DATA / name)
    return tuple(np.ascontiguousarray(a, dtype=np.float64)  # type: ignore[return-value]
                 for a in (c.high, c.low, c.close))


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_candles(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"real candles not found: {path} (the shared data folder is absent)")
    high, low, close = load_real(name)
    check_natr(high, low, close, name, periods=(1, 14, 30))
    up, mid, lo = vol.keltner(high, low, close, 20, 2.0, 10)
    atr = talib.ATR(high, low, close, 10)
    assert_same(mid, np.where(np.isnan(atr), np.nan, talib.EMA(close, 20)), f"keltner {name}")
    assert_same(up - mid, 2.0 * np.where(np.isnan(mid), np.nan, atr), f"keltner width {name}",
                rel=1e-6)
    du, dm, dl = vol.donchian(high, low, 20)
    assert_same(du, talib.MAX(high, 20), f"donchian upper {name}", rel=0)
    assert_same(dl, talib.MIN(low, 20), f"donchian lower {name}", rel=0)


# -- NATR edge cases ------------------------------------------------------------------------

def test_natr_edges():
    x = np.full(60, 250.0)
    check_natr(x, x, x, "flat")
    z = np.zeros(60)
    check_natr(x, x * 0.5, z, "zero close")  # TA-Lib gives 0 where the close is 0
    for n in (0, 1, 5, 14):
        h, lo, c = (a[:n] for a in random_walk(1, max(n, 1)))
        got = fv.natr_nb(h, lo, c, 14)
        assert got.shape == (n,) and np.isnan(got).all()
        check_natr(h, lo, c, f"short {n}")
    high, low, close = random_walk(2, 300)
    for lead in (1, 20):
        c = close.copy()
        c[:lead] = np.nan
        check_natr(high, low, c, f"{lead} leading NaN")
    for pos in (10, 150):
        h = high.copy()
        h[pos] = np.nan
        check_natr(h, low, close, f"NaN at {pos}")
    all_nan = np.full(30, np.nan)
    check_natr(all_nan, all_nan, all_nan, "all NaN")


# -- Keltner and Donchian: slow references -----------------------------------------------------

def slow_keltner(high, low, close, period, mult, atr_period):
    n = len(close)
    ema = [np.nan] * n
    if n >= period:
        ema[period - 1] = sum(close[:period]) / period
        for i in range(period, n):
            ema[i] = ema[i - 1] + 2.0 / (period + 1) * (close[i] - ema[i - 1])
    atr = [np.nan] * n
    tr = [np.nan] + [max(high[i] - low[i], abs(high[i] - close[i - 1]),
                         abs(low[i] - close[i - 1])) for i in range(1, n)]
    if n > atr_period:
        atr[atr_period] = sum(tr[1:atr_period + 1]) / atr_period
        for i in range(atr_period + 1, n):
            atr[i] = (atr[i - 1] * (atr_period - 1) + tr[i]) / atr_period
    mid = np.array([m if not np.isnan(a) else np.nan for m, a in zip(ema, atr, strict=True)])
    a = np.array(atr)
    return mid + mult * a, mid, mid - mult * a


def slow_donchian(high, low, period):
    n = len(high)
    up = np.array([max(high[i - period + 1:i + 1]) if i >= period - 1 else np.nan
                   for i in range(n)])
    lo = np.array([min(low[i - period + 1:i + 1]) if i >= period - 1 else np.nan
                   for i in range(n)])
    return up, (up + lo) / 2, lo


@pytest.mark.parametrize(("period", "mult", "atr_period"), [(20, 2.0, 10), (10, 1.5, 20),
                                                            (1, 1.0, 1), (5, 0.0, 3)])
def test_keltner_equals_slow_reference(period, mult, atr_period):
    high, low, close = random_walk(21, 800)
    got = vol.keltner(high, low, close, period, mult, atr_period)
    want = slow_keltner(high, low, close, period, mult, atr_period)
    for g, w in zip(got, want, strict=True):
        assert_same(g, w, f"keltner{period, mult, atr_period}", rel=1e-9)
    assert np.all(got[0][~np.isnan(got[0])] >= got[2][~np.isnan(got[2])])


@pytest.mark.parametrize("period", [1, 2, 20, 55])
def test_donchian_equals_slow_reference(period):
    high, low, close = random_walk(22, 700)
    for g, w in zip(vol.donchian(high, low, period), slow_donchian(high, low, period),
                    strict=True):
        assert_same(g, w, f"donchian({period})", rel=0)


def test_channels_edges_and_no_lookahead():
    high, low, close = random_walk(23, 400)
    k_full = vol.keltner(high, low, close)
    d_full = vol.donchian(high, low)
    for cut in (0, 5, 21, 399):
        for g, w in zip(vol.keltner(high[:cut], low[:cut], close[:cut]), k_full, strict=True):
            np.testing.assert_array_equal(g, w[:cut])
        for g, w in zip(vol.donchian(high[:cut], low[:cut]), d_full, strict=True):
            np.testing.assert_array_equal(g, w[:cut])
    x = np.full(50, 7.0)
    up, mid, lo = vol.keltner(x, x, x)
    np.testing.assert_array_equal(up[19:], 7.0)
    np.testing.assert_array_equal(lo[19:], 7.0)
    assert all(np.isnan(a).all() for a in vol.donchian(x[:10], x[:10], 20))
    h = high.copy()
    h[100] = np.nan  # a window holding NaN gives NaN, then the channel recovers
    du, _, dl = vol.donchian(h, low, 20)
    assert np.isnan(du[100:120]).all() and not np.isnan(du[120:]).any()
    assert not np.isnan(dl[19:]).any()
    c = close.copy()
    c[:3] = np.nan  # leading NaN skipped, like TA-Lib's EMA/ATR
    _, kmid, _ = vol.keltner(high, low, c, 20, 2.0, 10)
    want = talib.EMA(c, 20)
    assert_same(kmid, want, "keltner leading NaN")


# -- public functions: both backends -------------------------------------------------------

def test_public_functions_agree_across_backends(monkeypatch):
    high, low, close = random_walk(9, 2000)

    def outputs():
        return [vol.natr(high, low, close, 14), *vol.keltner(high, low, close),
                *vol.donchian(high, low)]

    monkeypatch.delenv("TRADEBOT_TALIB", raising=False)
    ind._talib.cache_clear()
    assert ind.backend() == "talib"
    with_talib = outputs()
    monkeypatch.setenv("TRADEBOT_TALIB", "0")
    ind._talib.cache_clear()
    try:
        assert ind.backend() == "fallback"
        with_fallback = outputs()
    finally:
        monkeypatch.undo()
        ind._talib.cache_clear()
    for i, (g, w) in enumerate(zip(with_fallback, with_talib, strict=True)):
        assert_same(g, w, f"output {i}")


def test_lazy_namespace_exposes_functions():
    for name in ("natr", "keltner", "donchian"):
        assert getattr(ind, name) is getattr(vol, name)


@pytest.mark.parametrize(("call", "words"), [
    (lambda x: vol.natr(x, x, x, 0), ("natr", "period")),
    (lambda x: vol.natr(x, x, x, 14.0), ("natr", "period")),
    (lambda x: vol.natr(x, x[:-2], x), ("natr", "length")),
    (lambda x: vol.keltner(x, x, x, period=-1), ("keltner", "period")),
    (lambda x: vol.keltner(x, x, x, atr_period=0), ("keltner", "atr_period")),
    (lambda x: vol.keltner(x, x, x, multiplier=float("inf")), ("keltner", "multiplier")),
    (lambda x: vol.keltner(x, x, x, multiplier=-1.0), ("keltner", "multiplier")),
    (lambda x: vol.donchian(x, x, None), ("donchian", "period")),
    (lambda x: vol.donchian(x, x[:1]), ("donchian", "length")),
])
def test_bad_input_names_indicator_and_parameter(call, words):
    x = np.linspace(1.0, 2.0, 50)
    with pytest.raises(ValueError) as e:
        call(x)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg
