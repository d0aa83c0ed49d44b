"""Machine-learning benchmarks of issue 11: the feature matrix and ``tradebot train``.

``python bench/bench_ml.py [--bars 1000000] [--repeat 3] [--train-days 365] [--jobs 2] [--no-train]``

A. **Feature matrix**: the default spec (41 columns) over ``--bars`` 1-minute candles (a
   random walk), in this process after a warm-up (numba's cache filled): best wall time of
   ``--repeat`` and the CPU time, and the extra memory (tracemalloc's peak during the build,
   numpy's allocations included, minus the matrix itself). Targets: <= 3 s, <= 2x the
   matrix's size in extra memory.
B. **tradebot train**, whole process: the default model (logreg), default spec, 5 purged
   folds, no tuning (19 shuffled-label runs and feature importance as by default) over
   ``--train-days`` of 5-minute candles (a planted-trend market from
   tradebot.testing.markets, re-stamped every 5 minutes), ``--jobs`` processes for the
   shuffled runs. Target: <= 60 s on 2 cores. Prints wall and CPU (children) time.

Figures go to stdout; ``bench/out/ml.json`` keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
FEATURES_TARGET_S = 3.0
MEMORY_TARGET_X = 2.0
TRAIN_TARGET_S = 60.0


def minute_candles(n: int, seed: int = 0):  # type: ignore[no-untyped-def]
    import numpy as np

    from tradebot.core.candles import Candles

    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(0.0005 * rng.standard_normal(n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + 0.001 * rng.random(n))
    low = np.minimum(open_, close) * (1 - 0.001 * rng.random(n))
    volume = 1000.0 * np.exp(0.3 * rng.standard_normal(n))
    ts = 1_704_067_200_000 + 60_000 * np.arange(n, dtype=np.int64)
    return Candles(ts, open_, high, low, close, volume, exchange="bench", symbol="BTC/USDT", timeframe="1m",
                   source="bench")


def bench_features(bars: int, repeat: int) -> dict[str, float]:
    import gc
    import tracemalloc

    from tradebot.ml.features import build_features
    from tradebot.ml.spec import load_spec

    spec = load_spec("default")
    candles = minute_candles(bars)
    build_features(candles.slice(0, 5000), spec)  # compile / load the numba kernels
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        m = build_features(candles, spec)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        del m
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    m = build_features(candles, spec)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    size = m.values.nbytes
    extra = max(0, peak - size)
    out = {"bars": bars, "columns": len(spec.columns), "best_s": min(walls), "cpu_s": min(cpus),
           "matrix_mb": size / 1e6, "extra_mb": extra / 1e6, "extra_x": extra / size}
    print(f"A. feature matrix, default spec ({out['columns']} columns) x {bars:,} 1m bars: "
          f"best {out['best_s']:.2f} s of {repeat} (CPU {out['cpu_s']:.2f} s; target {FEATURES_TARGET_S:.0f} s), "
          f"matrix {out['matrix_mb']:.0f} MB, extra memory {out['extra_mb']:.0f} MB = {out['extra_x']:.2f}x "
          f"(target {MEMORY_TARGET_X:.0f}x)")
    return out


def bench_train(days: int, jobs: int) -> dict[str, float]:
    import numpy as np

    from tradebot.core.candles import Candles
    from tradebot.data.cache import CandleCache
    from tradebot.testing.markets import regime_market

    n = days * 288
    raw = regime_market(n, 1, True)
    ts = 1_704_067_200_000 + 300_000 * np.arange(n, dtype=np.int64)
    candles = Candles(ts, raw.open, raw.high, raw.low, raw.close, raw.volume, exchange="bench",
                      symbol="BTC/USDT", timeframe="5m", source="bench")
    tradebot = str(Path(sys.executable).with_name("tradebot"))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        CandleCache(home / "data").save(candles)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
        env["TRADEBOT_HOME"] = str(home)
        cmd = [tradebot, "train", "--name", "bench", "--exchange", "bench", "--symbol", "BTC/USDT",
               "--timeframe", "5m", "--folds", "5", "--jobs", str(jobs), "--json", "--quiet"]
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"tradebot train failed ({proc.returncode}): {proc.stderr}")
        rec = json.loads(proc.stdout)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out = {"bars": n, "samples": rec["samples"], "wall_s": wall, "cpu_s": cpu, "jobs": jobs,
           "shuffles": rec["cv"]["shuffles"], "verdict": rec["verdict"]}
    print(f"B. tradebot train (logreg, default spec, 5 purged folds, {out['shuffles']} shuffled-label runs, "
          f"importance, no tuning) over {days} days of 5m candles ({n:,} bars, {rec['samples']:,} samples), "
          f"--jobs {jobs}: {wall:.1f} s whole process (CPU {cpu:.1f} s; target {TRAIN_TARGET_S:.0f} s); "
          f"verdict: {rec['verdict']}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--train-days", type=int, default=365)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--no-features", action="store_true")
    args = ap.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    results: dict[str, object] = {}
    if not args.no_features:
        results["features"] = bench_features(args.bars, args.repeat)
    if not args.no_train:
        results["train"] = bench_train(args.train_days, args.jobs)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "ml.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
