"""Ichimoku Cloud trend following."""

from __future__ import annotations

from typing import Any

import numpy as np

from tradebot import indicators as ta
from tradebot.core.candles import Candles
from tradebot.core.errors import ParameterError
from tradebot.core.signals import Signals
from tradebot.strategies import signals as sg
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.params import Param
from tradebot.strategies.series import shift


class IchimokuStrategy(Strategy):
    """Tenkan/Kijun cross in the direction of the cloud.

    Buy when the Tenkan-sen crosses above the Kijun-sen while the close is above the
    cloud (both Senkou spans); with ``chikou`` also require the close to be above the
    close ``displacement`` bars ago (the lagging span above price). Exit when the
    Tenkan crosses back below the Kijun or the close falls into/below the cloud
    (``exit_on_cloud``). Shorts mirror it on futures.

    A slow trend filter: it works in long, clean trends and gives back a lot at
    turning points (the lines lag by half their period). In ranges price sits in the
    thin cloud and the crosses whipsaw; on low timeframes the defaults (9/26/52,
    designed for daily bars) react to noise.
    """

    name = "ichimoku"
    version = "1"
    description = "Ichimoku Cloud: Tenkan/Kijun cross with price beyond the cloud"
    params = {
        "tenkan": Param("int", 9, 2, 200, step=1, description="Tenkan-sen (conversion) period"),
        "kijun": Param("int", 26, 3, 400, step=1, description="Kijun-sen (base) period"),
        "senkou": Param("int", 52, 4, 800, step=1, description="Senkou span B period"),
        "displacement": Param("int", 26, 1, 400, step=1,
                              description="cloud shift forward / chikou lag, in bars"),
        "chikou": Param("bool", True, description="require close above close[t-displacement]"),
        "exit_on_cloud": Param("bool", True, description="also exit when close enters the cloud"),
    }
    indicator_params = ("tenkan", "kijun", "senkou", "displacement")
    can_short = True

    def validate(self, values: dict[str, Any]) -> None:
        if not values["tenkan"] < values["kijun"] < values["senkou"]:
            raise ParameterError(
                f"strategy 'ichimoku': need tenkan < kijun < senkou, got tenkan={values['tenkan']}, "
                f"kijun={values['kijun']}, senkou={values['senkou']}")

    @property
    def warmup_bars(self) -> int:
        return int(self.senkou) + int(self.displacement)

    def compute_indicators(self, candles: Candles) -> Indicators:
        d = int(self.displacement)
        out = ta.ichimoku(candles.high, candles.low, candles.close, int(self.tenkan),
                          int(self.kijun), int(self.senkou), d)
        # the spans are already the cloud over bar t; the chikou comparison is the close
        # against the close ``displacement`` bars ago (known at t, no look-ahead)
        lines = {k: np.asarray(out[k], dtype=np.float64)
                 for k in ("tenkan", "kijun", "senkou_a", "senkou_b")}
        lines["chikou_ref"] = shift(candles.close, d)
        lines["cloud_top"] = np.fmax(lines["senkou_a"], lines["senkou_b"])
        lines["cloud_bottom"] = np.fmin(lines["senkou_a"], lines["senkou_b"])
        both = ~(np.isnan(lines["senkou_a"]) | np.isnan(lines["senkou_b"]))
        lines["cloud_top"][~both] = np.nan
        lines["cloud_bottom"][~both] = np.nan
        return lines

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        c = candles.close
        up = sg.crosses_above(ind["tenkan"], ind["kijun"])
        down = sg.crosses_below(ind["tenkan"], ind["kijun"])
        above_cloud = sg.above(c, ind["cloud_top"])
        below_cloud = sg.below(c, ind["cloud_bottom"])
        lag_up = sg.above(c, ind["chikou_ref"]) if self.chikou else np.ones(len(c), np.bool_)
        lag_down = sg.below(c, ind["chikou_ref"]) if self.chikou else np.ones(len(c), np.bool_)
        exit_long = sg.any_of(down, ~above_cloud & ~np.isnan(ind["cloud_top"])) \
            if self.exit_on_cloud else down
        exit_short = sg.any_of(up, ~below_cloud & ~np.isnan(ind["cloud_bottom"])) \
            if self.exit_on_cloud else up
        return Signals(
            entries=sg.all_of(up, above_cloud, lag_up),
            exits=exit_long,
            short_entries=sg.all_of(down, below_cloud, lag_down),
            short_exits=exit_short,
        )
