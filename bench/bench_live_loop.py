"""From candle close to order sent in a running ``tradebot live --loop`` (a warm process).

``python bench/bench_live_loop.py [--steps 20]``

``--loop`` keeps the process, its imports, the compiled kernels and the exchange adapter
(markets loaded once) between candles: at each close it runs one step. This bench drives
that step (:func:`tradebot.services.live.run_live` with a reused adapter, as the loop calls
it) against the replay exchange (:mod:`tradebot.testing.live_harness`, keys checked, real
orders: ``live.enabled``), closing one 1-minute candle after another. For each step that
sent an order it reports the time from the candle's close (the instant the exchange's
clock moved) to the order's arrival at the exchange, and the whole step. The loop itself
wakes ``LOOP_DELAY_S`` after the close (tradebot.cli.live); add it for the wall figure.
A cold process (cron) pays the interpreter, the imports and the kernels' cache loads on
top: ``bench/bench_live_step.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="steps that send an order to time")
    args = ap.parse_args(argv)

    from tradebot.cli.live import LOOP_DELAY_S
    from tradebot.core.config import load_settings
    from tradebot.core.pairs import PairList
    from tradebot.services.context import Context
    from tradebot.services.live import open_exchange, run_live
    from tradebot.testing.live_harness import KEY, SECRET, LiveHarness, walk

    os.environ["TRADEBOT_EXCHANGES__BINANCE__API_KEY"] = KEY
    os.environ["TRADEBOT_EXCHANGES__BINANCE__SECRET"] = SECRET
    n = 100 + 12 * args.steps + 50
    with LiveHarness([walk("BTC/USDT", n, seed=11)]) as h, tempfile.TemporaryDirectory() as tmp:
        ov = {"home": tmp, "market": {"exchange": "binance", "timeframe": "1m"},
              "strategy": {"name": "rsi", "params": {"period": 2, "lower": 45, "upper": 55}},
              "exchanges": {"binance": {"base_url": h.url, "rate_limit": False, "timeout_ms": 5000}},
              "live": {"enabled": True, "max_price_deviation_pct": 50.0}}
        ctx = Context(load_settings(env={}, overrides=ov))
        pairs = PairList(("BTC/USDT",), "bench")
        ex = open_exchange(ctx, "bench")
        to_order: list[float] = []
        step: list[float] = []
        bar = 100
        try:
            while len(to_order) < args.steps and bar < n - 2:
                h.close_bar(bar)
                before = len(h.order_arrivals)
                t0 = time.time()
                run_live(ctx, "bench", pairs, yes=True, exchange=ex)
                t1 = time.time()
                arrivals = h.order_arrivals[before:]
                if arrivals and bar > 100:  # the first step creates the account and compiles
                    to_order.append(arrivals[0][0] - t0)
                    step.append(t1 - t0)
                bar += 1
        finally:
            ex.close()
            ctx.close()
        assert not h.duplicates()
    ms = [1000 * x for x in to_order]
    print(f"bench_live_loop: {len(ms)} steps that sent an order (bars 101..{bar - 1}), machine load "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    print(f"  candle close -> order at the exchange: median {statistics.median(ms):.0f} ms, "
          f"p95 {pct(ms, 0.95):.0f} ms, max {max(ms):.0f} ms")
    print(f"  whole step (fills taken): median {1000 * statistics.median(step):.0f} ms")
    print(f"  --loop wakes {1000 * LOOP_DELAY_S:.0f} ms after the close: close -> order "
          f"{statistics.median(ms) + 1000 * LOOP_DELAY_S:.0f} ms median (target <= 1000 ms)")


if __name__ == "__main__":
    sys.exit(main())
