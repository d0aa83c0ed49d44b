"""Volume profile: mean reversion to the point of control, or value-area breakout."""

from __future__ import annotations

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.strategies import signals as sg
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.orderflow_math import shift, volume_profile
from tradebot.strategies.params import Param


class VolumeProfileStrategy(Strategy):
    """Rolling volume profile from candles: point of control and value area.

    At each bar the volume of the last ``window`` candles (this one included) is
    spread over each candle's high-low range into ``bins`` price bins between the
    window's lowest low and highest high. The point of control (POC) is the bin with
    the most volume; the value area is the range around it holding ``value_area`` of
    the volume (grown one bin at a time towards the heavier side), from VAL to VAH.

    - ``reversion`` (default): buy when the close is below the value area (under VAL)
      and the bar closes up (``confirm``); sell when the close reaches the POC (close >= POC). Prices
      are assumed to return to where most volume traded. Fails when value migrates:
      in a trend the profile moves away and the position is held into losses.
    - ``breakout``: buy when the close crosses above the VAH of the bar before; sell
      when it falls back below the POC. Fails in balanced, rotating markets.

    Candles only approximate the profile (volume is assumed uniform in the range); a
    profile from trades is sharper.
    """

    name = "volume_profile"
    version = "1"
    description = "Volume profile: buy below the value area and exit at the POC, or VAH breakout"
    params = {
        "window": Param("int", 100, 10, 5000, step=10, description="bars in the rolling profile"),
        "bins": Param("int", 24, 4, 200, step=1, description="price bins of the profile"),
        "value_area": Param("float", 0.7, 0.3, 0.95, step=0.05,
                            description="share of volume in the value area"),
        "mode": Param("str", "reversion", choices=("reversion", "breakout"),
                      description="reversion to POC or value-area breakout"),
        "confirm": Param("bool", True, description="reversion: only enter on an up bar"),
    }
    indicator_params = ("window", "bins", "value_area")

    @property
    def warmup_bars(self) -> int:
        return int(self.window)

    def compute_indicators(self, candles: Candles) -> Indicators:
        poc, val, vah = volume_profile(candles.high, candles.low, candles.close, candles.volume,
                                       int(self.window), int(self.bins), float(self.value_area))
        return {"vp_poc": poc, "vp_val": val, "vp_vah": vah}

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        c = candles.close
        poc, val, vah = ind["vp_poc"], ind["vp_val"], ind["vp_vah"]
        if self.mode == "breakout":
            prev_vah = shift(vah, 1)
            entries = sg.all_of(sg.above(c, prev_vah), sg.below(shift(c, 1), prev_vah))
            return Signals(entries=entries, exits=sg.below(c, poc))
        outside = sg.below(c, val)
        entries = sg.all_of(outside, sg.above(c, candles.open)) if self.confirm else outside
        return Signals(entries=entries, exits=sg.in_range(c, poc, float("inf")))
