"""How long one intent takes from "decided" to "answered" on the replay exchange.

Each intent goes through ``submit_or_adopt``: the write-ahead ``put`` (JSON file, atomic
with fsync), the client-id lookup (signed GET), the ``sent`` ``put``, the signed POST and
the final ``put`` — the path between a candle's close and an order on the exchange,
without the strategy. Prints the median, p95 and max per intent and per part.

    .venv/bin/python bench/bench_live_orders.py [--intents 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.orders import OrderRecord
from tradebot.engine.order_journal import JsonOrderJournal
from tradebot.engine.orders import submit_or_adopt
from tradebot.exchanges.ccxt_exchange import CcxtExchange
from tradebot.testing.replay_exchange import ReplayExchange, ReplayMarket

KEY, SECRET = "bench-key", "bench-secret"


def candles(n: int = 2000) -> Candles:
    rng = np.random.default_rng(1)
    close = np.round(30_000 + np.cumsum(rng.normal(0, 20, n)), 2)
    open_ = np.round(np.r_[close[0], close[:-1]], 2)
    high = np.round(np.maximum(open_, close) + 5, 2)
    low = np.round(np.minimum(open_, close) - 5, 2)
    ts = 1_700_000_000_000 // 60_000 * 60_000 + np.arange(n, dtype=np.int64) * 60_000
    volume = np.round(rng.uniform(0.5, 50, n), 5)
    return Candles(ts, open_, high, low, close, volume, symbol="BTC/USDT", timeframe="1m")


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=200)
    args = parser.parse_args()
    c = candles()
    with ReplayExchange(ReplayMarket("BTC/USDT", c), api_keys={KEY: SECRET},
                        balances={"USDT": 1e9, "BTC": 1e6}) as rx, tempfile.TemporaryDirectory() as tmp:
        ex = CcxtExchange("binance", base_url=rx.url, api_key=KEY, secret=SECRET, rate_limit=False)
        ex.load_markets()
        journal = JsonOrderJournal(Path(tmp) / "orders.json")
        lookups, totals = [], []
        for i in range(args.intents):
            intent = OrderRecord.intend("bench", "BTC/USDT", int(c.timestamp[0]) + i * 60_000, "entry",
                                        "buy" if i % 2 else "sell", "market", 0.01, None, now_ms=0)
            t0 = time.perf_counter()
            ex.fetch_order_by_client_id("tb-absent-" + str(i), "BTC/USDT")
            t1 = time.perf_counter()
            result = submit_or_adopt(journal, ex, intent, now_ms=i)
            t2 = time.perf_counter()
            assert result.action == "sent", result
            lookups.append((t1 - t0) * 1000)
            totals.append((t2 - t1) * 1000)
        sends = [e for e in rx.request_log if e.endpoint == "order_new"]
        print(f"intents: {args.intents}, orders placed: {len(sends)} (one per intent)")
        print(f"lookup by client id:      median {statistics.median(lookups):6.2f} ms  "
              f"p95 {pct(lookups, 0.95):6.2f} ms")
        print(f"submit_or_adopt (3 puts, lookup, send): median {statistics.median(totals):6.2f} ms  "
              f"p95 {pct(totals, 0.95):6.2f} ms  max {max(totals):6.2f} ms  (budget: 1000 ms per step)")
        print(f"journal of {len(journal.records)} records: {journal.path.stat().st_size / 1024:.0f} KiB, "
              "one fsynced line appended per put")


if __name__ == "__main__":
    main()
