"""Indicators: TA-Lib when it imports, a tested numba fallback otherwise.

Set ``TRADEBOT_TALIB=0`` to force the fallback. Every function takes float64 numpy
arrays and returns arrays of the same length with NaN during the warm-up. The
functions live in family modules (``trend``, ``momentum``, ``volatility``, ``volume``,
``levels``); this package exposes them all by name, importing a family on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from tradebot.indicators._backend import backend, talib_module

_talib = talib_module  # the name tests clear the cache through
FAMILIES = ("trend", "momentum", "volatility", "volume", "levels", "candlestick", "chart_patterns", "swings")

__all__ = ["backend", "FAMILIES"]


def __getattr__(name: str) -> Any:
    """``tradebot.indicators.rsi`` etc.: found in the family modules, lazily."""
    if name.startswith("_"):
        raise AttributeError(name)
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"tradebot.indicators.{family}")
        except ModuleNotFoundError as e:
            if e.name == f"tradebot.indicators.{family}":
                continue
            raise
        if name in getattr(module, "__all__", ()) or (
                callable(getattr(module, name, None)) and not name.startswith("_")
                and getattr(getattr(module, name), "__module__", "") == module.__name__):
            return getattr(module, name)
    raise AttributeError(f"module 'tradebot.indicators' has no attribute {name!r}")
