"""The feature registry: every feature kind a spec can name, with typed parameters, the
columns it produces and the history it needs.

A kind's ``warmup(params)`` is the number of bars that must precede a row for its value to
be *settled*: defined, and (for recursive indicators such as Wilder's RSI or an EMA) equal
to the value computed from any longer history within a relative 1e-10 of the seed's
influence. So a row computed from a tail of ``warmup + 1`` bars equals the same row computed
from the whole history — the property that lets paper/live compute one new bar cheaply.

Custom kinds are added with :func:`register_feature` (the look-ahead tests plant a leaking
one this way).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import ConfigError
from tradebot.ml.rolling import rolling_mean_std, rolling_sum

SETTLE_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Param:
    """A feature parameter: ``type`` is "int", "float", "ints" (a non-empty list of ints) or
    "str" (one of ``choices`` when given)."""

    type: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


Params = Mapping[str, Any]


@dataclass(frozen=True)
class FeatureKind:
    name: str
    compute: Callable[[Candles, Params], list[np.ndarray]]  # one array per column
    columns: Callable[[Params], list[str]]
    warmup: Callable[[Params], int]
    params: Mapping[str, Param] = field(default_factory=dict)
    description: str = ""
    check: Callable[[Params], str | None] | None = None  # cross-parameter rule, message or None


REGISTRY: dict[str, FeatureKind] = {}


def register_feature(name: str, *, columns: Callable[[Params], list[str]],
                     warmup: Callable[[Params], int], params: Mapping[str, Param] | None = None,
                     description: str = "", check: Callable[[Params], str | None] | None = None,
                     replace: bool = False) -> Callable[[Callable[[Candles, Params], list[np.ndarray]]],
                                                        Callable[[Candles, Params], list[np.ndarray]]]:
    """Decorator registering ``fn(candles, params) -> [array per column]`` as kind ``name``."""

    def deco(fn: Callable[[Candles, Params], list[np.ndarray]]) -> Callable[[Candles, Params], list[np.ndarray]]:
        if name in REGISTRY and not replace:
            raise ValueError(f"feature kind {name!r} is already registered")
        REGISTRY[name] = FeatureKind(name, fn, columns, warmup, dict(params or {}), description, check)
        return fn

    return deco


def unregister_feature(name: str) -> None:
    REGISTRY.pop(name, None)


def settle(alpha: float) -> int:
    """Bars after which a seed's weight ``(1 - alpha)^m`` in an exponential average is below
    ``SETTLE_TOLERANCE``."""
    return int(math.ceil(math.log(SETTLE_TOLERANCE) / math.log1p(-alpha)))


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    return np.where(b == 0, 0.0, out)


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` delayed by ``k >= 0`` bars (NaN for the first ``k``)."""
    out = np.full(x.shape[0], np.nan)
    if k < x.shape[0]:
        out[k:] = x[: x.shape[0] - k]
    return out


def _ind() -> Any:
    import tradebot.indicators as ind

    return ind


P = Param  # short alias for the tables below


def _period(default: int, minimum: int = 2) -> dict[str, Param]:
    return {"period": P("int", default, minimum, 100_000)}


# -- indicator features ---------------------------------------------------------------------

@register_feature("rsi", params=_period(14), columns=lambda p: [f"rsi_{p['period']}"],
                  warmup=lambda p: p["period"] + settle(1 / p["period"]),
                  description="Wilder's RSI, 0..100")
def _rsi(c: Candles, p: Params) -> list[np.ndarray]:
    return [_ind().rsi(c.close, p["period"])]


@register_feature("sma_dist", params=_period(20), columns=lambda p: [f"sma_dist_{p['period']}"],
                  warmup=lambda p: p["period"] - 1, description="close / SMA - 1")
def _sma_dist(c: Candles, p: Params) -> list[np.ndarray]:
    m, _ = rolling_mean_std(c.close, p["period"], 0)
    return [_safe_div(c.close, m) - 1.0]


@register_feature("ema_dist", params=_period(20), columns=lambda p: [f"ema_dist_{p['period']}"],
                  warmup=lambda p: p["period"] - 1 + settle(2 / (p["period"] + 1)),
                  description="close / EMA - 1")
def _ema_dist(c: Candles, p: Params) -> list[np.ndarray]:
    return [_safe_div(c.close, _ind().ema(c.close, p["period"])) - 1.0]


def _macd_cols(p: Params) -> list[str]:
    tag = f"{p['fast']}_{p['slow']}_{p['signal']}"
    return [f"macd_{tag}", f"macd_hist_{tag}"]


