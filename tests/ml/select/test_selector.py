"""The selector, walk-forward after costs: on a market with planted regimes it beats every
candidate alone and the equal-weight blend; on a driftless random walk its report does not
claim to beat the candidates (several seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.ml.select.conftest import synth_context
from tradebot.ml.select.verdict import BEATS, NOT_SHOWN
from tradebot.services.selector import evaluate_selector
from tradebot.testing.markets import planted_regime_market, regime_market

#: a trend follower (wins in the trend segments) and a mean reverter (wins in the ranges)
TREND = "bollinger:period=48,mode=breakout"
REVERT = "bollinger:period=10,std=1.5"


def _lines(report: dict) -> dict[str, dict]:
    return {ln["name"]: ln for ln in report["lines"]}


def test_selector_beats_every_candidate_and_the_blend_on_planted_regimes(tmp_path: Path) -> None:
    candles, _ = planted_regime_market(6000, 1, min_len=300, max_len=800,
                                       kinds=("trend_up", "trend_down", "range"))
    ctx = synth_context(tmp_path, candles)
    out = evaluate_selector(ctx, [TREND, REVERT], window="48", min_train_windows=10, seed=0, save=False)
    rep = out.report
    lines = _lines(rep)
    sel = lines["selector (model)"]
    for name in ("flat", TREND, REVERT, "equal-weight blend", "random switcher"):
        assert sel["return_pct"] > lines[name]["return_pct"], (name, sel, lines[name])
    assert sel["sharpe"] > max(lines[n]["sharpe"] or 0 for n in (TREND, REVERT, "equal-weight blend"))
    # it paid for its switches, and the oracle (hindsight) is above it
    assert sel["switches"] > 5 and sel["costs_pct"] > 0
    assert lines["oracle (upper bound)"]["return_pct"] > sel["return_pct"]
    # it follows each candidate in some windows, and stays flat in the warm-up windows
    chosen = {c["name"]: c["windows_chosen"] for c in rep["candidates"]}
    assert chosen[TREND] > 0 and chosen[REVERT] > 0
    assert (out.choices[:10] == 0).all()
    assert rep["windows"] == {"total": 125, "evaluated": 115, "first_evaluated_ms": int(candles.timestamp[480])}
    assert rep["verdict"]["verdict"] == BEATS, rep["verdict_line"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_claim_on_a_driftless_random_walk(tmp_path: Path, seed: int) -> None:
    candles = regime_market(4000, seed, False)
    ctx = synth_context(tmp_path, candles)
    out = evaluate_selector(ctx, [TREND, REVERT], window="48", min_train_windows=10, seed=seed, save=False)
    v = out.report["verdict"]
    assert v["verdict"] == NOT_SHOWN, out.report["verdict_line"]
    assert v["reasons"] and v["n_trials"] >= 5
    assert out.report["verdict_line"].startswith(f"Verdict: {NOT_SHOWN}")


def test_choices_are_reproducible_under_a_seed(tmp_path: Path) -> None:
    candles = regime_market(1600, 4, False)
    ctx = synth_context(tmp_path, candles)
    a = evaluate_selector(ctx, [TREND, REVERT], window="48", min_train_windows=8, seed=3, save=False)
    b = evaluate_selector(ctx, [TREND, REVERT], window="48", min_train_windows=8, seed=3, save=False)
    np.testing.assert_array_equal(a.choices, b.choices)
    assert a.report["lines"] == b.report["lines"]
