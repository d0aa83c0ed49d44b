"""The optimizer against vectorbt on the standard workload (docs/benchmark-workload.md §4).

    python bench/bench_optimize.py [--repeat 3] [--no-memory] [--no-whole]

A. grid in process: the 100 combos of §4 on the 100k file through the optimizer's own
   evaluation path (``Problem.evaluate``: signals, the compiled batch kernel, and every
   objective metric — Sharpe, Sortino, Calmar, daily target share) vs vectorbt's one-call
   sweep (one indicator run + one ``from_signals`` over 100 columns). Agreement: same
   trades and final equity (0.01 %) for every combo.
M. peak memory of A, each side in a fresh subprocess (VmHWM reset after a 2,000-bar warm-up).
W. whole process, on the 100k file imported into a temporary home: ``tradebot optimize
   --method grid`` over the 100 combos, and ``--method ga --population 40 --generations 25``
   over rsi's declared ranges; seconds, evaluations and evaluations per second.

Progress goes to stderr, the table to stdout, everything to ``bench/out/optimize.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import numpy as np  # noqa: E402
import peers  # noqa: E402
import workload as wl  # noqa: E402
from bench_backtest import _status_kb, best_of, find_tradebot, log, run_measured  # noqa: E402

PY = sys.executable
N = wl.SWEEP_SIZE
GRID_SPACE = ["period=7,10,14,21,28", "lower=20,25,30,35", "upper=65,70,75,80,85"]
GA_SPACE = ["period=5:50", "lower=10:45:1", "upper=55:90:1"]


def tradebot_problem(a: dict[str, np.ndarray]) -> Any:
    from tradebot.engine.config import EngineConfig
    from tradebot.optimize.evaluate import Problem
    from tradebot.optimize.objectives import parse_objectives
    from tradebot.optimize.space import build_space
    from tradebot.strategies.builtin.rsi import RsiStrategy

    cfg = EngineConfig(initial_capital=peers.INIT_CASH, maker_fee=peers.FEE, taker_fee=peers.FEE)
    return Problem(peers.tradebot_candles(a), RsiStrategy, cfg, build_space(RsiStrategy, GRID_SPACE),
                   parse_objectives("sharpe"), "1m")


def tradebot_grid(problem: Any) -> list[dict[str, float]]:
    problem._indicators.clear()  # each repeat recomputes the indicators, like vectorbt does
    sets = list(problem.space.grid())
    t = problem.evaluate(sets, (0, len(problem.candles)))
    assert [(s["period"], s["lower"], s["upper"]) for s in sets] == wl.sweep_grid()
    final = peers.INIT_CASH * (1 + t.metric("return_pct") / 100)
    return [peers.outputs(n, f, d / 100) for n, f, d in zip(t.metric("trades"), final, t.metric("max_dd_pct"),
                                                             strict=True)]


def tradebot_ga(a: dict[str, np.ndarray]) -> dict[str, Any]:
    """A GA of 40 individuals x 25 generations in process: seconds, evaluations, evals/s."""
    from tradebot.optimize.search import make_searcher
    from tradebot.optimize.space import build_space
    from tradebot.strategies.builtin.rsi import RsiStrategy

    prob = tradebot_problem(a)
    prob.space = build_space(RsiStrategy, GA_SPACE)
    prob.evaluate(list(prob.space.grid())[:2], (0, len(prob.candles)))  # warm: kernels loaded
    prob._indicators.clear()
    t0 = time.perf_counter()
    searcher = make_searcher("ga", prob.space, 1, 42, population=40, generations=25)
    n = 0
    while batch := searcher.ask():
        t = prob.evaluate(batch, (0, len(prob.candles)))
        searcher.tell(batch, t.scores)
        n += len(batch)
    secs = time.perf_counter() - t0
    return {"seconds": secs, "evaluations": n, "evals_per_s": n / secs, "distinct_periods": len(prob._indicators)}


def vectorbt_grid(df: Any) -> list[dict[str, float]]:
    return peers.vectorbt_sweep(df, wl.sweep_grid())


def agree(a: list[dict[str, float]], b: list[dict[str, float]]) -> int:
    return sum(x["trades"] == y["trades"] and abs(x["final_equity"] / y["final_equity"] - 1) <= 1e-4
               for x, y in zip(a, b, strict=True))


def child(impl: str) -> int:
    a = wl.load_arrays(N)
    small = {k: v[:2_000].copy() for k, v in a.items()}

    def job(arrays: dict[str, np.ndarray]) -> Any:
        if impl == "tradebot":
            return tradebot_grid(tradebot_problem(arrays))
        return vectorbt_grid(peers.vectorbt_frame(arrays))

    job(small)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    job(a)
    print(json.dumps({"hwm_kb": _status_kb("VmHWM")}))
    return 0


def bench_grid(repeat: int) -> dict[str, Any]:
    a = wl.load_arrays(N)
    log(f"A. grid of 100 on {N:,} bars: tradebot optimizer evaluation")
    prob = tradebot_problem(a)
    t_tb, out_tb = best_of(lambda: tradebot_grid(prob), repeat=repeat)
    log("A. grid of 100: vectorbt one-call sweep")
    df = peers.vectorbt_frame(a)
    t_vbt, out_vbt = best_of(lambda: vectorbt_grid(df), repeat=repeat)
    log("A. GA 40 x 25 in process")
    ga = tradebot_ga(a)
    return {"tradebot_s": t_tb, "vectorbt_s": t_vbt, "vbt_over_tradebot": t_vbt / t_tb,
            "combos_agreeing": agree(out_tb, out_vbt), "combos": len(out_tb),
            "tradebot_evals_per_s": len(out_tb) / t_tb, "ga_in_process": ga}


def bench_memory() -> dict[str, Any]:
    res: dict[str, Any] = {}
    for impl in ("tradebot", "vectorbt"):
        log(f"M. peak memory, grid, {impl} (subprocess)")
        secs, rc, _, out, err = run_measured([PY, str(Path(__file__).resolve()), "--child", impl])
        res[impl + "_mb"] = json.loads(out.strip().splitlines()[-1])["hwm_kb"] / 1024 if rc == 0 else None
        if rc != 0:
            res[impl + "_error"] = (err or out)[-300:]
    return res


def bench_whole(repeat: int) -> dict[str, Any]:
    exe = find_tradebot()
    if exe is None:
        return {"skipped": "no `tradebot` command"}
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tradebot-bench-opt-") as home:
        env = dict(os.environ, TRADEBOT_HOME=home)
        log(f"W. tradebot data import ({N:,} bars)")
        _, rc, _, out, err = run_measured([exe, "data", "import", str(wl.csv_path(N)), "--exchange", "bench",
                                           "--symbol", "BTC/USDT", "--timeframe", "1m"], env)
        if rc != 0:
            return {"skipped": f"import failed: {(err or out)[-200:]}"}
        base = [exe, "optimize", "--strategy", "rsi", "--exchange", "bench", "--symbol", "BTC/USDT",
                "--timeframe", "1m", "--fee", "0.001", "--json"]
        runs = {
            "grid_100": base + ["--method", "grid"] + [x for s in GRID_SPACE for x in ("--space", s)],
            "ga_40x25": base + ["--method", "ga", "--population", "40", "--generations", "25"]
            + [x for s in GA_SPACE for x in ("--space", s)],
        }
        for name, cmd in runs.items():
            best: dict[str, Any] | None = None
            for _ in range(repeat):
                log(f"W. whole process: tradebot optimize {name}")
                secs, rc, maxrss, out, err = run_measured(cmd, env)
                if rc != 0:
                    best = {"error": (err or out)[-300:]}
                    break
                evaluated = json.loads(out)["evaluated"]
                if best is None or secs < best["seconds"]:
                    best = {"seconds": secs, "evaluations": evaluated, "evals_per_s": evaluated / secs,
                            "max_rss_mb": maxrss / 1024}
            res[name] = best
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-whole", action="store_true")
    ap.add_argument("--child", choices=("tradebot", "vectorbt"))
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child)
    wl.ensure_data([N], verbose=False)
    t0 = time.perf_counter()
    res: dict[str, Any] = {"grid": bench_grid(args.repeat)}
    if not args.no_memory:
        res["memory"] = bench_memory()
    if not args.no_whole:
        res["whole"] = bench_whole(args.repeat)
    g = res["grid"]
    print(f"grid 100 combos on {N:,} bars: tradebot {g['tradebot_s'] * 1000:.0f} ms, vectorbt "
          f"{g['vectorbt_s'] * 1000:.0f} ms -> {g['vbt_over_tradebot']:.1f}x faster (target >= 20x); "
          f"{g['combos_agreeing']}/{g['combos']} combos agree")
    ga = g["ga_in_process"]
    print(f"GA 40 x 25 in process: {ga['seconds']:.2f} s, {ga['evaluations']} evaluations (identical individuals "
          f"are not re-evaluated), {ga['evals_per_s']:.0f} evals/s vs the grid's {g['tradebot_evals_per_s']:.0f}")
    if "memory" in res:
        m = res["memory"]
        print(f"peak memory, grid: tradebot {m.get('tradebot_mb') or 0:.0f} MB, "
              f"vectorbt {m.get('vectorbt_mb') or 0:.0f} MB")
    for name, r in (res.get("whole") or {}).items():
        if isinstance(r, dict) and "seconds" in r:
            print(f"whole process `tradebot optimize` {name}: {r['seconds']:.2f} s, {r['evaluations']} evaluations, "
                  f"{r['evals_per_s']:.0f} evals/s, peak {r['max_rss_mb']:.0f} MB")
        else:
            print(f"whole process {name}: {r}")
    res["total_seconds"] = time.perf_counter() - t0
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    (out / "optimize.json").write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
