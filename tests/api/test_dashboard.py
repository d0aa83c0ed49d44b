"""The web dashboard against a real ``tradebot serve`` on 127.0.0.1 over a home holding a
stored backtest run, a study and a paper account with a bot.

Without a browser: the page and its files (CSP, no inline script, plotly.js from the plotly
package, nothing outside the folder), the overview's numbers against the account report, and
the live activity stream (server-sent events) as a client reads it, with a resume by
Last-Event-ID. In headless Chromium (Debian's, driven by Playwright; skipped when absent):
log in with a token, the run page's equity chart drawn with the run's final equity and trade
count, live activity arriving without a reload, pausing a bot (and the confirmation of the
dangerous actions), every page free of CSP violations and console errors with no request
leaving 127.0.0.1, and the ``report --html`` page drawn offline. Screenshots are saved in the
test's temporary folder and, when set, in $TRADEBOT_TEST_ARTIFACTS."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

H = 3_600_000
TF = 15 * 60_000
#: the paper account's history ends this far before the wall clock; tests advance it from there
START_MS = (int(time.time() * 1000) // TF) * TF - 3 * 24 * H
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SIM = ["--exchange", "sim", "--timeframe", "1h", "--since", "2024-01-01", "--until", "2024-03-01"]


def tradebot_cmd() -> list[str]:
    script = Path(sys.executable).parent / "tradebot"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "tradebot.cli.entry"]


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
    return {**env, "TRADEBOT_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}


def cli(home: Path, *args: str) -> None:
    """``tradebot ARGS`` in this process (no interpreter start-up) with ``home`` as TRADEBOT_HOME."""
    from tradebot.cli.app import main

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(clean_env(home))
    try:
        main(list(args))
    except SystemExit as e:
        assert e.code in (0, None), (args, e.code)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    url: str
    home: Path
    token: str
    ctx: Any  # the test's own Context on the same store (advances the paper account)
    shots: Path  # screenshots are saved here

    def client(self, headers: dict[str, str] | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
                            timeout=60.0)

    def advance(self, hours: float) -> None:
        """Process ``hours`` more candles of the paper account (as a cron run would)."""
        from tradebot.data.paper_repository import PaperRepository
        from tradebot.services.paper import run_paper

        with self.ctx.store.session() as session:
            acct = PaperRepository(session).get("demo")
        run_paper(self.ctx, "demo", source="sim", now_ms=int(acct.last_bar_ms + TF + hours * H))

    def shot(self, page: Any, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        out = self.shots / f"{name}.png"
        page.screenshot(path=str(out), full_page=True)
        assert out.stat().st_size > 5_000
        extra = os.environ.get("TRADEBOT_TEST_ARTIFACTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(out, Path(extra) / f"dashboard-{name}.png")
        return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import datetime as dt

    from tradebot.core.config import load_settings
    from tradebot.services.api_tokens import create_token
    from tradebot.services.bots import create_bot, set_status
    from tradebot.services.context import Context
    from tradebot.services.paper import run_paper

    root = tmp_path_factory.mktemp("dashboard")
    home = root / "home"
    cli(home, "backtest", "--strategy", "rsi", *SIM)
    cli(home, "optimize", "--strategy", "rsi", *SIM, "--space", "period=7,14", "--space", "lower=25,30",
        "--space", "upper=70", "--objective", "sharpe,calmar", "--wf-train", "20d", "--wf-test", "10d")
    ctx = Context(load_settings(overrides={
        "home": str(home), "strategy": {"name": "macd", "params": {}},
        "market": {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "15m"},
        "risk": {"max_trades_per_day": 3}}, env={}))
    run_paper(ctx, "demo", source="sim", since_ms=START_MS - 10 * 24 * H, now_ms=START_MS)
    token = create_token(ctx.store, "browser", "trade", dt.timedelta(days=1))[1]
    create_bot(ctx, "demo-bot", {"account": "demo", "strategy": "macd", "exchange": "binance",
                                 "symbol": "BTC/USDT", "timeframe": "15m", "source": "sim"})
    set_status(ctx, "demo-bot", "start")
    port = free_port()
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen([*tradebot_cmd(), "serve", "--port", str(port), "--no-bots", "--log-level", "warning"],
                            env=clean_env(home), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (root / "serve.log").read_text()
            time.sleep(0.2)
        yield Site(url, home, token, ctx, root / "shots")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        ctx.close()


# -- without a browser ------------------------------------------------------------------------
def test_page_and_files_are_served_safely(site: Site) -> None:
    import plotly

    r = httpx.get(f"{site.url}/", follow_redirects=True)
    assert r.status_code == 200 and str(r.url).endswith("/dashboard/")
    csp = r.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src and script_src.group(1).strip() == "'self'", csp  # no inline or eval'd script
    assert "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
    page = r.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", page, re.I), "inline event handler"
    assert not re.search(r"https?://", page), "a URL off this server"
    srcs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert [u for u in srcs if not u.startswith("#")] == ["data:,", "/dashboard/style.css", "/dashboard/app.js"], srcs
    # every module the page loads, and every module those import, is served from here
    seen, todo = set(), ["app.js"]
    while todo:
        name = todo.pop()
        seen.add(name)
        js = httpx.get(f"{site.url}/dashboard/{name}")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript"), name
        assert "eval(" not in js.text and "innerHTML" not in js.text and "http://" not in js.text, name
        todo += [m for m in re.findall(r'from "\./([a-z_]+\.js)"', js.text) if m not in seen]
    assert {"page_run.js", "page_control.js", "live.js", "charts.js"} <= seen
    # plotly.js is loaded by the first chart, from this server
    assert 's.src = "/dashboard/vendor/plotly.min.js"' in httpx.get(f"{site.url}/dashboard/charts.js").text
    vendored = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert httpx.get(f"{site.url}/dashboard/vendor/plotly.min.js").content == vendored.read_bytes()
    for bad in ("../app.py", "..%2Fapp.py", "secret.txt", "routes_dashboard.py", "nothere.js"):
        assert httpx.get(f"{site.url}/dashboard/{bad}").status_code == 404, bad
    schema = httpx.get(f"{site.url}/openapi.json").json()["paths"]
    assert "/api/events" in schema and "/api/dashboard/overview" in schema
    assert not [p for p in schema if p == "/" or p.startswith("/dashboard")]
    for path in ("/api/events", "/api/dashboard/overview", "/api/dashboard/market/account/demo",
                 "/api/dashboard/market/run/1"):
        assert httpx.get(f"{site.url}{path}").status_code == 401, path


def test_overview_and_market_view_show_the_reports_numbers(site: Site) -> None:
    from tradebot.services.backtest import stored_report
    from tradebot.services.paper import account_report

    rep = account_report(site.ctx, "demo")
    with site.client() as c:
        ov = c.get("/api/dashboard/overview").json()
        mv = c.get("/api/dashboard/market/account/demo").json()
        run = c.get("/api/dashboard/market/run/1").json()
        missing = c.get("/api/dashboard/market/account/nope")
    (a,) = ov["accounts"]
    assert a["account"] == "demo" and a["equity"] == pytest.approx(rep["equity"])
    assert a["pnl_total"] == pytest.approx(rep["equity"] - rep["initial_capital"])
    assert a["days"] == rep["daily_summary"]["days"] and a["daily_target"] == rep["daily_summary"]["target"]
    assert len(a["positions"]) == len(rep["positions"])
    assert ov["totals"]["equity"] == pytest.approx(rep["equity"])
    assert len(mv["trades"]) == len(rep["trades"]) > 0
    assert mv["candles"]["total"] >= len(mv["candles"]["ts"]) > 100
    assert {i["name"] for i in mv["indicators"]} >= {"macd"} and not next(
        i for i in mv["indicators"] if i["name"] == "macd")["overlay"]  # an oscillator: its own axis
    runrep = stored_report(site.ctx, 1, include_trades=True)
    assert len(run["trades"]) == runrep["summary"]["trades"] and run["candles"]["total"] == runrep["header"]["rows"]
    assert any(i["name"].startswith("rsi") for i in run["indicators"])
    assert missing.status_code == 422 and "no paper account named 'nope'" in missing.json()["detail"]


def read_events(lines: Iterator[str], until: Any) -> list[tuple[str | None, str | None, dict[str, Any] | None]]:
    """(id, event, data) of each SSE message of ``lines`` until ``until(messages)`` holds."""
    out: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    ev: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "id" in ev or "event" in ev:
                out.append((ev.get("id"), ev.get("event"), json.loads(ev["data"]) if "data" in ev else None))
                if until(out):
                    return out
            ev = {}
        elif not line.startswith(":"):
            k, _, v = line.partition(":")
            ev[k] = v[1:] if v.startswith(" ") else v
    return out


SSE = {"Accept": "text/event-stream"}


def test_live_activity_stream_sends_new_events_and_resumes(site: Site) -> None:
    with site.client() as c:  # without Accept: text/event-stream, the same events once as JSON
        once = c.get("/api/events", params={"backlog": 3}).json()
    assert 0 < len(once["events"]) <= 9 and once["events"][-1]["id"] == once["cursor"]
    with site.client(headers=SSE) as c, c.stream("GET", "/api/events", params={"backlog": 3, "poll": 0.2,
                                                                              "max_seconds": 60}) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.iter_lines()
        backlog = read_events(lines, lambda m: m[-1][1] is None)  # the id-only message ends the backlog
        assert 0 < len(backlog) - 1 <= 9 and {e for _, e, _ in backlog[:-1]} <= {"signal", "fill", "risk"}
        mark = backlog[-1][0]
        site.advance(24)
        new = read_events(lines, lambda m: any(x[1] == "fill" for x in m))
    last_ms = max(d["ts_ms"] for _, _, d in backlog if d)
    assert new and all(d is not None and d["ts_ms"] > last_ms and d["account"] == "demo" for _, _, d in new)
    assert {e for _, e, _ in new} >= {"signal", "fill"}
    # a reconnect with Last-Event-ID gets exactly what came after that event
    with site.client(headers=SSE) as c, c.stream("GET", "/api/events", params={"poll": 0.2, "max_seconds": 30},
                                                 headers={"Last-Event-ID": str(mark)}) as resp:
        again = read_events(resp.iter_lines(), lambda m: m[-1][1] is None)
    assert [(i, e, d) for i, e, d in again[:len(new)]] == new


# -- in headless Chromium -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@dataclass
class Watch:
    """What a page did: console messages, CSP violations, and every URL it requested."""

    console: list[str]
    violations: list[str]
    requests: list[str]

    def assert_clean(self) -> None:
        assert self.violations == [], self.violations
        assert self.console == [], self.console
        off = [u for u in self.requests if urlsplit(u).scheme not in ("data", "about", "blob")
               and urlsplit(u).hostname != "127.0.0.1"]
        assert off == [], off


#: collects CSP violations from inside the page (added by the DevTools protocol, not by the
#: page: the page's own CSP does not apply to it)
CSP_LISTENER = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")


def open_page(browser: Any, site: Site) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watch = Watch([], [], [])
    page.add_init_script(CSP_LISTENER)
    page.on("console", lambda m: watch.console.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: watch.console.append(f"pageerror: {e}"))
    page.on("request", lambda r: watch.requests.append(r.url))
    return context, page, watch


def wait_js(page: Any, js: str, timeout: float = 60.0) -> None:
    """Poll ``js`` (a function) until it returns true. (Playwright's wait_for_function compiles
    its predicate with eval, which the dashboard's CSP refuses; evaluate goes through DevTools.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(js):
        assert time.monotonic() < deadline, f"timed out waiting for {js}"
        time.sleep(0.1)


def login(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/")
    page.wait_for_selector("#login-form")
    page.fill("#token", site.token)
    page.click("#login-submit")
    page.wait_for_selector("body[data-ready=overview]")


def visit(page: Any, site: Site, route: str) -> None:
    url = f"{site.url}/dashboard/#/{route}"
    if page.url == url:
        page.reload()
    else:
        if page.url.startswith(f"{site.url}/dashboard/"):
            page.evaluate("() => { delete document.body.dataset.ready; }")  # a hash change keeps the document
        page.goto(url)
    name = route.split("/")[0]
    page.wait_for_selector(f"body[data-ready='{name}'], [data-error]", timeout=90_000)
    assert page.query_selector("[data-error]") is None, page.inner_text("main")
    for el in page.query_selector_all("[data-chart]"):  # every chart drawn, none failed
        el.scroll_into_view_if_needed()
    wait_js(page, "() => [...document.querySelectorAll('[data-chart]')].every(e => e.dataset.drawn === '1')")


def test_log_in_see_a_run_watch_live_activity_and_pause_a_bot(browser: Any, site: Site) -> None:
    from tradebot.services.backtest import stored_report
    from tradebot.services.bots import get_bot
    from tradebot.services.paper import account_report

    context, page, watch = open_page(browser, site)
    try:
        page.goto(f"{site.url}/")
        page.wait_for_selector("#login-form")
        page.fill("#token", "tb_not-a-token")
        page.click("#login-submit")
        page.wait_for_selector("#login-error:has-text('Login refused')")
        watch.console.clear()  # the refused login's 401 is reported by the browser; that is the point
        page.fill("#token", site.token)
        page.click("#login-submit")
        page.wait_for_selector("body[data-ready=overview]")
        equity = account_report(site.ctx, "demo")["equity"]
        assert page.inner_text("#portfolio-totals [data-value=equity]") == f"{equity:,.2f}"
        assert f"{equity:,.2f}" in page.inner_text("#accounts-table")
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["tradebot_session"]["httpOnly"] and cookies["tradebot_session"]["sameSite"] == "Strict"
        assert site.token not in json.dumps(context.cookies())

        # the stored run: its equity chart drawn, its final equity and trade count as text
        s = stored_report(site.ctx, 1)["summary"]
        visit(page, site, "run/1")
        assert page.inner_text("#final-equity") == f"{s['final_equity']:,.2f}"
        assert page.inner_text("#trade-count") == f"{s['trades']:,}" and s["trades"] > 0
        assert f"Final equity {s['final_equity']:,.2f} after {s['trades']:,} trades." in page.inner_text("#run-text")
        line = page.query_selector("[data-chart=equity] .main-svg g.trace.scatter path.js-line")
        assert line is not None and len(line.get_attribute("d") or "") > 50  # a drawn line, not an empty axis
        site.shot(page, "run")

        # live activity: new fills appear on the open page without a reload
        visit(page, site, "overview")
        origin = page.evaluate("() => performance.timeOrigin")
        page.wait_for_selector("#live:not(.off)")
        newest = ("() => Math.max(0, ...[...document.querySelectorAll('[data-feed] li[data-kind=fill]')]"
                  ".map(e => +e.dataset.ts))")
        before = page.evaluate(newest)
        assert before > 0  # the backlog is shown
        site.advance(24)
        wait_js(page, f"() => ({newest})() > {before}", 30)
        assert page.evaluate("() => performance.timeOrigin") == origin  # the same document: no reload
        site.shot(page, "overview-live")

        # control: pause the running bot; kill asks first and Cancel changes nothing
        visit(page, site, "control")
        status = "[data-bot-status='demo-bot']"
        assert page.inner_text(status) == "running"
        offered = "/api/bots/{name}/flatten" in httpx.get(f"{site.url}/openapi.json").json()["paths"]
        assert (page.query_selector("button[data-bot='demo-bot'][data-action=flatten]") is not None) == offered
        site.shot(page, "control-before")
        page.click("button[data-bot='demo-bot'][data-action=pause]")
        page.wait_for_selector(f"{status}:has-text('paused')")
        assert get_bot(site.ctx, "demo-bot").status == "paused"
        page.click("button[data-bot='demo-bot'][data-action=kill]")
        page.wait_for_selector("#confirm[open]")
        assert "Kill switch for bot demo-bot" in page.inner_text("#confirm-text")
        page.click("#confirm-cancel")
        page.wait_for_selector("#confirm", state="hidden")
        assert get_bot(site.ctx, "demo-bot").status == "paused" and page.inner_text(status) == "paused"
        page.click("button[data-bot='demo-bot'][data-action=stop]")
        page.click("#confirm-ok")
        page.wait_for_selector(f"{status}:has-text('stopped')")
        assert get_bot(site.ctx, "demo-bot").status == "stopped"
        site.shot(page, "control-after")
        assert page.evaluate("() => window.__csp") == []
        watch.assert_clean()
    finally:
        context.close()


PAGES = ["overview", "activity", "performance", "market", "market/demo", "market/run/1", "run/1", "study/S1",
         "control", "jobs"]


def test_every_page_loads_without_csp_violations_or_requests_off_loopback(browser: Any, site: Site) -> None:
    context, page, watch = open_page(browser, site)
    try:
        page.goto(f"{site.url}/")
        page.wait_for_selector("#login-form")
        site.shot(page, "login")
        login(page, site)
        drawn = {}
        for route in PAGES:
            visit(page, site, route)
            drawn[route] = sorted(e.get_attribute("data-chart") for e in page.query_selector_all("[data-chart]"))
            site.shot(page, "page-" + route.replace("/", "-"))
        assert drawn["run/1"] == ["drawdown", "equity"] and drawn["market/demo"] == ["equity", "market"]
        assert drawn["performance"] == ["compare"] and {"pareto", "windows", "oos-equity"} <= set(drawn["study/S1"])
        assert page.evaluate("() => window.__csp") == []
        watch.assert_clean()
        assert any(u.endswith("/dashboard/vendor/plotly.min.js") for u in watch.requests)
        # logging out ends the session: the API refuses the old cookie
        cookie = next(c["value"] for c in context.cookies() if c["name"] == "tradebot_session")
        assert httpx.get(f"{site.url}/api/dashboard/overview", cookies={"tradebot_session": cookie}).status_code == 200
        page.click("#logout")
        page.wait_for_selector("#login-form")
        assert httpx.get(f"{site.url}/api/dashboard/overview", cookies={"tradebot_session": cookie}).status_code == 401
    finally:
        context.close()


def test_html_report_renders_offline_in_the_same_browser(browser: Any, site: Site, tmp_path: Path) -> None:
    from tradebot.analysis.html_page import figures_in

    out = tmp_path / "run1.html"
    cli(site.home, "report", "1", "--html", str(out))
    n = len(figures_in(out.read_text(encoding="utf-8")))
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, offline=True)
    page = context.new_page()
    watch = Watch([], [], [])
    page.on("console", lambda m: watch.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: watch.console.append(f"pageerror: {e}"))
    page.on("request", lambda r: watch.requests.append(r.url))
    try:
        page.goto(out.as_uri())
        wait_js(page, f"() => document.querySelectorAll('[data-drawn=\"1\"]').length === {n}")
        assert n >= 4 and page.query_selector(".tb-error") is None
        assert len(page.query_selector_all(".main-svg")) >= n
        site.shot(page, "report-run1")
        assert watch.console == [] and watch.requests == [out.as_uri()], (watch.console, watch.requests)
    finally:
        context.close()
