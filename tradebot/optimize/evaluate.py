"""Evaluating parameter sets: the problem every worker receives once.

A :class:`Problem` holds the candles, the strategy class, the base engine config, the
search space and the objectives. Indicators are computed once per distinct combination of
the strategy's ``indicator_params`` (:meth:`Problem.indicators`), then every trial only
derives its signals and runs the compiled batch kernel. Pickling a problem drops the
indicator cache: executors ship indicator values separately, once per key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import TradebotError
from tradebot.core.timeframes import timeframe_ms
from tradebot.engine.config import EngineConfig
from tradebot.optimize.objectives import (
    METRICS,
    ObjectiveSpec,
    daily_last_index,
    daily_returns,
    metrics_matrix,
    scores,
)

if TYPE_CHECKING:
    from tradebot.optimize.space import SearchSpace
    from tradebot.strategies.base import Strategy

IndicatorKey = tuple[Any, ...]
Indicators = dict[str, np.ndarray]
BarRange = tuple[int, int]  # bars [start, stop) (a walk-forward window is optimize.windows.Window)


@dataclass(frozen=True)
class Trials:
    """Outcome of a batch, rows in the order of the parameter sets."""

    params: list[dict[str, Any]]
    metrics: np.ndarray  # (n, len(METRICS)), NaN = undefined
    scores: np.ndarray  # (n, n_objectives), maximized, -inf = infeasible
    daily_returns: np.ndarray  # (n, n_days) simple daily returns
    errors: list[str | None]  # why a set could not run (bad parameter combination)

    @staticmethod
    def concat(parts: Sequence[Trials]) -> Trials:
        return Trials(
            [p for t in parts for p in t.params],
            np.concatenate([t.metrics for t in parts]),
            np.concatenate([t.scores for t in parts]),
            np.concatenate([t.daily_returns for t in parts]),
            [e for t in parts for e in t.errors],
        )

    def metric(self, name: str) -> np.ndarray:
        return self.metrics[:, METRICS.index(name)]


class Problem:
    """Candles + strategy + engine config + space + objectives; evaluates batches."""

    def __init__(self, candles: Candles, strategy_cls: type[Strategy], base_config: EngineConfig,
                 space: SearchSpace, spec: ObjectiveSpec, timeframe: str,
                 base_params: Mapping[str, Any] | None = None) -> None:
        self.candles = candles
        self.base_params = dict(base_params or {})
        self.strategy_cls = strategy_cls
        self.base_config = base_config
        self.space = space
        self.spec = spec
        self.timeframe = timeframe
        self._atr: dict[int, np.ndarray] = {}
        self._indicators: dict[IndicatorKey, Indicators] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_indicators"] = {}
        return state

    # ----------------------------------------------------------------- building blocks

    def build(self, values: Mapping[str, Any]) -> tuple[Strategy, EngineConfig]:
        """Strategy and engine config of one parameter set (errors are the caller's)."""
        strat_values, engine_values = self.space.split(dict(values))
        strategy = self.strategy_cls(**{**self.base_params, **strat_values})
        config = dataclasses.replace(self.base_config, **engine_values) if engine_values else self.base_config
        return strategy, config

    def indicator_key(self, strategy: Strategy) -> IndicatorKey:
        return tuple(strategy.parameters[k] for k in self.strategy_cls.indicator_params)

    def indicators(self, key: IndicatorKey, strategy: Strategy | None = None) -> Indicators:
        """Indicator arrays for ``key``, computed once per problem (per process)."""
        got = self._indicators.get(key)
        if got is None:
            if strategy is None:
                names = self.strategy_cls.indicator_params
                strategy = self.strategy_cls(**dict(zip(names, key, strict=True)))
            got = strategy.compute_indicators(self.candles)
            self._indicators[key] = got
        return got

    def add_indicators(self, shared: Mapping[IndicatorKey, Indicators]) -> None:
        """Indicator values computed elsewhere (shipped once per key by an executor)."""
        self._indicators.update(shared)

    def keys_for(self, param_sets: Sequence[Mapping[str, Any]]) -> list[IndicatorKey]:
        """The distinct indicator keys a batch needs (bad sets are skipped)."""
        keys: dict[IndicatorKey, None] = {}
        for values in param_sets:
            try:
                strategy, _ = self.build(values)
            except (TradebotError, ValueError, TypeError):
                continue
            keys.setdefault(self.indicator_key(strategy))
        return list(keys)

    def _atr_for(self, config: EngineConfig) -> np.ndarray:
        """The ATR array when ``config`` reads it (ATR slippage or ATR-based fixed risk)."""
        from tradebot.engine.backtest import atr_for

        needed = config.slippage_atr_mult > 0 or (config.sizing == "fixed_risk" and config.stop_loss_pct is None)
        if not needed:
            return np.zeros(0)
        if config.atr_period not in self._atr:
            self._atr[config.atr_period] = atr_for(self.candles, config)
        return self._atr[config.atr_period]

    # ----------------------------------------------------------------------- evaluate

    def evaluate(self, param_sets: Sequence[Mapping[str, Any]], window: BarRange) -> Trials:
        """Run every set over bars ``[start, stop)`` from a fresh account."""
        from tradebot.optimize.kernels import eval_batch

        c = self.candles
        start, stop = window
        n_sets, n = len(param_sets), len(c)
        day_last = daily_last_index(c.timestamp, start, stop)
        initial = self.base_config.initial_capital
        errors: list[str | None] = [None] * n_sets
        runnable: list[int] = []
        shorts = self.base_config.allow_short and self.strategy_cls.can_short
        entries = np.zeros((n_sets, n), dtype=np.bool_)
        exits = np.zeros((n_sets, n), dtype=np.bool_)
        s_entries = np.zeros((n_sets if shorts else 0, n), dtype=np.bool_)
        s_exits = np.zeros_like(s_entries)
        params = np.empty((n_sets, self.base_config.to_vector().shape[0]))
        atr = np.zeros(0)
        for j, values in enumerate(param_sets):
            try:
                strategy, config = self.build(values)
            except (TradebotError, ValueError, TypeError) as e:
                errors[j] = str(e).splitlines()[0] if str(e) else type(e).__name__
                params[j] = self.base_config.to_vector()
                continue
            sig = strategy.signals_from(c, self.indicators(self.indicator_key(strategy), strategy))
            entries[j], exits[j] = sig.entries, sig.exits
            if shorts and sig.short_entries.size:
                s_entries[j], s_exits[j] = sig.short_entries, sig.short_exits
            params[j] = config.to_vector()
            a = self._atr_for(config)
            if a.size:
                atr = a
            runnable.append(j)
        daily = np.full((n_sets, day_last.size), np.nan)
        stats = np.full((n_sets, 3), np.nan)
        if runnable:
            idx = np.asarray(runnable)
            d, s = eval_batch(start, stop, np.ascontiguousarray(c.timestamp, dtype=np.int64), c.open,
                              c.high, c.low, c.close, c.volume, atr, entries[idx], exits[idx],
                              s_entries[idx] if shorts else s_entries, s_exits[idx] if shorts else s_exits,
                              params[idx], day_last)
            daily[idx], stats[idx] = d, s
        tf = timeframe_ms(self.timeframe)
        span_days = (int(c.timestamp[stop - 1]) - int(c.timestamp[start]) + tf) / 86_400_000 if stop > start else 0.0
        m = metrics_matrix(daily, stats, initial, span_days, self.spec.daily_target)
        return Trials([dict(p) for p in param_sets], m, scores(m, self.spec), daily_returns(daily, initial), errors)
