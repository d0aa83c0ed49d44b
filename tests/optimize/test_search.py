"""Search methods: batch ask/tell, determinism, resume by replay, convergence."""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tradebot.core.errors import ParameterError
from tradebot.optimize.search import MAX_GRID_POINTS, METHODS, make_searcher
from tradebot.optimize.search_ga import GeneticSearcher
from tradebot.optimize.space import Dimension, SearchSpace, build_space
from tradebot.strategies.builtin.rsi import RsiStrategy

Objective = Callable[[dict[str, Any]], list[float]]

GRID_2D = SearchSpace((Dimension("x", "int", -10, 10), Dimension("y", "int", -10, 10)))
MIXED = SearchSpace((Dimension("a", "int", 0, 30, 2), Dimension("b", "float", -1.0, 1.0),
                     Dimension("c", "float", 0.1, 0.9, 0.1), Dimension("d", "bool"),
                     Dimension("e", "choice", choices=("x", "y", None))), fixed={"k": 7})
SMALL = dict(trials=40, batch_size=8, population=12, generations=6)


def bowl(p: dict[str, Any]) -> list[float]:
    return [-(p["x"] - 3) ** 2 - (p["y"] + 1) ** 2]


def mixed_objective(p: dict[str, Any]) -> list[float]:
    if p["a"] > 24:
        return [-np.inf]  # infeasible
    if p["a"] == 0:
        return [np.nan]  # undefined: treated as infeasible
    return [-abs(p["a"] - 10) - abs(p["b"] - 0.2) - abs(p["c"] - 0.5) + p["d"] + (p["e"] == "y")]


def two_objectives(p: dict[str, Any]) -> list[float]:
    s = mixed_objective(p)[0]
    return [s, -np.inf if not np.isfinite(s) else -abs(p["b"] + 0.5)]


def ga(space: SearchSpace, n_obj: int, seed: int, **kwargs: Any) -> GeneticSearcher:
    s = make_searcher("ga", space, n_obj, seed, **kwargs)
    assert isinstance(s, GeneticSearcher)
    return s


def run(searcher: Any, objective: Objective, n_obj: int = 1) -> list[tuple[list[dict[str, Any]], np.ndarray]]:
    """Ask/tell until done; the (params, scores) of every batch."""
    log = []
    while batch := searcher.ask():
        scores = np.array([objective(p) for p in batch], dtype=float).reshape(len(batch), n_obj)
        searcher.tell(batch, scores)
        log.append((batch, scores))
    return log


def flat(log: list[tuple[list[dict[str, Any]], np.ndarray]]) -> list[dict[str, Any]]:
    return [p for batch, _ in log for p in batch]


CASES = [(m, n) for m in METHODS for n in (1, 2)]


# ------------------------------------------------------------------------- all methods
@pytest.mark.parametrize(("method", "n_obj"), CASES)
def test_asks_are_complete_in_range_and_deterministic(method: str, n_obj: int) -> None:
    space = MIXED if method != "grid" else build_space(RsiStrategy, ["period=7,14", "lower=20:30:5", "upper=70,80"])
    objective = mixed_objective if n_obj == 1 else two_objectives
    if method == "grid":
        def objective(p: dict[str, Any]) -> list[float]:
            return [p["upper"] - p["lower"]] * n_obj
    first = run(make_searcher(method, space, n_obj, seed=11, **SMALL), objective, n_obj)
    again = run(make_searcher(method, space, n_obj, seed=11, **SMALL), objective, n_obj)
    other = run(make_searcher(method, space, n_obj, seed=12, **SMALL), objective, n_obj)
    assert flat(first) == flat(again)
    if method != "grid":
        assert flat(first) != flat(other)
    for p in flat(first):
        assert set(p) == set(space.names) | set(space.fixed)
        assert space.contains(p) and all(p[k] == v for k, v in space.fixed.items())
    budget = make_searcher(method, space, n_obj, seed=11, **SMALL).budget
    assert len(flat(first)) <= budget
    if method != "ga":
        assert len(flat(first)) == budget


