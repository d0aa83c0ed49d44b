"""tradebot's portfolio engine beside vectorbt's grouped cash-sharing simulation.

    python bench/bench_portfolio.py [--markets 20] [--bars 100000] [--repeat 15] [--no-memory]

Workload: ``--markets`` synthetic 1-minute markets of ``--bars`` bars (the WORKLOAD.md
random walk, market i seeded 42 + i, prices rounded to 6 decimals), RSI 14/30/70 level
signals (tradebot's ``RsiStrategy``, computed once, outside the timings), filled at the next
open, long only, fee 0.1 % per side, one cash balance of 100,000 and a fixed stake of
10,000 per position (so the cash runs short: entries are capped or refused).

T. time, best of ``--repeat`` rounds (round robin over the implementations) after a
   warm-up, same process, same arrays:
   - tradebot ``run_portfolio`` (shared cash, ``max_open_positions`` = markets, pair order);
   - vectorbt ``Portfolio.from_signals(..., cash_sharing=True, group_by=True,
     call_seq="auto", size=stake / (1 + fee), size_type="value")`` (the same rules:
     tests/peers/test_vectorbt_portfolio_parity.py);
   - the sum of ``--markets`` single-market tradebot runs (``run_signals``, each with its
     own 10,000 fixed amount and ample cash): what the portfolio loop costs over them.
M. peak memory: each of the three in a fresh subprocess, after a warm-up on a small slice:
   the peak RSS added by one full run (``VmHWM`` reset through ``/proc/self/clear_refs``).

Agreement: the number of trades and the final equity of tradebot and vectorbt (relative
difference) are printed; targets: vectorbt / tradebot >= 10x in time, tradebot's memory
below vectorbt's, portfolio / sum of singles <= 1.5x.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INIT = 100_000.0
STAKE = 10_000.0
FEE = 0.001
T0_MS = 1704067200000


def log(msg: str) -> None:
    print(f"... {msg}", file=sys.stderr, flush=True)


def make_markets(n_markets: int, n_bars: int) -> list[Any]:
    """The WORKLOAD.md random walk per market (seed 42 + i), rounded to 6 decimals."""
    from tradebot.core.candles import Candles

    out = []
    for i in range(n_markets):
        rng = np.random.default_rng(42 + i)
        z = rng.standard_normal((n_bars, 4))
        close = 30000 * np.exp(np.cumsum(0.001 * z[:, 0]))
        open_ = np.empty(n_bars)
        open_[0] = 30000.0
        open_[1:] = close[:-1]
        high = np.maximum(open_, close) * (1 + np.abs(0.0005 * z[:, 1]))
        low = np.minimum(open_, close) * (1 - np.abs(0.0005 * z[:, 2]))
        volume = np.exp(3 + 1 * z[:, 3])
        ts = T0_MS + 60000 * np.arange(n_bars, dtype=np.int64)
        out.append(Candles(ts, *(np.round(a, 6) for a in (open_, high, low, close, volume)),
                           symbol=f"M{i:02d}/USDT", timeframe="1m"))
    return out


def prepare(n_markets: int, n_bars: int) -> dict[str, Any]:
    from tradebot.core.signals import Signals
    from tradebot.engine.portfolio import align
    from tradebot.strategies.builtin.rsi import RsiStrategy

    markets = make_markets(n_markets, n_bars)
    symbols = [c.symbol for c in markets]
    al = align(markets, symbols)
    rsi = RsiStrategy(period=14, lower=30.0, upper=70.0)
    sigs = [rsi.signals_for(c) for c in markets]
    sigs = [Signals(s.entries, s.exits) for s in sigs]

    def shift(a: np.ndarray) -> np.ndarray:
        out = np.zeros_like(a)
        out[1:] = a[:-1]
        return out

    return {
        "markets": markets, "aligned": al, "signals": sigs,
        "vbt_entries": np.column_stack([shift(s.entries) for s in sigs]),
        "vbt_exits": np.column_stack([shift(s.exits) for s in sigs]),
        "close_t": np.ascontiguousarray(al.close.T), "open_t": np.ascontiguousarray(al.open.T),
    }


def run_tradebot(d: dict[str, Any]) -> dict[str, float]:
    from tradebot.engine.config import EngineConfig
    from tradebot.engine.portfolio import PortfolioConfig, run_portfolio

    cfg = EngineConfig(initial_capital=INIT, maker_fee=FEE, taker_fee=FEE)
    al = d["aligned"]
    res = run_portfolio(al, d["signals"], cfg,
                        PortfolioConfig(al.n_markets, stake="fixed", stake_amount=STAKE))
    return {"trades": float(len(res.trades)), "final_equity": res.final_equity}


def run_vectorbt(d: dict[str, Any]) -> dict[str, float]:
    import vectorbt as vbt

    pf = vbt.Portfolio.from_signals(
        d["close_t"], d["vbt_entries"], d["vbt_exits"], price=d["open_t"],
        size=STAKE / (1 + FEE), size_type="value", fees=FEE, init_cash=INIT,
        cash_sharing=True, group_by=True, call_seq="auto", accumulate=False,
        direction="longonly", freq="1min")
    return {"trades": float(pf.trades.count().sum()) if hasattr(pf.trades.count(), "sum")
            else float(pf.trades.count()),
            "final_equity": float(np.asarray(pf.final_value()).reshape(-1)[0])}


def run_singles(d: dict[str, Any]) -> dict[str, float]:
    from tradebot.engine.backtest import run_signals
    from tradebot.engine.config import EngineConfig

    cfg = EngineConfig(initial_capital=INIT, maker_fee=FEE, taker_fee=FEE,
                       sizing="fixed_amount", size_value=STAKE)
    n = 0
    for c, s in zip(d["markets"], d["signals"], strict=True):
        n += len(run_signals(c, s, cfg).trades)
    return {"trades": float(n), "final_equity": float("nan")}


IMPLS: dict[str, Callable[[dict[str, Any]], dict[str, float]]] = {
    "tradebot portfolio": run_tradebot,
    "vectorbt cash sharing": run_vectorbt,
    "tradebot sum of singles": run_singles,
}


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


def child(impl: str, n_markets: int, n_bars: int) -> int:
    """Peak RSS added by one full run of ``impl`` (after a warm-up on a small slice)."""
    IMPLS[impl](prepare(2, 2_000))
    d = prepare(n_markets, n_bars)
    reset = True
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        reset = False
    before = _status_kb("VmRSS")
    IMPLS[impl](d)
    hwm = _status_kb("VmHWM")
    print(json.dumps({"hwm_reset": reset, "rss_before_kb": before, "hwm_kb": hwm}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markets", type=int, default=20)
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--child", nargs=1)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], args.markets, args.bars)
    load_before = _loadavg()
    log(f"{args.markets} markets x {args.bars:,} bars: data and signals")
    d = prepare(args.markets, args.bars)
    outs = {}
    for name, fn in IMPLS.items():
        log(f"warm-up: {name}")
        outs[name] = fn(d)
    # round robin: on a shared machine a burst of load hits every implementation alike
    times = {name: float("inf") for name in IMPLS}
    for r in range(args.repeat):
        log(f"timed round {r + 1}/{args.repeat}")
        for name, fn in IMPLS.items():
            t0 = time.perf_counter()
            fn(d)
            times[name] = min(times[name], time.perf_counter() - t0)
    mem: dict[str, float] = {}
    if not args.no_memory:
        for name in IMPLS:
            log(f"memory: {name} (subprocess)")
            p = subprocess.run([sys.executable, __file__, "--markets", str(args.markets),
                                "--bars", str(args.bars), "--child", name],
                               capture_output=True, text=True, check=False)
            if p.returncode == 0:
                r = json.loads(p.stdout.strip().splitlines()[-1])
                mem[name] = (r["hwm_kb"] - r["rss_before_kb"]) / 1024.0
            else:
                log(f"{name}: exit {p.returncode}: {p.stderr.strip().splitlines()[-1:]}")
    tb, vb, singles = (times["tradebot portfolio"], times["vectorbt cash sharing"],
                       times["tradebot sum of singles"])
    eq_t, eq_v = outs["tradebot portfolio"]["final_equity"], outs["vectorbt cash sharing"][
        "final_equity"]
    print(f"\nportfolio: {args.markets} markets x {args.bars:,} bars, shared cash "
          f"{INIT:,.0f}, stake {STAKE:,.0f}, fee {FEE}")
    print(f"{'implementation':26} {'seconds':>9} {'peak MiB':>9} {'trades':>8} "
          f"{'final equity':>16}")
    for name in IMPLS:
        m = f"{mem[name]:9.1f}" if name in mem else f"{'-':>9}"
        o = outs[name]
        print(f"{name:26} {times[name]:9.4f} {m} {o['trades']:8.0f} {o['final_equity']:16.6f}")
    print(f"\nvectorbt / tradebot time:              {vb / tb:8.1f}x   (target >= 10)")
    if "tradebot portfolio" in mem and "vectorbt cash sharing" in mem:
        print(f"vectorbt / tradebot peak memory:       "
              f"{mem['vectorbt cash sharing'] / max(mem['tradebot portfolio'], 1e-9):8.1f}x"
              "   (target > 1)")
    print(f"portfolio / sum of {args.markets} single runs:   {tb / singles:8.2f}x   "
          "(target <= 1.5)")
    print(f"agreement: trades {outs['tradebot portfolio']['trades']:.0f} vs "
          f"{outs['vectorbt cash sharing']['trades']:.0f}, final equity relative difference "
          f"{abs(eq_t - eq_v) / abs(eq_v):.2e}")
    print(f"load average (1, 5, 15 min): {load_before} before, {_loadavg()} after "
          f"({os.cpu_count()} cores)")
    return 0


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
