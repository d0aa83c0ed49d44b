"""The batch runner: whole histories through the compiled kernels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import TRADE_DTYPE, BacktestResult, blocked_to_records, fills_to_records

if TYPE_CHECKING:
    from tradebot.strategies.base import Strategy

_NO_ATR = np.zeros(0, dtype=np.float64)
_NO_SIGNAL = np.zeros(0, dtype=np.bool_)


def _bool(a: np.ndarray, n: int, what: str) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.bool_)
    if a.shape != (n,):
        raise ValueError(f"{what} has shape {a.shape}, expected ({n},)")
    return a


def atr_for(candles: Candles, config: EngineConfig) -> np.ndarray:
    """ATR array when slippage scales with volatility or fixed-risk sizing measures the
    stop distance in ATRs, else an empty array."""
    atr_sizing = config.sizing == "fixed_risk" and config.stop_loss_pct is None
    if config.slippage_atr_mult <= 0.0 and not atr_sizing:
        return _NO_ATR
    from tradebot import indicators

    return indicators.atr(candles.high, candles.low, candles.close, config.atr_period)


def _f64(a: np.ndarray, n: int, what: str) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{what} has shape {a.shape}, expected ({n},)")
    return a


def volume_for(candles: Candles) -> np.ndarray:
    """The bar volumes as the kernels take them (read only by the matching fill model)."""
    return _f64(candles.volume, len(candles), "volume")


def trades_to_records(raw: np.ndarray) -> np.ndarray:
    """The kernels' float trade rows as a TRADE_DTYPE structured array."""
    out = np.empty(raw.shape[0], dtype=TRADE_DTYPE)
    for i, name in enumerate(TRADE_DTYPE.names or ()):
        out[name] = raw[:, i]
    return out


def run_signals(candles: Candles, signals: Signals, config: EngineConfig) -> BacktestResult:
    """Simulate ``signals`` over ``candles`` under ``config``."""
    from tradebot.engine.kernels import simulate

    n = len(candles)
    shorts = config.allow_short and signals.short_entries.size > 0
    equity, raw, blocked, fills = simulate(
        np.ascontiguousarray(candles.timestamp, dtype=np.int64), candles.open, candles.high,
        candles.low, candles.close, volume_for(candles), atr_for(candles, config),
        _bool(signals.entries, n, "entries"), _bool(signals.exits, n, "exits"),
        _bool(signals.short_entries, n, "short_entries") if shorts else _NO_SIGNAL,
        _bool(signals.short_exits, n, "short_exits") if shorts else _NO_SIGNAL,
        config.to_vector(),
    )
    return BacktestResult(candles.timestamp, candles.close, equity, trades_to_records(raw),
                          config.initial_capital, blocked_to_records(blocked),
                          fills_to_records(fills))


def max_drawdown(equity: np.ndarray) -> float:
    """Largest peak-to-trough fall of ``equity`` as a fraction (one compiled pass)."""
    from tradebot.engine.kernels import max_drawdown_nb

    return float(max_drawdown_nb(np.ascontiguousarray(equity, dtype=np.float64)))


def run_strategy(candles: Candles, strategy: Strategy, config: EngineConfig) -> BacktestResult:
    """Indicators, signals and simulation of one strategy over one history."""
    return run_signals(candles, strategy.signals_for(candles), config)


def sweep(
    candles: Candles,
    strategy_cls: type[Strategy],
    param_sets: Iterable[Mapping[str, Any]],
    config: EngineConfig,
) -> np.ndarray:
    """Run many parameter sets; returns (n, 3): trades, final equity, max drawdown.

    Indicators are computed once per distinct combination of the strategy's
    ``indicator_params``; the simulations run in parallel (numba threads) and do not
    depend on the number of threads.
    """
    from tradebot.engine.kernels import sweep_nb

    sets = list(param_sets)
    n = len(candles)
    entries = np.empty((len(sets), n), dtype=np.bool_)
    exits = np.empty((len(sets), n), dtype=np.bool_)
    shorts = config.allow_short and strategy_cls.can_short
    s_entries = np.empty((len(sets) if shorts else 0, n), dtype=np.bool_)
    s_exits = np.empty_like(s_entries)
    cache: dict[tuple[Any, ...], dict[str, np.ndarray]] = {}
    for j, values in enumerate(sets):
        strategy = strategy_cls(**values)
        key = tuple(strategy.parameters[k] for k in strategy_cls.indicator_params)
        if key not in cache:
            cache[key] = strategy.compute_indicators(candles)
        sig = strategy.signals_from(candles, cache[key])
        entries[j] = sig.entries
        exits[j] = sig.exits
        if shorts:
            s_entries[j] = sig.short_entries
            s_exits[j] = sig.short_exits
    params = np.tile(config.to_vector(), (len(sets), 1))
    return sweep_nb(np.ascontiguousarray(candles.timestamp, dtype=np.int64), candles.open,
                    candles.high, candles.low, candles.close, volume_for(candles),
                    atr_for(candles, config), entries, exits, s_entries, s_exits, params)
