"""``tradebot optimize`` over a pair list: one parameter set for all pairs.

Each parameter set the searcher asks for (grid, random, ga or bayes: the searchers of
:mod:`tradebot.optimize.search`, over the space of ``--space`` specs) is run as a portfolio
backtest of the whole pair list (one wallet, the ``[portfolio]`` rules), and scored from the
metrics the portfolio report shows for it (so a trial's Sharpe is the Sharpe of
``tradebot backtest --symbols ...`` with those parameters). One in-sample search over the
whole range: walk-forward windows, studies in the store and resume are those of the
one-market optimizer only; the result is printed, not stored.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradebot.core.errors import ParameterError, TradebotError, UsageError
from tradebot.core.pairs import PairList
from tradebot.services.context import Context


@dataclass(frozen=True)
class PortfolioOptimizeOutcome:
    pairs: tuple[str, ...]
    method: str
    objectives: tuple[str, ...]
    space: dict[str, Any]
    trials: list[dict[str, Any]]  # in ask order: params, metrics, scores (None = infeasible)
    best: list[int]  # indices into trials: the best by the first objective, or the Pareto front

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": list(self.pairs), "method": self.method, "objectives": list(self.objectives),
                "space": self.space, "evaluated": len(self.trials), "best": self.best,
                "best_params": [self.trials[i]["params"] for i in self.best], "trials": self.trials,
                "stored": False}


def _metrics_row(m: Any) -> np.ndarray:
    """The optimizer's metric columns (:data:`tradebot.optimize.objectives.METRICS`) from the
    report's Metrics of one portfolio run."""
    from tradebot.optimize.objectives import METRICS

    def f(x: Any) -> float:
        return math.nan if x is None else float(x)

    values = {"sharpe": f(m.sharpe), "sortino": f(m.sortino), "calmar": f(m.calmar),
              "profit": m.final_equity - m.initial_capital, "return_pct": f(m.total_return_pct),
              "max_dd_pct": f(m.max_drawdown_pct), "trades": float(m.trades),
              "daily_target_share": f(m.target_days_pct) / 100.0, "cagr_pct": f(m.cagr_pct)}
    return np.array([values[k] for k in METRICS], dtype=np.float64)


def run_portfolio_optimize(ctx: Context, pairs: PairList, *, method: str, objectives: str,
                           space_specs: Sequence[str], trials: int = 100, batch_size: int = 16,
                           seed: int | None = None, max_dd: float | None = None, min_trades: int = 0,
                           ga: dict[str, Any] | None = None,
                           progress: Callable[[int, int, float | None], None] | None = None
                           ) -> PortfolioOptimizeOutcome:
    """Search one parameter set for the whole pair list (see the module docstring)."""
    from tradebot.analysis.metrics import compute_metrics
    from tradebot.engine.portfolio import align, run_portfolio
    from tradebot.optimize.objectives import METRICS, parse_objectives, scores
    from tradebot.optimize.pareto import pareto_front
    from tradebot.optimize.search import make_searcher
    from tradebot.optimize.space import build_space
    from tradebot.services.backtest import engine_config
    from tradebot.services.portfolio_backtest import (
        check_rank,
        load_pairs,
        portfolio_config,
        strategy_scores,
        whole_result,
    )

    s = ctx.settings
    pcfg = portfolio_config(s, len(pairs.symbols))
    spec = parse_objectives(objectives, max_dd, min_trades, s.risk.daily_profit_target)
    cls = ctx.registry.get(s.strategy.name).cls
    base_params: dict[str, Any] = dict(s.strategy.params)
    space = build_space(cls, list(space_specs))
    check_rank(ctx.registry.create(s.strategy.name, base_params), pcfg.rank)
    searcher = make_searcher(method, space, len(spec.names), s.seed if seed is None else seed,
                             trials=trials, batch_size=batch_size, **(ga or {}))
    candles = load_pairs(ctx, pairs, s.since_ms(), s.until_ms())
    aligned = align(list(candles), pairs.symbols)
    base_cfg = engine_config(s)
    out: list[dict[str, Any]] = []
    best_so_far: float | None = None
    while True:
        batch = searcher.ask()
        if not batch:
            break
        rows = np.full((len(batch), len(METRICS)), np.nan)
        for i, values in enumerate(batch):
            strat_values, engine_values = space.split(dict(values))
            try:
                strategy = cls(**{**base_params, **strat_values})
                cfg = dataclasses.replace(base_cfg, **engine_values) if engine_values else base_cfg
            except (TradebotError, ValueError, TypeError):
                continue  # an invalid combination: infeasible
            res = run_portfolio(aligned, [strategy.signals_for(c) for c in candles], cfg, pcfg,
                                strategy_scores(strategy, aligned, pcfg.rank))
            rows[i] = _metrics_row(compute_metrics(whole_result(res, aligned), s.market.timeframe,
                                                   s.risk.daily_profit_target))
        sc = scores(rows, spec)
        searcher.tell(batch, sc)
        for values, row, score in zip(batch, rows, sc, strict=True):
            metrics = {k: (None if math.isnan(v) else float(v)) for k, v in zip(METRICS, row, strict=True)}
            out.append({"params": dict(values), "metrics": metrics,
                        "scores": [None if not math.isfinite(x) else float(x) for x in score]})
            if math.isfinite(score[0]) and (best_so_far is None or score[0] > best_so_far):
                best_so_far = float(score[0])
        if progress is not None:
            progress(len(out), searcher.budget, best_so_far)
    if not out:
        raise UsageError("the search space is empty: nothing was evaluated")
    all_scores = np.array([[(-np.inf if x is None else x) for x in t["scores"]] for t in out])
    if len(spec.names) == 1:
        best = [int(np.argmax(all_scores[:, 0]))] if np.isfinite(all_scores[:, 0]).any() else []
    else:
        best = [int(i) for i in pareto_front(all_scores)]
    if not best:
        raise ParameterError(f"no parameter set was feasible for {', '.join(spec.names)} over "
                             f"{len(out)} evaluations (no trades, or every set broke a constraint)")
    return PortfolioOptimizeOutcome(pairs.symbols, method, spec.names, space.to_dict(), out, best)
