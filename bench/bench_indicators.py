"""TA-Lib vs the numba fallback, per indicator, on the 1M-candle standard workload.

    python bench/bench_indicators.py [--size 1000000] [--repeat 5]

For every indicator of the table below that exists in the package at run time (other
families are being filled in) and is backed by TA-Lib, the public function is timed with
TA-Lib and with ``TRADEBOT_TALIB=0`` (the numba fallback): best of ``--repeat`` after a
warm-up (which also compiles the kernels). Target: fallback / TA-Lib <= 3x. Then "all
indicators of one strategy": ``compute_indicators`` of the rsi, macd and bollinger
built-ins on the same candles, both backends. Writes ``bench/out/indicators.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import workload  # noqa: E402

TARGET = 3.0
#: (family, function, input columns, keyword arguments): public functions with a TA-Lib
#: equivalent. Missing functions are skipped (reported as "absent").
TABLE: list[tuple[str, str, tuple[str, ...], dict[str, Any]]] = [
    ("trend", "sma", ("close",), {"period": 30}),
    ("trend", "ema", ("close",), {"period": 30}),
    ("trend", "wma", ("close",), {"period": 30}),
    ("trend", "dema", ("close",), {"period": 30}),
    ("trend", "tema", ("close",), {"period": 30}),
    ("trend", "adx", ("high", "low", "close"), {"period": 14}),
    ("trend", "psar", ("high", "low"), {}),
    ("momentum", "rsi", ("close",), {"period": 14}),
    ("momentum", "macd", ("close",), {}),
    ("momentum", "stoch", ("high", "low", "close"), {}),
    ("momentum", "stochrsi", ("close",), {}),
    ("momentum", "cci", ("high", "low", "close"), {"period": 14}),
    ("momentum", "willr", ("high", "low", "close"), {"period": 14}),
    ("momentum", "roc", ("close",), {"period": 10}),
    ("momentum", "mfi", ("high", "low", "close", "volume"), {"period": 14}),
    ("volatility", "bbands", ("close",), {"period": 20}),
    ("volatility", "atr", ("high", "low", "close"), {"period": 14}),
    ("volatility", "natr", ("high", "low", "close"), {"period": 14}),
    ("volume", "obv", ("close", "volume"), {}),
    ("volume", "ad", ("high", "low", "close", "volume"), {}),
]
STRATEGIES = ("rsi", "macd", "bollinger")


def set_backend(talib: bool) -> None:
    from tradebot.indicators._backend import talib_module

    os.environ["TRADEBOT_TALIB"] = "1" if talib else "0"
    talib_module.cache_clear()


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up (numba compile / cache load)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_indicators(cols: dict[str, np.ndarray], repeat: int) -> list[dict[str, Any]]:
    rows = []
    for family, name, inputs, kwargs in TABLE:
        try:
            module = importlib.import_module(f"tradebot.indicators.{family}")
        except ModuleNotFoundError:
            module = None
        fn = getattr(module, name, None)
        if fn is None:
            rows.append({"indicator": name, "family": family, "status": "absent"})
            continue
        args = [cols[c] for c in inputs]
        times = {}
        try:
            for talib in (True, False):
                set_backend(talib)
                times["talib" if talib else "fallback"] = best_of(
                    lambda f=fn, a=args, k=kwargs: f(*a, **k), repeat)
        except Exception as e:  # another engineer's function mid-change: report, go on
            rows.append({"indicator": name, "family": family,
                         "status": f"error: {type(e).__name__}: {e}"})
            continue
        ratio = times["fallback"] / times["talib"]
        rows.append({"indicator": name, "family": family, "talib_s": times["talib"],
                     "fallback_s": times["fallback"], "ratio": ratio,
                     "status": "ok" if ratio <= TARGET else "SLOW"})
    return rows


def bench_strategies(cols: dict[str, np.ndarray], repeat: int) -> list[dict[str, Any]]:
    from tradebot.core.candles import Candles
    from tradebot.strategies.registry import Registry

    candles = Candles(cols["timestamp"], cols["open"], cols["high"], cols["low"],
                      cols["close"], cols["volume"], timeframe="1m", source="workload")
    rows = []
    for name in STRATEGIES:
        row: dict[str, Any] = {"strategy": name}
        try:
            strategy = Registry().create(name)
            for talib in (True, False):
                set_backend(talib)
                row["talib_s" if talib else "fallback_s"] = best_of(
                    lambda s=strategy: s.compute_indicators(candles), repeat)
            row["ratio"] = row["fallback_s"] / row["talib_s"]
        except Exception as e:
            row["status"] = f"error: {type(e).__name__}: {e}"
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    workload.ensure_data((args.size,), verbose=False)
    cols = workload.load_arrays(args.size)
    saved = os.environ.get("TRADEBOT_TALIB")
    try:
        ind_rows = bench_indicators(cols, args.repeat)
        strat_rows = bench_strategies(cols, args.repeat)
    finally:
        if saved is None:
            os.environ.pop("TRADEBOT_TALIB", None)
        else:
            os.environ["TRADEBOT_TALIB"] = saved

    print(f"indicators on {args.size:,} candles, best of {args.repeat} "
          f"(target: fallback <= {TARGET:g}x TA-Lib)")
    print(f"{'indicator':<10} {'family':<11} {'TA-Lib s':>9} {'fallback s':>10} {'ratio':>6}  status")
    for r in ind_rows:
        if "ratio" in r:
            print(f"{r['indicator']:<10} {r['family']:<11} {r['talib_s']:>9.4f} "
                  f"{r['fallback_s']:>10.4f} {r['ratio']:>5.2f}x  {r['status']}")
        else:
            print(f"{r['indicator']:<10} {r['family']:<11} {'-':>9} {'-':>10} {'-':>6}  "
                  f"{r['status']}")
    print(f"\nall indicators of one strategy on {args.size:,} candles")
    for r in strat_rows:
        if "ratio" in r:
            print(f"{r['strategy']:<10} TA-Lib {r['talib_s']:.4f} s   fallback "
                  f"{r['fallback_s']:.4f} s   {r['ratio']:.2f}x")
        else:
            print(f"{r['strategy']:<10} {r['status']}")

    out = {"size": args.size, "repeat": args.repeat, "target_ratio": TARGET,
           "python": platform.python_version(), "machine": platform.machine(),
           "indicators": ind_rows, "strategies": strat_rows}
    path = workload.OUT_DIR / "indicators.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(path)
    print(f"\nwrote {path}")
    slow = [r["indicator"] for r in ind_rows if r.get("status") == "SLOW"]
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
