"""Momentum oscillators: the numba fallback equals TA-Lib on random walks, real candles
and edge cases; the public functions agree across backends and reject bad input."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

import tradebot.indicators as ind
from tradebot.indicators import fallback_momentum as fm

talib = pytest.importorskip("talib", reason="TA-Lib is the reference of the fallback")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_FILES = [
    "octobot_Binance_BTC_USDT-4h.csv.gz",
    "freqtrade-testdata_BTC_USDT-5m.csv.gz",
    "freqtrade-testdata_ETH_BTC-5m.csv.gz",
    "freqtrade-testdata_ADA_BTC-5m.csv.gz",  # ~5e-5 BTC prices
    "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz",  # gaps, many flat bars
    "freqtrade-testdata_XRP_USDT-5m.csv.gz",
    "nautilus_BTC-PERP-1m.csv.gz",  # whole-dollar prices: many flat windows
]
REL = 1e-8
#: Bounded oscillators (0..100): TA-Lib's running SMA leaves ~1e-13 residues where the
#: true value is 0; those are compared on the 0..100 scale.
OSC_ATOL = 1e-9


def assert_same(got, want, what: str, rel: float = REL, atol: float = 0.0) -> None:
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rel, atol=atol, err_msg=what)


def random_walk(seed: int, n: int, start: float = 100.0, sigma: float = 0.01):
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(sigma * rng.standard_normal(n)))
    high = close * (1 + np.abs(sigma * rng.standard_normal(n)))
    low = close * (1 - np.abs(sigma * rng.standard_normal(n)))
    volume = rng.exponential(10.0, n)
    return high, low, close, volume


def check_all(h, lo, c, v, where: str) -> None:
    for a in ((5, 3, 3), (14, 3, 3), (1, 1, 1), (3, 1, 5)):
        got = fm.stoch_nb(h, lo, c, *a)
        want = talib.STOCH(h, lo, c, a[0], a[1], 0, a[2], 0)
        for g, w, name in zip(got, want, ("k", "d"), strict=True):
            assert_same(g, w, f"stoch{a} {name} {where}", atol=OSC_ATOL)
    for a in ((14, 5, 3), (14, 14, 3), (2, 1, 1), (5, 3, 5)):
        got = fm.stochrsi_nb(c, *a)
        want = talib.STOCHRSI(c, a[0], a[1], a[2], 0)
        for g, w, name in zip(got, want, ("k", "d"), strict=True):
            assert_same(g, w, f"stochrsi{a} {name} {where}", atol=OSC_ATOL)
    for p in (2, 5, 14, 30):
        assert_same(fm.cci_nb(h, lo, c, p), talib.CCI(h, lo, c, p), f"cci({p}) {where}")
        assert_same(fm.willr_nb(h, lo, c, p), talib.WILLR(h, lo, c, p), f"willr({p}) {where}")
        assert_same(fm.mfi_nb(h, lo, c, v, p), talib.MFI(h, lo, c, v, p), f"mfi({p}) {where}",
                    atol=OSC_ATOL)
    for p in (1, 2, 10, 30):
        assert_same(fm.roc_nb(c, p), talib.ROC(c, p), f"roc({p}) {where}")


@pytest.mark.parametrize("seed", range(4))
def test_random_walks_equal_talib(seed):
    h, lo, c, v = random_walk(seed, 3000, start=[100.0, 30000.0, 0.5, 1e-4][seed])
    check_all(h, lo, c, v, f"walk {seed}")


@functools.cache
def load_real(name: str):
    from tradebot.data.csv_io import read_candles_csv

    k = read_candles_csv(DATA / name)
    return tuple(np.ascontiguousarray(a, dtype=np.float64)
                 for a in (k.high, k.low, k.close, k.volume))


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_candles_equal_talib(name):
    if not (DATA / name).exists():
        pytest.skip(f"real candles not found: {DATA / name} (the shared data folder is absent)")
    check_all(*load_real(name), name)


# -- edge cases --------------------------------------------------------------------------

def test_flat_prices_match_talib_division_by_zero_rules():
    x = np.full(100, 250.0)
    v = np.full(100, 3.0)
    check_all(x, x, x, v, "flat")
    assert np.all(fm.stoch_nb(x, x, x, 5, 3, 3)[0][8:] == 0.0)
    assert np.all(fm.willr_nb(x, x, x, 14)[13:] == 0.0)
    assert np.all(fm.cci_nb(x, x, x, 14)[13:] == 0.0)
    assert np.all(fm.mfi_nb(x, x, x, v, 14)[14:] == 0.0)


def test_zero_volume_and_zero_price():
    h, lo, c, _ = random_walk(3, 300)
    check_all(h, lo, c, np.zeros(300), "zero volume")
    z = np.zeros(50)
    check_all(z, z, z, z, "all zero")


def test_flat_stretch_inside_a_walk():
    h, lo, c, v = random_walk(5, 400, start=30000.0)
    h[100:160] = lo[100:160] = c[100:160] = 30123.5
    v[200:260] = 0.0
    check_all(h, lo, c, v, "flat stretch")


@pytest.mark.parametrize("n", [0, 1, 5, 13, 14])
def test_shorter_than_period_is_all_nan(n):
    h, lo, c, v = (a[:n] for a in random_walk(1, 20))
    pairs = [
        (fm.stoch_nb(h, lo, c, 14, 3, 3)[0], talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)[0]),
        (fm.stochrsi_nb(c, 14, 5, 3)[1], talib.STOCHRSI(c, 14, 5, 3, 0)[1]),
        (fm.cci_nb(h, lo, c, 15), talib.CCI(h, lo, c, 15)),
        (fm.willr_nb(h, lo, c, 15), talib.WILLR(h, lo, c, 15)),
        (fm.roc_nb(c, 14), talib.ROC(c, 14)),
        (fm.mfi_nb(h, lo, c, v, 14), talib.MFI(h, lo, c, v, 14)),
    ]
    for got, want in pairs:
        assert got.shape == (n,)
        assert np.isnan(got).all() and np.isnan(want).all()


@pytest.mark.parametrize("n", [15, 16, 20, 22, 40])
def test_warmup_nan_positions_match_talib(n):
    h, lo, c, v = random_walk(2, n)
    check_all(h, lo, c, v, f"n={n}")


# -- public functions: both backends, leading NaN, bad input ------------------------------

def _outputs(h, lo, c, v):
    return [*ind.stoch(h, lo, c), *ind.stoch(h, lo, c, 14, 3, 5), *ind.stochrsi(c),
            ind.cci(h, lo, c), ind.willr(h, lo, c), ind.roc(c), ind.mfi(h, lo, c, v)]


@pytest.fixture
def use_talib(monkeypatch):
    monkeypatch.delenv("TRADEBOT_TALIB", raising=False)
    ind._talib.cache_clear()
    yield
    ind._talib.cache_clear()


def _fallback_outputs(monkeypatch, *arrays):
    monkeypatch.setenv("TRADEBOT_TALIB", "0")
    ind._talib.cache_clear()
    try:
        assert ind.backend() == "fallback"
        return _outputs(*arrays)
    finally:
        monkeypatch.delenv("TRADEBOT_TALIB")
        ind._talib.cache_clear()


@pytest.mark.parametrize("lead_nan", [0, 7])
def test_public_functions_agree_across_backends(monkeypatch, use_talib, lead_nan):
    h, lo, c, v = random_walk(9, 2000)
    for a in (h, lo, c, v):
        a[:lead_nan] = np.nan  # TA-Lib's wrapper starts at the first bar without NaN
    assert ind.backend() == "talib"
    with_talib = _outputs(h, lo, c, v)
    with_fallback = _fallback_outputs(monkeypatch, h, lo, c, v)
    for i, (g, w) in enumerate(zip(with_fallback, with_talib, strict=True)):
        assert_same(g, w, f"output {i}", atol=OSC_ATOL)


def test_public_functions_take_lists_and_ints(use_talib):
    h, lo, c, v = (list(a) for a in random_walk(1, 60))
    k, d = ind.stoch(h, lo, c, fastk=np.int64(5))
    assert k.dtype == np.float64 and k.shape == (60,)


@pytest.mark.parametrize("backend", ["1", "0"])
@pytest.mark.parametrize(("call", "message"), [
    (lambda h, lo, c, v: ind.stoch(h, lo, c, fastk=0), "stoch: fastk must be between 1"),
    (lambda h, lo, c, v: ind.stoch(h, lo, c, slowd=2.5), "stoch: slowd must be an integer"),
    (lambda h, lo, c, v: ind.stochrsi(c, period=1), "stochrsi: period must be between 2"),
    (lambda h, lo, c, v: ind.stochrsi(c, fastd=True), "stochrsi: fastd must be an integer"),
    (lambda h, lo, c, v: ind.cci(h, lo, c, period="14"), "cci: period must be an integer"),
    (lambda h, lo, c, v: ind.willr(h, lo, c, period=-3), "willr: period must be between 2"),
    (lambda h, lo, c, v: ind.roc(c, period=0), "roc: period must be between 1"),
    (lambda h, lo, c, v: ind.mfi(h, lo, c, v, period=10**6), "mfi: period must be between 2"),
    (lambda h, lo, c, v: ind.mfi(h, lo, c, v[:-1]), "mfi: high, low, close, volume must have"),
    (lambda h, lo, c, v: ind.stoch(h[:5], lo, c), "stoch: high, low, close must have"),
    (lambda h, lo, c, v: ind.cci(h, lo, ["a"] * len(c)), "cci: close must be a 1-D array"),
    (lambda h, lo, c, v: ind.roc(np.ones((3, 3))), "roc: close must be 1-D"),
])
def test_bad_input_is_one_line_value_error(monkeypatch, backend, call, message):
    monkeypatch.setenv("TRADEBOT_TALIB", backend)
    ind._talib.cache_clear()
    try:
        with pytest.raises(ValueError, match=message) as err:
            call(*random_walk(1, 50))
        assert "\n" not in str(err.value)
    finally:
        monkeypatch.delenv("TRADEBOT_TALIB")
        ind._talib.cache_clear()
