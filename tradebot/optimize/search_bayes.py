"""Bayesian search: optuna's TPE sampler over an in-memory study.

Each ``ask()`` opens ``batch_size`` trials at once (the constant liar keeps a batch from
collapsing on one point) with every parameter sampled at ask time (fixed distributions);
``tell()`` completes them in ask order. Several objectives make a multi-objective study,
every direction maximized. optuna rejects infinite values, so -inf (infeasible) is told as
:data:`INFEASIBLE` and +inf as its opposite. The sampler is seeded: the same tells give the
same asks, whatever the global random or numpy state.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from tradebot.optimize.search import BatchSearcher, Params
from tradebot.optimize.space import Dimension, SearchSpace

#: the value told to optuna for an infeasible trial
INFEASIBLE = -1e12


def _distribution(d: Dimension) -> BaseDistribution:
    """ints by value, stepped floats by index (no float-step rounding inside optuna),
    continuous floats as is, bools and choices as categories."""
    if d.continuous:
        assert d.low is not None and d.high is not None
        return FloatDistribution(float(d.low), float(d.high))
    size = d.size
    assert size is not None
    if d.kind == "int":
        assert d.low is not None
        low, step = int(d.low), int(d.step or 1)
        return IntDistribution(low, low + (size - 1) * step, step=step)
    if d.kind == "float":
        return IntDistribution(0, size - 1)
    return CategoricalDistribution([d.value_at(i) for i in range(size)])


class BayesSearcher(BatchSearcher):
    def __init__(self, space: SearchSpace, n_objectives: int, seed: int, trials: int, batch_size: int) -> None:
        super().__init__(space, n_objectives, seed)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.trials = trials
        self._batch = batch_size
        self._dists = {d.name: _distribution(d) for d in space.dims}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental-feature warnings
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
            self._study = optuna.create_study(directions=["maximize"] * n_objectives, sampler=sampler)
        self._open: list[optuna.Trial] = []

    @property
    def budget(self) -> int:
        return self.trials

    def _decode(self, trial: optuna.Trial) -> Params:
        values: dict[str, Any] = {}
        for d in self.space.dims:
            v = trial.params[d.name]
            values[d.name] = d.value_at(int(v)) if d.kind == "float" and not d.continuous else v
        return self.space.complete(values)

    def _next_batch(self) -> list[Params]:
        n = min(self._batch, self.trials - self.evaluations)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._open = [self._study.ask(self._dists) for _ in range(max(n, 0))]
        return [self._decode(t) for t in self._open]

    def _told(self, params: list[Params], scores: np.ndarray) -> None:
        finite = np.nan_to_num(scores, nan=INFEASIBLE, neginf=INFEASIBLE, posinf=-INFEASIBLE)
        finite = np.clip(finite, INFEASIBLE, -INFEASIBLE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for trial, row in zip(self._open, finite, strict=True):
                self._study.tell(trial, [float(v) for v in row])
        self._open = []
