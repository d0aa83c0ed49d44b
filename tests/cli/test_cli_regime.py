"""``tradebot regime``: the current regime and history (terminal and --json), ``regime
train`` storing a learned classifier in the registry (and --if-older), the regime tables of
backtest and paper reports, and bad input: one line, exit 2, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradebot.testing.markets import PLANTED_REGIMES, planted_regime_market

from .conftest import snapshot

Run = Callable[..., Any]
MARKET = ["--exchange", "synth", "--symbol", "PLANT/USDT", "--timeframe", "1h"]
N = 6000


@pytest.fixture
def planted(home: Path) -> np.ndarray:
    from tradebot.data.cache import CandleCache

    candles, labels = planted_regime_market(N, 2, symbol="PLANT/USDT", exchange="synth")
    CandleCache(home / "data").save(candles)
    return labels


def test_regime_rules_terminal_and_json(run: Run, planted: np.ndarray) -> None:
    res = run("regime", *MARKET)
    assert res.code == 0, res
    assert "Market regime" in res.out and "synth PLANT/USDT 1h" in res.out and "Transitions" in res.out
    js = run("regime", *MARKET, "--json")
    assert js.code == 0, js
    out = js.json()
    assert out["method"] == "rules" and out["names"] == list(PLANTED_REGIMES)
    assert out["bars"] == N and out["lag_bars"] == 24
    assert out["regime"] in PLANTED_REGIMES and 0 < out["probability"] < 1
    assert out["probability"] == pytest.approx(out["probabilities"][out["regime"]])
    h = out["history"]
    assert sum(r["bars"] for r in h["regimes"]) == h["classified_bars"] == N - h["unclassified_bars"]
    for row in h["transitions"]:
        assert sum(row) == pytest.approx(1.0)
    # every planted regime is found about as often as it was planted (rules, after the warm-up)
    planted_share = np.bincount(planted[h["unclassified_bars"]:], minlength=4) / h["classified_bars"]
    for r, share in zip(h["regimes"], planted_share, strict=True):
        assert abs(r["share"] - share) < 0.1, (r, share)
    # the current regime is the rules' regime of the last bar, in the terminal output too
    assert f"{out['regime']} (probability" in res.out


def test_regime_train_stores_a_learned_model_and_uses_it(run: Run, home: Path, planted: np.ndarray) -> None:
    res = run("regime", "train", "--name", "reg", *MARKET, "--seed", "4", "--json")
    assert res.code == 0, res
    rec = res.json()
    assert rec["model"]["kind"] == "regime" and rec["status"] == "champion" and rec["version"] == 1
    assert rec["label"]["names"] == list(PLANTED_REGIMES) and rec["scores"]["agreement_with_rules"] > 0.7
    assert (home / rec["artifact_path"]).is_file()
    js = run("regime", "--model", "reg", *MARKET, "--json")
    assert js.code == 0, js
    out = js.json()
    assert out["method"] == "learned" and out["model"] == "reg:1"
    assert abs(out["probability"] - max(out["probabilities"].values())) < 1e-12
    # the stored history agrees with the planted regimes after the lag
    from tradebot.core.config import load_settings
    from tradebot.ml.regime.features import regime_features
    from tradebot.ml.regime.learned import classify_learned
    from tradebot.ml.regime.summary import agreement
    from tradebot.services.context import Context
    from tradebot.services.regime import load_regime_model

    ctx = Context(load_settings(None, None, {}))
    try:
        _, model = load_regime_model(ctx, "reg")
    finally:
        ctx.close()
    candles, truth = planted_regime_market(N, 2)
    got = classify_learned(model, regime_features(candles, model.regime_settings))
    assert agreement(got.labels, truth, got.names, PLANTED_REGIMES, got.lag)["agreement"] >= 0.8
    # --if-older: a young model is not refitted (exit 0, said so), nothing new stored
    again = run("regime", "train", "--name", "reg", *MARKET, "--if-older", "7d")
    assert again.code == 0 and "not retrained" in again.out
    listed = run("models", "list", "--json")
    assert [(m["name"], m["version"]) for m in listed.json()] == [("reg", 1)]
    # a regime model is not a trading model, and a trading command says so
    bt = run("backtest", "--strategy", "ml", "-p", "model=reg", *MARKET)
    assert bt.code == 2 and "regime classifier" in bt.err
    rep = run("report", "--model", "reg")
    assert rep.code == 2 and "is a regime classifier" in rep.err and rep.err.count("\n") == 1
    shown = run("models", "show", "reg")
    assert shown.code == 0 and "Regime model reg:1 (champion)" in shown.out and "Transitions" in shown.out
    # `train` does not store a trading model under a regime model's name
    tr = run("train", "--name", "reg", *MARKET)
    assert tr.code == 2 and "taken by a regime model" in tr.err and tr.err.count("\n") == 1
    assert [(m["name"], m["version"]) for m in run("models", "list", "--json").json()] == [("reg", 1)]


@pytest.mark.parametrize(("args", "expect"), [
    (["regime", "-k", "1"], "regime count must be at least 2"),
    (["regime", "--method", "foo"], "unknown regime method 'foo'"),
    (["regime", "-k", "5"], "the rule-based method knows at most 4 regimes"),
    (["regime", "--method", "learned"], "--method learned needs --model"),
    (["regime", "--model", "nope"], "no regime model nope"),
    (["regime", "train", "--name", "r", "-k", "1"], "regime count must be at least 2"),
    (["regime", "train", "--name", "r", "--if-older", "soon"], "--if-older must be a positive age"),
    (["regime", "train", "--name", "r", "--until", "2024-01-05"], "the data has 96"),
    (["regime", "train", "--name", "r", "--names", "up,down,up"], "distinct"),
])
def test_bad_input_is_one_line_exit_2_nothing_stored(run: Run, home: Path, planted: np.ndarray, args: list[str],
                                                      expect: str) -> None:
    before = snapshot(home)
    res = run(*args, *MARKET)
    assert res.code == 2, res
    assert res.err.startswith("error: ") and res.err.count("\n") == 1 and expect in res.err, res
    assert not (home / "models").exists() and not (home / "tradebot.db").exists()
    assert {k for k in snapshot(home) if not k.startswith("locks")} == set(before)


def test_backtest_and_paper_reports_carry_the_regime_table(run: Run, planted: np.ndarray) -> None:
    res = run("backtest", "--strategy", "macd", *MARKET, "--json")
    assert res.code == 0, res
    rep = res.json()
    table = rep["by_regime"]
    assert table["available"] and [r["regime"] for r in table["rows"]] == [*PLANTED_REGIMES, "(warm-up)"]
    assert sum(r["trades"] for r in table["rows"]) == rep["summary"]["trades"]
    stored = run("report", str(rep["header"]["run_id"]), "--json")
    assert stored.json()["by_regime"] == table
    shown = run("report", str(rep["header"]["run_id"]))
    assert "Performance by regime" in shown.out and "high_vol" in shown.out
    paper = run("paper", "--account", "acc", *MARKET, "--strategy", "macd", "--since", "2024-06-01",
                "--source", "cache")
    assert paper.code == 0, paper
    acct = run("report", "--account", "acc", "--json").json()
    rows = acct["by_regime"]["rows"]
    assert acct["by_regime"]["available"] and sum(r["trades"] for r in rows) == len(acct["trades"])
    assert "(warm-up)" not in [r["regime"] for r in rows]  # the candles before the account warm it up
    assert "Performance by regime" in run("report", "--account", "acc").out
