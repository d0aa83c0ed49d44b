"""Cost of optimizing a pair list: a portfolio trial against the one-market trials of its pairs.

    .venv/bin/python bench/bench_portfolio_optimize.py [--pairs 4] [--days 365] [--trials 64] [--repeat 3]

The same random parameter sets of rsi (period, lower, upper) over ``--pairs`` sim markets
(1h, ``--days`` days each):

P. ``PortfolioProblem.evaluate`` (services/portfolio_problem.py): every set run as one
   portfolio of all pairs (signals per market, the compiled portfolio loop, the report's
   metrics), the whole range as one window;
S. ``Problem.evaluate`` (optimize/evaluate.py) on each pair alone, summed over the pairs:
   what N one-market studies of the same sets cost (indicators cached per key, the batch
   kernel).

Prints trials per second of each and the ratio P / S (best of ``--repeat`` after a warm-up
that compiles everything). Figures only, nothing asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    from tradebot.engine.config import EngineConfig
    from tradebot.engine.portfolio import PortfolioConfig
    from tradebot.exchanges.sim import sim_candles
    from tradebot.optimize.evaluate import Problem
    from tradebot.optimize.objectives import parse_objectives
    from tradebot.optimize.space import build_space
    from tradebot.services.portfolio_problem import PortfolioProblem
    from tradebot.strategies.builtin.rsi import RsiStrategy

    t0 = 1_704_067_200_000
    symbols = tuple(f"P{i}/USDT" for i in range(a.pairs))
    markets = [sim_candles(s, "1h", since_ms=t0, until_ms=t0 + a.days * 86_400_000, seed=3 + i)
               for i, s in enumerate(symbols)]
    space = build_space(RsiStrategy, ["period=5:30", "lower=15:40", "upper=60:85"])
    spec = parse_objectives("sharpe")
    cfg = EngineConfig(initial_capital=10_000.0, maker_fee=0.001, taker_fee=0.001)
    rng = np.random.default_rng(1)
    sets = [{"period": int(rng.integers(5, 31)), "lower": float(rng.integers(15, 41)),
             "upper": float(rng.integers(60, 86))} for _ in range(a.trials)]
    port = PortfolioProblem(markets, symbols, RsiStrategy, cfg, PortfolioConfig(max_open_positions=a.pairs),
                            space, spec, "1h")
    singles = [Problem(c, RsiStrategy, cfg, space, spec, "1h") for c in markets]
    n = port.aligned.n_bars

    def run_port() -> None:
        port.evaluate(sets, (0, n))

    def run_singles() -> None:
        for p in singles:
            p._indicators.clear()  # as a fresh study: indicators computed once per key
            p.evaluate(sets, (0, len(p.candles)))

    port.evaluate(sets[:2], (0, n))  # compile
    for p in singles:
        p.evaluate(sets[:2], (0, len(p.candles)))

    def best(fn: object) -> float:
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - t)
        return min(times)

    tp, ts = best(run_port), best(run_singles)
    print(f"{a.pairs} pairs x {n:,} bars (1h, {a.days} days), {a.trials} rsi parameter sets, best of {a.repeat}")
    print(f"P portfolio trials        {tp:8.3f} s  {a.trials / tp:8.1f} trials/s")
    print(f"S one-market trials, sum  {ts:8.3f} s  {a.trials / ts:8.1f} trials/s (each over all pairs)")
    print(f"P / S                     {tp / ts:8.2f}")


if __name__ == "__main__":
    main()
