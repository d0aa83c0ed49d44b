"""MACD trend following."""

from __future__ import annotations

from typing import Any

import numpy as np

from tradebot import indicators as ta
from tradebot.core.candles import Candles
from tradebot.core.errors import ParameterError
from tradebot.core.signals import Signals
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.params import Param


def cross_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where ``a`` closes above ``b`` after being at or below it on the bar before."""
    out = np.zeros(a.shape[0], dtype=np.bool_)
    out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


class MacdStrategy(Strategy):
    """Buy when the MACD line crosses above its signal line, sell when it crosses below.

    Optionally only take entries when the MACD line is below zero (``below_zero``),
    i.e. buy the turn of a pullback. Follows medium trends; whipsaws in sideways
    markets, where each false cross pays two fees.
    """

    name = "macd"
    version = "1"
    description = "MACD crossover: buy when MACD crosses above its signal line, sell below"
    params = {
        "fast": Param("int", 12, 2, 200, step=1, description="fast EMA period"),
        "slow": Param("int", 26, 3, 400, step=1, description="slow EMA period"),
        "signal": Param("int", 9, 2, 200, step=1, description="signal EMA period"),
        "below_zero": Param("bool", False, description="only enter when MACD < 0"),
    }
    indicator_params = ("fast", "slow", "signal")
    can_short = True

    def validate(self, values: dict[str, Any]) -> None:
        if values["fast"] >= values["slow"]:
            raise ParameterError(
                f"strategy 'macd': fast={values['fast']} must be below slow={values['slow']}"
            )

    @property
    def warmup_bars(self) -> int:
        return (int(self.slow) + int(self.signal)) * 5

    def compute_indicators(self, candles: Candles) -> Indicators:
        line, sig, hist = ta.macd(candles.close, int(self.fast), int(self.slow), int(self.signal))
        return {"macd": line, "macd_signal": sig, "macd_hist": hist}

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        line, sig = ind["macd"], ind["macd_signal"]
        up = cross_above(line, sig)
        down = cross_above(sig, line)
        entries = up & (line < 0) if self.below_zero else up
        return Signals(entries=entries, exits=down, short_entries=down, short_exits=up)
