"""The numba fallback indicators equal TA-Lib: random walks, real candles, edge cases."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

import tradebot.indicators as ind
from tradebot.indicators import fallback as fb

talib = pytest.importorskip("talib", reason="TA-Lib is the reference of the fallback")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
#: Pairs priced ~5e-5 BTC, where RSI's up + down falls below 1e-8 on quiet bars.
TINY_PRICE_FILES = ("freqtrade-testdata_ADA_BTC-5m.csv.gz", "freqtrade-testdata_XLM_BTC-5m.csv.gz")
REAL_FILES = [
    "octobot_Binance_BTC_USDT-4h.csv.gz",
    "freqtrade-testdata_BTC_USDT-5m.csv.gz",
    "freqtrade-testdata_ETH_BTC-5m.csv.gz",
    *TINY_PRICE_FILES,
    "freqtrade-testdata_XRP_USDT-5m.csv.gz",
    "nautilus_BTC-PERP-1m.csv.gz",  # whole-dollar prices: many flat moves
]
REL = 1e-10


def assert_same(got: np.ndarray, want: np.ndarray, what: str, rel: float = REL) -> None:
    """Same shape, NaN at exactly the same positions, values within ``rel`` (or 0 when
    TA-Lib's own value is 0 within the absolute scale of the series)."""
    got = np.asarray(got)
    want = np.asarray(want)
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


def check_rsi(high, low, close, where):
    for p in (2, 5, 14, 30):  # the same arithmetic as TA-Lib, bit for bit
        np.testing.assert_array_equal(fb.rsi_nb(close, p), talib.RSI(close, p),
                                      err_msg=f"rsi({p}) {where}")


def check_sma(high, low, close, where):
    for p in (2, 5, 14, 30):
        assert_same(fb.sma_nb(close, p), talib.SMA(close, p), f"sma({p}) {where}")


def check_ema(high, low, close, where):
    for p in (2, 5, 14, 30):
        assert_same(fb.ema_nb(close, p), talib.EMA(close, p), f"ema({p}) {where}")


def check_atr(high, low, close, where):
    for p in (2, 5, 14, 30):
        assert_same(fb.atr_nb(high, low, close, p), talib.ATR(high, low, close, p),
                    f"atr({p}) {where}")


def check_bbands(high, low, close, where, rel=REL):
    for p in (2, 5, 14, 30):
        for up, dn in ((1.0, 1.0), (2.0, 2.0), (2.5, 1.5)):
            got = fb.bbands_nb(close, p, up, dn)
            want = talib.BBANDS(close, timeperiod=p, nbdevup=up, nbdevdn=dn, matype=0)
            for name, g, w in zip(("upper", "middle", "lower"), got, want, strict=True):
                assert_same(g, w, f"bbands({p}, {up}, {dn}) {name} {where}", rel)


def check_macd(high, low, close, where):
    for fast, slow, sig in ((12, 26, 9), (5, 35, 5), (3, 10, 16), (26, 12, 9)):
        got = fb.macd_nb(close, fast, slow, sig)
        want = talib.MACD(close, fastperiod=fast, slowperiod=slow, signalperiod=sig)
        # MACD is a difference of two EMAs of similar size: its error is measured
        # against the price scale, not against the (near-zero) line itself.
        scale = float(np.nanmax(np.abs(close)))
        for name, g, w in zip(("macd", "signal", "hist"), got, want, strict=True):
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w),
                                          err_msg=f"macd{fast, slow, sig} {name} NaN {where}")
            ok = ~np.isnan(w)
            np.testing.assert_allclose(g[ok], w[ok], rtol=REL, atol=REL * scale,
                                       err_msg=f"macd{fast, slow, sig} {name} {where}")


CHECKS = {"rsi": check_rsi, "sma": check_sma, "ema": check_ema, "atr": check_atr,
          "bbands": check_bbands, "macd": check_macd}


