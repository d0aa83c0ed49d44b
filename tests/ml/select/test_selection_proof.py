"""The issue's proof, through the service (:func:`evaluate_selector`: engine-made record,
spliced engine run, the default 0.1 % taker fee and 5 bps slippage paid by every line):

* on markets with planted regimes (trend segments where the trend follower wins, range
  segments where the mean reverter wins, random lengths of 600-1500 hourly bars, i.e. 12-31
  windows of 48 bars) the selection model **and** the LinUCB and Thompson bandits beat every
  single candidate and the equal-weight blend out of sample after costs, and for the model
  and LinUCB the verdict (deflated Sharpe + block bootstrap vs the best candidate in
  hindsight and vs the blend) claims it on most seeds;
* on driftless random walks with the same settings, no method's verdict claims a win.

The setting (:func:`tradebot.testing.markets.proof_market`, window, warm-up) was chosen on
seeds 100-109 (``bench/bench_agents.py --proof`` prints those figures); the seeds here, 1-5
planted and 1-4 random walks, were not looked at before the setting was fixed
(decisions 0024/0025).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ml.select.conftest import synth_context
from tradebot.core.candles import Candles
from tradebot.ml.select.verdict import BEATS
from tradebot.services.selector import evaluate_selector
from tradebot.testing.markets import proof_market

TREND = "bollinger:period=48,mode=breakout"
REVERT = "bollinger:period=10,std=1.5"
WINDOW = "48"
MIN_TRAIN = 30
PLANTED_SEEDS = (1, 2, 3, 4, 5)
RW_SEEDS = (1, 2, 3, 4)
#: beat every candidate and the blend on every selection seed (100-109) and test seed
PROVEN = ("model", "linucb", "thompson")
#: ... and the verdict claimed it on most selection seeds (model 6/10, LinUCB 9/10; Thompson 5/10
#: and Q-learning 2/10 are not asserted; Q-learning beat on 8/10 only)
CLAIMED = ("model", "linucb")
ALL_METHODS = ("model", "linucb", "thompson", "qlearn")


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    lines = report["lines"]
    sel = next(ln for ln in lines if ln["kind"] == "selector")
    others = [ln for ln in lines if ln["kind"] in ("candidate", "blend")]
    return {"selector": sel, "others": others, "verdict": report["verdict"], "line": report["verdict_line"],
            "beats_all": all(sel["return_pct"] > o["return_pct"] for o in others)}


def _run(home: Path, candles: Candles, methods: tuple[str, ...], seed: int) -> dict[str, dict[str, Any]]:
    ctx = synth_context(home, candles)
    return {m: _summary(evaluate_selector(ctx, [TREND, REVERT], window=WINDOW, min_train_windows=MIN_TRAIN,
                                          method=m, seed=seed, save=False).report) for m in methods}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, dict[str, Any]]]:
    return {s: _run(tmp_path_factory.mktemp(f"planted{s}"), proof_market(s), PROVEN, s) for s in PLANTED_SEEDS}


@pytest.mark.parametrize("method", PROVEN)
def test_beats_every_candidate_and_the_blend_after_costs(planted: dict, method: str) -> None:
    for seed, by_method in planted.items():
        r = by_method[method]
        sel = r["selector"]
        for other in r["others"]:
            assert sel["return_pct"] > other["return_pct"], (seed, method, sel, other)
        # it paid for its switches, and both candidates were followed in some windows
        assert sel["switches"] > 3 and sel["costs_pct"] > 0, (seed, method, sel)


@pytest.mark.parametrize("method", CLAIMED)
def test_the_verdict_claims_it_on_most_planted_seeds(planted: dict, method: str) -> None:
    claims = [s for s, by_method in planted.items() if by_method[method]["verdict"]["verdict"] == BEATS]
    assert len(claims) > len(PLANTED_SEEDS) / 2, {s: planted[s][method]["line"] for s in PLANTED_SEEDS}
    for s in claims:
        v = planted[s][method]["verdict"]
        assert v["dsr"] >= 0.95 and not v["reasons"]
        assert v["bootstrap"]["mean_diff_interval"]["best_candidate"][0] > 0


@pytest.mark.parametrize("seed", RW_SEEDS)
def test_no_method_claims_a_win_on_a_driftless_random_walk(tmp_path: Path, seed: int) -> None:
    out = _run(tmp_path, proof_market(seed, planted=False), ALL_METHODS, seed)
    for method, r in out.items():
        assert r["verdict"]["verdict"] != BEATS, (seed, method, r["line"])
        assert r["verdict"]["reasons"], (seed, method)