@register_feature("macd", params={"fast": P("int", 12, 2, 100_000), "slow": P("int", 26, 2, 100_000),
                                  "signal": P("int", 9, 1, 100_000)},
                  columns=_macd_cols,
                  warmup=lambda p: (p["slow"] + p["signal"] + settle(2 / (p["slow"] + 1))
                                    + settle(2 / (p["signal"] + 1))),
                  check=lambda p: None if p["fast"] < p["slow"] else
                  f"fast ({p['fast']}) must be smaller than slow ({p['slow']})",
                  description="MACD line and histogram relative to the close")
def _macd(c: Candles, p: Params) -> list[np.ndarray]:
    line, _, hist = _ind().macd(c.close, p["fast"], p["slow"], p["signal"])
    return [_safe_div(line, c.close), _safe_div(hist, c.close)]


@register_feature("bbands", params={**_period(20), "nbdev": P("float", 2.0, 0.1, 10.0)},
                  columns=lambda p: [f"bb_pctb_{p['period']}", f"bb_width_{p['period']}"],
                  warmup=lambda p: p["period"] - 1,
                  description="Bollinger %b and width (upper - lower) / middle")
def _bbands(c: Candles, p: Params) -> list[np.ndarray]:
    mid, sd = rolling_mean_std(c.close, p["period"], 0)
    upper, lower = mid + p["nbdev"] * sd, mid - p["nbdev"] * sd
    return [np.where(upper > lower, _safe_div(c.close - lower, upper - lower), 0.5),
            _safe_div(upper - lower, mid)]


@register_feature("atr", params=_period(14, 1), columns=lambda p: [f"atr_{p['period']}"],
                  warmup=lambda p: p["period"] + settle(1 / max(p["period"], 2)),
                  description="ATR / close")
def _atr(c: Candles, p: Params) -> list[np.ndarray]:
    return [_safe_div(_ind().atr(c.high, c.low, c.close, p["period"]), c.close)]


@register_feature("natr", params=_period(14, 1), columns=lambda p: [f"natr_{p['period']}"],
                  warmup=lambda p: p["period"] + settle(1 / max(p["period"], 2)),
                  description="normalized ATR, 100 * ATR / close")
def _natr(c: Candles, p: Params) -> list[np.ndarray]:
    return [_ind().natr(c.high, c.low, c.close, p["period"])]


@register_feature("adx", params=_period(14), columns=lambda p: [f"adx_{p['period']}", f"di_diff_{p['period']}"],
                  warmup=lambda p: 2 * p["period"] + 2 * settle(1 / p["period"]),
                  description="ADX and +DI - -DI")
def _adx(c: Candles, p: Params) -> list[np.ndarray]:
    adx, plus, minus = _ind().adx(c.high, c.low, c.close, p["period"])
    return [adx, plus - minus]


@register_feature("stoch", params={"fastk": P("int", 14, 1, 100_000), "slowk": P("int", 3, 1, 100_000),
                                   "slowd": P("int", 3, 1, 100_000)},
                  columns=lambda p: [f"stoch_k_{p['fastk']}", f"stoch_d_{p['fastk']}"],
                  warmup=lambda p: p["fastk"] + p["slowk"] + p["slowd"],
                  description="slow stochastic %K and %D")
def _stoch(c: Candles, p: Params) -> list[np.ndarray]:
    k, d = _ind().stoch(c.high, c.low, c.close, p["fastk"], p["slowk"], p["slowd"])
    return [k, d]


def _simple(name: str, default: int, fn: Callable[[Candles, int], np.ndarray], description: str) -> None:
    register_feature(name, params=_period(default), columns=lambda p: [f"{name}_{p['period']}"],
                     warmup=lambda p: p["period"], description=description)(
        lambda c, p: [fn(c, p["period"])])


_simple("cci", 20, lambda c, n: _ind().cci(c.high, c.low, c.close, n), "Commodity Channel Index")
_simple("mfi", 14, lambda c, n: _ind().mfi(c.high, c.low, c.close, c.volume, n), "Money Flow Index, 0..100")
_simple("roc", 10, lambda c, n: _ind().roc(c.close, n), "rate of change, percent")
_simple("willr", 14, lambda c, n: _ind().willr(c.high, c.low, c.close, n), "Williams %R, -100..0")


@register_feature("obv_slope", params=_period(20, 1), columns=lambda p: [f"obv_slope_{p['period']}"],
                  warmup=lambda p: p["period"],
                  description="OBV change over the window / volume traded in it (-1..1)")
