"""Meta models end to end: ``train --label meta --base rsi``, the ml strategy trading the rsi
strategy filtered by the model (walk-forward backtest), and ``optimize`` of the ml
strategy's threshold over walk-forward probabilities."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tradebot.testing.meta_market import meta_market

Run = Callable[..., Any]
MARKET = ["--exchange", "synth", "--symbol", "META/USDT", "--timeframe", "1h"]
SPEC_TOML = ('name = "meta"\n[[features]]\nkind = "returns"\nperiods = [1, 4]\n'
             '[[features]]\nkind = "volume_z"\nwindows = [24]\n')


@pytest.fixture
def meta_home(run: Run, home: Path, tmp_path: Path) -> tuple[Path, Path]:
    from tradebot.data.cache import CandleCache

    CandleCache(home / "data").save(meta_market(90, 0, symbol="META/USDT", exchange="synth"))
    spec = tmp_path / "meta.toml"
    spec.write_text(SPEC_TOML)
    return home, spec


def _one_line_error(res: Any, needle: str) -> None:
    assert res.code == 2, res
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res
    assert "Traceback" not in res.err


def test_meta_model_trained_traded_filtered_and_its_threshold_optimized(run: Run, meta_home: tuple[Path, Path]) -> None:
    home, spec = meta_home
    res = run("train", "--name", "rsimeta", "--label", "meta", "--base", "rsi", "-p", "period=14", "--spec", spec,
              *MARKET, "--folds", "4", "--seed", "0", "--no-importance")
    assert res.code == 0, res
    assert "meta labels on rsi(lower=30.0, period=14, upper=70.0): its trades" in res.out
    assert "base strategy alone (" in res.out and "Verdict: edge (out of sample:" in res.out
    assert "base strategy alone" in res.err  # per fold, beside the gated return
    res = run("models", "show", "rsimeta", "--json")
    assert res.code == 0, res
    rec = res.json()
    assert rec["label"]["method"] == "meta" and rec["label"]["base"] == "rsi"
    assert rec["label"]["base_params"] == {"lower": 30.0, "period": 14, "upper": 70.0}
    assert rec["label"]["cost"] >= 0.001  # the taker fee (and slippage) per side a winner must beat
    sm = rec["scores"]["summary"]
    assert sm["model"]["return"] > sm["base"]["return"]
    assert run("models", "promote", "rsimeta:1").code == 0

    res = run("backtest", "--model", "rsimeta", *MARKET, "--json")  # walk-forward by default
    assert res.code == 0, res
    h = res.json()["header"]
    assert h["sample"] == "out of sample" and h["ml"]["mode"] == "walk-forward"
    meta = h["ml"]["meta"]
    assert meta["base"] == "rsi(lower=30.0, period=14, upper=70.0)"
    total = res.json()["summary"]["total_return_pct"]
    assert total > meta["base_alone_return_pct"] + 20, (total, meta)
    assert 0 < res.json()["summary"]["trades"] < meta["base_alone_trades"]
    assert "; meta model: rsi(lower=30.0, period=14, upper=70.0) filtered by rsimeta:1 (the base strategy alone: " \
        in h["data_source"]

    res = run("optimize", "--strategy", "ml", "-p", "model=rsimeta", *MARKET, "--space", "threshold=0.5:0.9:0.1",
              "--wf-train", "40d", "--wf-test", "20d", "--json")
    assert res.code == 0, res
    study = res.json()
    windows = study["windows"]
    assert len(windows) >= 2 and all(w["out_of_sample"] is not None for w in windows)
    assert "dsr" in study["honesty"] and "pbo" in study["honesty"]
    assert study["walk_forward"]["out_of_sample"]
    first_ms = 1_704_067_200_000 + 3_600_000 * h["ml"]["walk_forward"]["first_test_bar"]
    assert min(w["is_start_ms"] for w in windows) == first_ms  # only bars with out-of-sample probabilities
    assert {tuple(w["best_params"]) for w in windows} == {("threshold",)}  # a meta model exits with its base
    assert {w["best_params"]["threshold"] for w in windows} <= {0.5, 0.6, 0.7, 0.8, 0.9}
    assert study["trials"] == 5 * len(windows)

    # one window: the study's numbers are the walk-forward backtest's, threshold for threshold
    res = run("optimize", "--strategy", "ml", "-p", "model=rsimeta", *MARKET, "--space", "threshold=0.6,0.8", "--json")
    assert res.code == 0, res
    chosen = res.json()["chosen"]
    bt = run("backtest", "--model", "rsimeta", *MARKET, "-p", f"threshold={chosen['params']['threshold']}", "--json")
    assert bt.code == 0, bt
    assert bt.json()["summary"]["sharpe"] == pytest.approx(chosen["in_sample"]["sharpe"], rel=1e-9)
    assert bt.json()["header"]["params"]["model"] == "rsimeta:1"
    res = run("optimize", "--strategy", "ml", "-p", "model=rsimeta", *MARKET, "--space", "exit_threshold=0.4,0.5")
    _one_line_error(res, "a meta model exits with its base strategy's exit signals")


def test_meta_bad_input_is_one_line_and_stores_nothing(run: Run, meta_home: tuple[Path, Path]) -> None:
    home, spec = meta_home
    for args, needle in (
        (("--base", "nosuch"), "--base 'nosuch' is not a built-in strategy"),
        (("--base", "rsi", "-p", "period=abc"), "period"),
        ((), "meta labels need a base strategy"),
        (("--base", "rsi", "--tune", "3"), "--label meta does not combine with --tune"),
    ):
        res = run("train", "--name", "bad", "--label", "meta", *args, "--spec", spec, *MARKET, "--folds", "3")
        _one_line_error(res, needle)
    res = run("train", "--name", "bad", "--base", "rsi", "--spec", spec, *MARKET)
    _one_line_error(res, "go with --label meta")
    assert not (home / "models" / "bad").exists()
    res = run("models", "list", "--json")
    assert res.code == 0 and res.out.strip() in ("[]", ""), res
