"""Genetic search with deap: tournament + elitism (one objective), NSGA-II (several).

One gene per dimension: the value's index for discrete dimensions (ints, stepped floats,
bools, choices), the value itself for continuous floats. Each ``ask()`` returns the
individuals of one generation that were never evaluated (identical individuals share one
evaluation: scores are cached by genes). deap draws from the global :mod:`random` module, so
every deap call runs with this searcher's own state swapped in (:func:`_own_random`): the
global state is left untouched and the results depend only on the seed and the tells.
Not thread-safe (the swap is global).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from deap import base, creator, tools

from tradebot.optimize.search import BatchSearcher, Params
from tradebot.optimize.space import Dimension, SearchSpace

Genes = tuple[Any, ...]
#: the fitness deap sees for an infeasible (-inf) score: finite, so crowding distances stay finite
_FLOOR = -1e300


def individual_class(n_objectives: int) -> Any:
    """``creator.TradebotIndividual<k>`` (a list with a k-objective maximizing fitness),
    created once per process; module-level in deap.creator, hence picklable."""
    fit_name, ind_name = f"TradebotFitness{n_objectives}", f"TradebotIndividual{n_objectives}"
    if not hasattr(creator, fit_name):
        creator.create(fit_name, base.Fitness, weights=(1.0,) * n_objectives)
    if not hasattr(creator, ind_name):
        creator.create(ind_name, list, fitness=getattr(creator, fit_name))
    return getattr(creator, ind_name)


for _k in (1, 2, 3, 4):  # so that pickled individuals load in a fresh process that imports this module
    individual_class(_k)


class GeneticSearcher(BatchSearcher):
    def __init__(self, space: SearchSpace, n_objectives: int, seed: int, *, population: int, generations: int,
                 cx_prob: float, mut_prob: float, elite: int, tournament: int) -> None:
        super().__init__(space, n_objectives, seed)
        self.population, self.generations = population, generations
        self.cx_prob, self.mut_prob, self.elite, self.tournament = cx_prob, mut_prob, elite, tournament
        self._ind = individual_class(n_objectives)
        self._rstate = random.Random(seed).getstate()
        self._cache: dict[Genes, tuple[float, ...]] = {}
        self._gen = 0  # index of the generation being evaluated
        self._pop: list[Any] | None = None  # that generation (None: not bred yet)
        self._parents: list[Any] = []  # the selected population it is bred from
        self._asked: list[Genes] = []

    @property
    def budget(self) -> int:
        return self.population * self.generations

    @property
    def multi(self) -> bool:
        return self.n_objectives > 1

    # -- random state ---------------------------------------------------------------------
    @contextmanager
    def _own_random(self) -> Iterator[None]:
        outer = random.getstate()
        random.setstate(self._rstate)
        try:
            yield
        finally:
            self._rstate = random.getstate()
            random.setstate(outer)

    # -- genes ----------------------------------------------------------------------------
    def _decode(self, genes: Genes) -> Params:
        values = {d.name: (float(g) if d.continuous else d.value_at(int(g)))
                  for d, g in zip(self.space.dims, genes, strict=True)}
        return self.space.complete(values)

    def _random_gene(self, d: Dimension) -> Any:
        if d.continuous:
            assert d.low is not None and d.high is not None
            return random.uniform(d.low, d.high)
        size = d.size
        assert size is not None
        return random.randrange(size)

    def _mutate_gene(self, d: Dimension, g: Any) -> Any:
        """A uniform resample (always for categories, 30% for numbers) or a gaussian step of
        ~10% of the range, clipped to the bounds."""
        if d.continuous:
            assert d.low is not None and d.high is not None
            if random.random() < 0.3:
                return random.uniform(d.low, d.high)
            return min(max(g + random.gauss(0.0, 0.1 * (d.high - d.low)), d.low), d.high)
        size = d.size
        assert size is not None
        if size == 1:
            return g
        if not d.ordered or random.random() < 0.3:
            new = random.randrange(size - 1)
            return new + 1 if new >= g else new  # any other value
        new = min(max(g + round(random.gauss(0.0, max(1.0, 0.1 * size))), 0), size - 1)
        if new == g:
            new = g + 1 if (g == 0 or (g < size - 1 and random.random() < 0.5)) else g - 1
        return new

    def _mutate(self, ind: Any) -> None:
        n = len(ind)
        hit = [random.random() < 1.0 / n for _ in range(n)]
        if not any(hit):
            hit[random.randrange(n)] = True
        for i, d in enumerate(self.space.dims):
            if hit[i]:
                ind[i] = self._mutate_gene(d, ind[i])

    # -- generations ----------------------------------------------------------------------
    def _fitness(self, genes: Genes) -> tuple[float, ...]:
        return tuple(v if v > _FLOOR else _FLOOR for v in self._cache[genes])

    def _initial(self) -> list[Any]:
        return [self._ind(self._random_gene(d) for d in self.space.dims) for _ in range(self.population)]

    def _crowded_tournament(self, pop: list[Any], k: int) -> list[Any]:
        """Binary tournaments on (front, crowding distance), as in NSGA-II."""
        rank: dict[int, int] = {}
        for r, front in enumerate(tools.sortNondominated(pop, len(pop))):
            for ind in front:
                rank[id(ind)] = r
        chosen = []
        for _ in range(k):
            a, b = random.choice(pop), random.choice(pop)
            ka = (rank[id(a)], -a.fitness.crowding_dist)
            kb = (rank[id(b)], -b.fitness.crowding_dist)
            chosen.append(a if ka <= kb else b)
        return chosen

    def _breed(self) -> list[Any]:
        pop = self._parents
        if self.multi:
            keep: list[Any] = []
            chosen = self._crowded_tournament(pop, self.population)
        else:
            keep = [copy.deepcopy(i) for i in tools.selBest(pop, self.elite)]
            chosen = tools.selTournament(pop, self.population - self.elite, tournsize=self.tournament)
        offspring = [copy.deepcopy(i) for i in chosen]
        for a, b in zip(offspring[::2], offspring[1::2], strict=False):
            if random.random() < self.cx_prob:
                tools.cxUniform(a, b, indpb=0.5)
                del a.fitness.values, b.fitness.values
        for ind in offspring:
            if random.random() < self.mut_prob:
                self._mutate(ind)
                del ind.fitness.values
        return keep + offspring

    def _finish_generation(self) -> None:
        """Every individual of the generation has a score: select the parents of the next."""
        assert self._pop is not None
        for ind in self._pop:
            ind.fitness.values = self._fitness(tuple(ind))
        if self.multi:
            combined: dict[Genes, Any] = {}
            for ind in [*self._parents, *self._pop]:
                combined.setdefault(tuple(ind), ind)
            pool = list(combined.values())
            if len(pool) < self.population:  # duplicates fill the rest
                pool += [i for i in [*self._parents, *self._pop] if all(i is not p for p in pool)]
            self._parents = tools.selNSGA2(pool, self.population)
        else:
            self._parents = self._pop
        self._pop = None
        self._gen += 1

    def _next_batch(self) -> list[Params]:
        with self._own_random():
            while self._gen < self.generations:
                if self._pop is None:
                    self._pop = self._initial() if self._gen == 0 else self._breed()
                new: dict[Genes, None] = {}
                for ind in self._pop:
                    genes = tuple(ind)
                    if genes not in self._cache:
                        new.setdefault(genes)
                if new:
                    self._asked = list(new)
                    return [self._decode(g) for g in self._asked]
                self._finish_generation()  # nothing new to evaluate: breed on
        return []

    def _told(self, params: list[Params], scores: np.ndarray) -> None:
        for genes, row in zip(self._asked, scores, strict=True):
            self._cache[genes] = tuple(float(v) for v in row)
        self._asked = []
        with self._own_random():
            self._finish_generation()

    # -- results --------------------------------------------------------------------------
    def final_population(self) -> list[tuple[Params, tuple[float, ...]]]:
        """The selected population so far (NSGA-II survivors, or the last generation),
        best first for one objective, with the told scores."""
        pop = list(self._parents)
        if not self.multi:
            pop = sorted(pop, key=lambda i: i.fitness.wvalues, reverse=True)
        return [(self._decode(tuple(i)), self._cache[tuple(i)]) for i in pop]

    # -- pickling: plain genes and fitness values (no dependency on deap.creator classes) ----
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_ind"]

        def plain(pop: list[Any] | None) -> list[tuple[list[Any], tuple[float, ...], float | None]] | None:
            if pop is None:
                return None
            return [(list(i), i.fitness.values, getattr(i.fitness, "crowding_dist", None)) for i in pop]

        state["_pop"], state["_parents"] = plain(self._pop), plain(self._parents)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._ind = individual_class(self.n_objectives)

        def rebuild(pop: list[tuple[list[Any], tuple[float, ...], float | None]] | None) -> list[Any] | None:
            if pop is None:
                return None
            out = []
            for genes, values, crowding in pop:
                ind = self._ind(genes)
                if values:
                    ind.fitness.values = values
                if crowding is not None:
                    ind.fitness.crowding_dist = crowding
                out.append(ind)
            return out

        self._pop = rebuild(state["_pop"])
        self._parents = rebuild(state["_parents"]) or []
