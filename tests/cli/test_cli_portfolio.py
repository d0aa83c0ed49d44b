"""``backtest``, ``paper`` and ``report`` over a pair list through the real CLI: bad input is one
line, exit 2 and nothing stored; a portfolio run is stored, reported from the store and
re-run to the same numbers; a list of one pair is today's single-market backtest."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tradebot.core.config import load_settings
from tradebot.exchanges.sim import sim_candles
from tradebot.services.context import Context

from .conftest import snapshot

T0 = 1_704_067_200_000  # 2024-01-01
DAY = 86_400_000
PAIRS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
SINCE, UNTIL = "2024-01-01", "2024-02-15"
COMMON = ("--exchange", "binance", "--timeframe", "1h", "--strategy", "macd")


@pytest.fixture
def cached(home: Path) -> Path:
    """binance 1h candles of three pairs with different ranges (SOL starts 10 days late, ETH
    ends 5 days early) and LATE/USDT cached at 4h only."""
    ctx = Context(load_settings(env={}, overrides={"home": str(home)}))
    try:
        for sym, lo, hi in (("BTC/USDT", 0, 60), ("ETH/USDT", 0, 55), ("SOL/USDT", 10, 60)):
            c = sim_candles(sym, "1h", since_ms=T0 + lo * DAY, until_ms=T0 + hi * DAY, seed=7)
            ctx.cache.save(dataclasses.replace(c, exchange="binance", symbol=sym, timeframe="1h"))
        late = sim_candles("LATE/USDT", "4h", since_ms=T0, until_ms=T0 + 60 * DAY, seed=7)
        ctx.cache.save(dataclasses.replace(late, exchange="binance", symbol="LATE/USDT", timeframe="4h"))
    finally:
        ctx.close()
    return home


BAD = [
    (("--symbols", "BTC/USDT,XRP/USDT"), "pair XRP/USDT: no cached candles for binance XRP/USDT 1h"),
    (("--symbols", "BTC/USDT,ETH/BTC"), "mixed quote currencies (USDT: BTC/USDT; BTC: ETH/BTC)"),
    (("--symbols", " , "), "the pair list is empty"),
    (("--symbols", "BTC/USDT,ETH/USDT", "--max-open-positions", "0"), "portfolio.max_open_positions"),
    (("--symbols", "BTC/USDT,LATE/USDT"), "pairs on different timeframes: LATE/USDT is cached at 4h, not 1h"),
    (("--symbols", "BTC/USDT,ETH/USDT", "--stake", "fraction:2"), "stake 'fraction:2'"),
    (("--symbols", "BTC/USDT,ETH/USDT", "--rank", "score"), "--rank score: strategy 'macd' provides no score"),
]


@pytest.mark.parametrize("command", ["backtest", "paper"])
@pytest.mark.parametrize(("args", "message"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_pair_lists_are_one_line_exit_2_and_store_nothing(
        command: str, args: tuple[str, ...], message: str, cached: Path, run: Callable[..., Any]) -> None:
    before = snapshot(cached)
    extra = ("--since", SINCE, "--source", "cache") if command == "paper" else ("--since", SINCE, "--until", UNTIL)
    res = run(command, *args, *COMMON, *extra)
    assert res.code == 2, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], res
    assert snapshot(cached) == before  # no database, no lock file, no run, no account


def test_empty_pairs_file_and_rank_check(cached: Path, run: Callable[..., Any], tmp_path: Path) -> None:
    f = tmp_path / "none.txt"
    f.write_text("# no pairs yet\n")
    before = snapshot(cached)
    res = run("backtest", "--pairs-file", f, *COMMON)
    assert res.code == 2 and "the pair list is empty" in res.err and f"--pairs-file {f}" in res.err, res
    res = run("backtest", "--symbols", "BTC/USDT,ETH/USDT", "--rank", "best", *COMMON)
    assert res.code == 2 and "portfolio.rank" in res.err and "'best'" in res.err, res
    assert snapshot(cached) == before


def test_portfolio_run_is_stored_reported_and_rerun_identically(cached: Path, run: Callable[..., Any]) -> None:
    res = run("backtest", "--symbols", ",".join(PAIRS), *COMMON, "--since", SINCE, "--until", UNTIL,
              "--max-open-positions", "2", "--stake", "equal", "--json", "--trades")
    assert res.code == 0, res
    rep = res.json()
    run_id = rep["header"]["run_id"]
    pairs = rep["per_pair"]
    assert [p["pair"] for p in pairs] == list(PAIRS)
    assert rep["header"]["pairs"] == list(PAIRS) and rep["header"]["portfolio_rules"]["max_open_positions"] == 2
    trades = rep["trades"]
    assert len(trades) == rep["summary"]["trades"] > 0
    for p in pairs:  # each pair's row is the sum of its own trades
        own = [t for t in trades if t["pair"] == p["pair"]]
        assert p["trades"] == len(own)
        assert p["profit"] == pytest.approx(sum(t["pnl"] for t in own), rel=1e-12, abs=1e-9)
    assert sum(p["contribution_pct"] for p in pairs) == pytest.approx(
        sum(t["pnl"] for t in trades) / 10_000 * 100, rel=1e-9)
    exp = rep["portfolio"]["exposure"]
    assert set(exp["assets"]) == {"BTC", "ETH", "SOL"} and exp["total_max_pct"] <= 100.0 + 1e-6
    # SOL has no candle in its first 10 days: no exposure there (nothing made up)
    assert all(v == 0.0 for v in exp["assets"]["SOL"][:10])
    corr = rep["portfolio"]["correlation"]["markets"]
    assert corr[0][0] == pytest.approx(1.0) and corr[0][1] == corr[1][0]

    stored = run("report", str(run_id), "--json", "--trades")
    assert stored.code == 0, stored
    srep = stored.json()
    assert srep["per_pair"] == pairs
    assert srep["summary"]["final_equity"] == rep["summary"]["final_equity"]
    assert srep["portfolio"]["exposure"] == exp
    assert [(t["pair"], t["pnl"]) for t in srep["trades"]] == [(t["pair"], t["pnl"]) for t in trades]

    again = run("report", str(run_id), "--rerun", "--json")
    assert again.code == 0, again
    assert again.json()["identical"] is True, again.json()["differences"]

    text = run("report", str(run_id))
    assert text.code == 0 and "Portfolio: contribution and exposure per pair" in text.out
    assert "Correlation of daily returns" in text.out and "Tot Profit USDT" in text.out


def test_a_list_of_one_pair_is_the_single_market_backtest(cached: Path, run: Callable[..., Any]) -> None:
    one = run("backtest", "--symbols", "BTC/USDT", *COMMON, "--since", SINCE, "--until", UNTIL, "--json",
              "--no-save")
    single = run("backtest", "--symbol", "BTC/USDT", *COMMON, "--since", SINCE, "--until", UNTIL, "--json",
                 "--no-save")
    assert one.code == single.code == 0, (one, single)
    assert one.json()["summary"] == single.json()["summary"] and "portfolio" not in one.json()


def test_paper_over_a_pair_list_and_its_report(cached: Path, run: Callable[..., Any]) -> None:
    res = run("paper", "--account", "pf", "--symbols", ",".join(PAIRS), *COMMON, "--since", SINCE,
              "--source", "cache", "--max-open-positions", "2")
    assert res.code == 0, res
    assert "pf:" in res.out and "over 3 pairs via cache" in res.out
    again = run("paper", "--account", "pf", "--source", "cache")  # the cron line
    assert again.code == 0 and "up to date" in again.out, again
    other = run("paper", "--account", "pf", "--symbols", "BTC/USDT,ETH/USDT", "--source", "cache")
    assert other.code == 2 and "only applies to a new account" in other.err, other
    rep = run("report", "--account", "pf", "--json")
    assert rep.code == 0, rep
    body = rep.json()
    assert body["kind"] == "portfolio" and body["pairs"] == list(PAIRS)
    assert [p["pair"] for p in body["portfolio"]["pairs"]] == list(PAIRS)
    assert body["rules"]["max_open_positions"] == 2
    text = run("report", "--account", "pf")
    assert text.code == 0 and "Portfolio paper account pf" in text.out


def test_optimize_one_parameter_set_for_the_pair_list(cached: Path, run: Callable[..., Any]) -> None:
    res = run("optimize", "--symbols", ",".join(PAIRS), *COMMON, "--since", SINCE, "--until", UNTIL,
              "--space", "fast=8,12", "--space", "slow=26", "--space", "signal=9", "--space", "below_zero=false",
              "--max-open-positions", "2", "--json")
    assert res.code == 0, res
    body = res.json()
    assert body["evaluated"] == 2 and body["status"] == "done" and body["symbol"] == ",".join(PAIRS)
    assert body["request"]["extra"]["pairs"] == list(PAIRS)
    chosen = body["chosen"]
    assert chosen["params"] == max(body["top"], key=lambda t: t["scores"][0])["params"]
    # a trial's numbers are the portfolio backtest's for the same parameters
    p = chosen["params"]
    bt = run("backtest", "--symbols", ",".join(PAIRS), *COMMON, "--since", SINCE, "--until", UNTIL,
             "--max-open-positions", "2", "--param", f"fast={p['fast']}", "--param", f"slow={p['slow']}",
             "--param", f"signal={p['signal']}", "--json", "--no-save")
    assert bt.code == 0, bt
    assert bt.json()["summary"]["sharpe"] == chosen["in_sample"]["sharpe"]
    assert bt.json()["summary"]["trades"] == chosen["in_sample"]["trades"]
    before = snapshot(cached)
    bad = run("optimize", "--symbols", ",".join(PAIRS), *COMMON, "--wf-train", "10d")
    assert bad.code == 2 and bad.err.startswith("error: walk-forward needs both --wf-train and --wf-test"), bad
    assert snapshot(cached) == before


def test_html_pages_of_a_portfolio_run_and_account(cached: Path, run: Callable[..., Any], tmp_path: Path) -> None:
    from tradebot.analysis.html_page import figures_in

    res = run("backtest", "--symbols", ",".join(PAIRS), *COMMON, "--since", SINCE, "--until", UNTIL, "--json")
    assert res.code == 0, res
    rep = res.json()
    page = tmp_path / "run.html"
    out = run("report", str(rep["header"]["run_id"]), "--html", page)
    assert out.code == 0, out
    text = page.read_text()
    figs = figures_in(text)
    assert {"equity", "exposure-assets", "correlation", "monthly"} <= set(figs), set(figs)
    eq = [t for t in figs["equity"]["data"] if (t.get("meta") or {}).get("role") == "equity"][0]
    assert eq["y"][-1] == pytest.approx(rep["summary"]["final_equity"])  # per bar, re-run identically
    stacked = {t["name"]: t["y"] for t in figs["exposure-assets"]["data"]}
    assert stacked == rep["portfolio"]["exposure"]["assets"] and set(stacked) == {"BTC", "ETH", "SOL"}
    assert "Per pair" in text and "SOL/USDT" in text and "contribution %" in text
    assert run("paper", "--account", "pfh", "--symbols", ",".join(PAIRS), *COMMON, "--since", SINCE,
               "--source", "cache").code == 0
    acct_page = tmp_path / "acct.html"
    out = run("report", "--account", "pfh", "--html", acct_page)
    assert out.code == 0, out
    assert {"equity", "exposure-assets", "correlation"} <= set(figures_in(acct_page.read_text()))
