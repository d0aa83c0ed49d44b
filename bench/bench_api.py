"""The API under load on loopback, against a real ``tradebot serve`` process.

    python bench/bench_api.py [--rate 200] [--clients 20] [--seconds 30] [--bars 1000000]

A temporary home gets a stored backtest of ``--bars`` 1-minute bars (sim market, rsi) and a
small one (1h, two months); then:

A. equity of the long run: ``resolution=day`` (stored end-of-day equity) over 20 requests,
   and ``resolution=bar`` (every bar, re-run once and downsampled to 4000 points): the first
   request (the re-run) and 20 more (served from memory). Target: <= 200 ms.
B. load: ``--clients`` concurrent clients (asyncio, one keep-alive connection each) send
   ``--rate`` requests per second in total, on a fixed schedule, for ``--seconds``, spread
   over the read routes (runs, run report, run equity, strategies, accounts, bots, jobs,
   datasets, version). Target: p99 <= 250 ms, no errors.

Prints one JSON object (also written to bench/out/api.json) and PASS/FAIL lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def tradebot_cmd() -> list[str]:
    script = Path(sys.executable).parent / "tradebot"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tradebot.cli.entry"]


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
    return {**env, "TRADEBOT_HOME": str(home)}


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def run(home: Path, *args: str) -> str:
    out = subprocess.run([*tradebot_cmd(), *args], env=env_for(home), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"tradebot {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def backtest(home: Path, timeframe: str, since: str, until: str) -> int:
    rep = json.loads(run(home, "backtest", "--strategy", "rsi", "--exchange", "sim", "--symbol", "BTC/USDT",
                         "-t", timeframe, "--since", since, "--until", until, "--json"))
    return int(rep["header"]["run_id"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed_get(client: httpx.Client, path: str, **params: object) -> float:
    t0 = time.perf_counter()
    r = client.get(path, params=params)
    dt = (time.perf_counter() - t0) * 1000
    r.raise_for_status()
    return dt


async def load(url: str, token: str, paths: list[str], rate: float, clients: int, seconds: float) -> dict[str, object]:
    interval = clients / rate  # each client's period
    lat: list[float] = []
    errors: list[str] = []
    start = time.perf_counter() + 0.5

    async def client_task(k: int) -> None:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                     timeout=10.0) as c:
            n = 0
            while True:
                due = start + k * interval / clients + n * interval
                if due - start >= seconds:
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                path = paths[(k + n) % len(paths)]
                t0 = time.perf_counter()
                try:
                    r = await c.get(path)
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code} {r.text[:200]}")
                except httpx.HTTPError as e:
                    errors.append(f"{path}: {type(e).__name__}")
                lat.append((time.perf_counter() - t0) * 1000)  # from the send, not the schedule
                n += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client_task(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    return {"requests": len(lat), "errors": len(errors), "error_samples": errors[:5],
            "achieved_rate": round(len(lat) / max(wall - 0.5, 1e-9), 1),
            "p50_ms": round(pct(lat, 0.50), 1), "p95_ms": round(pct(lat, 0.95), 1),
            "p99_ms": round(pct(lat, 0.99), 1), "max_ms": round(max(lat), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="Keep the temporary home.")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-api-")) / "home"
    proc = None
    try:
        print(f"storing a {args.bars:,}-bar run and a small one in {home}…", file=sys.stderr)
        t0 = time.perf_counter()
        since_ms = 1_640_995_200_000  # 2022-01-01
        until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((since_ms + args.bars * 60_000) / 1000))
        long_id = backtest(home, "1m", "2022-01-01", until)
        small_id = backtest(home, "1h", "2024-01-01", "2024-03-01")
        setup_s = time.perf_counter() - t0
        token = run(home, "api", "token", "create", "--name", "bench", "--scope", "read").strip()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([*tradebot_cmd(), "serve", "--port", str(port), "--no-bots", "--log-level",
                                 "warning"], env=env_for(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as c:
            eq = c.get(f"/api/runs/{long_id}/equity").json()
            day = [timed_get(c, f"/api/runs/{long_id}/equity") for _ in range(20)]
            cold = timed_get(c, f"/api/runs/{long_id}/equity", resolution="bar")
            bar = c.get(f"/api/runs/{long_id}/equity", params={"resolution": "bar"}).json()
            warm = [timed_get(c, f"/api/runs/{long_id}/equity", resolution="bar") for _ in range(20)]
        equity = {"bars": bar["points"], "day_points": eq["points"], "bar_points_returned": bar["returned"],
                  "day_median_ms": round(statistics.median(day), 1), "day_max_ms": round(max(day), 1),
                  "bar_first_ms": round(cold, 1), "bar_warm_median_ms": round(statistics.median(warm), 1),
                  "bar_warm_max_ms": round(max(warm), 1)}
        print(f"load: {args.rate:g} req/s from {args.clients} clients for {args.seconds:g} s…", file=sys.stderr)
        paths = ["/api/runs", f"/api/runs/{small_id}", f"/api/runs/{small_id}/equity", "/api/strategies",
                 "/api/accounts", "/api/bots", "/api/jobs", "/api/market/datasets", "/api/version",
                 f"/api/runs/{long_id}/equity"]
        loaded = asyncio.run(load(url, token, paths, args.rate, args.clients, args.seconds))
        out = {"setup_s": round(setup_s, 1), "equity_long_run": equity, "load": loaded,
               "rate": args.rate, "clients": args.clients, "seconds": args.seconds, "cpus": os.cpu_count(),
               "loadavg_1m": round(os.getloadavg()[0], 2)}
        text = json.dumps(out, indent=2)
        print(text)
        dest = Path(__file__).resolve().parent / "out" / "api.json"
        dest.parent.mkdir(exist_ok=True)
        dest.write_text(text + "\n")
        ok_eq = equity["day_max_ms"] <= 200 and equity["bar_warm_max_ms"] <= 200
        ok_load = loaded["p99_ms"] <= 250 and loaded["errors"] == 0  # type: ignore[operator]
        print(f"{'PASS' if ok_eq else 'FAIL'}: equity of the {equity['bars']:,}-bar run <= 200 ms "
              f"(day max {equity['day_max_ms']} ms, bar warm max {equity['bar_warm_max_ms']} ms, "
              f"bar first {equity['bar_first_ms']} ms)")
        print(f"{'PASS' if ok_load else 'FAIL'}: p99 {loaded['p99_ms']} ms <= 250 ms and {loaded['errors']} errors "
              f"at {loaded['achieved_rate']} req/s")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
