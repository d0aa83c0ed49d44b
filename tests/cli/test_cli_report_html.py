"""``tradebot report RUN_ID|S<id>|--account NAME --html FILE`` through the real CLI: the page is
one self-contained file whose figures hold the numbers ``report --json`` prints, a refused
target or id writes nothing (one line, exit 2), and headless Chromium draws every chart of
each page with the network shut off and no console message."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from tradebot.analysis.html_page import figures_in

from .conftest import BTC_4H, Result, shared_file, snapshot

SIM = ["--exchange", "sim", "--timeframe", "1h", "--since", "2024-01-01", "--until", "2024-05-01"]
Run = Callable[..., Result]


def assert_self_contained(page: str) -> None:
    """No URL a browser would fetch (scripts, links, images, fonts); plotly.js inlined once."""
    js = get_plotlyjs()
    assert page.count(js[:60]) == 1
    assert not re.search(r"<(script|link|img|iframe|source)\b[^>]*\b(src|href)\s*=", page, re.I)
    rest = page.replace(js, "")
    assert not re.search(r"https?://", rest) and "@import" not in rest and "url(" not in rest


def trace(fig: dict, role: str) -> dict:
    found = [t for t in fig["data"] if (t.get("meta") or {}).get("role") == role]
    assert len(found) == 1, [t.get("meta") for t in fig["data"]]
    return found[0]


def one_error_line(res: Result, *expect: str) -> None:
    assert res.code == 2, res
    assert "Traceback" not in res.output, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res
    for e in expect:
        assert e in lines[0], (e, res)


def write_page(run: Run, out: Path, *args: str) -> str:
    res = run("report", *args, "--html", out)
    assert res.code == 0, res
    assert res.out.startswith("Wrote ") and str(out) in res.out and len(res.out.strip().splitlines()) == 1, res
    assert not list(out.parent.glob(f".{out.name}*"))  # no temp file left beside it
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    return page


def backtest(run: Run) -> None:
    os.environ["TRADEBOT_STOPS__STOP_LOSS_PCT"] = "4"  # the home fixture clears TRADEBOT_* after the test
    try:
        res = run("backtest", "--strategy", "rsi", *SIM)
    finally:
        del os.environ["TRADEBOT_STOPS__STOP_LOSS_PCT"]
    assert res.code == 0 and "Stored as run 1" in res.out, res


def study(run: Run) -> None:
    res = run("optimize", "--strategy", "rsi", *SIM, "--space", "period=7,14,21", "--space", "lower=20,25,30",
              "--space", "upper=70,75", "--objective", "sharpe,calmar", "--wf-train", "30d", "--wf-test", "15d")
    assert res.code == 0, res


def account(run: Run) -> None:
    since = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() - 40 * 86400))
    res = run("paper", "--account", "demo", "--source", "sim", "--since", since, "--strategy", "macd",
              "--timeframe", "15m")
    assert res.code == 0, res


def test_run_page_matches_the_json_report(run: Run, home: Path, tmp_path: Path) -> None:
    backtest(run)
    rep = run("report", "1", "--json", "--trades").json()
    before = snapshot(home)
    page = write_page(run, tmp_path / "out" / "run1.html", "1")
    assert snapshot(home) == before  # a report stores nothing
    figs = figures_in(page)
    assert set(figs) == {"equity", "candles", "monthly", "pnl", "exposure"}
    assert trace(figs["equity"], "equity")["y"][-1] == rep["summary"]["final_equity"]
    entries = trace(figs["candles"], "entries")
    assert len(entries["x"]) == len(rep["trades"]) == rep["summary"]["trades"] > 0
    assert entries["y"] == [t["entry_price"] for t in rep["trades"]]
    assert trace(figs["candles"], "stop-loss")["y"][0] == pytest.approx(rep["trades"][0]["entry_price"] * 0.96)
    heat = trace(figs["monthly"], "monthly")
    cells = {(int(y), m + 1): v for y, row in zip(heat["y"], heat["z"], strict=True)
             for m, v in enumerate(row) if v is not None}
    assert cells == {(r["year"], r["month"]): pytest.approx(r["return_pct"]) for r in rep["monthly"]}
    assert f"{rep['summary']['final_equity']:,.2f}" in page
    assert "per bar, re-run" in page
    assert re.search(r"candles: 2,904 candles drawn as [\d,]+, each grouping 2", page)  # downsampling said
    # performance by regime: the stored table, row for row
    regimes = rep["by_regime"]
    assert regimes["available"] and "Performance by regime" in page
    assert sum(r["trades"] for r in regimes["rows"]) == rep["summary"]["trades"]
    for r in regimes["rows"]:
        assert f"<td>{r['regime']}</td>" in page


def test_run_page_when_its_candles_are_gone(run: Run, home: Path, tmp_path: Path) -> None:
    src = shared_file(BTC_4H)
    market = ["--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "4h"]
    assert run("data", "import", src, *market).code == 0
    assert run("backtest", "--strategy", "rsi", *market).code == 0
    rep = run("report", "1", "--json", "--trades").json()
    for f in (home / "data").rglob("*.parquet"):
        f.unlink()
    page = write_page(run, tmp_path / "run1.html", "1")
    figs = figures_in(page)
    assert set(figs) == {"equity", "candles", "monthly", "pnl"}  # no exposure without bars
    assert trace(figs["equity"], "equity")["y"][-1] == pytest.approx(rep["summary"]["final_equity"])
    assert len(trace(figs["candles"], "entries")["x"]) == len(rep["trades"])
    assert "could not be loaded again" in page and "per stored day" in page and "candles unavailable" in page


def test_study_page_matches_the_json_report(run: Run, tmp_path: Path) -> None:
    study(run)
    rep = run("report", "S1", "--json").json()
    figs = figures_in(write_page(run, tmp_path / "s1.html", "S1"))
    assert set(figs) == {"pareto", "importance", "windows", "windows_return", "windows_sharpe", "oos_equity"}
    front = trace(figs["pareto"], "pareto")
    assert sorted(zip(front["x"], front["y"], strict=True)) == sorted(tuple(p["scores"]) for p in rep["pareto"])
    imp = trace(figs["importance"], "importance")
    assert dict(zip(imp["y"], imp["x"], strict=True)) == pytest.approx(rep["importance"])
    assert trace(figs["windows"], "oos")["base"] == [w["oos_start_ms"] for w in rep["windows"]]
    assert trace(figs["windows_return"], "in_sample_return_pct")["y"] == [
        w["in_sample"]["return_pct"] for w in rep["windows"]]
    oos = rep["walk_forward"]["out_of_sample"]["equity"]
    assert trace(figs["oos_equity"], "out-of-sample equity")["y"][-1] == pytest.approx(oos[-1][1])


def test_account_page_matches_the_json_report(run: Run, tmp_path: Path) -> None:
    account(run)
    rep = run("report", "--account", "demo", "--json").json()
    page = write_page(run, tmp_path / "demo.html", "--account", "demo")
    figs = figures_in(page)
    assert set(figs) == {"equity", "exposure", "candles", "daily", "pnl"}
    assert trace(figs["equity"], "equity")["y"][-1] == pytest.approx(rep["equity"])
    assert len(trace(figs["candles"], "entries")["x"]) == len(rep["trades"]) > 0
    assert [t for t in figs["candles"]["data"] if t["type"] == "candlestick"]
    exposure = trace(figs["exposure"], "exposure %")["y"]
    assert 0 < max(exposure) <= 100 + 1e-9 and min(exposure) >= 0
    assert trace(figs["exposure"], "position")["y"][-1] == pytest.approx(rep["position"])
    assert trace(figs["daily"], "daily_pnl")["y"] == pytest.approx([d["pnl"] for d in rep["daily"]])
    assert "synthetic market" in page and "USDT" in page


@pytest.mark.parametrize("case", ["directory", "parent_is_a_file", "unknown_run", "unknown_study",
                                  "unknown_account", "with_json", "bad_id"])
def test_bad_input_is_one_line_and_writes_nothing(case: str, run: Run, home: Path, tmp_path: Path) -> None:
    backtest(run)
    target = tmp_path / "out.html"
    args: list[str] = ["1"]
    expect = ""
    if case == "directory":
        target = tmp_path / "adir"
        target.mkdir()
        expect = "is a directory"
    elif case == "parent_is_a_file":
        (tmp_path / "afile").write_text("x")
        target = tmp_path / "afile" / "out.html"
        expect = "not a directory"
    elif case == "unknown_run":
        args, expect = ["99"], "no stored run with id 99"
    elif case == "unknown_study":
        args, expect = ["S9"], "no study S9"
    elif case == "unknown_account":
        args, expect = ["--account", "nope"], "no paper account named 'nope'"
    elif case == "with_json":
        args, expect = ["1", "--json"], "--html goes with"
    elif case == "bad_id":
        args, expect = ["abc"], "expected a number"
    before_tmp = sorted(p.name for p in tmp_path.rglob("*"))
    before_home = snapshot(home)
    one_error_line(run("report", *args, "--html", target), expect)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before_tmp
    assert snapshot(home) == before_home


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium; "
                                             ".ci/run installs it)")
def test_pages_render_in_headless_chromium_offline(run: Run, tmp_path: Path) -> None:
    backtest(run)
    study(run)
    account(run)
    pages = {"run": ["1"], "study": ["S1"], "account": ["--account", "demo"]}
    for name, args in pages.items():
        out = tmp_path / f"{name}.html"
        n = len(figures_in(write_page(run, out, *args)))
        profile = tmp_path / f"chrome-{name}"
        cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}",
               "--proxy-server=socks5://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
               "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000", "--window-size=1280,4000"]
        env = {**os.environ, "HOME": str(tmp_path)}
        dom = subprocess.run([*cmd, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=180,
                             env=env)
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert dom.stdout.count('data-drawn="1"') == n > 0, (name, dom.stdout.count('data-drawn="1"'), n)
        assert 'class="fig tb-error"' not in dom.stdout
        assert dom.stdout.count('class="main-svg"') >= n
        console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
        assert console == [], console
        shot = tmp_path / f"{name}.png"  # kept with the test's output for a person to look at
        subprocess.run([*cmd, f"--screenshot={shot}", out.as_uri()], capture_output=True, timeout=180, env=env)
        assert shot.is_file() and shot.stat().st_size > 10_000
