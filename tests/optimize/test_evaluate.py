"""The optimizer's evaluation: trial metrics equal the backtest's, indicators are computed
once per key, and every executor (in process, joblib, Dask) gives identical trials."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.analysis.metrics import compute_metrics
from tradebot.core.errors import UsageError
from tradebot.engine.backtest import run_signals, run_strategy
from tradebot.engine.config import EngineConfig
from tradebot.exchanges.sim import sim_candles
from tradebot.optimize.evaluate import Problem
from tradebot.optimize.executors import InProcess, JoblibExecutor, make_executor
from tradebot.optimize.objectives import METRICS, parse_objectives, scores
from tradebot.optimize.space import build_space
from tradebot.strategies.builtin.macd import MacdStrategy
from tradebot.strategies.builtin.rsi import RsiStrategy

RSI_SPACE = ["period=7,14,21", "lower=25:35:5", "upper=65:75:5"]


@pytest.fixture(scope="module")
def candles():
    return sim_candles("BTC/USDT", "1h", seed=7)


def _problem(candles, cls=RsiStrategy, specs=RSI_SPACE, objectives="sharpe", config=None, **kw):
    return Problem(candles, cls, config or EngineConfig(), build_space(cls, specs),
                   parse_objectives(objectives, **kw), "1h")


def _metric(trials, i, name):
    return trials.metrics[i, METRICS.index(name)]


def test_trial_metrics_equal_the_backtest_report(candles):
    prob = _problem(candles, objectives="sharpe,sortino,calmar,profit")
    sets = list(prob.space.grid())
    trials = prob.evaluate(sets, (0, len(candles)))
    for i in (0, 7, 13, 26):
        m = compute_metrics(run_strategy(candles, RsiStrategy(**sets[i]), EngineConfig()), "1h").to_dict()
        assert _metric(trials, i, "trades") == m["trades"]
        for ours, theirs in (("sharpe", "sharpe"), ("sortino", "sortino"), ("calmar", "calmar"),
                             ("return_pct", "total_return_pct"), ("max_dd_pct", "max_drawdown_pct")):
            assert _metric(trials, i, ours) == pytest.approx(m[theirs], rel=1e-12, abs=1e-12), ours
        assert trials.scores[i, 0] == pytest.approx(m["sharpe"], rel=1e-12)


def test_engine_parameters_are_searched_too(candles):
    prob = _problem(candles, MacdStrategy, ["fast=12", "slow=26", "signal=9", "below_zero=false", "stop_loss_pct=1,3",
                                            "take_profit_pct=2,6"])
    sets = list(prob.space.grid())
    assert len(sets) == 4
    trials = prob.evaluate(sets, (0, len(candles)))
    for i, p in enumerate(sets):
        strat, engine = prob.space.split(p)
        cfg = EngineConfig(stop_loss_pct=engine["stop_loss_pct"], take_profit_pct=engine["take_profit_pct"])
        res = run_strategy(candles, MacdStrategy(**strat), cfg)
        assert _metric(trials, i, "return_pct") == pytest.approx((res.final_equity / 10_000 - 1) * 100, rel=1e-12)
    assert len({round(float(x), 9) for x in trials.metric("return_pct")}) == 4  # the stops change results


def test_a_window_runs_from_a_fresh_account_with_warm_indicators(candles):
    prob = _problem(candles)
    p = {"period": 14, "lower": 30.0, "upper": 70.0}
    start, stop = 3000, 9000
    trials = prob.evaluate([p], (start, stop))
    sig = RsiStrategy(**p).signals_for(candles)
    from tradebot.core.signals import Signals

    sub = Signals(sig.entries[start:stop], sig.exits[start:stop])
    res = run_signals(candles.slice(start, stop), sub, EngineConfig())
    m = compute_metrics(res, "1h").to_dict()
    assert _metric(trials, 0, "trades") == m["trades"]
    assert _metric(trials, 0, "sharpe") == pytest.approx(m["sharpe"], rel=1e-12)
    assert _metric(trials, 0, "max_dd_pct") == pytest.approx(m["max_drawdown_pct"], rel=1e-12)


class CountingRsi(RsiStrategy):
    calls = 0

    def compute_indicators(self, candles):
        type(self).calls += 1
        return super().compute_indicators(candles)


def test_indicators_are_computed_once_per_distinct_key(candles):
    CountingRsi.calls = 0
    prob = _problem(candles, CountingRsi)
    sets = list(prob.space.grid())  # 3 periods x 9 threshold pairs
    prob.evaluate(sets[:10], (0, len(candles)))
    prob.evaluate(sets[10:], (0, len(candles)))
    prob.evaluate(sets, (0, 5000))
    assert CountingRsi.calls == 3


def test_bad_combinations_are_infeasible_not_fatal(candles):
    prob = _problem(candles, specs=["period=14", "lower=40:60:10", "upper=50"])
    trials = prob.evaluate(list(prob.space.grid()), (0, len(candles)))
    assert trials.errors[0] is None and "lower" in (trials.errors[1] or "")
    assert trials.metric("trades")[0] > 0  # the valid set ran
    assert np.isnan(trials.metric("trades")[1:]).all()  # the broken ones did not
    assert trials.scores[1, 0] == -np.inf and trials.scores[2, 0] == -np.inf


def test_constraints_make_trials_infeasible(candles):
    prob = _problem(candles, objectives="profit_dd", max_dd_pct=30.0, min_trades=5)
    trials = prob.evaluate(list(prob.space.grid()), (0, len(candles)))
    dd, n = trials.metric("max_dd_pct"), trials.metric("trades")
    ok = (dd <= 30.0) & (n >= 5)
    assert ok.any() and (~ok).any()
    assert np.all(np.isneginf(trials.scores[~ok, 0]))
    np.testing.assert_array_equal(trials.scores[ok, 0], trials.metric("profit")[ok])
    again = scores(trials.metrics, parse_objectives("profit"))
    assert np.isfinite(again[~ok & np.isfinite(trials.metric("profit")), 0]).all()


@pytest.mark.parametrize("text, msg", [
    ("sharp", "did you mean sharpe"),
    ("", "at least one"),
    ("sharpe,sharpe", "twice"),
    ("profit_dd", "needs --max-dd"),
])
def test_objective_errors(text, msg):
    with pytest.raises(UsageError, match=msg):
        parse_objectives(text)


def _same(a, b):
    assert a.params == b.params
    assert a.errors == b.errors
    for x, y in ((a.metrics, b.metrics), (a.scores, b.scores), (a.daily_returns, b.daily_returns)):
        np.testing.assert_array_equal(x, y)


def test_joblib_workers_give_identical_trials(candles):
    prob = _problem(candles, objectives="sharpe,profit")
    sets = list(prob.space.grid())
    ref = InProcess().evaluate(prob, sets, (0, len(candles)))
    ex = JoblibExecutor(2)
    try:
        _same(ref, ex.evaluate(prob, sets, (0, len(candles))))
        _same(prob.evaluate(sets[:5], (100, 4000)), ex.evaluate(prob, sets[:5], (100, 4000)))
    finally:
        ex.close()


def test_dask_cluster_gives_identical_trials(candles):
    distributed = pytest.importorskip("distributed")
    prob = _problem(candles)
    sets = list(prob.space.grid())
    ref = prob.evaluate(sets, (0, len(candles)))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        ex = make_executor(cluster=cluster.scheduler_address)
        try:
            assert ex.workers == 2
            _same(ref, ex.evaluate(prob, sets, (0, len(candles))))
        finally:
            ex.close()


def test_unreachable_cluster_is_one_line():
    from tradebot.core.errors import ClusterUnavailable

    with pytest.raises(ClusterUnavailable) as e:  # runtime (exit 1): the address is well formed
        make_executor(cluster="tcp://127.0.0.1:1")
    msg = str(e.value)
    assert "--cluster tcp://127.0.0.1:1" in msg and "\n" not in msg and e.value.exit_code == 1


@pytest.mark.parametrize("address", ["notanaddress", "garbage://x:1", "host:99999", "tcp://:8786"])
def test_malformed_cluster_address_is_a_usage_error(address):
    with pytest.raises(UsageError, match="not a Dask scheduler address"):
        make_executor(cluster=address)
