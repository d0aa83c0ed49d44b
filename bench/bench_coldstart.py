"""Cold start: the first commands after an install, with nothing compiled and an empty home.

``python bench/bench_coldstart.py [--rows 100000] [--skip-cron]``

With a fresh temporary HOME (so ``~/.tradebot`` and ``~/.cache/tradebot/numba`` are
empty) and no ``NUMBA_*`` / ``TRADEBOT_*`` variables, times fresh ``tradebot`` processes,
start to exit, in this order:

1. the README's main job, ``tradebot backtest --strategy rsi`` (compiles the engine's
   kernels), then the same command again (warm);
2. ``tradebot optimize -s rsi --method grid`` over a small space (compiles the
   optimizer's batch kernel; the engine's loop is already cached), then again;
3. ``tradebot paper --account x --strategy rsi --exchange sim`` (a new account's first
   cron step), then a new account's first step again (warm);
4. a cron step of an existing account with one new candle on ``--rows`` cached
   1-minute candles (the standard workload), warm (best of ``--repeat``).

Prints a table (and writes bench/out/coldstart.json). Timings depend on the machine and
its load: run it on an idle machine, and compare within one run.
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

OPTIMIZE = ["optimize", "-s", "rsi", "--method", "grid", "--space", "period=10,14",
            "--space", "lower=25,30", "--space", "upper=70"]


def fresh_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NUMBA_", "TRADEBOT_")) and k != "XDG_CACHE_HOME"}
    env["HOME"] = str(home)
    return env


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system) of a fresh process, and its stderr. On a
    loaded machine the CPU time is the steadier figure: it is roughly what the wall time
    would be on an idle one (the work is single-threaded)."""
    c = _children_cpu()
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr.strip()[-2000:]}")
    return dt, _children_cpu() - c, done.stderr


def cron_step(tradebot: str, rows: int, repeat: int, home: Path) -> tuple[float, float]:
    """One new candle on ``rows`` cached candles, best of ``repeat`` fresh processes
    (the kernels cache of ``home`` is warm by then)."""
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.data import import_csv
    from tradebot.services.paper import run_paper

    workload.ensure_data(sizes=[rows], verbose=False)
    csv = workload.csv_path(rows)
    ts0 = workload.START_MS
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as th:
            settings = load_settings(env={}, overrides={
                "home": th, "market": {"exchange": "bench", "symbol": "BTC/USDT", "timeframe": "1m"}})
            ctx = Context(settings)
            import_csv(ctx, csv, "bench", "BTC/USDT", "1m")
            upto = ts0 + 60_000 * (rows - 2)  # the last processed candle: one is new
            run_paper(ctx, "bench", since_ms=ts0, now_ms=upto + 60_000)
            ctx.close()
            env = fresh_env(home)
            env["TRADEBOT_HOME"] = th
            dt, cpu, _ = timed([tradebot, "paper", "--account", "bench"], env)
            best = min(best, (dt, cpu))
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000, choices=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3, help="cron step: best of N")
    ap.add_argument("--skip-cron", action="store_true")
    args = ap.parse_args(argv)
    tradebot = str(Path(sys.executable).with_name("tradebot"))
    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="tradebot-coldstart-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = fresh_env(home)
        steps = [
            ("backtest --strategy rsi", ["backtest", "--strategy", "rsi"]),
            ("optimize -s rsi --method grid (4 combos)", OPTIMIZE),
            ("paper --account x --strategy rsi --exchange sim", None),
        ]
        for label, cmd in steps:
            for k, kind in enumerate(("first", "warm")):
                if cmd is None:  # a new account each time: the same work
                    cmd_k = ["paper", "--account", f"x{k}", "--strategy", "rsi", "--exchange", "sim"]
                else:
                    cmd_k = cmd
                dt, cpu, err = timed([tradebot, *cmd_k], env)
                notice = "compile notice" if "compiling" in err else ""
                rows.append((f"{label} ({kind})", dt, cpu, notice))
                print(f"  {label:<50} {kind:<5} {dt:7.1f} s  cpu {cpu:6.1f} s  {notice}",
                      flush=True)
        if not args.skip_cron:
            dt, cpu = cron_step(tradebot, args.rows, args.repeat, home)
            label = f"cron paper step, 1 new candle on {args.rows:,} cached"
            rows.append((label, dt, cpu, f"best of {args.repeat}"))
            print(f"  {label:<50} warm  {dt:7.2f} s  cpu {cpu:6.2f} s", flush=True)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print()
    print(f"load average {load:.1f} on {os.cpu_count()} cores")
    print("| command (fresh process; empty home and kernel cache before the first) | wall s | CPU s |")
    print("|---|---:|---:|")
    for label, dt, cpu, note in rows:
        print(f"| `tradebot {label}` | {dt:.1f} | {cpu:.1f} |" if not label.startswith("cron")
              else f"| {label} ({note}) | {dt:.2f} | {cpu:.2f} |")
    out = workload.OUT_DIR / "coldstart.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"load_1min": load, "cpus": os.cpu_count(),
                               "results": [{"step": s, "seconds": d, "cpu_seconds": c}
                                           for s, d, c, _ in rows]}, indent=1))
    print(f"... wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