@pytest.mark.parametrize(("method", "n_obj"), CASES)
def test_resume_by_replay(method: str, n_obj: int) -> None:
    objective = mixed_objective if n_obj == 1 else two_objectives
    space = MIXED if method != "grid" else GRID_2D
    if method == "grid":
        def objective(p: dict[str, Any]) -> list[float]:
            return bowl(p) * n_obj
    full = run(make_searcher(method, space, n_obj, seed=5, **SMALL), objective, n_obj)
    assert len(full) >= 3
    for stop in (1, len(full) // 2, len(full) - 1):
        resumed = make_searcher(method, space, n_obj, seed=5, **SMALL)
        for params, scores in full[:stop]:  # the stored, completed batches (kept as JSON)
            stored = json.loads(json.dumps(params))
            assert resumed.ask() == stored
            resumed.tell(stored, np.array(json.loads(json.dumps(scores.tolist()))))
        rest = run(resumed, objective, n_obj)  # continues exactly as the uninterrupted run
        assert [b for b, _ in rest] == [b for b, _ in full[stop:]]


@pytest.mark.parametrize(("method", "n_obj"), CASES)
def test_global_random_state_is_untouched_and_irrelevant(method: str, n_obj: int) -> None:
    objective = mixed_objective if n_obj == 1 else two_objectives
    space = MIXED if method != "grid" else GRID_2D
    if method == "grid":
        def objective(p: dict[str, Any]) -> list[float]:
            return bowl(p) * n_obj
    random.seed(123)
    np.random.seed(456)
    py_state = random.getstate()
    first = flat(run(make_searcher(method, space, n_obj, seed=3, **SMALL), objective, n_obj))
    assert random.getstate() == py_state
    drawn = np.random.random(4)
    np.random.seed(456)
    assert np.array_equal(drawn, np.random.random(4))  # numpy's global state untouched too
    random.seed(999)
    np.random.seed(999)
    assert flat(run(make_searcher(method, space, n_obj, seed=3, **SMALL), objective, n_obj)) == first


@pytest.mark.parametrize("method", METHODS)
def test_infeasible_scores_are_accepted(method: str) -> None:
    searcher = make_searcher(method, GRID_2D, 2, seed=0, **SMALL)
    log = run(searcher, lambda p: [-np.inf, np.nan] if p["x"] < 0 else [-np.inf, float(p["y"])], 2)
    assert log and all(np.isneginf(s[:, 0]).all() for _, s in log)


def test_protocol_misuse() -> None:
    s = make_searcher("random", GRID_2D, 1, seed=0, trials=10, batch_size=4)
    with pytest.raises(RuntimeError, match="tell"):
        s.tell([], np.zeros((0, 1)))
    batch = s.ask()
    with pytest.raises(RuntimeError, match="before tell"):
        s.ask()
    with pytest.raises(ValueError, match="shape"):
        s.tell(batch, np.zeros((len(batch), 2)))
    with pytest.raises(ValueError, match="not the batch ask"):
        s.tell(batch[::-1], np.zeros((len(batch), 1)))
    s.tell(batch, np.zeros(len(batch)))  # 1-D is fine for one objective
    assert len(s.ask()) == 4


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(method="anneal"), "unknown search method 'anneal'; use one of grid, random, ga, bayes"),
    (dict(method="random", trials=0), "trials 0: must be >= 1"),
    (dict(method="grid", batch_size=0), "batch size 0: must be >= 1"),
    (dict(method="ga", population=1), "population 1: must be >= 2"),
    (dict(method="ga", elite=40), "elite 40: must be in [0, population)"),
    (dict(method="ga", cx_prob=1.5), "crossover probability 1.5"),
    (dict(method="ga", tournament=0), "tournament size 0"),
])
def test_make_searcher_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError) as info:
        make_searcher(space=GRID_2D, n_objectives=1, seed=0, **kwargs)
    assert message in str(info.value)


# ------------------------------------------------------------------------- grid / random
def test_grid_in_grid_order_and_batches() -> None:
    space = build_space(RsiStrategy, ["period=7,10,14,21,28", "lower=20,25,30,35", "upper=65:85:5"])
    s = make_searcher("grid", space, 1, seed=0, batch_size=16)
    log = run(s, lambda p: [0.0])
    assert [len(b) for b, _ in log] == [16] * 6 + [4]
    assert flat(log) == list(space.grid()) and s.budget == 100


def test_grid_refuses_huge_grids() -> None:
    space = build_space(RsiStrategy, [])  # 199 × 99 × 99 points
    with pytest.raises(ParameterError, match=r"1,950,399 points .*use --method random, ga or bayes"):
        make_searcher("grid", space, 1, seed=0)
    assert space.grid_size() > MAX_GRID_POINTS


def test_random_without_duplicates_and_capped_at_grid_size() -> None:
    s = make_searcher("random", GRID_2D, 1, seed=4, trials=1000, batch_size=100)
    points = flat(run(s, bowl))
    assert s.budget == 441 and len(points) == 441
    assert sorted((p["x"], p["y"]) for p in points) == [(x, y) for x in range(-10, 11) for y in range(-10, 11)]
    big = build_space(RsiStrategy, ["stop_loss_pct=0.5:10", "take_profit_pct=1:20"])  # > 1e6 points
    pts = flat(run(make_searcher("random", big, 1, seed=4, trials=300, batch_size=64), lambda p: [0.0]))
    assert len(pts) == 300 and len({tuple(p.values()) for p in pts}) == 300
    assert all(big.contains(p) for p in pts)


