"""Trend indicators: the numba kernels equal TA-Lib (WMA, DEMA, TEMA, ADX/DI, SAR); Ichimoku
and SuperTrend equal slow references and use no future data; bad input gets a clear error."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

import tradebot.indicators as ind
from tradebot.indicators import fallback_trend as ft
from tradebot.indicators import trend

talib = pytest.importorskip("talib", reason="TA-Lib is the reference of the fallback")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_FILES = [
    "octobot_Binance_BTC_USDT-4h.csv.gz",
    "octobot_Binance_SOL_USDT-4h.csv.gz",
    "freqtrade-testdata_BTC_USDT-5m.csv.gz",
    "freqtrade-testdata_ADA_BTC-5m.csv.gz",  # ~5e-5 BTC prices
    "freqtrade-testdata_XRP_USDT-5m.csv.gz",
    "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz",
    "nautilus_BTC-PERP-1m.csv.gz",  # whole-dollar prices: many flat moves
    "isda_BinanceFutures_FIL_USDT-1m-21months.csv.gz",
]
REL = 1e-8


def assert_same(got, want, what: str, rel: float = REL) -> None:
    """Same shape, NaN at the same positions, values within ``rel``."""
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


def check_all(high, low, close, where, periods=(1, 2, 5, 14, 30)):
    for p in periods:
        assert_same(ft.wma_nb(close, p), talib.WMA(close, p), f"wma({p}) {where}")
        assert_same(ft.dema_nb(close, p), talib.DEMA(close, p), f"dema({p}) {where}")
        assert_same(ft.tema_nb(close, p), talib.TEMA(close, p), f"tema({p}) {where}")
        if p >= 2:
            got = ft.adx_nb(high, low, close, p)
            want = (talib.ADX(high, low, close, p), talib.PLUS_DI(high, low, close, p),
                    talib.MINUS_DI(high, low, close, p))
            for name, g, w in zip(("adx", "+di", "-di"), got, want, strict=True):
                assert_same(g, w, f"{name}({p}) {where}")
    for acc, mx in ((0.02, 0.2), (0.01, 0.1), (0.05, 0.5), (0.3, 0.2)):
        assert_same(ft.sar_nb(high, low, acc, mx), talib.SAR(high, low, acc, mx),
                    f"sar({acc}, {mx}) {where}")


@pytest.mark.parametrize("seed", range(5))
def test_random_walks_equal_talib(seed):
    high, low, close = random_walk(seed, 3000, start=[100.0, 30000.0, 0.5, 1e-2, 5e-5][seed])
    check_all(high, low, close, f"random walk {seed}")


@functools.cache
def load_real(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from tradebot.data.csv_io import read_candles_csv

    c = read_candles_csv(DATA / name)
    return tuple(np.ascontiguousarray(a, dtype=np.float64)  # type: ignore[return-value]
                 for a in (c.high, c.low, c.close))


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_candles_equal_talib(name):
    path = DATA / name
    if not path.exists():
        pytest.skip(f"real candles not found: {path} (the shared data folder is absent)")
    high, low, close = load_real(name)
    check_all(high, low, close, name, periods=(2, 14, 30))


# -- edge cases ----------------------------------------------------------------------------

def test_flat_prices():
    x = np.full(120, 250.0)
    check_all(x, x, x, "flat")
    assert np.all(ft.adx_nb(x, x, x, 14)[1][14:] == 0.0)  # no range: TA-Lib says 0
    np.testing.assert_array_equal(ft.wma_nb(x, 10)[9:], 250.0)


def test_tiny_ranges_match_talib_zero_tests():
    # ranges near TA-Lib's zero band: the DI divisions must switch to 0 at the same bars
    for scale in (1e-12, 1e-14, 1e-15, 1e-16):
        rng = np.random.default_rng(7)
        close = 1.0 + scale * np.cumsum(rng.standard_normal(200))
        high, low = close + scale, close - scale
        check_all(high, low, close, f"tiny {scale}", periods=(2, 5, 14))


@pytest.mark.parametrize("n", [0, 1, 2, 5, 13, 14, 27])
def test_shorter_than_period_is_all_nan(n):
    high, low, close = random_walk(1, max(n, 1))
    high, low, close = high[:n], low[:n], close[:n]
    for got, want in [
        (ft.wma_nb(close, 30), talib.WMA(close, 30)),
        (ft.dema_nb(close, 15), talib.DEMA(close, 15)),
        (ft.tema_nb(close, 10), talib.TEMA(close, 10)),
        (ft.adx_nb(high, low, close, 14)[0], talib.ADX(high, low, close, 14)),
        (ft.adx_nb(high, low, close, 30)[1], talib.PLUS_DI(high, low, close, 30)),
    ]:
        assert got.shape == (n,)
        assert np.isnan(got).all() and np.isnan(want).all()
    check_all(high, low, close, f"short {n}", periods=(2, 14))


@pytest.mark.parametrize("lead", [1, 3, 40])
@pytest.mark.parametrize("which", ["close", "high", "low", "all"])
def test_leading_nan_skipped_like_talib(lead, which):
    # TA-Lib's wrapper starts at the first bar where every input is a number
    high, low, close = random_walk(3, 300)
    for name, a in (("high", high), ("low", low), ("close", close)):
        if which in (name, "all"):
            a[:lead] = np.nan
    check_all(high, low, close, f"{lead} leading NaN in {which}", periods=(1, 2, 14))
    if which in ("close", "all"):
        got = ft.wma_nb(close, 5)
        assert np.isnan(got[: lead + 4]).all() and not np.isnan(got[lead + 4:]).any()


def test_all_nan_input():
    x = np.full(50, np.nan)
    check_all(x, x, x, "all NaN", periods=(1, 2, 14))
    assert np.isnan(ft.sar_nb(x, x, 0.02, 0.2)).all()


@pytest.mark.parametrize("where", [10, 60, 299])
def test_nan_in_the_middle_matches_talib(where):
    # TA-Lib propagates: running sums and recursions stay NaN; SAR compares NaN as false
    high, low, close = random_walk(5, 300)
    for hit in (("close",), ("high",), ("low",), ("high", "low", "close")):
        series = {"high": high.copy(), "low": low.copy(), "close": close.copy()}
        for name in hit:
            series[name][where] = np.nan
        check_all(series["high"], series["low"], series["close"], f"NaN at {where} in {hit}",
                  periods=(1, 2, 14))


# -- Ichimoku and SuperTrend: slow references, no look-ahead ------------------------------

def slow_ichimoku(high, low, close, tenkan, kijun, senkou_b, disp):
    n = len(close)

    def mid(p, i):
        if i < p - 1:
            return np.nan
        return (max(high[i - p + 1: i + 1]) + min(low[i - p + 1: i + 1])) / 2

    t = np.array([mid(tenkan, i) for i in range(n)])
    k = np.array([mid(kijun, i) for i in range(n)])
    a = np.array([(t[i - disp] + k[i - disp]) / 2 if i >= disp else np.nan for i in range(n)])
    b = np.array([mid(senkou_b, i - disp) if i >= disp else np.nan for i in range(n)])
    return {"tenkan": t, "kijun": k, "senkou_a": a, "senkou_b": b, "chikou": close}


@pytest.mark.parametrize("params", [(9, 26, 52, 26), (7, 22, 44, 22), (1, 2, 3, 0), (5, 5, 5, 1)])
def test_ichimoku_equals_slow_reference(params):
    high, low, close = random_walk(11, 400)
    got = trend.ichimoku(high, low, close, *params)
    want = slow_ichimoku(high, low, close, *params)
    assert set(got) == {"tenkan", "kijun", "senkou_a", "senkou_b", "chikou"}
    for key in want:
        assert_same(got[key], want[key], f"ichimoku {key} {params}", rel=1e-12)


def test_ichimoku_has_no_lookahead():
    high, low, close = random_walk(12, 300)
    full = trend.ichimoku(high, low, close)
    for cut in (1, 30, 77, 150, 299):
        part = trend.ichimoku(high[:cut], low[:cut], close[:cut])
        for key in full:
            np.testing.assert_array_equal(part[key], full[key][:cut], err_msg=f"{key} @ {cut}")
    # the cloud over bar t is the spans computed 26 bars earlier
    t = ft.midpoint_nb(high, low, 9)
    k = ft.midpoint_nb(high, low, 26)
    assert full["senkou_a"][100] == (t[74] + k[74]) / 2


def slow_supertrend(high, low, close, period, mult):
    n = len(close)
    atr = talib.ATR(high, low, close, period)
    line = np.full(n, np.nan)
    direction = np.full(n, np.nan)
    upper = lower = None
    d = None
    for i in range(n):
        if np.isnan(atr[i]):
            continue
        hl2 = (high[i] + low[i]) / 2
        bu, bl = hl2 + mult * atr[i], hl2 - mult * atr[i]
        if d is None:
            upper, lower, d = bu, bl, 1
        else:
            prev_upper, prev_lower = upper, lower
            upper = bu if (bu < prev_upper or close[i - 1] > prev_upper) else prev_upper
            lower = bl if (bl > prev_lower or close[i - 1] < prev_lower) else prev_lower
            if d == 1 and close[i] < prev_lower:
                d = -1
            elif d == -1 and close[i] > prev_upper:
                d = 1
        direction[i] = d
        line[i] = lower if d == 1 else upper
    return line, direction


@pytest.mark.parametrize(("period", "mult"), [(10, 3.0), (7, 2.0), (1, 1.0), (20, 0.5)])
def test_supertrend_equals_slow_reference(period, mult):
    high, low, close = random_walk(13, 1500)
    line, direction = trend.supertrend(high, low, close, period, mult)
    want_line, want_dir = slow_supertrend(high, low, close, period, mult)
    assert_same(line, want_line, "supertrend line", rel=1e-10)
    np.testing.assert_array_equal(direction, want_dir)
    assert set(np.unique(direction[~np.isnan(direction)])) == {-1.0, 1.0}
    assert np.isnan(line[:period]).all() and not np.isnan(line[period:]).any()


def test_supertrend_no_lookahead_and_edges():
    high, low, close = random_walk(14, 500)
    line, direction = trend.supertrend(high, low, close)
    for cut in (5, 11, 200, 499):
        pl, pd_ = trend.supertrend(high[:cut], low[:cut], close[:cut])
        np.testing.assert_array_equal(pl, line[:cut])
        np.testing.assert_array_equal(pd_, direction[:cut])
    x = np.full(50, 3.0)
    fl, fd = trend.supertrend(x, x, x)
    np.testing.assert_array_equal(fl[10:], 3.0)
    np.testing.assert_array_equal(fd[10:], 1.0)
    sl, sd = trend.supertrend(x[:5], x[:5], x[:5])
    assert np.isnan(sl).all() and np.isnan(sd).all()


# -- public functions: both backends -------------------------------------------------------

def _public_outputs(high, low, close):
    return [
        trend.wma(close, 20), trend.dema(close, 20), trend.tema(close, 20),
        *trend.adx(high, low, close, 14), trend.psar(high, low, 0.02, 0.2),
        trend.psar(high, low, 0.3, 0.2),
    ]


@pytest.mark.parametrize("lead", [0, 5])
def test_public_functions_agree_across_backends(monkeypatch, lead):
    high, low, close = random_walk(9, 2000)
    close[:lead] = np.nan
    monkeypatch.delenv("TRADEBOT_TALIB", raising=False)
    ind._talib.cache_clear()
    assert ind.backend() == "talib"
    with_talib = _public_outputs(high, low, close)
    monkeypatch.setenv("TRADEBOT_TALIB", "0")
    ind._talib.cache_clear()
    try:
        assert ind.backend() == "fallback"
        with_fallback = _public_outputs(high, low, close)
    finally:
        monkeypatch.undo()
        ind._talib.cache_clear()
    for i, (g, w) in enumerate(zip(with_fallback, with_talib, strict=True)):
        assert_same(g, w, f"output {i}")


def test_lazy_namespace_exposes_functions():
    for name in ("wma", "dema", "tema", "adx", "psar", "ichimoku", "supertrend"):
        assert getattr(ind, name) is getattr(trend, name)


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "words"), [
    (lambda x: trend.wma(x, 0), ("wma", "period")),
    (lambda x: trend.dema(x, -3), ("dema", "period")),
    (lambda x: trend.tema(x, 2.5), ("tema", "period")),
    (lambda x: trend.wma(x, "10"), ("wma", "period")),
    (lambda x: trend.wma(x, True), ("wma", "period")),
    (lambda x: trend.adx(x, x, x, 1), ("adx", "period")),
    (lambda x: trend.adx(x, x[:-1], x), ("adx", "length")),
    (lambda x: trend.psar(x, x[:5]), ("psar", "length")),
    (lambda x: trend.psar(x, x, -0.1), ("psar", "acceleration")),
    (lambda x: trend.psar(x, x, 0.02, float("nan")), ("psar", "maximum")),
    (lambda x: trend.ichimoku(x, x, x, tenkan=0), ("ichimoku", "tenkan")),
    (lambda x: trend.ichimoku(x, x, x, displacement=-1), ("ichimoku", "displacement")),
    (lambda x: trend.ichimoku(x, x, x[:3]), ("ichimoku", "length")),
    (lambda x: trend.supertrend(x, x, x, 0), ("supertrend", "period")),
    (lambda x: trend.supertrend(x, x, x, 10, "3"), ("supertrend", "multiplier")),
    (lambda x: trend.wma(x.reshape(2, 25), 5), ("wma", "1-D")),
    (lambda x: trend.wma(["a", "b"], 5), ("wma", "close")),
])
def test_bad_input_names_indicator_and_parameter(call, words):
    x = np.linspace(1.0, 2.0, 50)
    with pytest.raises(ValueError) as e:
        call(x)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_numpy_integer_periods_and_lists_accepted():
    x = list(np.linspace(1.0, 2.0, 50))
    assert_same(trend.wma(x, np.int64(5)), talib.WMA(np.array(x), 5), "wma list")
