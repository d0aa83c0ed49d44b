"""Candlestick patterns by name: every TA-Lib ``CDL*`` function, with numba fallbacks.

Names are TA-Lib's without the ``CDL`` prefix, in lower case: ``"doji"``, ``"engulfing"``,
``"morningstar"``, ``"3whitesoldiers"``... (``"CDLDOJI"``, ``"three_white_soldiers"`` and
``"Morning Star"`` are accepted too). Results follow TA-Lib: an int32 array as long as
the input, +100 bullish, -100 bearish, 0 none (some patterns say ±80 for a weaker match
or ±200 for a confirmed one), and 0 during the lookback.

TA-Lib computes a pattern whenever it imports (and ``TRADEBOT_TALIB`` is not ``0``);
otherwise the numba kernels of :mod:`tradebot.indicators.fallback_candlestick` do, for
the patterns in :data:`FALLBACKS`. They follow TA-Lib's algorithm and agree with it
bar for bar on the real candles of the test suite.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from tradebot.indicators._backend import talib_module

__all__ = ["FALLBACKS", "PARAMS", "TALIB_PATTERNS", "all_patterns", "available_patterns",
           "has_fallback", "pattern", "pattern_names"]

#: Every pattern function of TA-Lib (0.4 to 0.6), named as here.
TALIB_PATTERNS: tuple[str, ...] = (
    "2crows", "3blackcrows", "3inside", "3linestrike", "3outside", "3starsinsouth",
    "3whitesoldiers", "abandonedbaby", "advanceblock", "belthold", "breakaway",
    "closingmarubozu", "concealbabyswall", "counterattack", "darkcloudcover", "doji",
    "dojistar", "dragonflydoji", "engulfing", "eveningdojistar", "eveningstar",
    "gapsidesidewhite", "gravestonedoji", "hammer", "hangingman", "harami", "haramicross",
    "highwave", "hikkake", "hikkakemod", "homingpigeon", "identical3crows", "inneck",
    "invertedhammer", "kicking", "kickingbylength", "ladderbottom", "longleggeddoji",
    "longline", "marubozu", "matchinglow", "mathold", "morningdojistar", "morningstar",
    "onneck", "piercing", "rickshawman", "risefall3methods", "separatinglines",
    "shootingstar", "shortline", "spinningtop", "stalledpattern", "sticksandwich", "takuri",
    "tasukigap", "thrusting", "tristar", "unique3river", "upsidegap2crows", "xsidegap3methods",
)

class _Kernels(Mapping[str, Callable[..., np.ndarray]]):
    """Pattern name -> numba kernel of :mod:`.fallback_candlestick`, imported on first use (it
    loads numba: about a second of CPU a process with TA-Lib never needs)."""

    def __init__(self, names: dict[str, str]) -> None:
        self._names = names

    def __getitem__(self, key: str) -> Callable[..., np.ndarray]:
        from tradebot.indicators import fallback_candlestick as fc

        return getattr(fc, self._names[key])  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


#: Patterns with a numba fallback.
FALLBACKS: Mapping[str, Callable[..., np.ndarray]] = _Kernels({
    "doji": "doji_nb",
    "hammer": "hammer_nb",
    "invertedhammer": "invertedhammer_nb",
    "hangingman": "hangingman_nb",
    "shootingstar": "shootingstar_nb",
    "engulfing": "engulfing_nb",
    "harami": "harami_nb",
    "piercing": "piercing_nb",
    "darkcloudcover": "darkcloudcover_nb",
    "morningstar": "morningstar_nb",
    "eveningstar": "eveningstar_nb",
    "3whitesoldiers": "threewhitesoldiers_nb",
    "3blackcrows": "threeblackcrows_nb",
})

#: Keyword parameters (with TA-Lib's defaults) of the patterns that take any.
PARAMS: dict[str, dict[str, float]] = {
    "abandonedbaby": {"penetration": 0.3},
    "darkcloudcover": {"penetration": 0.5},
    "eveningdojistar": {"penetration": 0.3},
    "eveningstar": {"penetration": 0.3},
    "mathold": {"penetration": 0.5},
    "morningdojistar": {"penetration": 0.3},
    "morningstar": {"penetration": 0.3},
}

_GROUP = "Pattern Recognition"


def _talib_names(talib: Any) -> list[str]:
    try:
        funcs = talib.get_function_groups()[_GROUP]
    except (AttributeError, KeyError):  # pragma: no cover - a stripped-down build
        return []
    return [f[3:].lower() for f in funcs if f.startswith("CDL")]


def pattern_names() -> list[str]:
    """Every pattern name, sorted: TA-Lib's ``CDL*`` functions (asked of TA-Lib when it
    is in use, else the known list) plus the fallback names. Some need TA-Lib; see
    :func:`available_patterns` and :func:`has_fallback`."""
    talib = talib_module()
    names = set(_talib_names(talib)) if talib is not None else set(TALIB_PATTERNS)
    return sorted(names | set(FALLBACKS))


def available_patterns() -> list[str]:
    """The patterns :func:`pattern` can compute now (all with TA-Lib, else the fallbacks)."""
    if talib_module() is not None:
        return pattern_names()
    return sorted(FALLBACKS)


def has_fallback(name: str) -> bool:
    """Whether pattern ``name`` has a numba fallback."""
    return _resolve(name) in FALLBACKS


def _normalize(name: str) -> str:
    key = "".join(ch for ch in name.strip().lower() if ch.isalnum())
    if key.startswith("cdl"):
        key = key[3:]
    return key.replace("three", "3").replace("two", "2")


def _resolve(name: object) -> str:
    if not isinstance(name, str):
        raise ValueError(f"candlestick pattern name must be a string, not {type(name).__name__}")
    names = pattern_names()
    key = _normalize(name)
    if key in names:
        return key
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "see pattern_names()"
    raise ValueError(f"unknown candlestick pattern {name!r}: {hint}")


def _params(key: str, params: dict[str, Any]) -> dict[str, float]:
    allowed = PARAMS.get(key, {})
    out = dict(allowed)
    for p, value in params.items():
        if p not in allowed:
            takes = f"takes only {', '.join(allowed)}" if allowed else "takes no parameters"
            raise ValueError(f"pattern {key}: unknown parameter {p!r} ({takes})")
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ValueError(f"pattern {key}: {p} must be a number, not {type(value).__name__}")
        v = float(value)
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"pattern {key}: {p} must be a finite number >= 0, got {value!r}")
        out[p] = v
    return out


def _inputs(key: str, open_: Any, high: Any, low: Any, close: Any) -> tuple[np.ndarray, ...]:
    arrays = []
    for label, x in (("open", open_), ("high", high), ("low", low), ("close", close)):
        try:
            a = np.ascontiguousarray(x, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"pattern {key}: {label} is not numeric ({e})") from None
        if a.ndim != 1:
            raise ValueError(f"pattern {key}: {label} must be 1-dimensional, got shape {a.shape}")
        arrays.append(a)
    lengths = {a.shape[0] for a in arrays}
    if len(lengths) != 1:
        got = ", ".join(f"{lab}={a.shape[0]}" for lab, a in zip(("open", "high", "low", "close"), arrays, strict=True))
        raise ValueError(f"pattern {key}: open, high, low and close must have the same length ({got})")
    return tuple(arrays)


def _first_valid(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> int:
    """The first bar where no input is NaN (where TA-Lib starts), or ``len`` if none."""
    ok = ~(np.isnan(o) | np.isnan(h) | np.isnan(lo) | np.isnan(c))
    idx = np.flatnonzero(ok)
    return int(idx[0]) if idx.size else o.shape[0]


def _compute(key: str, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray,
             params: dict[str, float], talib: Any) -> np.ndarray:
    n = o.shape[0]
    start = _first_valid(o, h, lo, c)
    if start >= n:  # empty or all NaN: TA-Lib refuses, nothing can be found
        return np.zeros(n, np.int32)
    if talib is not None:
        func = getattr(talib, "CDL" + key.upper())
        return np.asarray(func(o, h, lo, c, **params), dtype=np.int32)
    kernel = FALLBACKS.get(key)
    if kernel is None:
        raise ValueError(f"pattern {key} needs TA-Lib (no fallback yet)")
    out = np.zeros(n, np.int32)
    out[start:] = kernel(o[start:], h[start:], lo[start:], c[start:], *params.values())
    return out


def pattern(name: str, open: Any, high: Any, low: Any, close: Any, **params: Any) -> np.ndarray:
    """Candlestick pattern ``name`` on each bar: int32, +100/-100 (±80, ±200) or 0.

    ``params`` are the pattern's TA-Lib options (only ``penetration``, for the patterns
    in :data:`PARAMS`). Raises ``ValueError`` for an unknown name (with suggestions), a
    bad parameter, inputs of different lengths, or a pattern that needs TA-Lib when it
    is not in use.
    """
    key = _resolve(name)
    kw = _params(key, params)
    o, h, lo, c = _inputs(key, open, high, low, close)
    return _compute(key, o, h, lo, c, kw, talib_module())


def all_patterns(open: Any, high: Any, low: Any, close: Any) -> dict[str, np.ndarray]:
    """Every pattern that can be computed now (see :func:`available_patterns`), by name."""
    o, h, lo, c = _inputs("all_patterns", open, high, low, close)
    talib = talib_module()
    return {key: _compute(key, o, h, lo, c, dict(PARAMS.get(key, {})), talib)
            for key in available_patterns()}
