"""``tradebot select``: evaluate on the sim market (terminal and --json), the stored evaluation
shown again by ``select report`` and listed by ``select list``; bad input: one line, exit 2,
nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import snapshot

Run = Callable[..., Any]
MARKET = ["--exchange", "sim", "--symbol", "BTC/USDT", "-t", "1h", "--since", "2025-06-01", "--until", "2025-09-01"]
CANDS = ["--candidate", "macd", "--candidate", "bollinger:mode=breakout", "--candidate", "rsi:period=10,lower=25"]


def test_evaluate_store_report_list(run: Run, home: Path) -> None:
    res = run("select", "evaluate", *MARKET, *CANDS, "--window", "2d", "--seed", "5", "--json")
    assert res.code == 0, res
    rep = res.json()
    assert rep["evaluation_id"] == 1 and rep["method"] == "model" and rep["seed"] == 5
    assert rep["window_bars"] == 48 and rep["market"]["rows"] == 2208 and rep["market"]["source"] == "sim"
    assert rep["windows"]["total"] == 46 and rep["windows"]["evaluated"] == 46 - 8
    kinds = [ln["kind"] for ln in rep["lines"]]
    assert kinds == ["selector", "oracle", "random", "blend", "candidate", "candidate", "candidate", "candidate"]
    names = [ln["name"] for ln in rep["lines"][4:]]
    assert names == ["flat", "macd", "bollinger:mode=breakout", "rsi:period=10,lower=25"]
    by = {ln["kind"]: ln for ln in rep["lines"]}
    assert by["oracle"]["return_pct"] >= max(ln["return_pct"] for ln in rep["lines"][4:])
    assert rep["lines"][4]["return_pct"] == 0 and rep["lines"][4]["trades"] == 0
    idx = [c["index"] for c in rep["choices"]]
    assert len(idx) == 46 and idx[:8] == [0] * 8 and rep["choices"][0]["candidate"] == "flat"
    assert [c["window"] for c in rep["choices"]] == list(range(46))
    assert rep["verdict"]["verdict"] in ("beats the candidates", "does not beat the candidates")
    assert rep["verdict_line"].startswith("Verdict: ")
    # stored: the report shows the same numbers, with the choice of every window
    again = run("select", "report", "1", "--json")
    assert again.code == 0, again
    stored = again.json()
    assert stored["lines"] == rep["lines"] and stored["verdict"] == rep["verdict"]
    assert stored["choices"] == rep["choices"]
    assert [c["candidate"] for c in stored["choices"]] == [rep["candidates"][i]["name"] for i in idx]
    import json
    import sqlite3

    conn = sqlite3.connect(home / "tradebot.db")
    row = conn.execute("SELECT method, seed, window, window_bars, data_sha256, code_version, choices, record, "
                       "candidates FROM selector_evaluations").fetchall()
    conn.close()
    assert len(row) == 1
    method, seed, window, bars, sha, code, choices, record, cands = row[0]
    assert (method, seed, window, bars) == ("model", 5, "2d", 48) and sha == rep["market"]["data_sha256"]
    assert len(sha) == 64 and code == rep["code_version"] and json.loads(choices) == idx
    record = json.loads(record)
    assert len(record["returns"]) == 46 and len(record["returns"][0]) == 4 and len(record["bounds"]) == 46
    assert [c["params"] for c in json.loads(cands)][3] == {"period": 10, "lower": 25.0, "upper": 70.0}
    term = run("select", "report")
    assert term.code == 0, term
    for text in ("Strategy selector", "oracle (upper bound)", "equal-weight blend", "random switcher",
                 "Choice per window", "Verdict:", "sim BTC/USDT 1h", "48 bars"):
        assert text in term.out, text
    listed = run("select", "list", "--json")
    assert listed.code == 0 and [r["evaluation_id"] for r in listed.json()] == [1]
    assert listed.json()[0]["return_pct"] == pytest.approx(by["selector"]["return_pct"])


def test_evaluate_terminal_no_save(run: Run, home: Path) -> None:
    res = run("select", "evaluate", *MARKET, *CANDS, "--window", "2d", "--no-save")
    assert res.code == 0, res
    assert "selector (model)" in res.out and "oracle (upper bound)" in res.out and "Verdict:" in res.out
    assert not (home / "tradebot.db").exists()


@pytest.mark.parametrize(("args", "expect"), [
    (["--candidate", "nosuch", "--candidate", "macd"], "--candidate 'nosuch': unknown strategy 'nosuch'"),
    (["--candidate", "S12", "--candidate", "macd"], "--candidate 'S12': no study S12"),
    (["--candidate", "macd"], "at least two candidates besides flat"),
    (["--candidate", "macd", "--candidate", "flat"], "at least two candidates besides flat"),
    ([*CANDS, "--window", "200d"], "--window 200d (4800 bars) is longer than the data (2208 bars)"),
    ([*CANDS, "--window", "10d"], "9 window(s) of 240 bars in 2208 bars; the selector needs at least"),
    ([*CANDS, "--regimes", "1"], "regime count must be at least 2"),
    ([*CANDS, "--method", "guess"], "--method 'guess': unknown selection method"),
    ([*CANDS, "--window", "7x"], "--window '7x'"),
])
def test_bad_input_is_one_line_exit_2_nothing_stored(run: Run, home: Path, args: list[str], expect: str) -> None:
    before = snapshot(home)
    res = run("select", "evaluate", *MARKET, *args)
    assert res.code == 2, res
    assert res.err.startswith("error: ") and res.err.count("\n") == 1 and expect in res.err, res
    assert not (home / "tradebot.db").exists()
    assert {k for k in snapshot(home) if not k.startswith(("locks", "logs"))} == \
        {k for k in before if not k.startswith(("locks", "logs"))}


def test_report_of_a_missing_evaluation(run: Run, home: Path) -> None:
    res = run("select", "report", "7")
    assert res.code == 2 and "no selector evaluation 7" in res.err, res
    res = run("select", "report")
    assert res.code == 2 and "no selector evaluations in the store" in res.err, res
    assert not (home / "tradebot.db").exists()


def test_an_ml_model_candidate(run: Run, home: Path) -> None:
    """``ml:NAME``: the registry model traded on its walk-forward probabilities (none before its
    first training window ends: flat there)."""
    from tradebot.data.cache import CandleCache
    from tradebot.testing.markets import regime_market

    CandleCache(home / "data").save(regime_market(2500, 1, True, symbol="PLANT/USDT", exchange="synth"))
    market = ["--exchange", "synth", "--symbol", "PLANT/USDT", "--timeframe", "1h"]
    res = run("train", "--name", "trend", *market, "--folds", "2", "--shuffles", "0", "--no-importance",
              "--quiet", "--seed", "3")
    assert res.code == 0, res
    out = run("select", "evaluate", *market, "--candidate", "ml:trend:1", "--candidate", "macd", "--window", "2d",
              "--json")
    assert out.code == 0, out
    rep = out.json()
    ml = next(c for c in rep["candidates"] if c["strategy"] == "ml")
    assert ml["name"].startswith("ml:trend:") and ml["params"]["model"] == ml["name"][3:]
    line = next(ln for ln in rep["lines"] if ln["name"] == ml["name"])
    assert line["trades"] > 0


def test_candidates_window_and_warm_up_from_the_config(run: Run, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[selector]\ncandidates = ["macd", "rsi:period=10"]\nwindow = "2d"\n'
                                      'min_train_windows = 6\nseed = 9\n[selector.switch]\ncost = 0.01\n')
    res = run("select", "evaluate", *MARKET, "--no-save", "--json")
    assert res.code == 0, res
    rep = res.json()
    assert [c["name"] for c in rep["candidates"]] == ["flat", "macd", "rsi:period=10"]
    assert rep["window"] == "2d" and rep["windows"]["evaluated"] == 46 - 6 and rep["seed"] == 9
    assert rep["switch_cost"] == 0.01 and rep["evaluation_id"] is None
    assert not (home / "tradebot.db").exists()
