"""RSI mean reversion."""

from __future__ import annotations

from typing import Any

from tradebot import indicators as ta
from tradebot.core.candles import Candles
from tradebot.core.errors import ParameterError
from tradebot.core.signals import Signals
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.params import Param


class RsiStrategy(Strategy):
    """Buy when RSI is below ``lower`` at a close, sell when it is above ``upper``.

    A level test, not a cross: every close below ``lower`` while flat is an entry
    signal. Works in ranging markets; in a strong trend RSI stays extreme and the
    strategy buys a falling market or sells a rising one far too early. On futures
    it also shorts above ``upper`` and covers below ``lower``.
    """

    name = "rsi"
    version = "1"
    description = "RSI mean reversion: buy oversold (RSI < lower), sell overbought (RSI > upper)"
    params = {
        "period": Param("int", 14, 2, 200, step=1, description="RSI lookback (Wilder)"),
        "lower": Param("float", 30.0, 1, 99, step=1, description="buy when RSI < lower"),
        "upper": Param("float", 70.0, 1, 99, step=1, description="sell when RSI > upper"),
    }
    indicator_params = ("period",)
    can_short = True

    def validate(self, values: dict[str, Any]) -> None:
        if values["lower"] >= values["upper"]:
            raise ParameterError(
                f"strategy 'rsi': lower={values['lower']} must be below upper={values['upper']}"
            )

    @property
    def warmup_bars(self) -> int:
        return int(self.period) * 10  # Wilder smoothing converges slowly

    def compute_indicators(self, candles: Candles) -> Indicators:
        return {"rsi": ta.rsi(candles.close, int(self.period))}

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        r = ind["rsi"]
        low = r < self.lower  # NaN compares False: no signal during the warm-up
        high = r > self.upper
        return Signals(entries=low, exits=high, short_entries=high, short_exits=low)
