"""The floor of a cold ``tradebot live`` step: the interpreter and the imports it cannot avoid.

``python bench/bench_live_floor.py [--runs 7]``

Each line is the median wall time of a fresh ``python -c "import ..."`` (the cyclic garbage
collector off, as the console script starts: decision 0029) with one more group
of the modules a live step needs (the CLI and settings; numpy, SQLAlchemy and the store's
models; ccxt's base class with the binance class and pyarrow.parquet; the live services).
Compare with ``bench/bench_live_step.py`` (close to order of the whole step): the
difference is the step's own work. The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

GROUPS = (
    ("interpreter (python -c pass)", ""),
    ("+ the CLI, settings, typer, pydantic", "import tradebot.cli.app, tradebot.cli.live, tradebot.core.config"),
    ("+ numpy, SQLAlchemy and the store's models", "import numpy, tradebot.data.portfolio_models, "
                                                   "tradebot.data.live_models"),
    ("+ ccxt (base, requests, binance), pyarrow.parquet", "import tradebot.exchanges.ccxt_exchange, "
                                                         "pyarrow.parquet, ccxt; ccxt.binance"),
    ("+ the live services", "import tradebot.services.live_run, tradebot.services.live_guards, "
                            "tradebot.services.live_reconcile, tradebot.data.downloader, "
                            "tradebot.engine.portfolio_run"),
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args(argv)
    code: list[str] = []
    print(f"load average before: {open('/proc/loadavg').read().strip()}")
    for name, stmt in GROUPS:
        if stmt:
            code.append(stmt)
        # as the console script does (tradebot.core.startup): no cyclic collection while importing
        src = "; ".join(["import gc", "gc.disable()", *code])
        walls = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", src], check=True)
            walls.append(time.perf_counter() - t0)
        print(f"  {name:52s} {statistics.median(walls):.3f} s")
    print(f"load average after: {open('/proc/loadavg').read().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
