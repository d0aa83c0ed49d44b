"""Order flow from candles (or real taker-buy volume): delta, cumulative delta, divergences."""

from __future__ import annotations

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import ParameterError
from tradebot.core.signals import Signals
from tradebot.strategies import signals as sg
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.orderflow_math import rolling_max, rolling_min, rolling_sum, shift, volume_delta
from tradebot.strategies.params import Param


def buy_volume_of(candles: Candles) -> np.ndarray | None:
    """``candles.meta["buy_volume"]`` as a float array of the candles' length, or None.

    ``Candles.slice`` slices per-bar meta arrays with the rows; an array longer than the
    candles (given by hand) is taken from its start.
    """
    raw = candles.meta.get("buy_volume")
    if raw is None:
        return None
    arr = np.asarray(raw, dtype=np.float64)
    n = len(candles)
    if arr.ndim != 1 or arr.shape[0] < n:
        raise ParameterError(
            f"strategy 'order_flow': candles.meta['buy_volume'] must be a per-bar array of at "
            f"least {n} values, got shape {arr.shape}")
    return arr[:n]


class OrderFlowStrategy(Strategy):
    """Volume delta and cumulative delta (CVD), with divergences.

    Each bar's delta is buy minus sell volume. Candles do not say who traded, so by
    default the buy share is estimated from where the close sits in the range,
    ``(close-low)/(high-low)`` (a bar without range counts as balanced). When real
    buy volume is available — ``candles.meta["buy_volume"]``, e.g. Binance's
    taker-buy base volume or aggregated trades — it is used instead
    (``delta = 2*buy - volume``). The CVD sums the delta over the last ``cvd_window``
    bars (0: anchored at the first bar).

    Buy on a bullish divergence — the low of the last ``lookback`` bars is below the
    low of the ``lookback`` bars before, made on this bar, while the CVD's low is
    higher than before (selling is drying up) — on an up bar; or (``entry=both``)
    when the net delta of the last ``smooth`` bars turns positive while the close is
    above the close ``smooth`` bars ago. Exit on the mirror images (bearish
    divergence, delta turning negative with price down); shorts use them as entries.

    Fails when the estimate is wrong (long wicks, gaps, news bars where the close
    says little about aggression) and in strong trends, where divergences repeat
    many times before a turn.
    """

    name = "order_flow"
    version = "1"
    description = "Order flow: estimated (or real) volume delta, cumulative delta divergences"
    params = {
        "cvd_window": Param("int", 100, 0, 10000, step=10,
                            description="bars summed into the cumulative delta (0: anchored)"),
        "lookback": Param("int", 20, 2, 1000, step=1, description="divergence window (bars)"),
        "smooth": Param("int", 5, 1, 200, step=1, description="bars of net delta for the turn"),
        "entry": Param("str", "both", choices=("divergence", "delta", "both"),
                       description="entry on divergence, on delta turning, or both"),
        "use_buy_volume": Param("bool", True,
                                description="use candles.meta['buy_volume'] when present"),
    }
    indicator_params = ("cvd_window", "lookback", "smooth", "use_buy_volume")
    can_short = True

    @property
    def warmup_bars(self) -> int:
        return max(int(self.cvd_window), 2 * int(self.lookback), int(self.smooth)) + 1

    def compute_indicators(self, candles: Candles) -> Indicators:
        buy = buy_volume_of(candles) if self.use_buy_volume else None
        delta = volume_delta(candles.high, candles.low, candles.close, candles.volume, buy)
        w, lb = int(self.cvd_window), int(self.lookback)
        cvd = rolling_sum(delta, w) if w > 0 else np.cumsum(delta)
        return {
            "of_delta": delta,
            "of_cvd": cvd,
            "of_flow": rolling_sum(delta, int(self.smooth)),
            "of_low": rolling_min(candles.low, lb),
            "of_high": rolling_max(candles.high, lb),
            "of_cvd_low": rolling_min(cvd, lb),
            "of_cvd_high": rolling_max(cvd, lb),
        }

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        c, lb, sm = candles.close, int(self.lookback), int(self.smooth)
        low, high = ind["of_low"], ind["of_high"]
        bull_div = sg.all_of(
            sg.in_range(candles.low, -np.inf, low),     # this bar makes the window's low
            sg.below(low, shift(low, lb)),              # a lower low than the window before
            sg.above(ind["of_cvd_low"], shift(ind["of_cvd_low"], lb)),  # CVD: a higher low
            sg.above(c, candles.open),                  # price confirms: an up bar
        )
        bear_div = sg.all_of(
            sg.in_range(candles.high, high, np.inf),
            sg.above(high, shift(high, lb)),
            sg.below(ind["of_cvd_high"], shift(ind["of_cvd_high"], lb)),
            sg.below(c, candles.open),
        )
        turn_up = sg.all_of(sg.crosses_above(ind["of_flow"], 0.0), sg.above(c, shift(c, sm)))
        turn_down = sg.all_of(sg.crosses_below(ind["of_flow"], 0.0), sg.below(c, shift(c, sm)))
        if self.entry == "divergence":
            long_in, short_in = bull_div, bear_div
        elif self.entry == "delta":
            long_in, short_in = turn_up, turn_down
        else:
            long_in, short_in = sg.any_of(bull_div, turn_up), sg.any_of(bear_div, turn_down)
        return Signals(entries=long_in, exits=short_in, short_entries=short_in, short_exits=long_in)