@pytest.mark.parametrize("indicator", list(CHECKS))
@pytest.mark.parametrize("seed", range(5))
def test_random_walks_equal_talib(seed, indicator):
    high, low, close = random_walk(seed, 3000, start=[100.0, 30000.0, 0.5, 1e-2, 7.0][seed])
    CHECKS[indicator](high, low, close, f"random walk {seed}")


def test_rsi_bit_exact_on_long_walk():
    _, _, close = random_walk(42, 200_000, start=30000.0, sigma=0.001)
    for p in (7, 14, 21):
        np.testing.assert_array_equal(fb.rsi_nb(close, p), talib.RSI(close, p))


@functools.cache
def load_real(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    df = pd.read_csv(DATA / name)
    return tuple(np.ascontiguousarray(df[c].to_numpy(np.float64))  # type: ignore[return-value]
                 for c in ("high", "low", "close"))


def _real_cases():
    for name in REAL_FILES:
        for indicator in CHECKS:
            marks = []
            yield pytest.param(name, indicator, marks=marks, id=f"{indicator}-{name}")


@pytest.mark.parametrize(("name", "indicator"), list(_real_cases()))
def test_real_candles_equal_talib(name, indicator):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"real candles not found: {path} (the shared data folder is absent)")
    high, low, close = load_real(name)
    if indicator == "bbands":
        # TA-Lib takes the variance as mean(x^2) - mean(x)^2; on whole-dollar prices
        # that are flat over the window it cancels to ~1e-8 of the price, not 0.
        check_bbands(high, low, close, name, rel=1e-9)
    else:
        CHECKS[indicator](high, low, close, name)


# -- edge cases --------------------------------------------------------------------------

def test_flat_prices():
    x = np.full(100, 250.0)
    np.testing.assert_array_equal(fb.rsi_nb(x, 14), talib.RSI(x, 14))
    assert np.all(fb.rsi_nb(x, 14)[14:] == 0.0)  # no movement at all: TA-Lib says 0
    assert_same(fb.sma_nb(x, 10), talib.SMA(x, 10), "sma flat")
    assert_same(fb.ema_nb(x, 10), talib.EMA(x, 10), "ema flat")
    assert_same(fb.atr_nb(x, x, x, 14), talib.ATR(x, x, x, 14), "atr flat")
    up, mid, lo = fb.bbands_nb(x, 20, 2.0, 2.0)
    want = talib.BBANDS(x, 20, 2.0, 2.0, 0)
    for g, w in zip((up, mid, lo), want, strict=True):
        assert_same(g, w, "bbands flat")
    np.testing.assert_array_equal(up[19:], 250.0)
    for g, w in zip(fb.macd_nb(x, 12, 26, 9), talib.MACD(x, 12, 26, 9), strict=True):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_allclose(g[~np.isnan(w)], w[~np.isnan(w)], atol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 5, 13, 14])
def test_shorter_than_period_is_all_nan(n):
    _, _, close = random_walk(1, max(n, 1))
    close = close[:n]
    high, low = close * 1.01, close * 0.99
    for got, want in [
        (fb.rsi_nb(close, 14), talib.RSI(close, 14)),  # needs period + 1 closes
        (fb.sma_nb(close, 15), talib.SMA(close, 15)),
        (fb.ema_nb(close, 15), talib.EMA(close, 15)),
        (fb.atr_nb(high, low, close, 14), talib.ATR(high, low, close, 14)),
        (fb.bbands_nb(close, 15, 2.0, 2.0)[1], talib.BBANDS(close, 15)[1]),
        (fb.macd_nb(close, 12, 26, 9)[0], talib.MACD(close, 12, 26, 9)[0]),
    ]:
        assert got.shape == (n,)
        assert np.isnan(got).all()
        assert np.isnan(want).all()


