"""The Strategy base class: declared parameters, indicators, vectorized signals.

A strategy computes its indicators for a whole history (``compute_indicators``) and
turns them into per-bar :class:`~tradebot.core.signals.Signals` (``signals_from``),
both over numpy arrays so the same code serves a backtest over a million bars, a
parameter sweep and one new bar in paper trading. The convenience methods of the
original plan (``calculate_indicators(df)``, ``generate_signal(df)``,
``backtest(df, initial_capital)``) are built on those two.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.strategies.params import Param, unknown_parameter

if TYPE_CHECKING:
    import pandas as pd

    from tradebot.engine.config import EngineConfig
    from tradebot.engine.result import BacktestResult

Indicators = dict[str, np.ndarray]


class Strategy(ABC):
    """Base class of every strategy. Subclasses declare ``name``, ``version``,
    ``description`` and ``params``, and implement the two abstract methods."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    #: Parameters that change the indicators (the rest only change the signals);
    #: sweeps compute indicators once per distinct combination of these.
    indicator_params: ClassVar[tuple[str, ...]] = ()
    #: True when the strategy emits short signals (used on futures markets).
    can_short: ClassVar[bool] = False

    def __init__(self, **values: Any) -> None:
        self._values: dict[str, Any] = {k: p.default for k, p in self.params.items()}
        if values:
            self.set_parameters(values)

    # -- parameters -----------------------------------------------------------------
    @property
    def parameters(self) -> dict[str, Any]:
        """Current parameter values (a copy)."""
        return dict(self._values)

    def set_parameters(self, values: dict[str, Any]) -> None:
        """Validate and apply ``values`` (strings are parsed); all-or-nothing."""
        merged = dict(self._values)
        for key, raw in values.items():
            if key not in self.params:
                raise unknown_parameter(self.name, key, sorted(self.params))
            merged[key] = self.params[key].coerce(self.name, key, raw)
        self.validate(merged)
        self._values = merged

    def validate(self, values: dict[str, Any]) -> None:
        """Cross-parameter checks (e.g. ``lower < upper``); raise ParameterError."""
        return None

    def __getattr__(self, item: str) -> Any:
        values = self.__dict__.get("_values")
        if values is not None and item in values:
            return values[item]
        raise AttributeError(item)

    @classmethod
    def parameter_schema(cls) -> dict[str, dict[str, Any]]:
        return {k: p.to_schema() for k, p in cls.params.items()}

    @property
    def warmup_bars(self) -> int:
        """Bars of history needed before signals are meaningful (for paper/live)."""
        return 0

    # -- the two methods a strategy implements ----------------------------------------
    @abstractmethod
    def compute_indicators(self, candles: Candles) -> Indicators:
        """Indicator arrays for the whole history (depends on ``indicator_params`` only)."""

    @abstractmethod
    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        """Per-bar signals, from the candles and the indicators; no look-ahead."""

    # -- conveniences ----------------------------------------------------------------
    def signals_for(self, candles: Candles) -> Signals:
        return self.signals_from(candles, self.compute_indicators(candles))

    def calculate_indicators(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with one column per indicator added (a new frame)."""
        ind = self.compute_indicators(Candles.from_frame(df))
        return df.assign(**ind)

    def signals(self, df: pd.DataFrame) -> Signals:
        """Vectorized signals for every bar of ``df`` (the engine's input)."""
        return self.signals_for(Candles.from_frame(df))

    def generate_signal(self, df: pd.DataFrame) -> int:
        """The signal at the close of the last bar: 1 buy, -1 sell, 0 hold."""
        return self.signals(df).last()

    def backtest(
        self, df: pd.DataFrame, initial_capital: float = 10_000.0,
        config: EngineConfig | None = None,
    ) -> BacktestResult:
        """Run the engine over ``df`` with default execution rules (or ``config``)."""
        from dataclasses import replace

        from tradebot.engine.backtest import run_strategy
        from tradebot.engine.config import EngineConfig

        cfg = replace(config or EngineConfig(), initial_capital=initial_capital)
        return run_strategy(Candles.from_frame(df), self, cfg)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({args})"
