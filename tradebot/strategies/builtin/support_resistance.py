"""Support and resistance: bounce off a support, or break out through a resistance."""

from __future__ import annotations

from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.indicators.chart_patterns import nearest_levels
from tradebot.strategies import signals as sg
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.orderflow_math import rolling_min, shift
from tradebot.strategies.params import Param


class SupportResistanceStrategy(Strategy):
    """Trade the nearest swing-point support and resistance, in two modes.

    Levels come from :func:`tradebot.indicators.chart_patterns.nearest_levels`: swing
    highs and lows (the extreme of ``left`` bars before and ``right`` bars after, so
    known only ``right`` bars later) from the last ``lookback`` bars, clustered within
    ``tolerance``; a cluster of at least ``min_touches`` swings is a level. At each bar
    the support is the nearest level at or below the close, the resistance the nearest
    above (a broken resistance becomes a support).

    - ``bounce`` (default): buy when the close is within ``proximity`` above a
      support that held (the bar dipped to it and closed up, close > open); exit
      when the close reaches the resistance known on the bar before, or breaks the
      support by ``margin``. Fails when supports give way in a trend: each break is a loss.
    - ``breakout``: buy when the close breaks the resistance of the bar before by
      ``margin``; exit when the close falls back below the support of the bar before
      (usually the level just broken) or below the lowest low of the last ``trail``
      bars. Fails in ranges, where breakouts fade back into the range.
    """

    name = "support_resistance"
    version = "1"
    description = "Support/resistance from swing points: bounce off support or resistance breakout"
    params = {
        "mode": Param("str", "bounce", choices=("bounce", "breakout"), description="bounce or breakout"),
        "left": Param("int", 5, 1, 100, step=1, description="swing point: bars before it"),
        "right": Param("int", 5, 1, 100, step=1, description="swing point: bars after it (delay)"),
        "lookback": Param("int", 200, 10, 5000, step=10, description="levels from the last N bars"),
        "tolerance": Param("float", 0.002, 0.0001, 0.05, step=0.0005,
                           description="swings within this fraction form one level"),
        "min_touches": Param("int", 2, 1, 20, step=1, description="swings needed for a level"),
        "proximity": Param("float", 0.003, 0.0, 0.1, step=0.001,
                           description="bounce: close within this fraction above support"),
        "margin": Param("float", 0.001, 0.0, 0.1, step=0.001,
                        description="break by this fraction of the level"),
        "trail": Param("int", 20, 2, 1000, step=1, description="breakout: exit below the N-bar low"),
    }
    indicator_params = ("left", "right", "lookback", "tolerance", "min_touches")

    def validate(self, values: dict[str, Any]) -> None:
        from tradebot.core.errors import ParameterError

        if values["left"] + values["right"] >= values["lookback"]:
            raise ParameterError(
                f"strategy 'support_resistance': left+right={values['left'] + values['right']} "
                f"must be below lookback={values['lookback']}")

    @property
    def warmup_bars(self) -> int:
        return int(self.left) + int(self.right) + 1

    def compute_indicators(self, candles: Candles) -> Indicators:
        sup, res = nearest_levels(candles.high, candles.low, candles.close, int(self.left),
                                  int(self.right), tolerance=float(self.tolerance),
                                  min_touches=int(self.min_touches), window=int(self.lookback))
        return {"support": sup, "resistance": res}

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        c, o, lo = candles.close, candles.open, candles.low
        sup, res = ind["support"], ind["resistance"]
        prev_sup, prev_res = shift(sup, 1), shift(res, 1)
        margin, prox = float(self.margin), float(self.proximity)
        support_broke = sg.below(c, prev_sup * (1 - margin))
        if self.mode == "breakout":
            entries = sg.all_of(sg.above(c, prev_res * (1 + margin)),
                                sg.below(shift(c, 1), prev_res))
            trail_low = shift(rolling_min(lo, int(self.trail)), 1)
            return Signals(entries=entries, exits=sg.any_of(support_broke, sg.below(c, trail_low)))
        entries = sg.all_of(
            sg.in_range(c, sup, sup * (1 + prox)),  # close just above the support
            sg.below(lo, sup * (1 + prox)),         # the bar tested it
            sg.above(c, o),                         # and closed up: the support held
        )
        near_res = sg.in_range(c, prev_res, np.inf)  # reached the resistance
        return Signals(entries=entries, exits=sg.any_of(near_res, support_broke))
