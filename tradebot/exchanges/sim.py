"""``sim``: the built-in deterministic synthetic market, used when nothing is cached.

The series for a given ``(seed, symbol, timeframe)`` starts at a fixed anchor
(2020-01-01T00:00:00Z) and is generated forward, so any range is an exact slice of
any wider range. The model:

* **Regimes**: a Markov chain between uptrend, downtrend and range (mean-reverting)
  regimes with persistence set in days (mean durations ~70/45/40 days), so it looks
  the same at every timeframe. Each trend regime draws its own drift strength; the
  range regime pulls the log price back to where the regime began (half-life 4 days).
* **Volatility clustering**: a GARCH(1,1) variance multiplier whose persistence and
  shock weight are scaled to the bar length (half-life ~2 weeks, vol-of-vol that does
  not vanish at 1m), times a per-regime level (downtrends are the most volatile).
* **Fat tails**: normal shocks with exponential variance mixing (Laplace-like tails).
* **Scale**: about 60-85 % annualized volatility (BTC ~65 %), per bar ``sigma*sqrt(dt)``;
  intraday and weekend seasonality of volatility and volume; a very weak (2-year
  half-life) pull towards the starting level keeps prices plausible over decades.
* **OHLC**: open = previous close; high and low are drawn from the exact distribution
  of the extremes of a Brownian bridge between open and close with the bar's
  volatility, so ``high >= max(open, close)`` and ``low <= min(open, close)``.
  Prices are rounded to 7 significant digits of the start price (a tick size).
* **Volume** rises with the volatility level and with ``|return|``, plus noise.

Randomness: independent PCG64 streams per component, derived with ``SeedSequence``
from ``seed`` and a BLAKE2 hash of ``(symbol, timeframe)`` (stable across processes,
unlike ``hash()``). The recursion runs in a numba kernel (``_simulate_nb``); about
0.3 s for the 3.2 M one-minute bars from 2020 to 2026.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import cast

import numpy as np

from tradebot._jit import njit
from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.core.timeframes import timeframe_ms

__all__ = [
    "ANCHOR_MS",
    "DEFAULT_END_MS",
    "MAX_END_MS",
    "REGIMES",
    "SIM_EXCHANGE",
    "default_range",
    "sim_candles",
]

SIM_EXCHANGE = "sim"
ANCHOR_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z: bar 0 of every sim series
DEFAULT_END_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: end of the default window
MAX_END_MS = 1_893_456_000_000  # 2030-01-01T00:00:00Z: generation stops here
REGIMES = ("uptrend", "downtrend", "range")

_MINUTE_MS = 60_000
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_WEEK_MS = 7 * _DAY_MS
_MONDAY_OFFSET_MS = 4 * _DAY_MS  # weekly bars open on Monday, like exchanges
_CHUNK = 1 << 17

# --- model constants ---------------------------------------------------------------
_REGIME_DAYS = np.array([70.0, 45.0, 40.0])  # mean regime durations
_REGIME_DRIFT = np.array([1.0, -1.1, 0.0])  # annual log drift (x 0.5..1.5 per regime)
_REGIME_VOL = np.array([0.9, 1.35, 0.6])  # volatility multiplier per regime
_REGIME_NEXT = np.array([  # where a regime goes when it ends
    [0.0, 0.35, 0.65],
    [0.35, 0.0, 0.65],
    [0.5, 0.5, 0.0],
])
_RANGE_HALF_LIFE_DAYS = 4.0
_LEVEL_HALF_LIFE_DAYS = 365.0
_GARCH_TAU_DAYS = 20.0  # variance shocks decay as exp(-t/20 days)
_GARCH_ALPHA_DAILY = 0.08  # shock weight for daily bars, scaled with sqrt(bar length)
_VOLUME_VOL_ELASTICITY = 0.8
_VOLUME_SHOCK = 0.35
_VOLUME_NOISE = 0.35
_MAX_SHOCK_SQ = 50.0

# (USD price level, annual volatility, daily USD volume) for well-known bases
_KNOWN = {
    "BTC": (30_000.0, 0.68, 1.5e9), "ETH": (2_000.0, 0.78, 8e8), "BNB": (300.0, 0.70, 2e8),
    "SOL": (50.0, 0.90, 3e8), "XRP": (0.5, 0.80, 2e8), "ADA": (0.4, 0.80, 1e8),
    "DOGE": (0.08, 0.90, 1.5e8), "LTC": (90.0, 0.75, 8e7), "DOT": (6.0, 0.85, 5e7),
    "AVAX": (20.0, 0.90, 8e7), "LINK": (10.0, 0.85, 8e7), "TRX": (0.1, 0.60, 5e7),
    "FIL": (5.0, 0.90, 4e7), "XLM": (0.12, 0.80, 3e7), "ATOM": (10.0, 0.85, 4e7),
    "BCH": (250.0, 0.80, 6e7), "ETC": (20.0, 0.85, 4e7), "UNI": (6.0, 0.90, 4e7),
    "MATIC": (0.8, 0.90, 6e7), "PEPE": (1e-5, 1.10, 8e7),
}
_USD = frozenset({"USD", "USDT", "USDC", "BUSD", "DAI", "FDUSD", "TUSD", "USDP", "UST"})
_FIAT = {"EUR": 1.1, "GBP": 1.27, "JPY": 0.0068, "TRY": 0.03}


@dataclass(frozen=True)
class _Market:
    price: float
    vol: float  # annualized
    daily_notional: float  # in quote currency


def _symbol_hash(*parts: str) -> list[int]:
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=16).digest()
    return [int(w) for w in np.frombuffer(digest, dtype="<u4")]


def _unit(*parts: str) -> float:
    """A stable uniform in [0, 1) from strings."""
    w = _symbol_hash(*parts)
    return (w[0] + w[1] * 2.0**32) / 2.0**64


def _asset(name: str) -> tuple[float, float, float]:
    if name in _USD:
        return 1.0, 0.0, 0.0
    if name in _FIAT:
        return _FIAT[name], 0.1, 0.0
    if name in _KNOWN:
        return _KNOWN[name]
    u = _unit("price", name)
    return 10.0 ** (4.0 * u - 2.0), 0.85, 10.0 ** (6.0 + 2.0 * _unit("volume", name))


def _market(symbol: str) -> _Market:
    """Price level, volatility and turnover for a symbol like ``BTC/USDT[:USDT]``."""
    pair = symbol.upper().split(":")[0]
    base, _, quote = pair.partition("/")
    b_price, b_vol, b_notional = _asset(base.strip() or pair)
    q_price, q_vol, _ = _asset(quote.strip() or "USDT")
    if q_price == 1.0 and quote.strip().upper() in _USD | {""}:
        return _Market(b_price, b_vol, b_notional)
    # a cross pair (ETH/BTC): relative price, lower volatility, turnover in quote units
    vol = max(0.3, math.sqrt(max(b_vol**2 + q_vol**2 - 2 * 0.7 * b_vol * q_vol, 0.0)))
    return _Market(b_price / q_price, vol, 0.1 * b_notional / q_price)


def _check_timeframe(timeframe: str) -> int:
    tf = timeframe_ms(timeframe)
    if tf < _MINUTE_MS or tf > _WEEK_MS:
        raise UsageError(f"the sim market supports timeframes from 1m to 1w, not {timeframe!r}")
    return tf


def _first_bar_ms(tf: int) -> int:
    """Open time of bar 0: the first aligned bar at or after the anchor."""
    offset = _MONDAY_OFFSET_MS if tf == _WEEK_MS else 0
    return -(-(ANCHOR_MS - offset) // tf) * tf + offset


def _default_days(tf: int) -> int:
    if tf <= _MINUTE_MS:
        return 30
    if tf <= 5 * _MINUTE_MS:
        return 90
    if tf <= 30 * _MINUTE_MS:
        return 180
    if tf <= 2 * _HOUR_MS:
        return 730
    return 1461


def default_range(timeframe: str) -> tuple[int, int]:
    """The default ``[since_ms, until_ms)`` window for ``timeframe`` (ends 2026-01-01)."""
    tf = _check_timeframe(timeframe)
    return max(ANCHOR_MS, DEFAULT_END_MS - _default_days(tf) * _DAY_MS), DEFAULT_END_MS


def _fmt(ms: int) -> str:
    from tradebot.data.validation import format_ts

    return format_ts(ms)


def _bar_index_range(tf: int, since_ms: int | None, until_ms: int | None) -> tuple[int, int]:
    """Bar indices ``[i0, i1)`` (bar 0 opens at ``_first_bar_ms``) for the request."""
    days = _default_days(tf) * _DAY_MS
    if until_ms is None:
        until_ms = DEFAULT_END_MS if since_ms is None or since_ms < DEFAULT_END_MS \
            else min(since_ms + days, MAX_END_MS)
    if since_ms is None:
        since_ms = max(ANCHOR_MS, until_ms - days)
    since_ms, until_ms = int(since_ms), int(until_ms)
    if since_ms < ANCHOR_MS:
        raise UsageError(
            f"the sim market starts at {_fmt(ANCHOR_MS)}; since {_fmt(since_ms)} is earlier"
        )
    if until_ms > MAX_END_MS:
        raise UsageError(
            f"the sim market ends at {_fmt(MAX_END_MS)}; until {_fmt(until_ms)} is later"
        )
    first = _first_bar_ms(tf)
    i0 = max(0, -(-(since_ms - first) // tf))  # first bar opening at or after since
    i1 = max(0, -(-(until_ms - first) // tf))  # bars opening before until (exclusive)
    return i0, max(i0, i1)


@dataclass(frozen=True)
class _Params:
    """Per-bar model parameters for one (symbol, timeframe)."""

    dt_years: float
    base_var: float  # per-bar variance of the GARCH multiplier's mean level
    p_switch: np.ndarray  # per-bar probability of leaving each regime
    next_cum: np.ndarray  # cumulative transition rows
    drift: np.ndarray  # per-bar drift per regime (before the 0.5..1.5 scale)
    vol_mult: np.ndarray
    range_pull: float
    level_pull: float
    omega: float
    alpha: float
    beta: float
    log_volume: float  # log of the mean volume (base units) of one bar at the start price
    x0: float  # log start price
    regime0: int
    decimals: int
    intraday_amp: float  # cosine amplitude of the hour-of-day effect (0 for >= 1d)
    weekend: bool  # weekend effect applies (bars up to 1d)


def _stationary_share() -> np.ndarray:
    """Long-run share of time in each regime (jump-chain stationary law x durations)."""
    vals, vecs = np.linalg.eig(_REGIME_NEXT.T)
    q = np.real(vecs[:, int(np.argmin(np.abs(vals - 1.0)))])
    q = q / q.sum()
    share = q * _REGIME_DAYS
    return share / share.sum()


def _params(symbol: str, tf: int, seed: int) -> _Params:
    m = _market(symbol)
    dt_days = tf / _DAY_MS
    dt_years = dt_days / 365.0
    share = _stationary_share()
    base_var_year = m.vol**2 / float(share @ _REGIME_VOL**2)
    phi = math.exp(-dt_days / _GARCH_TAU_DAYS)
    alpha = min(_GARCH_ALPHA_DAILY * math.sqrt(dt_days), 0.5 * phi)
    init = np.random.Generator(np.random.PCG64(_seed_sequence(seed, symbol, tf).spawn(8)[7]))
    u_price, u_regime = init.random(2)
    price = m.price * math.exp(0.1 * (u_price - 0.5) * 2.0)  # +-10 % per seed
    regime0 = int(np.searchsorted(np.cumsum(share), u_regime, side="right"))
    decimals = int(min(12, max(0, 6 - math.floor(math.log10(price)))))
    bar_hours = tf / _HOUR_MS
    amp = 0.0
    if tf < _DAY_MS:  # average of the hour-of-day cosine over the bar
        x = math.pi * bar_hours / 24.0
        amp = math.sin(x) / x
    volume_bar = max(m.daily_notional, 1e3) / price * dt_days
    return _Params(
        dt_years=dt_years,
        base_var=base_var_year * dt_years,
        p_switch=1.0 - np.exp(-dt_days / _REGIME_DAYS),
        next_cum=np.cumsum(_REGIME_NEXT, axis=1),
        drift=_REGIME_DRIFT * dt_years,
        vol_mult=_REGIME_VOL.copy(),
        range_pull=1.0 - math.exp(-math.log(2) * dt_days / _RANGE_HALF_LIFE_DAYS),
        level_pull=1.0 - math.exp(-math.log(2) * dt_days / _LEVEL_HALF_LIFE_DAYS),
        omega=1.0 - phi,
        alpha=alpha,
        beta=phi - alpha,
        log_volume=math.log(volume_bar),
        x0=math.log(price),
        regime0=min(regime0, 2),
        decimals=decimals,
        intraday_amp=amp,
        weekend=tf <= _DAY_MS,
    )


def _seed_sequence(seed: int, symbol: str, tf: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), *_symbol_hash("tradebot-sim", symbol, str(tf))])


# stream indices
_S_NORMAL, _S_MIX, _S_SWITCH, _S_DRIFT, _S_HIGH, _S_LOW, _S_VOLUME = range(7)


def _streams(seed: int, symbol: str, tf: int) -> list[np.random.Generator]:
    children = _seed_sequence(seed, symbol, tf).spawn(8)
    return [np.random.Generator(np.random.PCG64(c)) for c in children[:7]]


def _seasonality(ts: np.ndarray, tf: int, p: _Params) -> tuple[np.ndarray, np.ndarray]:
    """Volatility and volume multipliers from hour of day (US afternoon busiest) and weekday."""
    n = ts.shape[0]
    vol = np.ones(n)
    volume = np.ones(n)
    if p.intraday_amp > 0.0:
        mid_hour = ((ts + tf // 2) % _DAY_MS) / _HOUR_MS
        c = p.intraday_amp * np.cos(2.0 * np.pi * (mid_hour - 15.0) / 24.0)
        vol *= 1.0 + 0.25 * c
        volume *= 1.0 + 0.35 * c
    if p.weekend:
        weekday = ((ts // _DAY_MS) + 3) % 7  # 0 = Monday (the epoch was a Thursday)
        is_weekend = weekday >= 5
        vol *= np.where(is_weekend, 0.8, 1.08)
        volume *= np.where(is_weekend, 0.7, 1.12)
    return vol, volume


def _season_tables(tf: int, p: _Params) -> tuple[np.ndarray, np.ndarray]:
    """Seasonality is periodic in a week: tabulate it once per bar phase.

    Bar ``k`` (global index) uses entry ``k % len(table)``.
    """
    first = _first_bar_ms(tf)
    period = _WEEK_MS // math.gcd(_WEEK_MS, tf)
    return _seasonality(first + np.arange(period, dtype=np.int64) * tf, tf, p)


@njit(cache=True)
def _simulate_nb(k0, z, mix, u_switch, u_drift, u_high, u_low, u_volume, season_vol,
                 season_volume, emit_from, state, p_switch, next_cum, drift, vol_mult,
                 base_var, range_pull, level_pull, x0, omega, alpha, beta, log_volume,
                 decimals, out_open, out_high, out_low, out_close, out_volume, out_regime):
    """Advance the market by ``len(z)`` bars (global indices from ``k0``); write bars
    ``>= emit_from`` (chunk-local) to the outputs, rounded to ``decimals``.

    ``state`` = [log price, GARCH multiplier, regime, range anchor, drift scale, last
    close], updated in place. ``u_high/u_low/u_volume`` and the outputs are indexed from
    ``emit_from``: bars before it are only advanced, their extremes never drawn.
    """
    x = state[0]
    h = state[1]
    reg = int(state[2])
    anchor = state[3]
    scale = state[4]
    last_close = state[5]
    q = 10.0 ** decimals
    period = season_vol.shape[0]
    for i in range(z.shape[0]):
        u = u_switch[i]
        if u < p_switch[reg]:
            v = u / p_switch[reg]
            new = 0
            while new < 2 and v >= next_cum[reg, new]:
                new += 1
            reg = new
            anchor = x
            scale = 0.5 + u_drift[i]
        shock = z[i] * math.sqrt(-math.log1p(-mix[i]))  # normal x sqrt(Exp(1)): unit variance
        k = (k0 + i) % period
        sigma = math.sqrt(base_var * h) * vol_mult[reg] * season_vol[k]
        mu = drift[reg] * scale - level_pull * (x - x0)
        if reg == 2:
            mu -= range_pull * (x - anchor)
        r = mu + sigma * shock
        xc = x + r
        j = i - emit_from
        if j >= 0:
            if j == 0:
                last_close = np.rint(math.exp(x) * q) / q
            s2 = 2.0 * sigma * sigma
            up = 0.5 * (r + math.sqrt(r * r - s2 * math.log1p(-u_high[j])))
            down = 0.5 * (r - math.sqrt(r * r - s2 * math.log1p(-u_low[j])))
            o = last_close
            c = np.rint(math.exp(xc) * q) / q
            hi = max(np.rint(math.exp(x + up) * q) / q, o, c)
            lo = min(np.rint(math.exp(x + down) * q) / q, o, c)
            out_open[j] = o
            out_close[j] = c
            out_high[j] = hi
            out_low[j] = lo
            uv = min(max(u_volume[j], 1e-12), 1.0 - 1e-12)
            noise = math.log(uv / (1.0 - uv)) * 0.5513288954217921  # logistic, unit variance
            lv = (log_volume - x + x0
                  + 0.8 * (0.5 * math.log(h) + math.log(vol_mult[reg]))
                  + 0.35 * (abs(shock) - 0.8)
                  + 0.35 * noise)
            out_volume[j] = np.rint(math.exp(lv) * season_volume[k] * 1e4) / 1e4
            out_regime[j] = reg
            last_close = c
        sq = shock * shock
        if sq > 50.0:
            sq = 50.0
        h = omega + alpha * h * sq + beta * h
        x = xc
    state[0] = x
    state[1] = h
    state[2] = reg
    state[3] = anchor
    state[4] = scale
    state[5] = last_close


def _generate(seed: int, symbol: str, tf: int, i0: int, i1: int) -> dict[str, np.ndarray]:
    """Bars ``[i0, i1)`` of the series (bar 0 opens at ``_first_bar_ms(tf)``)."""
    p = _params(symbol, tf, seed)
    streams = _streams(seed, symbol, tf)
    season_vol, season_volume = _season_tables(tf, p)
    n_out = i1 - i0
    out: dict[str, np.ndarray] = {
        k: np.empty(n_out) for k in ("open", "high", "low", "close", "volume")
    }
    out["regime"] = np.empty(n_out, dtype=np.int8)
    out["timestamp"] = _first_bar_ms(tf) + np.arange(i0, i1, dtype=np.int64) * tf
    state = np.array([p.x0, 1.0, float(p.regime0), p.x0, 1.0, 0.0])
    for a in range(0, i1, _CHUNK):
        b = min(i1, a + _CHUNK)
        n = b - a
        skip = min(max(i0 - a, 0), n)  # bars of this chunk before the requested range
        z = streams[_S_NORMAL].standard_normal(n)
        mix = streams[_S_MIX].random(n)
        u_switch = streams[_S_SWITCH].random(n)
        u_drift = streams[_S_DRIFT].random(n)
        uniforms = []
        for s in (_S_HIGH, _S_LOW, _S_VOLUME):  # one 64-bit draw per double: skippable
            cast(np.random.PCG64, streams[s].bit_generator).advance(skip)
            uniforms.append(streams[s].random(n - skip))
        lo, hi = max(a, i0) - i0, max(b, i0) - i0
        _simulate_nb(a, z, mix, u_switch, u_drift, uniforms[0], uniforms[1], uniforms[2],
                     season_vol, season_volume, skip, state, p.p_switch, p.next_cum,
                     p.drift, p.vol_mult, p.base_var, p.range_pull, p.level_pull, p.x0,
                     p.omega, p.alpha, p.beta, p.log_volume, p.decimals,
                     out["open"][lo:hi], out["high"][lo:hi], out["low"][lo:hi],
                     out["close"][lo:hi], out["volume"][lo:hi], out["regime"][lo:hi])
    return out


def sim_candles(symbol: str = "BTC/USDT", timeframe: str = "1h", since_ms: int | None = None,
                until_ms: int | None = None, seed: int = 42) -> Candles:
    """Deterministic synthetic candles for ``[since_ms, until_ms)`` (exchange/source "sim").

    Defaults: a window ending 2026-01-01T00:00:00Z of 30 days (1m), 90 days (3m, 5m),
    180 days (15m, 30m), 2 years (1h, 2h) or 4 years (4h and longer). With only
    ``since_ms`` the window runs to 2026-01-01 (or one default length if later, clipped
    to 2030-01-01); with only ``until_ms`` it is one default length back (clipped to
    2020-01-01). ``since_ms`` is rounded up to the next bar open; ``until_ms`` is
    exclusive. Supported: 1m to 1w, from 2020-01-01 to
    2030-01-01. ``meta`` holds ``seed``, ``regime`` (each bar's index into ``REGIMES``,
    int8: ground truth for regime models) and ``gap_report`` (the output is validated).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise UsageError(f"invalid sim seed {seed!r}: expected a non-negative integer")
    if not isinstance(symbol, str) or not symbol.strip():
        raise UsageError(f"invalid symbol {symbol!r}")
    tf = _check_timeframe(timeframe)
    i0, i1 = _bar_index_range(tf, since_ms, until_ms)
    raw = _generate(int(seed), symbol, tf, i0, i1)
    candles = Candles(
        raw["timestamp"], raw["open"], raw["high"], raw["low"], raw["close"], raw["volume"],
        exchange=SIM_EXCHANGE, symbol=symbol, timeframe=timeframe, source="sim",
        meta={"seed": int(seed), "regime": raw["regime"], "regimes": REGIMES},
    )
    if len(candles):
        from tradebot.data.validation import validate_candles

        candles.meta["gap_report"] = validate_candles(candles, f"sim {symbol} {timeframe}", tf)
    return candles
