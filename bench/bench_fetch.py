"""Download speed and memory: `tradebot fetch` from the replay exchange into the cache.

``python bench/bench_fetch.py [--sizes 100000 1000000] [--dialect binance]``

Serves the standard workload's 1-minute candles (bench/workload.py) from the replay
exchange (tradebot.testing.replay_exchange) on 127.0.0.1 with rate limits off, then
times a fresh ``tradebot fetch`` process end to end (process start to exit, ccxt paging,
parsing, validation, checkpoints, the final Parquet write and the store). Prints candles
per second and the client's peak RSS per size: memory should stay flat in the number of
candles fetched (target: >= 100,000 candles/s). Also times ccxt's own kline parsing
alone, the part of the path tradebot does not control.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import workload  # noqa: E402


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _child_rss_kb(cmd: list[str], env: dict[str, str]) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Run ``cmd`` under a tiny launcher so ru_maxrss is the child's own peak."""
    launcher = (
        "import resource,subprocess,sys,json,time;"
        "t=time.perf_counter();p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "dt=time.perf_counter()-t;"
        "print(json.dumps({'rc':p.returncode,'s':dt,'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
        "'err':p.stderr[-2000:],'out':p.stdout[-2000:]}))"
    )
    done = subprocess.run([sys.executable, "-c", launcher, *cmd], env=env, capture_output=True,
                          text=True, check=True)
    info = json.loads(done.stdout)
    proc = subprocess.CompletedProcess(cmd, info["rc"], info["out"], info["err"])
    return info["s"], info["rss"], proc


def ccxt_parse_rate(rows: int = 1000, repeat: int = 20) -> float:
    import ccxt

    ex = ccxt.binance()
    raw = [[1_700_000_000_000 + 60_000 * i, "30000.1", "30010.0", "29990.0", "30005.5", "12.3",
            1_700_000_059_999 + 60_000 * i, "370000.1", 100, "6.1", "183000.0", "0"]
           for i in range(rows)]
    market = {"id": "BTCUSDT", "symbol": "BTC/USDT", "spot": True, "type": "spot"}
    t = time.perf_counter()
    for _ in range(repeat):
        ex.parse_ohlcvs(raw, market, "1m", None, rows)
    return rows * repeat / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dialect", default="binance", choices=["binance", "okx"])
    args = ap.parse_args(argv)

    from tradebot.testing.replay_exchange import ReplayExchange, ReplayMarket

    workload.ensure_data(sizes=[1_000_000], verbose=False)
    arrays = workload.load_arrays(1_000_000)
    from tradebot.core.candles import Candles

    full = Candles(arrays["timestamp"], arrays["open"], arrays["high"], arrays["low"],
                   arrays["close"], arrays["volume"])
    tradebot = str(Path(sys.executable).with_name("tradebot"))
    rows_out = []
    print(f"tradebot fetch from the replay exchange ({args.dialect} dialect), rate limits off")
    print(f"  ccxt kline parsing alone: {ccxt_parse_rate():,.0f} candles/s")
    print(f"  {'candles':>10}  {'seconds':>8}  {'candles/s':>10}  {'peak RSS':>9}  requests")
    for n in args.sizes:
        market = ReplayMarket("BTC/USDT", full.slice(0, n + 1), "1m")  # +1: the open candle
        with ReplayExchange(market, dialect=args.dialect) as server, \
                tempfile.TemporaryDirectory() as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
            prefix = f"TRADEBOT_EXCHANGES__{args.dialect.upper()}__"
            env.update({"TRADEBOT_HOME": home, prefix + "BASE_URL": server.url,
                        prefix + "RATE_LIMIT": "false", "TRADEBOT_FETCH__CHECKPOINT_SECONDS": "30"})
            cmd = [tradebot, "fetch", args.dialect, "BTC/USDT", "-t", "1m", "--since",
                   _iso(int(arrays["timestamp"][0]))]
            seconds, rss_kb, proc = _child_rss_kb(cmd, env)
            if proc.returncode != 0:
                print(f"  {n:>10,}  failed: {proc.stderr.strip()[-300:]}")
                continue
            requests = server.stats.as_dict()["total_requests"]
        rate = n / seconds
        rows_out.append({"candles": n, "seconds": seconds, "candles_per_s": rate,
                         "peak_rss_mb": rss_kb / 1024, "requests": requests})
        print(f"  {n:>10,}  {seconds:>8.2f}  {rate:>10,.0f}  {rss_kb / 1024:>7.0f} MB  {requests}")
    out = workload.OUT_DIR / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dialect": args.dialect, "rows": rows_out}, indent=1))
    print(f"... wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
