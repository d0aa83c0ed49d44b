"""Candlestick patterns: the numba fallbacks agree with TA-Lib; the public API by name."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tradebot.indicators import _backend
from tradebot.indicators import candlestick as cs
from tradebot.indicators import fallback_candlestick as fc

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BIG = "isda_BinanceFutures_FIL_USDT-1m-21months.csv.gz"
BIG_ROWS = 200_000
MIN_AGREEMENT = 0.99
REAL_FILES = sorted(p.name for p in DATA.glob("*.csv.gz")) if DATA.is_dir() else []

try:
    import talib
except ImportError:  # pragma: no cover - the image has TA-Lib
    talib = None

needs_talib = pytest.mark.skipif(talib is None, reason="TA-Lib is the reference of the fallbacks")


@functools.cache
def load(name: str) -> tuple[np.ndarray, ...]:
    from tradebot.data.csv_io import read_candles_csv

    c = read_candles_csv(DATA / name)
    n = min(len(c), BIG_ROWS)
    return tuple(np.ascontiguousarray(a[:n]) for a in (c.open, c.high, c.low, c.close))


# ---------------------------------------------------------------- agreement on real candles
@needs_talib
@pytest.mark.skipif(not REAL_FILES, reason=f"no real candles in {DATA}")
@pytest.mark.parametrize("fname", REAL_FILES)
def test_fallbacks_agree_with_talib_on_real_candles(fname: str, record_property) -> None:
    o, h, lo, c = load(fname)
    n = len(o)
    low_rates = []
    for name, kernel in cs.FALLBACKS.items():
        want = getattr(talib, "CDL" + name.upper())(o, h, lo, c)
        got = kernel(o, h, lo, c)
        assert got.dtype == np.int32 and got.shape == want.shape
        rate = 1.0 - np.count_nonzero(got != want) / n
        record_property(f"agreement_{name}", float(rate))
        print(f"{fname} {name}: {rate:.6f} ({np.count_nonzero(want)} TA-Lib hits of {n} bars)")
        if rate < MIN_AGREEMENT:
            low_rates.append(f"{name} {rate:.4f}")
    assert not low_rates, f"{fname}: agreement below {MIN_AGREEMENT}: {low_rates}"


@needs_talib
@pytest.mark.skipif(BIG not in REAL_FILES, reason=f"{BIG} absent")
@pytest.mark.parametrize("name", sorted(cs.PARAMS.keys() & cs.FALLBACKS.keys()))
def test_penetration_agrees_with_talib(name: str) -> None:
    o, h, lo, c = load(BIG)
    for pen in (0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 1.0):
        want = getattr(talib, "CDL" + name.upper())(o, h, lo, c, penetration=pen)
        np.testing.assert_array_equal(cs.FALLBACKS[name](o, h, lo, c, pen), want, err_msg=f"{name} {pen}")


def random_candles(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    o = np.r_[c[0], c[:-1]] * (1 + 0.003 * rng.standard_normal(n))
    h = np.maximum(o, c) * (1 + np.abs(0.004 * rng.standard_normal(n)))
    lo = np.minimum(o, c) * (1 - np.abs(0.004 * rng.standard_normal(n)))
    return o, h, lo, c


@needs_talib
@pytest.mark.parametrize("name", sorted(cs.FALLBACKS))
def test_fallbacks_equal_talib_on_random_and_short_series(name: str) -> None:
    func = getattr(talib, "CDL" + name.upper())
    o, h, lo, c = random_candles(7, 20_000)
    np.testing.assert_array_equal(cs.FALLBACKS[name](o, h, lo, c), func(o, h, lo, c))
    for k in range(16):  # shorter than, equal to and just past the lookback
        np.testing.assert_array_equal(cs.FALLBACKS[name](o[:k], h[:k], lo[:k], c[:k]),
                                      func(o[:k], h[:k], lo[:k], c[:k]), err_msg=f"{name} n={k}")


# ---------------------------------------------------------------- constructed shapes
def trend(direction: int, n: int = 20, start: float = 100.0) -> list[tuple[float, float, float, float]]:
    """``n`` candles of body 0.5 stepping down (-1) or up (+1), shadows 0.1."""
    bars = []
    p = start
    for _ in range(n):
        o, c = p, p + 0.5 * direction
        bars.append((o, max(o, c) + 0.1, min(o, c) - 0.1, c))
        p = c
    return bars


def shape(direction: int, *tail: tuple[float, float, float, float]) -> tuple[np.ndarray, ...]:
    bars = trend(direction) + list(tail)
    return tuple(np.array(col, dtype=np.float64) for col in zip(*bars, strict=True))


def _last(direction: int) -> tuple[float, float, float, float]:
    return trend(direction)[-1]


def _shapes() -> dict[str, tuple[tuple[np.ndarray, ...], int]]:
    """Textbook shapes, each with the value its pattern must give on the last bar."""
    o1, h1, l1, c1 = _last(-1)  # end of a downtrend (black candles)
    uo, uh, ul, uc = _last(+1)  # end of an uptrend (white candles)
    return {
        "doji": (shape(-1, (c1, c1 + 0.5, c1 - 0.5, c1)), 100),
        "hammer": (shape(-1, (l1, l1 + 0.1, l1 - 1.0, l1 + 0.1)), 100),
        "hangingman": (shape(+1, (uh, uh + 0.1, uh - 1.0, uh + 0.1)), -100),
        "invertedhammer": (shape(-1, (c1 - 0.3, c1 + 0.8, c1 - 0.3, c1 - 0.2)), 100),
        "shootingstar": (shape(+1, (uc + 0.3, uc + 1.3, uc + 0.2, uc + 0.2)), -100),
        "engulfing": (shape(-1, (c1 - 0.1, o1 + 0.3, c1 - 0.2, o1 + 0.2)), 100),
        "harami": (shape(-1, (c1, c1 + 0.1, c1 - 2.1, c1 - 2.0), (c1 - 1.1, c1 - 0.9, c1 - 1.2, c1 - 1.0)), 100),
        "piercing": (shape(-1, (c1, c1 + 0.1, c1 - 2.1, c1 - 2.0), (c1 - 2.5, c1 - 0.4, c1 - 2.6, c1 - 0.5)), 100),
        "darkcloudcover": (shape(+1, (uc, uc + 2.1, uc - 0.1, uc + 2.0), (uc + 2.5, uc + 2.6, uc + 0.4, uc + 0.5)),
                           -100),
        "morningstar": (shape(-1, (c1, c1 + 0.1, c1 - 2.1, c1 - 2.0), (c1 - 2.5, c1 - 2.4, c1 - 2.7, c1 - 2.6),
                              (c1 - 2.3, c1 - 0.7, c1 - 2.4, c1 - 0.8)), 100),
        "eveningstar": (shape(+1, (uc, uc + 2.1, uc - 0.1, uc + 2.0), (uc + 2.5, uc + 2.7, uc + 2.4, uc + 2.6),
                              (uc + 2.3, uc + 2.4, uc + 0.7, uc + 0.8)), -100),
        "3whitesoldiers": (shape(-1, (c1, c1 + 1.0, c1 - 0.1, c1 + 1.0), (c1 + 0.5, c1 + 1.5, c1 + 0.4, c1 + 1.5),
                                 (c1 + 1.0, c1 + 2.0, c1 + 0.9, c1 + 2.0)), 100),
        "3blackcrows": (shape(+1, (uc - 0.1, uc + 0.05, uc - 1.0, uc - 1.0),
                              (uc - 0.5, uc - 0.45, uc - 1.5, uc - 1.5),
                              (uc - 1.0, uc - 0.95, uc - 2.0, uc - 2.0)), -100),
    }


SHAPES = _shapes()


def test_every_fallback_has_a_shape() -> None:
    assert set(SHAPES) == set(cs.FALLBACKS)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_fallback_fires_on_its_textbook_shape(name: str) -> None:
    (o, h, lo, c), expected = SHAPES[name]
    assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c)), "a well-formed candle"
    got = cs.FALLBACKS[name](o, h, lo, c)
    assert got[-1] == expected, f"{name}: {got[-5:]}"
    assert np.count_nonzero(got[:fc.LOOKBACKS[name]]) == 0
    if talib is not None:  # the shape is textbook for TA-Lib too
        np.testing.assert_array_equal(got, getattr(talib, "CDL" + name.upper())(o, h, lo, c))


def test_hammer_needs_the_body_near_the_prior_low() -> None:
    (o, h, lo, c), _ = SHAPES["hammer"]
    o, h, lo, c = (a.copy() for a in (o, h, lo, c))
    o[-1] += 1.0  # the same hammer, lifted well above the prior candle's low
    h[-1] += 1.0
    lo[-1] += 1.0
    c[-1] += 1.0
    assert fc.hammer_nb(o, h, lo, c)[-1] == 0


# ---------------------------------------------------------------- public API
@pytest.fixture
def no_talib(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRADEBOT_TALIB", "0")
    _backend.talib_module.cache_clear()
    yield
    monkeypatch.delenv("TRADEBOT_TALIB")
    _backend.talib_module.cache_clear()


def test_names() -> None:
    names = cs.pattern_names()
    assert len(names) == len(set(names)) >= 61
    assert {"doji", "engulfing", "morningstar", "3whitesoldiers", "2crows"} <= set(names)
    assert set(cs.FALLBACKS) <= set(names)
    if talib is not None:
        groups = talib.get_function_groups()["Pattern Recognition"]
        assert set(names) == {f[3:].lower() for f in groups}
    assert all(cs.has_fallback(n) for n in cs.FALLBACKS)
    assert not cs.has_fallback("2crows")


def test_api_uses_the_fallbacks_without_talib(no_talib: None) -> None:
    assert _backend.talib_module() is None
    o, h, lo, c = random_candles(3, 3000)
    for name, kernel in cs.FALLBACKS.items():
        got = cs.pattern(name, o, h, lo, c)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, kernel(o, h, lo, c))
    np.testing.assert_array_equal(cs.pattern("morningstar", o, h, lo, c, penetration=0.1),
                                  fc.morningstar_nb(o, h, lo, c, 0.1))
    assert set(cs.all_patterns(o, h, lo, c)) == set(cs.FALLBACKS) == set(cs.available_patterns())
    assert "2crows" in cs.pattern_names()
    with pytest.raises(ValueError, match=r"pattern 2crows needs TA-Lib \(no fallback yet\)"):
        cs.pattern("2crows", o, h, lo, c)


@needs_talib
def test_api_fallback_equals_talib_path(monkeypatch: pytest.MonkeyPatch, no_talib: None) -> None:
    o, h, lo, c = random_candles(5, 5000)
    o[:3] = np.nan  # TA-Lib starts after leading NaN; so must the fallback
    slow = cs.all_patterns(o, h, lo, c)
    monkeypatch.setenv("TRADEBOT_TALIB", "1")
    _backend.talib_module.cache_clear()
    fast = cs.all_patterns(o, h, lo, c)
    assert set(fast) == set(cs.pattern_names())
    for name, got in slow.items():
        np.testing.assert_array_equal(got, fast[name], err_msg=name)


@needs_talib
def test_api_with_talib_covers_every_pattern() -> None:
    o, h, lo, c = random_candles(11, 4000)
    out = cs.all_patterns(o, h, lo, c)
    assert len(out) == len(cs.pattern_names())
    for name, arr in out.items():
        assert arr.dtype == np.int32 and arr.shape == o.shape
        np.testing.assert_array_equal(arr, getattr(talib, "CDL" + name.upper())(o, h, lo, c))
        assert set(np.unique(arr)) <= {-200, -100, -80, 0, 80, 100, 200}, name
    assert np.any(np.abs(out["hikkakemod"]) == 200) or np.any(np.abs(out["hikkake"]) == 200)


def test_aliases() -> None:
    (o, h, lo, c), _ = SHAPES["3whitesoldiers"]
    want = cs.pattern("3whitesoldiers", o, h, lo, c)
    for alias in ("CDL3WHITESOLDIERS", "three_white_soldiers", "Three White Soldiers", "cdl3whitesoldiers"):
        np.testing.assert_array_equal(cs.pattern(alias, o, h, lo, c), want)


@pytest.mark.parametrize(("typo", "suggestion"), [
    ("dojji", "doji"), ("engulfin", "engulfing"), ("mornigstar", "morningstar"), ("hamer", "hammer"),
])
def test_unknown_name_suggests_close_names(typo: str, suggestion: str) -> None:
    o = np.ones(20)
    with pytest.raises(ValueError, match=f"unknown candlestick pattern '{typo}'.*'{suggestion}'"):
        cs.pattern(typo, o, o, o, o)


def test_unknown_name_without_close_match() -> None:
    o = np.ones(5)
    with pytest.raises(ValueError, match="see pattern_names"):
        cs.pattern("zzzzzzzz", o, o, o, o)
    with pytest.raises(ValueError, match="must be a string"):
        cs.pattern(None, o, o, o, o)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["talib", "fallback"])
def test_bad_inputs_name_the_pattern(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "fallback":
        monkeypatch.setenv("TRADEBOT_TALIB", "0")
    _backend.talib_module.cache_clear()
    try:
        a, b = np.ones(30), np.ones(29)
        with pytest.raises(ValueError, match=r"pattern hammer: .*same length.*low=29"):
            cs.pattern("hammer", a, a, b, a)
        with pytest.raises(ValueError, match="pattern all_patterns: .*same length"):
            cs.all_patterns(a, b, a, a)
        with pytest.raises(ValueError, match="pattern doji: open must be 1-dimensional"):
            cs.pattern("doji", np.ones((3, 3)), a, a, a)
        with pytest.raises(ValueError, match="pattern doji: close is not numeric"):
            cs.pattern("doji", a, a, a, ["x"] * 30)
        with pytest.raises(ValueError, match="pattern morningstar: unknown parameter 'pen'"):
            cs.pattern("morningstar", a, a, a, a, pen=0.2)
        with pytest.raises(ValueError, match="pattern doji: unknown parameter 'penetration'.*no parameters"):
            cs.pattern("doji", a, a, a, a, penetration=0.2)
        with pytest.raises(ValueError, match="pattern darkcloudcover: penetration must be a finite number"):
            cs.pattern("darkcloudcover", a, a, a, a, penetration=-1)
        with pytest.raises(ValueError, match="penetration must be a number"):
            cs.pattern("darkcloudcover", a, a, a, a, penetration="0.5")
        empty = np.array([])
        assert cs.pattern("doji", empty, empty, empty, empty).shape == (0,)
        nan = np.full(30, np.nan)
        np.testing.assert_array_equal(cs.pattern("engulfing", nan, nan, nan, nan), np.zeros(30, np.int32))
    finally:
        monkeypatch.delenv("TRADEBOT_TALIB", raising=False)
        _backend.talib_module.cache_clear()
