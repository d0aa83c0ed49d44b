"""PSR and block-bootstrap confidence intervals of daily returns (tradebot.analysis.confidence)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import stats

from tradebot.analysis.confidence import (
    DEFAULT_RESAMPLES,
    MIN_DAYS,
    block_bootstrap_indices,
    block_length,
    bootstrap_ci,
    confidence_summary,
    psr_daily,
)
from tradebot.analysis.metrics import compute_metrics
from tradebot.analysis.report import build_report
from tradebot.engine.result import TRADE_DTYPE, BacktestResult

DAY = 86_400_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def _psr_by_hand(r: np.ndarray) -> float:
    """Bailey & López de Prado (2012), written out independently with scipy's moments."""
    n = r.size
    sr = r.mean() / r.std(ddof=1)
    g3 = stats.skew(r, bias=True)
    g4 = stats.kurtosis(r, fisher=False, bias=True)
    return float(stats.norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_psr_matches_the_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, size=400) * 0.02 + 0.002 * (seed - 2)  # fat tails, three drifts
    assert psr_daily(r) == pytest.approx(_psr_by_hand(r), rel=1e-10)


def test_psr_undefined_is_none() -> None:
    assert psr_daily(np.zeros(50)) is None
    assert psr_daily([0.01]) is None
    assert psr_daily([0.01, math.nan, 0.02]) is None


def test_block_length_rule() -> None:
    assert block_length(730) == 9 and block_length(27) == 3 and block_length(20) == 3
    assert block_length(1) == 1


def test_indices_are_circular_blocks() -> None:
    idx = block_bootstrap_indices(10, 3, 50, np.random.default_rng(0))
    assert idx.shape == (50, 10) and idx.min() >= 0 and idx.max() <= 9
    steps = (np.diff(idx, axis=1) % 10)[:, [0, 1, 3, 4, 6, 7]]  # inside each block of 3
    assert (steps == 1).all()


def test_fast_sums_match_the_materialised_resamples() -> None:
    """bootstrap_ci's block sums give what the explicit resamples give (same generator draws)."""
    rng = np.random.default_rng(5)
    r = rng.normal(0.001, 0.03, 101)
    met = r > 0.01
    got = bootstrap_ci(r, met, seed=9, n_resamples=500)
    idx = block_bootstrap_indices(101, block_length(101), 500, np.random.default_rng([9, 0xB007]))
    x = r[idx]
    want_ret = np.quantile((np.prod(1 + x, axis=1) - 1) * 100, [0.025, 0.975])
    want_sr = np.quantile(x.mean(1) / x.std(1, ddof=1) * math.sqrt(365), [0.025, 0.975])
    want_t = np.quantile(met[idx].mean(1) * 100, [0.025, 0.975])
    assert got["return_pct"] == pytest.approx(want_ret, rel=1e-9)
    assert got["sharpe"] == pytest.approx(want_sr, rel=1e-9)
    assert got["target_days_pct"] == pytest.approx(want_t, rel=1e-12)


def test_coverage_on_iid_returns() -> None:
    """95 % intervals of the annualised Sharpe contain the true one in about 95 % of samples."""
    mu, sigma, n, trials = 0.002, 0.02, 250, 200
    true_sharpe = mu / sigma * math.sqrt(365)
    rng = np.random.default_rng(2024)
    hits = 0
    for t in range(trials):
        r = rng.normal(mu, sigma, n)
        lo, hi = bootstrap_ci(r, seed=t, n_resamples=400)["sharpe"]  # type: ignore[misc]
        hits += lo <= true_sharpe <= hi
    assert 0.88 <= hits / trials <= 0.99, hits


def test_blocks_widen_the_interval_of_dependent_returns() -> None:
    """AR(1) daily returns (phi = 0.6): the block bootstrap's Sharpe interval is wider than the
    i.i.d. bootstrap's, which ignores the dependence."""
    rng = np.random.default_rng(11)
    n, phi = 730, 0.6
    e = rng.normal(0, 0.01, n)
    r = np.empty(n)
    r[0] = e[0]
    for i in range(1, n):
        r[i] = phi * r[i - 1] + e[i]
    r += 0.0005
    blk = bootstrap_ci(r, seed=1)["sharpe"]
    iid = bootstrap_ci(r, seed=1, block=1)["sharpe"]
    assert blk is not None and iid is not None
    assert (blk[1] - blk[0]) > 1.3 * (iid[1] - iid[0])


def test_deterministic_with_the_seed() -> None:
    r = np.random.default_rng(3).normal(0, 0.02, 120)
    met = r > 0
    a = confidence_summary(r, met, seed=42)
    assert a == confidence_summary(r, met, seed=42)
    assert a["ci95"] != confidence_summary(r, met, seed=43)["ci95"]
    assert a["confidence"]["resamples"] == DEFAULT_RESAMPLES and a["confidence"]["seed"] == 42


def test_no_target_no_target_interval() -> None:
    r = np.random.default_rng(3).normal(0, 0.02, 60)
    assert set(confidence_summary(r, None)["ci95"]) == {"return_pct", "sharpe"}


def test_too_few_days() -> None:
    out = confidence_summary(np.full(MIN_DAYS - 1, 0.01), None)
    assert out["psr"] is None and out["ci95"] is None
    assert out["confidence"]["note"].startswith("too few days")


def test_fast_enough() -> None:
    r = np.random.default_rng(0).normal(0.001, 0.02, 730)
    met = r > 0
    best = math.inf
    for _ in range(5):
        t = time.perf_counter()
        bootstrap_ci(r, met, seed=1)
        best = min(best, time.perf_counter() - t)
    assert best < 0.05, best


def _daily_result(days: int, seed: int = 0) -> BacktestResult:
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(days, dtype=np.int64) * DAY
    equity = 1000 * np.cumprod(1 + rng.normal(0.001, 0.02, days))
    return BacktestResult(ts, np.full(days, 100.0), equity, np.zeros(0, dtype=TRADE_DTYPE), 1000.0)


def test_report_carries_psr_and_intervals() -> None:
    m = compute_metrics(_daily_result(200), "1d", daily_target=5.0)
    rep = build_report(m, {"seed": 7})
    s = rep["summary"]
    assert 0.0 <= s["psr"] <= 1.0
    assert set(s["ci95"]) == {"return_pct", "sharpe", "target_days_pct"}
    lo, hi = s["ci95"]["sharpe"]
    assert lo < s["sharpe"] < hi
    lo, hi = s["ci95"]["target_days_pct"]
    assert lo <= s["target_days_pct"] <= hi
    assert s["confidence"]["seed"] == 7 and s["confidence"]["days"] == 200
    ret = np.array([d["return_pct"] for d in m.daily]) / 100
    assert s["psr"] == pytest.approx(_psr_by_hand(ret), rel=1e-10)
    assert build_report(m, {"seed": 7}) == rep


def test_report_without_target_or_with_few_days() -> None:
    s = build_report(compute_metrics(_daily_result(200), "1d"), {"seed": 1})["summary"]
    assert set(s["ci95"]) == {"return_pct", "sharpe"}
    s = build_report(compute_metrics(_daily_result(10), "1d", 5.0), {"seed": 1})["summary"]
    assert s["psr"] is None and s["ci95"] is None
