"""The deterministic synthetic market: reproducible, sliceable, valid, and market-like."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tradebot.core.candles import COLUMNS, Candles
from tradebot.core.errors import UsageError
from tradebot.core.timeframes import bars_per_year, timeframe_ms
from tradebot.data.validation import validate_candles
from tradebot.exchanges import sim
from tradebot.exchanges.sim import (
    ANCHOR_MS,
    DEFAULT_END_MS,
    MAX_END_MS,
    REGIMES,
    default_range,
    sim_candles,
)

DAY = 86_400_000
H = 3_600_000
TIMEFRAMES = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
              "1w"]


def same(a: Candles, b: Candles) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in COLUMNS)


def sliced(c: Candles, since: int, until: int) -> Candles:
    return c.between(since, until)


# --- determinism -------------------------------------------------------------------------------

def test_deterministic() -> None:
    a = sim_candles("BTC/USDT", "1h", seed=7)
    b = sim_candles("BTC/USDT", "1h", seed=7)
    assert same(a, b)
    assert np.array_equal(a.meta["regime"], b.meta["regime"])
    assert not np.array_equal(a.close, sim_candles("BTC/USDT", "1h", seed=8).close)
    assert not np.array_equal(a.close, sim_candles("ETH/USDT", "1h", seed=7).close)
    c4 = sim_candles("BTC/USDT", "4h", seed=7)
    assert not np.array_equal(a.close[:100], c4.close[:100])


def test_independent_of_python_hash_seed() -> None:
    code = textwrap.dedent("""
        import hashlib
        from tradebot.exchanges.sim import sim_candles
        c = sim_candles("SOL/USDT", "1d", seed=3)
        h = hashlib.sha256()
        for k in ("timestamp", "open", "high", "low", "close", "volume"):
            h.update(getattr(c, k).tobytes())
        print(h.hexdigest())
    """)
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


# --- ranges and slicing ------------------------------------------------------------------------

@pytest.mark.parametrize("timeframe,days", [("1m", 30), ("3m", 90), ("5m", 90), ("15m", 180),
                                            ("30m", 180), ("1h", 730), ("2h", 730),
                                            ("4h", 1461), ("1d", 1461)])
def test_default_window(timeframe: str, days: int) -> None:
    tf = timeframe_ms(timeframe)
    c = sim_candles(timeframe=timeframe)
    assert c.timestamp[-1] == DEFAULT_END_MS - tf
    assert c.timestamp[0] == DEFAULT_END_MS - days * DAY
    assert len(c) == days * DAY // tf
    assert default_range(timeframe) == (DEFAULT_END_MS - days * DAY, DEFAULT_END_MS)
    assert (c.exchange, c.source, c.symbol, c.timeframe) == ("sim", "sim", "BTC/USDT", timeframe)


def test_weekly_bars_open_on_monday() -> None:
    c = sim_candles(timeframe="1w")
    weekday = ((c.timestamp // DAY) + 3) % 7  # 0 = Monday
    assert (weekday == 0).all()
    assert c.timestamp[-1] < DEFAULT_END_MS <= c.timestamp[-1] + 7 * DAY


@pytest.mark.parametrize("timeframe", ["1h", "4h", "1d", "1w"])
def test_narrower_range_is_an_exact_slice(timeframe: str) -> None:
    wide = sim_candles("ETH/USDT", timeframe, since_ms=ANCHOR_MS, seed=5)
    tf = timeframe_ms(timeframe)
    for since, until in [(ANCHOR_MS, ANCHOR_MS + 200 * tf),
                         (ANCHOR_MS + 1000 * DAY + 17, ANCHOR_MS + 1100 * DAY),
                         (DEFAULT_END_MS - 90 * DAY, DEFAULT_END_MS)]:
        narrow = sim_candles("ETH/USDT", timeframe, since_ms=since, until_ms=until, seed=5)
        expected = sliced(wide, since, until)
        assert len(narrow) == len(expected) > 0
        assert same(narrow, expected)
        assert np.array_equal(narrow.meta["regime"],
                              wide.meta["regime"][np.isin(wide.timestamp, narrow.timestamp)])


def test_slices_across_generation_chunks() -> None:
    """1m bars are generated in chunks of 2**17 with skipped draws: slices must not care."""
    chunk = sim._CHUNK * 60_000
    since, until = ANCHOR_MS + chunk - 500 * 60_000, ANCHOR_MS + 3 * chunk + 1234 * 60_000
    wide = sim_candles("BTC/USDT", "1m", since_ms=since, until_ms=until)
    for a, b in [(since, since + 600 * 60_000), (ANCHOR_MS + chunk, ANCHOR_MS + chunk + 60_000),
                 (ANCHOR_MS + 2 * chunk + 7 * 60_000, until)]:
        assert same(sim_candles("BTC/USDT", "1m", since_ms=a, until_ms=b), sliced(wide, a, b))
    # later requests end in the same place whatever their start
    tail = sim_candles("BTC/USDT", "1m")
    assert same(sim_candles("BTC/USDT", "1m", since_ms=DEFAULT_END_MS - DAY), tail.slice(
        len(tail) - 1440, len(tail)))


def test_since_is_rounded_up_and_until_is_exclusive() -> None:
    c = sim_candles(timeframe="1h", since_ms=ANCHOR_MS + 1, until_ms=ANCHOR_MS + 5 * H)
    assert c.timestamp.tolist() == [ANCHOR_MS + k * H for k in range(1, 5)]
    assert len(sim_candles(timeframe="1h", since_ms=ANCHOR_MS + H, until_ms=ANCHOR_MS + H)) == 0
    only_until = sim_candles(timeframe="1d", until_ms=ANCHOR_MS + 100 * DAY)
    assert only_until.timestamp[0] == ANCHOR_MS and len(only_until) == 100
    after = sim_candles(timeframe="1h", since_ms=DEFAULT_END_MS + 10 * DAY)
    assert len(after) == 730 * 24
    clipped = sim_candles(timeframe="1d", since_ms=DEFAULT_END_MS + 10 * DAY)
    assert clipped.timestamp[-1] == MAX_END_MS - DAY


@pytest.mark.parametrize("kwargs,message", [
    ({"since_ms": ANCHOR_MS - DAY}, "starts at 2020-01-01T00:00:00Z"),
    ({"until_ms": MAX_END_MS + DAY}, "ends at 2030-01-01T00:00:00Z"),
    ({"timeframe": "1s"}, "from 1m to 1w"),
    ({"timeframe": "2w"}, "from 1m to 1w"),
    ({"timeframe": "hourly"}, "invalid timeframe"),
    ({"seed": -1}, "invalid sim seed"),
    ({"symbol": ""}, "invalid symbol"),
])
def test_bad_requests(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        sim_candles(**kwargs)  # type: ignore[arg-type]


# --- validity ---------------------------------------------------------------------------------

@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_valid_for_every_timeframe(timeframe: str) -> None:
    c = sim_candles("BTC/USDT", timeframe)
    report = validate_candles(c, "sim", timeframe_ms(timeframe))
    assert report.missing == 0 and c.meta["gap_report"] == report
    assert np.array_equal(c.open[1:], c.close[:-1])  # open = previous close
    assert (c.high >= np.maximum(c.open, c.close)).all()
    assert (c.low <= np.minimum(c.open, c.close)).all()
    assert (c.volume > 0).mean() > 0.999
    assert (c.high > c.low).mean() > 0.99  # bars have real ranges


@pytest.mark.parametrize("symbol,low,high", [("BTC/USDT", 27_000, 33_000),
                                             ("BTC/USDT:USDT", 27_000, 33_000),
                                             ("ETH/USDT", 1_800, 2_200),
                                             ("ETH/BTC", 0.06, 0.075)])
def test_price_level_is_seeded_from_the_symbol(symbol: str, low: float, high: float) -> None:
    first = sim_candles(symbol, "1h", since_ms=ANCHOR_MS, until_ms=ANCHOR_MS + H).open[0]
    assert low < first < high
    other = sim_candles("ZZTOP/USDT", "1h", since_ms=ANCHOR_MS, until_ms=ANCHOR_MS + H).open[0]
    assert 0.005 < other < 200


# --- market-likeness --------------------------------------------------------------------------

def wilder_rsi(close: np.ndarray, n: int = 14) -> np.ndarray:
    d = np.diff(close)
    gain, loss = np.clip(d, 0, None), np.clip(-d, 0, None)
    out = np.full(close.shape, np.nan)
    avg_g, avg_l = gain[:n].mean(), loss[:n].mean()
    for i in range(n, d.shape[0]):
        avg_g = (avg_g * (n - 1) + gain[i]) / n
        avg_l = (avg_l * (n - 1) + loss[i]) / n
        out[i + 1] = 100.0 if avg_l == 0 else 100.0 - 100.0 / (1.0 + avg_g / avg_l)
    return out


@pytest.mark.parametrize("seed", [42, 0, 1])
def test_regimes_trends_and_volatility_clusters(seed: int) -> None:
    c = sim_candles("BTC/USDT", "1h", seed=seed)  # 2 years
    month = 30 * 24
    r30 = c.close[month:] / c.close[:-month] - 1.0
    assert r30.max() > 0.10 and r30.min() < -0.10
    logret = np.diff(np.log(c.close))
    months = logret[: logret.size // month * month].reshape(-1, month)
    vol = months.std(axis=1) * math.sqrt(bars_per_year("1h"))
    assert vol.max() >= 2.0 * vol.min()
    assert 0.35 < logret.std() * math.sqrt(bars_per_year("1h")) < 1.1  # BTC-like
    assert set(np.unique(c.meta["regime"]).tolist()) == {0, 1, 2}
    assert c.meta["regimes"] == REGIMES


def test_stylized_facts() -> None:
    c = sim_candles("BTC/USDT", "1h", since_ms=ANCHOR_MS, until_ms=DEFAULT_END_MS)
    r = np.diff(np.log(c.close))
    z = (r - r.mean()) / r.std()
    assert (z**4).mean() - 3.0 > 1.0  # fat tails (excess kurtosis)
    a = np.abs(r)
    for lag in (1, 24, 24 * 7):  # volatility clustering: |r| stays autocorrelated
        assert np.corrcoef(a[:-lag], a[lag:])[0, 1] > 0.05
    assert abs(np.corrcoef(r[:-1], r[1:])[0, 1]) < 0.1  # but returns barely are
    assert np.corrcoef(np.log(c.volume[1:]), a)[0, 1] > 0.2  # volume follows |return|
    hl = np.log(c.high / c.low)
    assert 1.0 < hl.mean() / a.mean() < 4.0  # ranges in proportion to moves
    per_regime = [r[c.meta["regime"][1:] == k].mean() for k in range(3)]
    assert per_regime[0] > 0 > per_regime[1]  # uptrends go up, downtrends go down


def test_an_rsi_strategy_would_trade() -> None:
    rsi = wilder_rsi(sim_candles("BTC/USDT", "1h").close)
    assert (rsi < 30).sum() > 50 and (rsi > 70).sum() > 50


def test_one_minute_from_2020_is_generated() -> None:
    c = sim_candles("BTC/USDT", "1m", since_ms=ANCHOR_MS, until_ms=ANCHOR_MS + 400 * DAY)
    assert len(c) == 400 * 1440
    validate_candles(c, "sim", 60_000)


# --- the numba kernel against a slow reference ------------------------------------------------

def reference(seed: int, symbol: str, timeframe: str, i0: int, i1: int) -> dict[str, np.ndarray]:
    """The model's recursion, bar by bar in plain Python, drawing every random number."""
    tf = timeframe_ms(timeframe)
    p = sim._params(symbol, tf, seed)
    streams = sim._streams(seed, symbol, tf)
    season_vol, season_volume = sim._season_tables(tf, p)
    z = streams[sim._S_NORMAL].standard_normal(i1)
    mix = streams[sim._S_MIX].random(i1)
    u_switch = streams[sim._S_SWITCH].random(i1)
    u_drift = streams[sim._S_DRIFT].random(i1)
    u_high = streams[sim._S_HIGH].random(i1)
    u_low = streams[sim._S_LOW].random(i1)
    u_volume = streams[sim._S_VOLUME].random(i1)
    q = 10.0 ** p.decimals

    def rnd(v: float) -> float:
        return float(np.rint(v * q) / q)

    x, h, reg, anchor, scale = p.x0, 1.0, p.regime0, p.x0, 1.0
    out: dict[str, list[float]] = {k: [] for k in ("open", "high", "low", "close", "volume",
                                                   "regime")}
    for i in range(i1):
        if u_switch[i] < p.p_switch[reg]:
            v = u_switch[i] / p.p_switch[reg]
            choices = [k for k in range(3) if k != reg]
            first, second = choices
            reg = first if v < p.next_cum[reg][first] else second
            anchor, scale = x, 0.5 + u_drift[i]
        shock = z[i] * math.sqrt(-math.log(1.0 - mix[i]))
        k = i % season_vol.size
        sigma = math.sqrt(p.base_var * h) * p.vol_mult[reg] * season_vol[k]
        mu = p.drift[reg] * scale - p.level_pull * (x - p.x0)
        if reg == 2:
            mu -= p.range_pull * (x - anchor)
        r = mu + sigma * shock
        if i >= i0:
            # Brownian-bridge extremes of a move r with volatility sigma
            up = (r + math.sqrt(r * r - 2 * sigma**2 * math.log(1.0 - u_high[i]))) / 2
            down = (r - math.sqrt(r * r - 2 * sigma**2 * math.log(1.0 - u_low[i]))) / 2
            o, c = rnd(math.exp(x)), rnd(math.exp(x + r))
            out["open"].append(o)
            out["close"].append(c)
            out["high"].append(max(rnd(math.exp(x + up)), o, c))
            out["low"].append(min(rnd(math.exp(x + down)), o, c))
            uv = u_volume[i]
            noise = math.log(uv / (1 - uv)) * math.sqrt(3) / math.pi
            level = 0.8 * math.log(math.sqrt(h) * p.vol_mult[reg])
            lv = p.log_volume - (x - p.x0) + level + 0.35 * (abs(shock) - 0.8) + 0.35 * noise
            out["volume"].append(float(np.rint(math.exp(lv) * season_volume[k] * 1e4) / 1e4))
            out["regime"].append(reg)
        h = (1 - p.alpha - p.beta) + p.alpha * h * min(shock * shock, 50.0) + p.beta * h
        x = x + r
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("timeframe,i0,i1", [("1d", 0, 1500), ("1h", 2500, 4000),
                                              ("4h", 1000, 1300)])
def test_kernel_matches_slow_reference(timeframe: str, i0: int, i1: int) -> None:
    tf = timeframe_ms(timeframe)
    first = sim._first_bar_ms(tf)
    fast = sim_candles("ETH/USDT", timeframe, since_ms=first + i0 * tf,
                       until_ms=first + i1 * tf, seed=11)
    slow = reference(11, "ETH/USDT", timeframe, i0, i1)
    assert len(fast) == i1 - i0
    assert np.array_equal(fast.meta["regime"], slow["regime"])
    tick = 10.0 ** -sim._params("ETH/USDT", tf, 11).decimals
    for k in ("open", "high", "low", "close"):  # equal, up to a tick where exp() rounds apart
        assert np.allclose(getattr(fast, k), slow[k], rtol=1e-12, atol=tick * 1.0001), k
        assert (getattr(fast, k) == slow[k]).mean() > 0.999
    assert np.allclose(fast.volume, slow["volume"], rtol=1e-9, atol=2e-4)
