"""``tradebot backtest --strategy ml``: walk-forward by default, IN-SAMPLE only when asked, refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tradebot.testing.markets import regime_market

Run = Callable[..., Any]
MARKET = ["--exchange", "synth", "--symbol", "PLANT/USDT", "--timeframe", "1h"]


def _cache(home: Path, symbol: str = "PLANT/USDT", n: int = 2500, seed: int = 1) -> None:
    from tradebot.data.cache import CandleCache

    CandleCache(home / "data").save(regime_market(n, seed, True, symbol=symbol, exchange="synth"))


@pytest.fixture
def trained(run: Run, home: Path) -> Path:
    """A logreg trend model on a planted-trend market, promoted to champion."""
    _cache(home)
    res = run("train", "--name", "trend", *MARKET, "--folds", "2", "--shuffles", "0", "--no-importance",
              "--quiet", "--seed", "3")
    assert res.code == 0, res
    assert run("models", "promote", "trend:1").code == 0
    return home


def _one_line_error(res: Any, needle: str) -> None:
    assert res.code == 2, res
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res
    assert "Traceback" not in res.err


def test_walk_forward_by_default_and_in_sample_labelled_everywhere(run: Run, trained: Path, tmp_path: Path) -> None:
    res = run("backtest", "--model", "trend", *MARKET, "--retrain-every", "300", "--json")
    assert res.code == 0, res
    rep = res.json()
    h = rep["header"]
    assert h["strategy"] == "ml" and h["sample"] == "out of sample"
    assert h["params"]["model"] == "trend:1"  # the champion's version, pinned in the run
    assert h["data_source"].startswith("out of sample (walk-forward: retrained every 300 bars")
    wf = h["ml"]["walk_forward"]
    assert wf["retrain_every"] == 300 and wf["train_window"] == 750 and wf["window"] == "expanding"
    assert wf["retrains"] == wf["blocks"] == 6  # bars 750..2499 in blocks of 300
    assert h["ml"]["traded_bars"] == 2500 - 750
    assert "IN-SAMPLE" not in res.out
    wf_run = h["run_id"]

    res = run("backtest", "--model", "trend", *MARKET, "--in-sample")
    assert res.code == 0, res
    assert res.out.count("IN-SAMPLE") >= 2  # the data-source line and the banner
    assert "these numbers say nothing" in res.out
    res = run("backtest", "--model", "trend:1", *MARKET, "--in-sample", "--json")
    h = res.json()["header"]
    assert h["sample"] == "IN-SAMPLE" and h["data_source"].startswith("IN-SAMPLE")
    in_run = h["run_id"]
    stored = run("report", str(in_run), "--json").json()["header"]
    assert stored["data_source"].startswith("IN-SAMPLE")
    assert "IN-SAMPLE" in run("report", str(in_run)).out
    listing = [ln for ln in run("report", "--list").out.splitlines() if ln.strip().startswith(str(in_run))]
    assert len(listing) == 1 and "IN-SAMPLE" in listing[0]
    html = tmp_path / "in.html"
    assert run("report", str(in_run), "--html", html).code == 0
    assert "IN-SAMPLE" in html.read_text()
    assert run("report", str(wf_run), "--json").json()["header"]["data_source"].startswith("out of sample")

    for rid in (wf_run, in_run):  # the pinned version and settings reproduce each run
        again = run("report", str(rid), "--rerun")
        assert again.code == 0 and "identical" in again.out.lower(), again


def test_wrong_market_tampered_artifact_and_options_refused(run: Run, trained: Path) -> None:
    from tradebot.data.cache import CandleCache

    CandleCache(trained / "data").save(regime_market(600, 2, True, symbol="OTHER/USDT", exchange="synth"))
    db = trained / "tradebot.db"

    def runs() -> int:
        import sqlite3

        with sqlite3.connect(db) as con:
            return int(con.execute("select count(*) from backtest_runs").fetchone()[0])

    res = run("backtest", "--model", "trend", "--exchange", "synth", "--symbol", "OTHER/USDT", "--timeframe", "1h")
    _one_line_error(res, "model trend:1 was trained on PLANT/USDT 1h; it cannot trade OTHER/USDT 1h")
    res = run("backtest", "--model", "nosuch", *MARKET)
    _one_line_error(res, "no model nosuch")
    res = run("backtest", "--strategy", "rsi", "--in-sample", *MARKET)
    _one_line_error(res, "--in-sample applies to the ml strategy only")
    res = run("backtest", "--strategy", "ml", *MARKET)
    _one_line_error(res, "strategy 'ml' needs a model")
    res = run("optimize", "--strategy", "ml", "-p", "model=trend", *MARKET, "--space", "retrain_every=100:200")
    _one_line_error(res, "retrain_every changes the probabilities")
    res = run("optimize", "--strategy", "ml", "-p", "model=trend", "-p", "in_sample=true", *MARKET)
    _one_line_error(res, "optimize does not tune the ml strategy on in-sample probabilities")
    res = run("strategies", "check", "ml", "-p", "model=trend", *MARKET, "--points", "4")
    assert res.code == 0 and "no look-ahead" in res.out, res  # bound to the champion
    assert run("train", "--name", "trend", *MARKET, "--folds", "2", "--shuffles", "0", "--no-importance",
               "--quiet").code == 0
    res = run("backtest", "--model", "trend:2", *MARKET, "--in-sample")
    assert res.code == 0, res  # a candidate by its version
    res = run("models", "retire", "trend:1")
    assert res.code == 0
    res = run("backtest", "--model", "trend", *MARKET)
    _one_line_error(res, "model trend has no champion: promote a version")
    assert runs() == 1

    artifact = trained / "models" / "trend" / "2.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    res = run("backtest", "--model", "trend:2", *MARKET, "--in-sample")
    _one_line_error(res, "refusing to load it")
    assert runs() == 1


def test_optimize_sweeps_thresholds_over_the_walk_forward_probabilities(run: Run, trained: Path) -> None:
    res = run("optimize", "--strategy", "ml", "-p", "model=trend", "-p", "retrain_every=300", *MARKET,
              "--space", "threshold=0.55,0.6", "--space", "exit_threshold=0.45,0.5", "--json")
    assert res.code == 0, res
    rep = res.json()
    assert rep["trials"] == 4
    chosen = rep["chosen"]
    assert set(chosen["params"]) == {"threshold", "exit_threshold"}  # nothing that shapes the probabilities
    bt = run("backtest", "--model", "trend", *MARKET, "--retrain-every", "300",
             *(x for k, v in chosen["params"].items() for x in ("-p", f"{k}={v}")), "--json")
    assert bt.code == 0, bt
    assert bt.json()["summary"]["sharpe"] == pytest.approx(chosen["in_sample"]["sharpe"], rel=1e-9)
    assert bt.json()["summary"]["trades"] == chosen["in_sample"]["trades"]
