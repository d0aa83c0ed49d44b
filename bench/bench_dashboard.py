"""The web dashboard's response times on loopback, against a real ``tradebot serve``.

    python bench/bench_dashboard.py [--repeat 20]

A temporary home gets a stored backtest (sim market, 1h, two months) and a paper account
(macd, 15m, ten days of sim candles); then:

A. API: median and p95 of the dashboard's own routes (overview, market view of the account
   and of the run, the events snapshot) over ``--repeat`` requests, one client.
B. browser (headless Chromium through Playwright, skipped when absent): time from navigation
   to the page being shown (``body[data-ready]``) and every chart drawn, median of 3 loads.
C. live activity: from the commit of a paper run's ledger to its first fill arriving on an
   open event stream (poll interval 1 s, the default), median over 5 runs.
"""

from __future__ import annotations

import argparse
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

H = 3_600_000
TF = 15 * 60_000


def tradebot_cmd() -> list[str]:
    script = Path(sys.executable).parent / "tradebot"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tradebot.cli.entry"]


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
    return {**env, "TRADEBOT_HOME": str(home)}


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    import datetime as dt

    from tradebot.core.config import load_settings
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services.api_tokens import create_token
    from tradebot.services.context import Context
    from tradebot.services.paper import run_paper

    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    home = tmp / "home"
    subprocess.run([*tradebot_cmd(), "backtest", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1h",
                    "--since", "2024-01-01", "--until", "2024-03-01"], env=env_for(home), check=True,
                   capture_output=True)
    ctx = Context(load_settings(overrides={"home": str(home), "strategy": {"name": "macd", "params": {}},
                                           "market": {"exchange": "binance", "symbol": "BTC/USDT",
                                                      "timeframe": "15m"}}, env={}))
    start = (int(time.time() * 1000) // TF) * TF - 3 * 24 * H
    run_paper(ctx, "demo", source="sim", since_ms=start - 10 * 24 * H, now_ms=start)
    token = create_token(ctx.store, "bench", "read", dt.timedelta(hours=1))[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*tradebot_cmd(), "serve", "--port", str(port), "--no-bots", "--log-level", "warning"],
                            env=env_for(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        auth = {"Authorization": f"Bearer {token}"}
        print("A. API (ms, one client on loopback)")
        with httpx.Client(base_url=url, headers=auth, timeout=60) as c:
            for path in ("/api/dashboard/overview", "/api/dashboard/market/account/demo",
                         "/api/dashboard/market/run/1", "/api/events?backlog=50"):
                c.get(path).raise_for_status()  # warm
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    c.get(path).raise_for_status()
                    times.append((time.perf_counter() - t0) * 1000)
                print(f"  {path:40s} median {statistics.median(times):7.1f}  p95 {pct(times, 0.95):7.1f}")
        browser_times(url, token)
        print("C. live activity: ledger commit -> first fill on the event stream (ms)")
        lat = []
        with httpx.Client(base_url=url, headers={**auth, "Accept": "text/event-stream"}, timeout=60) as c, \
                c.stream("GET", "/api/events", params={"backlog": 0, "max_seconds": 600}) as resp:
            lines = resp.iter_lines()
            for line in lines:  # up to the end of the (empty) backlog
                if line.startswith("id:"):
                    break
            for _ in range(5):
                with ctx.store.session() as session:
                    acct = PaperRepository(session).get("demo")
                fills = 0
                hours = 12
                while not fills:  # advance until a step has a fill
                    before = _count_fills(ctx)
                    run_paper(ctx, "demo", source="sim", now_ms=int(acct.last_bar_ms + TF + hours * H))
                    t0 = time.perf_counter()
                    fills = _count_fills(ctx) - before
                    hours += 12
                kind = ""
                for line in lines:  # the first fill of this run (older ones may still be queued)
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif (line.startswith("data:") and kind == "fill"
                          and json.loads(line[5:])["ts_ms"] > acct.last_bar_ms):
                        lat.append((time.perf_counter() - t0) * 1000)
                        break
        print(f"  median {statistics.median(lat):.0f}  max {max(lat):.0f}  (poll interval 1000)")
    finally:
        proc.terminate()
        proc.wait(15)
        ctx.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _count_fills(ctx) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from tradebot.data.models import PaperFill

    with ctx.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(PaperFill)) or 0)


def browser_times(url: str, token: str) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("B. browser: skipped (no chromium or playwright)")
        return
    print("B. browser: page shown with every chart drawn (ms, median of 3): a full load of the page,")
    print("   and a move to it inside the dashboard (plotly.js already loaded by an earlier chart)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/")
        page.fill("#token", token)
        page.click("#login-submit")
        page.wait_for_selector("body[data-ready=overview]")

        def shown(route: str) -> None:
            page.wait_for_selector(f"body[data-ready='{route.split('/')[0]}']", timeout=60_000)
            while not page.evaluate(
                    "() => [...document.querySelectorAll('[data-chart]')].every(e => e.dataset.drawn === '1')"):
                time.sleep(0.01)

        for route in ("overview", "performance", "market/demo", "run/1", "control"):
            full, inside = [], []
            for _ in range(3):
                page.goto("about:blank")
                t0 = time.perf_counter()
                page.goto(f"{url}/dashboard/#/{route}")
                shown(route)
                full.append((time.perf_counter() - t0) * 1000)
                page.evaluate("() => { location.hash = '#/activity'; }")
                page.wait_for_selector("body[data-ready=activity]")
                t0 = time.perf_counter()
                page.evaluate(f"() => {{ location.hash = '#/{route}'; }}")
                shown(route)
                inside.append((time.perf_counter() - t0) * 1000)
            print(f"  #/{route:20s} full load {statistics.median(full):6.0f}   in the dashboard "
                  f"{statistics.median(inside):6.0f}")
        b.close()


if __name__ == "__main__":
    main()
