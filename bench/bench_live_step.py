"""From candle close to order sent: one whole ``tradebot live`` step process on the replay exchange.

``python bench/bench_live_step.py [--steps 12] [--importtime]``

A live account (real orders: keys in the environment, ``live.enabled``,
``--yes-i-understand-real-money``) trades a short-period RSI on 1-minute candles of the
replay exchange (:mod:`tradebot.testing.live_harness`; no faults). For each step the
exchange's clock is put at a candle's close and a *cold* ``tradebot live`` process is
started at once (the numba kernel cache warm: one step runs before the timed ones); the
figure is the time from that instant to the order's arrival at the exchange, over the
steps that sent an order (target <= 1 s, issue 15), with the whole process's wall time.

The breakdown comes from as many steps of a second account (its own exchange) run through
this script as a wrapper (``--child``, a few ms dearer): the child times, from the
process's start, the interpreter, the imports, the command up to the service, then each
part of the step in the order it runs (kill switch, own open orders, reconciliation,
fills, the catch-up fetch, strategy signals, the portfolio loop, this bar's orders, the
ticker, ``submit_or_adopt``) and the first ``submit_or_adopt`` up to the order's arrival.
``--importtime`` adds ``python -X importtime`` of one step: the imports that cost most, by
top-level package and by module. The CPU time and the load average are printed with the
figures: on a shared machine the wall times are the load's as much as tradebot's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PARAMS = ("-p", "period=2", "-p", "lower=45", "-p", "upper=55")  # trades every few bars

# (module, attribute path, part, label): timed in the child, in the order a step runs them;
# missing ones are skipped. Parts nest (the market part holds the fetch and the signals).
TIMED: tuple[tuple[str, str, str, str], ...] = (
    ("tradebot.services.live", "run_live", "service", "the whole service call"),
    ("tradebot.exchanges.ccxt_exchange", "CcxtExchange.load_markets", "markets", "load markets (exchangeInfo)"),
    ("tradebot.services.live_run", "LiveRun._kill_switch", "kill", "kill switch"),
    ("tradebot.services.live_run", "LiveRun._look_up_open", "lookup", "look up own open orders"),
    ("tradebot.services.live_run", "LiveRun._reconcile", "reconcile", "reconcile (balances, open orders)"),
    ("tradebot.services.live_run", "LiveRun._sync_fills", "fills", "take fills (every call)"),
    ("tradebot.services.live_run", "LiveRun._market", "market", "candles and signals"),
    ("tradebot.data.downloader", "Downloader.fetch", "fetch", "  of which catch-up fetch into the cache"),
    ("tradebot.strategies.base", "Strategy.signals_for", "signals", "  of which strategy signals"),
    ("tradebot.services.live_run", "LiveRun._advance", "advance", "engine: advance the loop, store the step"),
    ("tradebot.engine.portfolio", "advance_portfolio", "loop", "  portfolio loop (every call, targets too)"),
    ("tradebot.services.live_run", "LiveRun._refresh_open", "refresh", "orders of earlier runs"),
    ("tradebot.services.live_run", "LiveRun._orders", "orders", "this bar's intents, checks, sending"),
    ("tradebot.services.live_run", "LiveRun._last_price", "ticker", "  of which last price (ticker)"),
    ("tradebot.engine.orders", "submit_or_adopt", "submit", "  of which submit_or_adopt"),
)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


# ------------------------------------------------------------------------------------- child
def child(argv: list[str]) -> None:
    """Run ``tradebot ARGV`` in this process with timers; write them to $BENCH_TIMINGS."""
    t_main = time.time()
    import importlib

    from tradebot.core.startup import pause_gc

    pause_gc()  # as the console script does first (the wrapper imports the live modules early)

    t0 = float(os.environ["BENCH_T0"])
    parts: dict[str, float] = {}
    firsts: dict[str, float] = {}
    depth: dict[str, int] = {}

    def wrap(part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*a: Any, **k: Any) -> Any:
            start = time.time()
            firsts.setdefault(part, start - t0)
            depth[part] = depth.get(part, 0) + 1
            try:
                return fn(*a, **k)
            finally:
                depth[part] -= 1
                if depth[part] == 0:  # nested calls count once
                    parts[part] = parts.get(part, 0.0) + time.time() - start
        return timed

    from tradebot.cli.entry import main

    t_cli = time.time()
    for mod_name, attr, part, _ in TIMED:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        owner: Any = mod
        *path, name = attr.split(".")
        for p in path:
            owner = getattr(owner, p, None)
        if owner is None or not hasattr(owner, name):
            continue
        setattr(owner, name, wrap(part, getattr(owner, name)))
    t_patched = time.time()
    code = 0
    sys.argv = ["tradebot", *argv]
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0) if not isinstance(e.code, str) else 1
    finally:
        Path(os.environ["BENCH_TIMINGS"]).write_text(json.dumps({
            "interpreter": t_main - t0, "cli_import": t_cli - t_main, "timer_setup": t_patched - t_cli,
            "parts": parts, "firsts": firsts, "end": time.time() - t0, "code": code}))
    raise SystemExit(code)


# ------------------------------------------------------------------------------------ parent
def live_args(symbol: str) -> list[str]:
    return ["live", "--account", "bench", "--exchange", "binance", "--symbol", symbol, "-t", "1m",
            "--strategy", "rsi", *PARAMS, "--yes-i-understand-real-money"]


def step(h: Any, home: Path, wrapper: bool) -> dict[str, Any] | None:
    """One ``tradebot live`` process started right at the bar's close (the clock is set):
    the times when it sent an order, else None."""
    import resource
    import subprocess

    from tradebot.testing.live_harness import tradebot_command

    env = h.env(home)
    before = len(h.order_arrivals)
    timings = home / "timings.json"
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    env["BENCH_T0"], env["BENCH_TIMINGS"] = repr(t0), str(timings)
    cmd = ([sys.executable, str(HERE), "--child"] if wrapper else tradebot_command()) + live_args("BTC/USDT")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"tradebot live failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    arrivals = h.order_arrivals[before:]
    if not arrivals:
        return None
    out: dict[str, Any] = {"to_order": arrivals[0][0] - t0, "wall": wall, "cpu": cpu}
    if wrapper:
        out.update(json.loads(timings.read_text()))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # the timing wrapper around one tradebot process
        child(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12, help="timed steps that send an order (>= 10)")
    ap.add_argument("--importtime", action="store_true", help="also python -X importtime of one step")
    args = ap.parse_args(argv)
    import subprocess

    from tradebot.testing.live_harness import LiveHarness, walk

    n_bars = 400
    candles = walk("BTC/USDT", n_bars, seed=11)
    plain: list[dict[str, Any]] = []
    probed: list[dict[str, Any]] = []
    importtime = None
    with tempfile.TemporaryDirectory() as tmp:
        # one exchange (and account) per pass: each account reconciles against its own exchange
        for runs, wrapper in ((plain, False), (probed, True)):
            home = Path(tmp) / ("probe" if wrapper else "plain")
            home.mkdir()
            with LiveHarness([candles]) as h:
                bar = 100  # the bars before: the strategy's warm-up
                h.close_bar(bar)
                step(h, home, False)  # creates the account, warms the kernel cache
                while len(runs) < args.steps:
                    bar += 1
                    if bar >= n_bars - 1:
                        raise SystemExit("ran out of bars before enough steps sent an order")
                    h.close_bar(bar)
                    r = step(h, home, wrapper)
                    if r is not None:
                        runs.append(r)
                if args.importtime and not wrapper:
                    h.close_bar(bar + 1)
                    env = h.env(home)
                    done = subprocess.run([sys.executable, "-X", "importtime", "-c",
                                           "from tradebot.cli.entry import main; main()", *live_args("BTC/USDT")],
                                          env=env, capture_output=True, text=True, timeout=300)
                    if done.returncode != 0:
                        raise SystemExit(f"importtime run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
                    importtime = parse_importtime(done.stderr)
                    (HERE.parent / "out").mkdir(exist_ok=True)
                    (HERE.parent / "out" / "live_importtime.txt").write_text(done.stderr)

    to_order = [r["to_order"] for r in plain]
    walls = [r["wall"] for r in plain]
    med, p95 = statistics.median(to_order), pct(to_order, 0.95)
    print(f"tradebot live step on the replay exchange, rsi 2/45/55 on 1m candles, {len(plain)} steps that "
          f"sent an order (cold processes, warm kernel cache)")
    print(f"  candle close -> order at the exchange: median {med:.3f} s, p95 {p95:.3f} s, max {max(to_order):.3f} s "
          f"(target <= 1 s: {'met' if p95 <= 1.0 else 'median met, p95 not' if med <= 1.0 else 'NOT met'})")
    cpus = [r["cpu"] for r in plain]
    print(f"  whole process (start to exit):       median {statistics.median(walls):.3f} s, "
          f"p95 {pct(walls, 0.95):.3f} s; CPU (user + system) median {statistics.median(cpus):.3f} s")
    print(f"  load average during the run: {os.getloadavg()[0]:.2f} (1 min), on {os.cpu_count()} cores")
    print(f"  breakdown (medians of {len(probed)} steps run through the timing wrapper, seconds):")
    rows = breakdown(probed)
    for name, value in rows:
        print(f"    {name:<56} {value:6.3f}")
    if importtime:
        print("  imports of one step (python -X importtime, cumulative s):")
        for name, value in importtime["packages"][:12]:
            print(f"    {name:<44} {value:6.3f}")
        print("  slowest tradebot modules (self + their own imports, s):")
        for name, value in importtime["tradebot"][:12]:
            print(f"    {name:<44} {value:6.3f}")
    out = HERE.parent / "out" / "live_step.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"to_order": to_order, "wall": walls, "cpu": cpus, "median_s": med, "p95_s": p95,
                               "loadavg": os.getloadavg(),
                               "breakdown": dict(rows), "importtime": importtime, "probed": probed}, indent=1))
    print(f"... wrote {out}")
    return 0


def breakdown(probed: list[dict[str, Any]]) -> list[tuple[str, float]]:
    med = statistics.median
    rows = [
        ("interpreter start", med(r["interpreter"] for r in probed)),
        ("import the CLI", med(r["cli_import"] for r in probed)),
        ("import the live modules (the wrapper does it early)", med(r["timer_setup"] for r in probed)),
        ("CLI until the service (options, settings)",
         med(r["firsts"].get("service", r["end"]) - r["interpreter"] - r["cli_import"] - r["timer_setup"]
             for r in probed)),
    ]
    rows += [(label, med(float(r["parts"].get(part, 0.0)) for r in probed)) for _, _, part, label in TIMED]
    rows += [
        ("service start -> first submit_or_adopt",
         med(r["firsts"].get("submit", 0.0) - r["firsts"].get("service", 0.0) for r in probed)),
        ("first submit_or_adopt -> order at the exchange",
         med(r["to_order"] - r["firsts"].get("submit", r["to_order"]) for r in probed)),
        ("candle close -> order at the exchange (wrapped)", med(r["to_order"] for r in probed)),
        ("order sent -> process exit", med(r["end"] - r["to_order"] for r in probed)),
    ]
    return rows


def parse_importtime(stderr: str) -> dict[str, list[tuple[str, float]]]:
    """``-X importtime`` lines -> cumulative seconds by top-level package and by tradebot module."""
    packages: dict[str, float] = {}
    tb: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            _, cum_us, name = line.split(":", 1)[1].split("|")
            cum = int(cum_us.strip()) / 1e6
        except ValueError:  # the header line
            continue
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        mod = name.strip()
        if depth == 0:  # a top-level import: its cumulative time counts for its package
            top = mod.split(".")[0]
            packages[top] = packages.get(top, 0.0) + cum
        if mod.startswith("tradebot"):
            tb[mod] = max(tb.get(mod, 0.0), cum)
    order = lambda d: sorted(d.items(), key=lambda kv: -kv[1])  # noqa: E731
    return {"packages": order(packages), "tradebot": order(tb)}


if __name__ == "__main__":
    raise SystemExit(main())
