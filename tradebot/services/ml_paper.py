"""Paper trading with the ``ml`` strategy: the current model each run, and a record of it.

Each run of a paper account that trades a registry model resolves the model again
(:func:`tradebot.services.ml_models.resolve_model`): ``model = "NAME"`` is whatever is the
champion *now*, so a model promoted between two runs trades from the next run on, and
``NAME:VERSION`` stays on that version. The features are built by the model's spec over the
account's whole history (the very function, and the very rows, a backtest over the same
history uses), the model predicts the candles this run processes, and one
:class:`~tradebot.data.ml_decisions.Decision` per processed candle records which model
version gave which probability and signal; the paper run stores them in its own
transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.services.context import Context
from tradebot.services.ml_models import resolve_model, uses_model

if TYPE_CHECKING:
    from tradebot.data.ml_decisions import Decision
    from tradebot.strategies.base import Strategy


def paper_signals(ctx: Context, strategy: Strategy, symbol: str, timeframe: str, candles: Candles,
                  start: int) -> tuple[Signals, list[Decision], str | None]:
    """``(signals, decisions, model ref)`` for a paper run processing bars ``[start, n)``;
    a strategy without a model: its own signals, no decisions, None."""
    if not uses_model(strategy):
        return strategy.signals_for(candles), [], None
    from tradebot.data.ml_decisions import Decision

    model = resolve_model(ctx, str(strategy.parameters.get("model", "")), symbol=symbol, timeframe=timeframe,
                          keep_form=True)
    strategy.bind(model)  # type: ignore[attr-defined]
    others = None
    if model.spec.symbols:  # other symbols' columns: their candles from the same source, same span
        from tradebot.services.market import Market
        from tradebot.services.train import other_symbols

        sim = candles.source == "sim"
        market = Market("sim" if sim else candles.exchange, symbol, timeframe, sim=sim)
        others = other_symbols(ctx, market, model.spec, candles)
    proba = model.predict(candles, first=start, strict=False, others=others)
    ind = model.indicators(candles, proba)  # a meta model: its base strategy's signals too
    proba = ind["proba"]
    signals = strategy.signals_from(candles, ind)
    ts = candles.timestamp
    decisions = []
    for t in range(start, len(candles)):
        signal = 1 if signals.entries[t] else (-1 if signals.exits[t] else 0)
        p = float(proba[t])
        decisions.append(Decision(int(ts[t]), model.name, model.version, model.sha256,
                                  p if np.isfinite(p) else None, signal))
    return signals, decisions, model.ref