@pytest.mark.parametrize("n", [15, 16, 26, 33, 34, 40])
def test_warmup_nan_positions_match_talib(n):
    high, low, close = random_walk(2, n)
    pairs = [
        (fb.rsi_nb(close, 14), talib.RSI(close, 14)),
        (fb.sma_nb(close, 14), talib.SMA(close, 14)),
        (fb.ema_nb(close, 14), talib.EMA(close, 14)),
        (fb.atr_nb(high, low, close, 14), talib.ATR(high, low, close, 14)),
        *zip(fb.bbands_nb(close, 14, 2.0, 2.0), talib.BBANDS(close, 14, 2.0, 2.0, 0),
             strict=True),
        *zip(fb.macd_nb(close, 12, 26, 9), talib.MACD(close, 12, 26, 9), strict=True),
    ]
    for got, want in pairs:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


def test_period_one():
    high, low, close = random_walk(4, 50)
    assert_same(fb.sma_nb(close, 1), talib.SMA(close, 1), "sma(1)")
    assert_same(fb.ema_nb(close, 1), talib.EMA(close, 1), "ema(1)")
    assert_same(fb.atr_nb(high, low, close, 1), talib.ATR(high, low, close, 1), "atr(1)")
    np.testing.assert_array_equal(fb.sma_nb(close, 1), close)


def test_rsi_extremes():
    # only rises: 100; only falls: 0; no movement: 0
    rising = np.linspace(1.0, 2.0, 50)
    falling = rising[::-1].copy()
    flat = np.full(50, 3.0)
    for x in (rising, falling, flat):
        np.testing.assert_array_equal(fb.rsi_nb(x, 14), talib.RSI(x, 14))
    assert fb.rsi_nb(rising, 14)[-1] == 100.0
    assert fb.rsi_nb(falling, 14)[-1] == 0.0
    assert fb.rsi_nb(flat, 14)[-1] == 0.0


def test_rsi_tiny_moves_equal_talib():
    # steady rise by 1e-10 per bar: up + down = 1e-10 (< 1e-8, > 0); TA-Lib says 100
    tiny = 1.0 + 1e-10 * np.arange(50)
    assert talib.RSI(tiny, 14)[-1] == 100.0
    np.testing.assert_array_equal(fb.rsi_nb(tiny, 14), talib.RSI(tiny, 14))


# -- backend selection ------------------------------------------------------------------

@pytest.fixture
def fallback_backend(monkeypatch):
    monkeypatch.setenv("TRADEBOT_TALIB", "0")
    ind._talib.cache_clear()
    yield
    monkeypatch.undo()
    ind._talib.cache_clear()


def test_env_forces_fallback(fallback_backend):
    assert ind.backend() == "fallback"


def test_talib_backend_by_default(monkeypatch):
    monkeypatch.delenv("TRADEBOT_TALIB", raising=False)
    ind._talib.cache_clear()
    try:
        assert ind.backend() == "talib"
    finally:
        ind._talib.cache_clear()


def test_public_functions_agree_across_backends(monkeypatch):
    high, low, close = random_walk(9, 2000)

    def all_outputs():
        return [
            ind.sma(close, 20), ind.ema(close, 20), ind.rsi(close, 14),
            *ind.macd(close, 12, 26, 9), *ind.bbands(close, 20, 2.0, 2.0),
            ind.atr(high, low, close, 14),
        ]

    monkeypatch.delenv("TRADEBOT_TALIB", raising=False)
    ind._talib.cache_clear()
    with_talib = all_outputs()
    monkeypatch.setenv("TRADEBOT_TALIB", "0")
    ind._talib.cache_clear()
    try:
        assert ind.backend() == "fallback"
        with_fallback = all_outputs()
    finally:
        monkeypatch.undo()
        ind._talib.cache_clear()
    scale = float(np.max(close))
    for g, w in zip(with_fallback, with_talib, strict=True):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        ok = ~np.isnan(w)
        np.testing.assert_allclose(g[ok], w[ok], rtol=REL, atol=REL * scale)
