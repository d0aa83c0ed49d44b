"""Search methods of ``tradebot optimize``: grid, random, genetic (deap), Bayesian (optuna).

Every searcher has the same batch ask/tell interface (docs/decisions/0011-optimizer-search.md):
``ask()`` returns the next batch of parameter sets, the caller evaluates the whole batch (in
any order, on any number of workers) and ``tell()``\\ s the scores in ask order. The next
batch depends only on the seed and on what was told, so results do not depend on the
number of workers, and a study resumes by replay: a new searcher with the same seed, fed the
stored batches through ``ask()`` + ``tell()``, continues exactly where the old one stopped.
Searchers never evaluate anything and do no I/O.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from tradebot.core.errors import ParameterError
from tradebot.optimize.space import SearchSpace

METHODS = ("grid", "random", "ga", "bayes")
#: the grid refuses more points than this
MAX_GRID_POINTS = 1_000_000
#: a discrete space up to this size is sampled without replacement by index
_SMALL_SPACE = 1_000_000

Params = dict[str, Any]


class Searcher(Protocol):
    def ask(self) -> list[Params]:
        """The next batch (every name of ``space.names`` plus the fixed values); [] when done."""
        ...

    def tell(self, params: list[Params], scores: np.ndarray) -> None:
        """Scores of the batch just asked, rows in ask order, shape (batch, n_objectives),
        all maximized; -inf (or NaN) marks an infeasible trial."""
        ...

    @property
    def budget(self) -> int:
        """Expected total number of evaluations (an upper bound for ga)."""
        ...


class BatchSearcher:
    """The ask/tell protocol shared by every method: ``ask`` → ``tell`` → ``ask`` ..."""

    def __init__(self, space: SearchSpace, n_objectives: int, seed: int) -> None:
        self.space = space
        self.n_objectives = n_objectives
        self.seed = seed
        self._pending: list[Params] | None = None
        self.evaluations = 0  # parameter sets asked so far

    @property
    def budget(self) -> int:
        raise NotImplementedError

    def _next_batch(self) -> list[Params]:
        raise NotImplementedError

    def _told(self, params: list[Params], scores: np.ndarray) -> None:
        raise NotImplementedError

    def ask(self) -> list[Params]:
        if self._pending is not None:
            raise RuntimeError("ask() called again before tell() of the previous batch")
        batch = self._next_batch()
        if batch:
            self._pending = batch
            self.evaluations += len(batch)
        return [dict(p) for p in batch]

    def tell(self, params: list[Params], scores: np.ndarray) -> None:
        if self._pending is None:
            raise RuntimeError("tell() without a batch from ask()")
        arr = np.array(scores, dtype=np.float64)
        if arr.ndim == 1 and self.n_objectives == 1:
            arr = arr.reshape(-1, 1)
        if arr.shape != (len(self._pending), self.n_objectives):
            raise ValueError(f"tell(): scores of shape {arr.shape}, expected "
                             f"({len(self._pending)}, {self.n_objectives})")
        if [dict(p) for p in params] != self._pending:
            raise ValueError("tell(): the parameter sets are not the batch ask() returned, in ask order")
        arr[np.isnan(arr)] = -np.inf
        pending, self._pending = self._pending, None
        self._told(pending, arr)


class GridSearcher(BatchSearcher):
    """Every point of ``space.grid()``, in grid order."""

    def __init__(self, space: SearchSpace, n_objectives: int, seed: int, batch_size: int) -> None:
        super().__init__(space, n_objectives, seed)
        size = space.grid_size()
        if size > MAX_GRID_POINTS:
            raise ParameterError(
                f"the grid has {size:,} points (more than {MAX_GRID_POINTS:,}): narrow it with "
                "--space NAME=LOW:HIGH:STEP or NAME=A,B,C, or use --method random, ga or bayes")
        self._size = size
        self._batch = batch_size
        self._next = 0

    @property
    def budget(self) -> int:
        return self._size

    def _next_batch(self) -> list[Params]:
        stop = min(self._next + self._batch, self._size)
        batch = [self.space.point_at(i) for i in range(self._next, stop)]
        self._next = stop
        return batch

    def _told(self, params: list[Params], scores: np.ndarray) -> None:
        return None


class RandomSearcher(BatchSearcher):
    """``trials`` uniformly drawn points from ``numpy.random.default_rng(seed)``; without
    duplicates (a discrete space smaller than ``trials`` is enumerated in random order)."""

    def __init__(self, space: SearchSpace, n_objectives: int, seed: int, trials: int, batch_size: int) -> None:
        super().__init__(space, n_objectives, seed)
        rng = np.random.default_rng(seed)
        size = space.grid_size() if space.discrete else None
        n = trials if size is None else min(trials, size)
        if size is not None and size <= _SMALL_SPACE:
            self._points = [space.point_at(int(i)) for i in rng.choice(size, n, replace=False)]
        else:
            self._points = []
            seen: set[tuple[Any, ...]] = set()
            while len(self._points) < n:
                for _ in range(1000):  # a duplicate in a space this large is rare; retry
                    values = tuple(d.sample(rng) for d in space.dims)
                    if values not in seen:
                        break
                seen.add(values)
                self._points.append(space.complete(dict(zip(space.names, values, strict=True))))
        self._batch = batch_size
        self._next = 0

    @property
    def budget(self) -> int:
        return len(self._points)

    def _next_batch(self) -> list[Params]:
        batch = self._points[self._next:self._next + self._batch]
        self._next += len(batch)
        return [dict(p) for p in batch]

    def _told(self, params: list[Params], scores: np.ndarray) -> None:
        return None


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ParameterError(what)


def make_searcher(method: str, space: SearchSpace, n_objectives: int, seed: int, *, trials: int = 100,
                  batch_size: int = 16, population: int = 40, generations: int = 25, cx_prob: float = 0.7,
                  mut_prob: float = 0.2, elite: int = 2, tournament: int = 3) -> BatchSearcher:
    """A searcher of ``method`` (one of :data:`METHODS`) over ``space``.

    ``trials`` and ``batch_size`` apply to random and bayes (grid uses ``batch_size`` too);
    ``population`` ... ``tournament`` to ga, whose batches are its generations.
    """
    if method not in METHODS:
        raise ParameterError(f"unknown search method {method!r}; use one of {', '.join(METHODS)}")
    _check(n_objectives >= 1, f"n_objectives={n_objectives}: must be >= 1")
    _check(batch_size >= 1, f"batch size {batch_size}: must be >= 1")
    if method == "grid":
        return GridSearcher(space, n_objectives, seed, batch_size)
    if method in ("random", "bayes"):
        _check(trials >= 1, f"trials {trials}: must be >= 1")
    if method == "random":
        return RandomSearcher(space, n_objectives, seed, trials, batch_size)
    if method == "bayes":
        from tradebot.optimize.search_bayes import BayesSearcher

        return BayesSearcher(space, n_objectives, seed, trials, batch_size)
    _check(population >= 2, f"population {population}: must be >= 2")
    _check(generations >= 1, f"generations {generations}: must be >= 1")
    _check(0.0 <= cx_prob <= 1.0, f"crossover probability {cx_prob}: must be in [0, 1]")
    _check(0.0 <= mut_prob <= 1.0, f"mutation probability {mut_prob}: must be in [0, 1]")
    _check(0 <= elite < population, f"elite {elite}: must be in [0, population)")
    _check(tournament >= 1, f"tournament size {tournament}: must be >= 1")
    from tradebot.optimize.search_ga import GeneticSearcher

    return GeneticSearcher(space, n_objectives, seed, population=population, generations=generations,
                           cx_prob=cx_prob, mut_prob=mut_prob, elite=elite, tournament=tournament)