def _obv_slope(c: Candles, p: Params) -> list[np.ndarray]:
    n = p["period"]
    signed = np.sign(np.diff(c.close, prepend=np.nan)) * c.volume  # OBV's increments
    return [_safe_div(rolling_sum(signed, n), rolling_sum(c.volume, n))]


# -- price, volatility, volume, shape, time ---------------------------------------------------

def _ints(default: list[int], minimum: int = 1) -> Param:
    """A non-empty list of whole numbers in [minimum, 100000]."""
    return P("ints", default, minimum, 100_000)


@register_feature("returns", params={"periods": _ints([1, 4, 24])},
                  columns=lambda p: [f"ret_{h}" for h in p["periods"]],
                  warmup=lambda p: max(p["periods"]), description="log return over each horizon")
def _returns(c: Candles, p: Params) -> list[np.ndarray]:
    logc = np.log(c.close)
    return [logc - _shift(logc, h) for h in p["periods"]]


@register_feature("volatility", params={"windows": _ints([24], 2)},
                  columns=lambda p: [f"rvol_{w}" for w in p["windows"]],
                  warmup=lambda p: max(p["windows"]),
                  description="realised volatility: std of 1-bar log returns over each window")
def _volatility(c: Candles, p: Params) -> list[np.ndarray]:
    r = np.diff(np.log(c.close), prepend=np.nan)
    return [rolling_mean_std(r, w, 1)[1] for w in p["windows"]]


@register_feature("volume_z", params={"windows": _ints([24], 2)},
                  columns=lambda p: [f"vol_z_{w}" for w in p["windows"]],
                  warmup=lambda p: max(p["windows"]) - 1,
                  description="z-score of log(1 + volume) against each window (0 on a flat window)")
def _volume_z(c: Candles, p: Params) -> list[np.ndarray]:
    lv = np.log1p(np.maximum(c.volume, 0.0))
    out = []
    for w in p["windows"]:
        m, s = rolling_mean_std(lv, w, 0)
        out.append(np.where(s > 1e-12 * np.maximum(np.abs(m), 1.0), _safe_div(lv - m, s),
                            np.where(np.isnan(s), np.nan, 0.0)))
    return out


@register_feature("candle", columns=lambda p: ["body", "upper_wick", "lower_wick", "range"],
                  warmup=lambda p: 0,
                  description="body and wicks relative to the bar's range, and log(high / low)")
def _candle(c: Candles, p: Params) -> list[np.ndarray]:
    rng = c.high - c.low
    top, bottom = np.maximum(c.open, c.close), np.minimum(c.open, c.close)
    return [_safe_div(c.close - c.open, rng), _safe_div(c.high - top, rng), _safe_div(bottom - c.low, rng),
            np.log(_safe_div(c.high, c.low))]


_DAY_MS, _WEEK_MS = 86_400_000, 7 * 86_400_000


@register_feature("time", columns=lambda p: ["hour_sin", "hour_cos", "dow_sin", "dow_cos"],
                  warmup=lambda p: 0,
                  description="time of day and of week (UTC, at the bar's open) as sin/cos")
def _time(c: Candles, p: Params) -> list[np.ndarray]:
    ts = c.timestamp.astype(np.int64)
    day = 2 * np.pi * (ts % _DAY_MS) / _DAY_MS
    week = 2 * np.pi * ((ts + 3 * _DAY_MS) % _WEEK_MS) / _WEEK_MS  # 1970-01-01 was a Thursday
    return [np.sin(day), np.cos(day), np.sin(week), np.cos(week)]


@register_feature("column", params={"name": P("str", ""), "warmup": P("int", 0, 0, 1_000_000)},
                  columns=lambda p: [p["name"]], warmup=lambda p: p["warmup"],
                  check=lambda p: None if p["name"] else "name must name a per-bar column of the candles",
                  description="a per-bar column carried with the candles (candles.meta), already aligned")
def _column(c: Candles, p: Params) -> list[np.ndarray]:
    v = c.meta.get(p["name"])
    if not isinstance(v, np.ndarray) or v.shape[:1] != (len(c),):
        have = sorted(k for k, a in c.meta.items() if isinstance(a, np.ndarray) and a.shape[:1] == (len(c),))
        raise ConfigError(f"feature 'column': the candles have no per-bar column {p['name']!r} "
                          f"(they have: {', '.join(have) or 'none'})")
    return [np.asarray(v, dtype=np.float64)]
