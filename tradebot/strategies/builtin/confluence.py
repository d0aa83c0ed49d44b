"""Confluence: enter when several independent oversold/turn signals agree."""

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

PATTERN_SETS = {"engulfing+hammer": ("engulfing", "hammer"), "engulfing": ("engulfing",),
                "hammer": ("hammer",), "none": ()}


def bullish_patterns(candles: Candles, names: tuple[str, ...]) -> np.ndarray | None:
    """1.0 where any of the candlestick patterns ``names`` is bullish, else 0.0.

    None when ``tradebot.indicators.candlestick.pattern`` is not available (the vote
    is then skipped) or no pattern is asked for.
    """
    if not names:
        return None
    try:
        from tradebot.indicators.candlestick import pattern
    except ImportError:
        return None
    out = np.zeros(len(candles), dtype=np.bool_)
    for name in names:
        values = pattern(name, candles.open, candles.high, candles.low, candles.close)
        out |= sg.pattern_present(np.asarray(values), "bullish")
    return out.astype(np.float64)


class ConfluenceStrategy(Strategy):
    """Vote of four signals; enter when at least ``min_votes`` agree on a bar.

    The votes: RSI below ``rsi_oversold``; close below the lower Bollinger band;
    a bullish candlestick pattern (engulfing and/or hammer, when the candlestick
    library is available — otherwise that vote is skipped, not counted as "no");
    the MACD histogram rising. Exit when RSI rises above ``rsi_exit`` or the MACD
    line crosses below its signal line.

    Requiring agreement filters out many single-indicator false alarms, but the votes
    are not independent (RSI and the band both measure how far price fell), so in a
    crash they agree all the way down; too high ``min_votes`` leaves almost no trades.
    """

    name = "confluence"
    version = "1"
    description = "Confluence: RSI, Bollinger, candlestick and MACD votes; enter on min_votes"
    params = {
        "min_votes": Param("int", 2, 1, 4, step=1, description="votes needed to enter"),
        "rsi_period": Param("int", 14, 2, 200, step=1, description="RSI lookback"),
        "rsi_oversold": Param("float", 35.0, 1, 99, step=1, description="vote when RSI < this"),
        "rsi_exit": Param("float", 60.0, 1, 99, step=1, description="exit when RSI > this"),
        "bb_period": Param("int", 20, 2, 400, step=1, description="Bollinger period"),
        "bb_std": Param("float", 2.0, 0.1, 10.0, step=0.1, description="Bollinger width (std devs)"),
        "macd_fast": Param("int", 12, 2, 200, step=1, description="MACD fast EMA"),
        "macd_slow": Param("int", 26, 3, 400, step=1, description="MACD slow EMA"),
        "macd_signal": Param("int", 9, 2, 200, step=1, description="MACD signal EMA"),
        "patterns": Param("str", "engulfing+hammer", choices=tuple(PATTERN_SETS),
                          description="bullish candlestick patterns that vote"),
    }
    indicator_params = ("rsi_period", "bb_period", "bb_std", "macd_fast", "macd_slow",
                        "macd_signal", "patterns")

    def validate(self, values: dict[str, Any]) -> None:
        if values["macd_fast"] >= values["macd_slow"]:
            raise ParameterError(f"strategy 'confluence': macd_fast={values['macd_fast']} must be "
                                 f"below macd_slow={values['macd_slow']}")
        if values["rsi_oversold"] >= values["rsi_exit"]:
            raise ParameterError(f"strategy 'confluence': rsi_oversold={values['rsi_oversold']} "
                                 f"must be below rsi_exit={values['rsi_exit']}")
        votes = 3 if values["patterns"] == "none" else 4
        if values["min_votes"] > votes:
            raise ParameterError(f"strategy 'confluence': min_votes={values['min_votes']} but only "
                                 f"{votes} votes with patterns={values['patterns']}")

    @property
    def warmup_bars(self) -> int:
        return max(int(self.rsi_period) * 10, (int(self.macd_slow) + int(self.macd_signal)) * 5,
                   int(self.bb_period))

    def compute_indicators(self, candles: Candles) -> Indicators:
        c = candles.close
        upper, middle, lower = ta.bbands(c, int(self.bb_period), float(self.bb_std),
                                         float(self.bb_std))
        line, sig, hist = ta.macd(c, int(self.macd_fast), int(self.macd_slow), int(self.macd_signal))
        ind = {"rsi": ta.rsi(c, int(self.rsi_period)), "bb_lower": lower, "bb_middle": middle,
               "bb_upper": upper, "macd": line, "macd_signal": sig, "macd_hist": hist}
        bull = bullish_patterns(candles, PATTERN_SETS[str(self.patterns)])
        if bull is not None:
            ind["candle_bullish"] = bull
        return ind

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        votes = [
            sg.below(ind["rsi"], float(self.rsi_oversold)),
            sg.below(candles.close, ind["bb_lower"]),
            sg.rising(ind["macd_hist"], 1),
        ]
        if "candle_bullish" in ind:
            votes.append(sg.pattern_present(ind["candle_bullish"], "bullish"))
        entries = sg.at_least(int(self.min_votes), *votes)
        exits = sg.any_of(sg.above(ind["rsi"], float(self.rsi_exit)),
                          sg.crosses_below(ind["macd"], ind["macd_signal"]))
        return Signals(entries=entries, exits=exits)
