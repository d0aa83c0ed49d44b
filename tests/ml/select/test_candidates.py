"""Candidates from specs: built-ins with parameters, a stored study's best / top N / Pareto
front, flat always first, and the bad ones refused with one clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradebot.core.config import load_settings
from tradebot.core.errors import UsageError
from tradebot.ml.select.candidates import FLAT, Candidate, candidate_signals, resolve_candidates
from tradebot.services.context import Context


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    home = tmp_path_factory.mktemp("home")
    return Context(load_settings(overrides={
        "home": str(home), "market": {"exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1h"},
        "backtest": {"since": "2024-01-01", "until": "2024-02-01"}, "strategy": {"name": "rsi"}}, env={}))


@pytest.fixture(scope="module")
def study(ctx: Context) -> int:
    from tradebot.services.optimize import OptimizeRequest, run_optimize

    return run_optimize(ctx, OptimizeRequest(space=("period=7,14", "lower=25,30"),
                                             objectives="sharpe,profit")).study_id


def test_builtins_with_parameters_flat_first_duplicates_dropped(ctx: Context) -> None:
    got = resolve_candidates(ctx, ["rsi:period=10,lower=25", "macd", "rsi:lower=25,period=10", "flat"])
    assert [c.name for c in got] == [FLAT, "rsi:period=10,lower=25", "macd"]
    rsi = got[1]
    assert rsi.strategy == "rsi" and rsi.params == {"period": 10, "lower": 25.0, "upper": 70.0}
    assert got[0] == Candidate(FLAT, FLAT, {}, FLAT)
    assert Candidate.from_dict(rsi.to_dict()) == rsi


def test_study_best_top_and_pareto(ctx: Context, study: int) -> None:
    best = resolve_candidates(ctx, [f"S{study}", "macd"])
    assert best[1].source.startswith(f"S{study}#") and best[1].strategy == "rsi"
    from tradebot.services.study_report import study_report

    rep = study_report(ctx, study)
    assert {k: best[1].params[k] for k in rep["chosen"]["params"]} == rep["chosen"]["params"]
    top = resolve_candidates(ctx, [f"s{study}:top3"])
    assert len(top) == 4 and all(c.strategy == "rsi" for c in top[1:])
    assert [c.source for c in top[1:]] == [f"S{study}#{r['number']}" for r in rep["top"][:3]]
    front = resolve_candidates(ctx, [f"S{study}:pareto", "macd"])
    assert len(front) - 2 == len(rep["pareto"]) >= 1


@pytest.mark.parametrize(("specs", "message"), [
    (["nosuch", "macd"], "--candidate 'nosuch': unknown strategy 'nosuch'"),
    (["rsi:period=1", "macd"], "--candidate 'rsi:period=1'"),
    (["rsi:bogus=3", "macd"], "--candidate 'rsi:bogus=3'"),
    (["rsi:period", "macd"], "expected NAME:key=value"),
    (["S999", "macd"], "--candidate 'S999': no study S999"),
    (["ml:nomodel", "macd"], "--candidate 'ml:nomodel'"),
    (["rsi"], "at least two candidates besides flat (got rsi)"),
    (["rsi", "rsi:period=14"], "at least two candidates besides flat"),
    (["flat"], "at least two candidates besides flat (got none)"),
    (["ml:"], "name the model"),
])
def test_bad_specs(ctx: Context, study: int, specs: list[str], message: str) -> None:
    with pytest.raises(UsageError) as e:
        resolve_candidates(ctx, specs)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_signals_of_flat_and_a_builtin(ctx: Context) -> None:
    from tradebot.services.backtest import load_market

    candles = load_market(ctx, ctx.settings.since_ms(), ctx.settings.until_ms())
    flat, rsi = resolve_candidates(ctx, ["rsi", "macd"])[:2]
    fs = candidate_signals(ctx, flat, candles)
    assert not fs.entries.any() and fs.entries.shape == (len(candles),)
    rs = candidate_signals(ctx, rsi, candles)
    want = ctx.registry.create("rsi").signals_for(candles)
    np.testing.assert_array_equal(rs.entries, want.entries)
    assert rs.entries.any()


def test_config_candidates(tmp_path: Path) -> None:
    ctx = Context(load_settings(overrides={"home": str(tmp_path), "selector": {
        "candidates": ["macd", "bollinger:mode=breakout"], "window": "3d", "switch": {"cost": "0.003"}}}, env={}))
    s = ctx.settings.selector
    assert s.candidates == ["macd", "bollinger:mode=breakout"] and s.switch.cost == 0.003
    assert [c.name for c in resolve_candidates(ctx, s.candidates)] == ["flat", "macd", "bollinger:mode=breakout"]
    from tradebot.core.errors import ConfigError

    with pytest.raises((ConfigError, ValueError)):
        load_settings(overrides={"home": str(tmp_path), "selector": {"switch": {"cost": "lots"}}}, env={})
