"""Paper trading from cron: one run's whole-process time, and catching up after downtime.

``python bench/bench_paper.py [--rows 100000]``

Imports the standard workload's 1-minute candles into a fresh TRADEBOT_HOME, brings a
paper account (rsi) up to a given candle through the service, then times a fresh
``tradebot paper`` process (start to exit) that has 1 candle to process, and one that has
10,000 missed candles to catch up (targets: 1 s and 5 s, issue 10). Prints the CPU time
(user + system) beside the wall time: on a loaded machine it is the steadier figure.
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
sys.path.insert(0, str(BENCH_DIR))

import workload  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, choices=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.data import import_csv
    from tradebot.services.paper import run_paper

    workload.ensure_data(sizes=[args.rows], verbose=False)
    csv = workload.csv_path(args.rows)
    ts0 = workload.START_MS
    tradebot = str(Path(sys.executable).with_name("tradebot"))
    results = {}
    print(f"tradebot paper, rsi on {args.rows:,} cached 1m candles (best of {args.repeat})")
    for label, behind, target in (("cron run, 1 new candle", 1, 1.0),
                                  ("catch up 10,000 candles", 10_000, 5.0)):
        best = (float("inf"), float("inf"))
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as home:
                settings = load_settings(env={}, overrides={
                    "home": home, "market": {"exchange": "bench", "symbol": "BTC/USDT",
                                             "timeframe": "1m"}})
                ctx = Context(settings)
                import_csv(ctx, csv, "bench", "BTC/USDT", "1m")
                upto = ts0 + 60_000 * (args.rows - 1 - behind)  # last processed candle
                run_paper(ctx, "bench", since_ms=ts0, now_ms=upto + 60_000)
                ctx.close()
                env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
                env["TRADEBOT_HOME"] = home
                cmd = [tradebot, "paper", "--account", "bench"]
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                done = subprocess.run(cmd, env=env, capture_output=True, text=True)
                dt = time.perf_counter() - t
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
                if done.returncode != 0:
                    print(f"  {label}: failed: {done.stderr.strip()[-300:]}")
                    return 1
                if f"{behind} candle" not in done.stdout:
                    print(f"  {label}: unexpected output: {done.stdout.strip()}")
                    return 1
                best = min(best, (dt, cpu))
        verdict = "met" if best[0] <= target else "NOT met"
        print(f"  {label:<26} {best[0]:6.2f} s  cpu {best[1]:5.2f} s  "
              f"(target <= {target:.0f} s: {verdict})")
        results[label] = {"seconds": best[0], "cpu_seconds": best[1], "target_s": target}
    out = workload.OUT_DIR / "paper.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": args.rows, "results": results}, indent=1))
    print(f"... wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
