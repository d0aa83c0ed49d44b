"""Studies end to end: stored, deterministic whatever the workers, resumable, honest
walk-forward numbers that can be recomputed from the store, presets, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tradebot.core.config import load_settings
from tradebot.core.errors import StoreError, UsageError
from tradebot.data.study_repository import StudyRepository
from tradebot.services.context import Context
from tradebot.services.optimize import OptimizeRequest, Progress, resume_optimize, run_optimize
from tradebot.services.study_report import study_report

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BTC_5M = SHARED / "freqtrade-testdata_BTC_USDT-5m.csv.gz"
SMALL = ("period=7,14", "lower=25,30", "upper=70,75")


def ctx_for(home: Path, **overrides: object) -> Context:
    base: dict[str, object] = {"home": str(home), "market": {"exchange": "sim", "symbol": "BTC/USDT",
                                                             "timeframe": "1h"},
                               "backtest": {"since": "2024-01-01", "until": "2024-03-01"}}
    base.update(overrides)
    return Context(load_settings(overrides=base, env={}))


def all_trials(ctx: Context, study_id: int) -> list[tuple]:
    with ctx.store.session() as s:
        return [(t.window, t.number, json.dumps(t.params, sort_keys=True), t.scores, t.daily_returns.tobytes())
                for t in StudyRepository(s).trials(study_id)]


def test_grid_study_is_stored_and_chooses_the_best(tmp_path):
    ctx = ctx_for(tmp_path)
    out = run_optimize(ctx, OptimizeRequest(method="grid", space=SMALL, objectives="sharpe"))
    assert out.evaluated == 8 and out.replayed == 0
    rep = study_report(ctx, out.study_id)
    assert rep["status"] == "done" and rep["trials"] == 8
    with ctx.store.session() as s:
        trials = StudyRepository(s).trials(out.study_id)
    best = max(trials, key=lambda t: t.scores[0])
    assert rep["chosen"]["params"] == best.params
    assert rep["top"][0]["params"] == best.params
    assert rep["importance"] == {}  # too few trials to estimate
    assert rep["honesty"]["n_trials"] == 8


def test_parameter_importance_finds_the_parameter_that_matters(tmp_path):
    ctx = ctx_for(tmp_path)
    out = run_optimize(ctx, OptimizeRequest(method="grid", space=("period=7,14,21,28", "lower=25,30,35",
                                                                  "upper=70,75"), objectives="return"))
    imp = study_report(ctx, out.study_id)["importance"]
    assert set(imp) == {"period", "lower", "upper"} and sum(imp.values()) == pytest.approx(1.0)
    with ctx.store.session() as s:
        trials = StudyRepository(s).trials(out.study_id)
    # independent check of the largest main effect: the parameter whose group means spread most
    y = np.array([t.scores[0] for t in trials])

    def spread(name):
        vals = sorted({t.params[name] for t in trials})
        means = [y[[t.params[name] == v for t in trials]].mean() for v in vals]
        return sum(((np.array([t.params[name] for t in trials]) == v).sum()) * (m - y.mean()) ** 2
                   for v, m in zip(vals, means, strict=True))

    assert max(imp, key=imp.get) == max(("period", "lower", "upper"), key=spread)


def test_same_seed_same_study_whatever_the_number_of_workers(tmp_path):
    req = OptimizeRequest(method="ga", space=("period=5:30", "lower=15:40", "upper=60:85"), population=8,
                          generations=3, seed=11)
    a, b = ctx_for(tmp_path / "a"), ctx_for(tmp_path / "b")
    sa = run_optimize(a, req, jobs=1)
    sb = run_optimize(b, req, jobs=2)
    assert all_trials(a, sa.study_id) == all_trials(b, sb.study_id)
    assert study_report(a, sa.study_id)["chosen"] == study_report(b, sb.study_id)["chosen"]


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("method", ["ga", "bayes", "random"])
def test_resume_after_an_interruption_ends_as_an_uninterrupted_study(tmp_path, method):
    req = OptimizeRequest(method=method, space=("period=5:30", "lower=15:40", "upper=60:85"), population=10,
                          generations=5, trials=24, batch_size=6, seed=5)
    full_ctx = ctx_for(tmp_path / "full")
    full = run_optimize(full_ctx, req)

    ctx = ctx_for(tmp_path / "cut")
    calls = []

    def stop_after_two(p: Progress) -> None:
        calls.append(p.done)
        if len(calls) == 2:  # two batches are stored
            raise Interrupt

    with pytest.raises(Interrupt):
        run_optimize(ctx, req, progress=stop_after_two)
    with ctx.store.session() as s:
        st = StudyRepository(s).get(1)
        assert st.status == "running"
        partial = StudyRepository(s).count_trials(1)
    assert 0 < partial < full.evaluated
    resumed = resume_optimize(ctx, 1, jobs=2)
    assert resumed.replayed == partial and resumed.evaluated == full.evaluated - partial
    assert all_trials(ctx, 1) == all_trials(full_ctx, full.study_id)
    a, b = study_report(ctx, 1), study_report(full_ctx, full.study_id)
    assert a["chosen"] == b["chosen"] and a["honesty"] == b["honesty"]
    again = resume_optimize(ctx, 1)  # a finished study: nothing to do
    assert again.evaluated == 0


def test_pareto_front_for_several_objectives(tmp_path):
    ctx = ctx_for(tmp_path)
    out = run_optimize(ctx, OptimizeRequest(method="grid", space=SMALL, objectives="sharpe,calmar"))
    rep = study_report(ctx, out.study_id)
    front = rep["pareto"]
    assert front
    scores = np.array([t["scores"] for t in rep["top"]], dtype=float)
    fs = [np.array(t["scores"], dtype=float) for t in front]
    for f in fs:  # nobody dominates a front member
        assert not any(np.all(s >= f) and np.any(s > f) for s in scores)
    assert rep["chosen"]["params"] in [t["params"] for t in front]


# -- walk-forward on real candles ----------------------------------------------------------


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real candles not found: {path} (expected ../shared/data beside the repo)")
    return path


def _dsr_reference(returns: np.ndarray, trial_srs: np.ndarray) -> float:
    """Bailey & López de Prado (2014), written out independently."""
    srs = trial_srs[np.isfinite(trial_srs)]
    n = srs.size
    gamma = 0.5772156649015329
    sr0 = math.sqrt(srs.var(ddof=1)) * ((1 - gamma) * stats.norm.ppf(1 - 1 / n)
                                        + gamma * stats.norm.ppf(1 - 1 / (n * math.e)))
    sr = returns.mean() / returns.std(ddof=1)
    skew = stats.skew(returns)
    kurt = stats.kurtosis(returns, fisher=False)
    t = returns.size
    return float(stats.norm.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2)))


def _pbo_reference(m: np.ndarray, s: int) -> float:
    from itertools import combinations

    blocks = np.array_split(np.arange(m.shape[0]), s)
    below = total = 0
    for combo in combinations(range(s), s // 2):
        is_rows = np.concatenate([blocks[i] for i in combo])
        oos_rows = np.concatenate([blocks[i] for i in range(s) if i not in combo])

        def sharpe(x):
            sd = x.std(axis=0, ddof=1)
            return np.where(sd > 0, x.mean(axis=0) / np.where(sd > 0, sd, 1), -np.inf)

        best = int(np.argmax(sharpe(m[is_rows])))
        rank = stats.rankdata(sharpe(m[oos_rows]))[best]
        w = rank / (m.shape[1] + 1)
        below += math.log(w / (1 - w)) <= 0
        total += 1
    return below / total


def test_walk_forward_on_real_candles_is_recomputable_from_the_store(tmp_path):
    from tradebot.analysis.metrics import compute_metrics
    from tradebot.core.signals import Signals
    from tradebot.engine.backtest import run_signals
    from tradebot.optimize.overfit import sharpe_per_period
    from tradebot.services.backtest import engine_config
    from tradebot.services.data import import_csv
    from tradebot.strategies.builtin.rsi import RsiStrategy

    ctx = ctx_for(tmp_path, market={"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "5m"},
                  backtest={})
    import_csv(ctx, _need(BTC_5M), "binance", "BTC/USDT", "5m")
    req = OptimizeRequest(method="grid", space=("period=7,14,21", "lower=20,30", "upper=70,80"),
                          wf_train="10d", wf_test="4d")
    out = run_optimize(ctx, req)
    rep = study_report(ctx, out.study_id)
    wf = rep["walk_forward"]
    candles = ctx.cache.load("binance", "BTC/USDT", "5m")
    cfg = engine_config(ctx.settings)
    ts = candles.timestamp
    chained: list[float] = []
    assert len(rep["windows"]) >= 4
    for w in rep["windows"]:
        # each window's choice is the best stored in-sample trial of that window
        with ctx.store.session() as s:
            trials = StudyRepository(s).trials(out.study_id, w["window"])
        assert w["best_params"] == max(trials, key=lambda t: t.scores[0]).params
        assert w["oos_start_ms"] > w["is_end_ms"]
        # its out-of-sample score is a plain backtest of those parameters on that window
        a = int(np.searchsorted(ts, w["oos_start_ms"]))
        b = int(np.searchsorted(ts, w["oos_end_ms"])) + 1
        sig = RsiStrategy(**w["best_params"]).signals_for(candles)
        res = run_signals(candles.slice(a, b), Signals(sig.entries[a:b], sig.exits[a:b]), cfg)
        m = compute_metrics(res, "5m").to_dict()
        assert w["out_of_sample"]["return_pct"] == pytest.approx(m["total_return_pct"], rel=1e-9, abs=1e-9)
        assert w["out_of_sample"]["trades"] == m["trades"]
        chained.append(res.final_equity / 10_000)
    stitched = wf["out_of_sample"]
    assert stitched["total_return_pct"] == pytest.approx((np.prod(chained) - 1) * 100, rel=1e-9)
    assert wf["in_sample_mean"]["sharpe"] is not None
    # DSR and PBO from the stored trials of the last window, computed independently
    last = rep["windows"][-1]["window"]
    with ctx.store.session() as s:
        trials = StudyRepository(s).trials(out.study_id, last)
    chosen = rep["chosen"]["number"]
    srs = np.array([sharpe_per_period(t.daily_returns) for t in trials])
    assert rep["honesty"]["dsr"]["dsr"] == pytest.approx(_dsr_reference(trials[chosen].daily_returns, srs), abs=1e-9)
    feasible = [t for t in trials if np.isfinite(t.scores).all()]
    m = np.column_stack([t.daily_returns for t in feasible])
    p = rep["honesty"]["pbo"]
    assert p["pbo"] == pytest.approx(_pbo_reference(m, p["n_partitions"]), abs=1e-12)


def test_resume_refuses_changed_data(tmp_path):
    ctx = ctx_for(tmp_path)
    out = run_optimize(ctx, OptimizeRequest(method="grid", space=SMALL))
    with ctx.store.session() as s:
        StudyRepository(s).get(out.study_id).data_sha256 = "0" * 64
    with pytest.raises(StoreError, match="changed"):
        resume_optimize(ctx, out.study_id)
    with pytest.raises(UsageError):
        resume_optimize(ctx, 99)


def test_a_dask_cluster_gives_the_same_study(tmp_path):
    distributed = pytest.importorskip("distributed")
    req = OptimizeRequest(method="bayes", space=("period=5:30", "lower=15:40", "upper=60:85"), trials=16,
                          batch_size=8, seed=9, wf_train="20d", wf_test="10d")
    a = ctx_for(tmp_path / "local")
    sa = run_optimize(a, req)
    b = ctx_for(tmp_path / "dask")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        sb = run_optimize(b, req, cluster=cluster.scheduler_address)
    assert all_trials(a, sa.study_id) == all_trials(b, sb.study_id)
    ra, rb = study_report(a, sa.study_id), study_report(b, sb.study_id)
    assert ra["walk_forward"] == rb["walk_forward"] and ra["chosen"] == rb["chosen"]
