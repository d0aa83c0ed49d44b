"""Meta-labelling on a built-in strategy: a model that decides whether to take its trades.

A *meta model* (``tradebot train --label meta --base rsi -p period=10``; AFML 3.6) is
trained on the base strategy's long entry signals only. The label of a signal bar says
whether the trade the engine would make from it — filled at the next open, closed at the
open after the base strategy's next exit signal — gains after the configured fee and
slippage on both sides (:func:`tradebot.ml.labels.base_exit_labels`). Trading it means the
base strategy *filtered by the model*: enter at a base entry signal only when
P(profitable) >= threshold, exit on the base strategy's own exit signals (and the engine's
stops); :func:`gated_signals`. The cross-validation trades exactly that on every test
fold and shows the base strategy alone on the same bars beside it.

Only built-in strategies can be bases (a user's strategy file may change between training
and trading; the record stores the base's name and every parameter). Short signals of the
base are not used: a meta model filters long entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.core.signals import Signals

if TYPE_CHECKING:
    from tradebot.engine.config import EngineConfig
    from tradebot.strategies.base import Strategy

#: strategies that cannot be a meta model's base
NOT_BASES = ("ml",)


def base_strategy(name: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """The built-in strategy ``name`` with ``params`` (one line for an unknown name, a
    strategy that is not built in or a bad parameter)."""
    from tradebot.strategies.registry import BUILTINS, Registry

    if not name:
        raise UsageError("meta labels need a base strategy: --base NAME (a built-in strategy, e.g. rsi)")
    if name not in BUILTINS or name in NOT_BASES:
        usable = ", ".join(sorted(n for n in BUILTINS if n not in NOT_BASES))
        raise UsageError(f"--base {name!r} is not a built-in strategy a meta model can filter (choose one of "
                         f"{usable})")
    return Registry().create(name, dict(params or {}))


def resolved_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every parameter of the base strategy (given ones over its defaults), sorted: what a
    record stores so a later change of a default cannot change the model's meaning."""
    return dict(sorted(base_strategy(name, params).parameters.items()))


def base_signals(candles: Candles, name: str, params: Mapping[str, Any] | None) -> Signals:
    """The base strategy's long entries and exits over ``candles`` (causal, as it trades)."""
    sig = base_strategy(name, params).signals_for(candles)
    n = len(candles)
    return Signals(entries=np.asarray(sig.entries, dtype=bool).reshape(n),
                   exits=np.asarray(sig.exits, dtype=bool).reshape(n))


def gated_signals(base: Signals, proba: np.ndarray, threshold: float) -> Signals:
    """The base strategy filtered by the model: its entries where P(profitable) >= threshold
    (NaN: not taken), its own exits."""
    p = np.asarray(proba, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        take = p >= threshold
    return Signals(entries=np.asarray(base.entries, dtype=bool) & take, exits=np.asarray(base.exits, dtype=bool))


def cost_per_side(config: EngineConfig) -> float:
    """What a market fill costs one way under ``config``: the taker fee plus fixed slippage
    (ATR slippage, when configured, is not in the label: it varies per bar)."""
    return float(config.taker_fee + config.slippage_bps / 10_000.0)


def only_at_entries(proba: np.ndarray, base: Signals) -> np.ndarray:
    """``proba`` where the base strategy signals an entry, NaN elsewhere (a meta model's
    probability means nothing on other bars)."""
    return np.where(np.asarray(base.entries, dtype=bool), proba, np.nan)


def describe(label: Mapping[str, Any]) -> str:
    """``rsi(lower=30, period=14, upper=70)`` for a meta record's label settings."""
    params = ", ".join(f"{k}={v}" for k, v in sorted((label.get("base_params") or {}).items()))
    return f"{label.get('base')}({params})"
