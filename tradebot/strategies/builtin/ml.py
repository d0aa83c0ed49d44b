"""The ``ml`` strategy: trade a registry model's predicted probability.

Long when P(up) at a close is at or above ``threshold``, flat again when it falls below
``exit_threshold`` (or on the configured stops). The model comes from the registry:
``model = "NAME"`` is that name's current champion, ``"NAME:VERSION"`` (or ``NAME@VERSION``)
one version. A strategy object cannot reach the store, so the service that runs it binds
the model first (:func:`tradebot.services.ml_models.bind_model`), after checking the
artifact's sha256 and that the model was trained on this symbol and timeframe.

The probabilities are the strategy's one indicator, computed by the model's own feature
spec over the candles (:meth:`tradebot.ml.model_use.UsableModel.predict`); signals are a
pure function of them, so a walk-forward backtest (probabilities from models retrained on
the preceding data, :mod:`tradebot.ml.walkforward`) goes through the same ``signals_from``.

A *meta model* (``tradebot train --label meta --base rsi``, :mod:`tradebot.ml.meta`) is
traded as its base strategy filtered by the model: the base strategy's entries where
P(profitable) >= ``threshold``, the base strategy's own exits (``exit_threshold`` is not
used: the model's probability exists only at the base strategy's entry signals).

``retrain_every``, ``train_window``, ``window`` and ``in_sample`` shape a backtest only
(:mod:`tradebot.services.ml_backtest`); paper trading always uses the registry's model as
stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import ParameterError, UsageError
from tradebot.core.signals import Signals
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.params import Param

if TYPE_CHECKING:
    from tradebot.ml.model_use import UsableModel


class MlStrategy(Strategy):
    """Enter when a registry model's P(up) passes ``threshold``; exit below ``exit_threshold``."""

    name = "ml"
    version = "1"
    description = "machine learning: long when a registry model's P(up) >= threshold, exit below exit_threshold"
    params = {
        "model": Param("str", "", description="registry model: NAME (its champion) or NAME:VERSION"),
        "threshold": Param("float", 0.55, 0.5, 0.99, step=0.01, description="enter when P(up) >= threshold"),
        "exit_threshold": Param("float", 0.5, 0.01, 0.99, step=0.01,
                                description="exit when P(up) < exit_threshold"),
        "retrain_every": Param("int", 0, 0, 100_000_000, description="backtest: bars between retrainings "
                               "(0: a tenth of the bars after the first training window)"),
        "train_window": Param("int", 0, 0, 100_000_000, description="backtest: bars of the first training "
                              "window, and of every window when rolling (0: 30 % of the bars)"),
        "window": Param("str", "expanding", choices=("expanding", "rolling"),
                        description="backtest: training window grows (expanding) or slides (rolling)"),
        "in_sample": Param("bool", False, description="backtest: the stored model as is, no retraining "
                           "(labelled IN-SAMPLE where the range overlaps its training data)"),
    }
    indicator_params = ("model", "retrain_every", "train_window", "window", "in_sample")
    #: services bind a registry model to strategies that say so (see :func:`bind_model`)
    uses_model = True

    def __init__(self, **values: Any) -> None:
        self._model: UsableModel | None = None
        super().__init__(**values)

    def validate(self, values: dict[str, Any]) -> None:
        if values["exit_threshold"] > values["threshold"]:
            raise ParameterError(f"strategy 'ml': exit_threshold={values['exit_threshold']} must not be above "
                                 f"threshold={values['threshold']}")

    # -- the model ---------------------------------------------------------------------
    def bind(self, model: UsableModel) -> None:
        """Use ``model`` (already checked: sha256, symbol and timeframe)."""
        self._model = model

    @property
    def bound_model(self) -> UsableModel | None:
        return self._model

    def _require(self) -> UsableModel:
        if self._model is None:
            what = f"model {self.model!r}" if self.model else "a model (-p model=NAME)"
            raise UsageError(f"strategy 'ml' needs {what} loaded from the registry; run it with "
                             "`tradebot backtest --strategy ml --model NAME` or `tradebot paper`")
        return self._model

    @property
    def warmup_bars(self) -> int:
        if self._model is None:
            return 0
        warmup = self._model.spec.warmup_bars
        if self._model.is_meta:  # and the history its base strategy needs
            from tradebot.ml.meta import base_strategy

            label = self._model.label
            warmup = max(warmup, base_strategy(str(label.get("base", "")), label.get("base_params")).warmup_bars)
        return warmup + 1

    # -- indicators and signals ------------------------------------------------------------
    def compute_indicators(self, candles: Candles) -> Indicators:
        model = self._require()
        return model.indicators(candles, model.predict(candles))

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        p = np.asarray(ind["proba"], dtype=np.float64)
        if "base_entries" in ind:  # a meta model: the base strategy filtered by the model
            from tradebot.ml.meta import gated_signals

            return gated_signals(Signals(ind["base_entries"], ind["base_exits"]), p, self.threshold)
        with np.errstate(invalid="ignore"):  # NaN (not settled, not predicted): no signal
            entries = p >= self.threshold
            exits = p < self.exit_threshold
        return Signals(entries=entries, exits=exits)