# ------------------------------------------------------------------------- ga
def test_ga_converges_and_never_reevaluates() -> None:
    s = ga(GRID_2D, 1, seed=1)
    log = run(s, bowl)
    points = [(p["x"], p["y"]) for p in flat(log)]
    assert len(points) == len(set(points))  # identical individuals are evaluated once
    assert len(points) <= s.budget == 40 * 25
    best, score = s.final_population()[0]
    assert (best["x"], best["y"]) == (3, -1) and score == (0.0,)


def test_ga_on_a_continuous_space_gets_near_the_optimum() -> None:
    space = SearchSpace((Dimension("x", "float", -10.0, 10.0), Dimension("y", "float", -10.0, 10.0)))
    s = ga(space, 1, seed=2, population=30, generations=30)
    log = run(s, bowl)
    assert len({tuple(p.values()) for p in flat(log)}) == len(flat(log))
    best, score = s.final_population()[0]
    assert score[0] > -0.05 and abs(best["x"] - 3) < 0.2 and abs(best["y"] + 1) < 0.2


def test_ga_avoids_infeasible_regions() -> None:
    s = ga(GRID_2D, 1, seed=3)
    run(s, lambda p: [-np.inf] if p["x"] >= 3 else bowl(p))
    best, score = s.final_population()[0]
    assert (best["x"], best["y"]) == (2, -1) and score == (-1.0,)


def test_nsga2_final_population_is_spread_along_the_front() -> None:
    # maximize -(x² + y²) and -((x - 20)² + y²): the front is y = 0, 0 <= x <= 20 (21 points)
    space = SearchSpace((Dimension("x", "int", -10, 30), Dimension("y", "int", -10, 10)))

    def objective(p: dict[str, Any]) -> list[float]:
        return [-(p["x"] ** 2 + p["y"] ** 2), -((p["x"] - 20) ** 2 + p["y"] ** 2)]

    s = ga(space, 2, seed=0, population=20, generations=60, mut_prob=0.5)
    log = run(s, objective, 2)
    assert len({tuple(p.values()) for p in flat(log)}) == len(flat(log))
    final = s.final_population()
    xs = sorted(p["x"] for p, _ in final)
    assert len(final) == 20 and len(set(xs)) == 20
    assert all(p["y"] == 0 and 0 <= p["x"] <= 20 for p, _ in final)  # all on the true front
    scores = np.array([sc for _, sc in final])
    for i in range(len(scores)):  # mutually non-dominated
        assert not any((scores[j] >= scores[i]).all() and (scores[j] > scores[i]).any() for j in range(len(scores)))
    assert xs[0] == 0 and xs[-1] == 20


def test_ga_searcher_pickles_mid_run() -> None:
    for n_obj, objective in ((1, mixed_objective), (2, two_objectives)):
        full = run(ga(MIXED, n_obj, seed=9, **SMALL), objective, n_obj)
        s = ga(MIXED, n_obj, seed=9, **SMALL)
        for params, scores in full[:2]:
            s.ask()
            s.tell(params, scores)
        copy = pickle.loads(pickle.dumps(s))
        assert [b for b, _ in run(copy, objective, n_obj)] == [b for b, _ in full[2:]]
    ind = ga(GRID_2D, 3, seed=0)._ind([1, 2])
    ind.fitness.values = (1.0, 2.0, 3.0)
    back = pickle.loads(pickle.dumps(ind))
    assert back == ind and back.fitness.values == (1.0, 2.0, 3.0)


# ------------------------------------------------------------------------- bayes
def test_bayes_beats_the_median_random_search() -> None:
    space = SearchSpace((Dimension("x", "float", -2.0, 2.0), Dimension("y", "float", -2.0, 2.0),
                         Dimension("z", "int", -20, 20)))

    def smooth(p: dict[str, Any]) -> list[float]:
        return [-(p["x"] - 0.3) ** 2 - (p["y"] + 0.2) ** 2 - ((p["z"] - 4) / 10) ** 2]

    def best(method: str, seed: int) -> float:
        log = run(make_searcher(method, space, 1, seed=seed, trials=48, batch_size=8), smooth)
        return max(float(s.max()) for _, s in log)

    random_median = float(np.median([best("random", seed) for seed in range(9)]))
    assert best("bayes", 0) > random_median


def test_bayes_multi_objective_batches() -> None:
    s = make_searcher("bayes", MIXED, 2, seed=0, trials=20, batch_size=6)
    log = run(s, two_objectives, 2)
    assert [len(b) for b, _ in log] == [6, 6, 6, 2] and s.budget == 20
