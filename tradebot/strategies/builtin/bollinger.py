"""Bollinger Bands mean reversion or breakout."""

from __future__ import annotations

from tradebot import indicators as ta
from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.params import Param


class BollingerStrategy(Strategy):
    """Bollinger Bands, in two modes.

    - ``reversion`` (default): buy when the close is below the lower band, sell when it
      is back above the middle band (or the upper band, ``exit_band=upper``). Fails in
      trends, where price rides the band.
    - ``breakout``: buy when the close is above the upper band, sell when it falls
      back below the middle band. Fails in ranges, where breakouts fade.
    """

    name = "bollinger"
    version = "1"
    description = "Bollinger Bands: mean reversion from the lower band, or upper-band breakout"
    params = {
        "period": Param("int", 20, 2, 400, step=1, description="moving average period"),
        "std": Param("float", 2.0, 0.1, 10.0, step=0.1, description="band width in std devs"),
        "mode": Param("str", "reversion", choices=("reversion", "breakout"),
                      description="reversion or breakout"),
        "exit_band": Param("str", "middle", choices=("middle", "upper"),
                           description="reversion exit: middle or upper band"),
    }
    indicator_params = ("period", "std")

    @property
    def warmup_bars(self) -> int:
        return int(self.period)

    def compute_indicators(self, candles: Candles) -> Indicators:
        upper, middle, lower = ta.bbands(candles.close, int(self.period), float(self.std),
                                         float(self.std))
        return {"bb_upper": upper, "bb_middle": middle, "bb_lower": lower}

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        c = candles.close
        if self.mode == "breakout":
            return Signals(entries=c > ind["bb_upper"], exits=c < ind["bb_middle"])
        exit_line = ind["bb_upper"] if self.exit_band == "upper" else ind["bb_middle"]
        return Signals(entries=c < ind["bb_lower"], exits=c > exit_line)
