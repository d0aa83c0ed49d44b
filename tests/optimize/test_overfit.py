"""PSR, DSR and PBO against hand computations (scipy.stats.norm), the DSR paper's example and
an independent slow CSCV (itertools.combinations + scipy.stats.rankdata)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from tradebot.core.errors import UsageError
from tradebot.optimize.overfit import (
    EULER_GAMMA,
    DSRResult,
    _sharpe_from_sums_nb,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    settle_nb,
    sharpe_per_period,
)

# --------------------------------------------------------------------------- references


def psr_ref(sr: float, sr0: float, n: int, skew: float, kurt: float) -> float:
    return float(stats.norm.cdf((sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)))


def emax_ref(n: int, var: float) -> float:
    g = 0.5772156649015329
    return math.sqrt(var) * ((1 - g) * stats.norm.ppf(1 - 1 / n) + g * stats.norm.ppf(1 - 1 / (n * math.e)))


def sharpe_cols_slow(a: np.ndarray) -> np.ndarray:
    """Per-column mean / std(ddof=1), NaN where the std is 0 — one column at a time."""
    out = []
    for j in range(a.shape[1]):
        col = a[:, j]
        sd = float(np.std(col, ddof=1))
        out.append(float(np.mean(col)) / sd if sd > 1e-12 else math.nan)
    return np.array(out)


def pbo_slow(perf: np.ndarray, s: int, metric=sharpe_cols_slow) -> dict[str, np.ndarray | float]:
    """CSCV the obvious way: every combination, row copies, rankdata."""
    t, n = perf.shape
    blocks = np.array_split(np.arange(t), s)
    logits, chosen, is_v, oos_v = [], [], [], []
    for combo in itertools.combinations(range(s), s // 2):
        is_rows = np.concatenate([blocks[b] for b in combo])
        oos_rows = np.concatenate([blocks[b] for b in range(s) if b not in combo])
        is_m = np.asarray(metric(perf[is_rows]), dtype=float)
        oos_m = np.asarray(metric(perf[oos_rows]), dtype=float)
        best = int(np.argmax(np.where(np.isnan(is_m), -np.inf, is_m)))
        rank = stats.rankdata(np.where(np.isnan(oos_m), -np.inf, oos_m))[best]
        w = rank / (n + 1)
        logits.append(math.log(w / (1 - w)))
        chosen.append(best)
        is_v.append(is_m[best])
        oos_v.append(oos_m[best])
    lg = np.array(logits)
    slope, intercept = np.polyfit(is_v, oos_v, 1)
    return {
        "logits": lg,
        "chosen": np.array(chosen),
        "is": np.array(is_v),
        "oos": np.array(oos_v),
        "pbo": float(np.mean(lg <= 0)),
        "loss": float(np.mean(np.array(oos_v) < 0)),
        "slope": float(slope),
        "intercept": float(intercept),
    }


def assert_matches_slow(res, ref) -> None:
    np.testing.assert_array_equal(res.chosen, ref["chosen"])
    np.testing.assert_allclose(res.logits, ref["logits"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.is_metric, ref["is"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.oos_metric, ref["oos"], rtol=1e-9, atol=1e-12)
    assert res.pbo == ref["pbo"]
    assert res.prob_oos_loss == ref["loss"]
    assert res.degradation_slope == pytest.approx(ref["slope"], rel=1e-7, abs=1e-12)
    assert res.degradation_intercept == pytest.approx(ref["intercept"], rel=1e-7, abs=1e-12)


# --------------------------------------------------------------------------- Sharpe


def test_sharpe_per_period_is_mean_over_sample_std():
    r = np.random.default_rng(1).normal(0.001, 0.02, 300)
    assert sharpe_per_period(r) == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-14)
    assert sharpe_per_period([0.01, 0.03]) == pytest.approx(0.02 / math.sqrt(2e-4))


@pytest.mark.parametrize("bad", [[], [0.01], [0.01, 0.01, 0.01], [0.0] * 5, [0.01, math.nan, 0.02], [0.1, math.inf]])
def test_sharpe_per_period_undefined_is_nan(bad):
    assert math.isnan(sharpe_per_period(bad))


def test_sharpe_per_period_wants_1d():
    with pytest.raises(UsageError, match=r"returns must be a 1-D array.*\(2, 2\)"):
        sharpe_per_period([[0.1, 0.2], [0.3, 0.4]])


# --------------------------------------------------------------------------- PSR


@pytest.mark.parametrize(
    ("sr", "sr0", "n", "skew", "kurt"),
    [(0.1, 0.0, 250, 0.0, 3.0), (0.05, 0.02, 1000, -0.8, 7.5), (-0.03, 0.01, 60, 1.2, 5.0), (0.2, 0.25, 2, 0.0, 3.0)],
)
def test_psr_matches_the_formula(sr, sr0, n, skew, kurt):
    expected = psr_ref(sr, sr0, n, skew, kurt)
    assert probabilistic_sharpe_ratio(sr, sr0, n, skew, kurt) == pytest.approx(expected, rel=1e-12)


def test_psr_normal_returns_hand_value():
    # z = 0.1 · √99 / √(1 + 0.5 · 0.01) = 0.99247...; Φ(z) = 0.83952...
    z = 0.1 * math.sqrt(99) / math.sqrt(1.005)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 100, 0.0, 3.0) == pytest.approx(stats.norm.cdf(z), rel=1e-12)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 100, 0.0, 3.0) == pytest.approx(0.83952, abs=1e-5)


def test_psr_at_the_benchmark_is_one_half():
    assert probabilistic_sharpe_ratio(0.07, 0.07, 500, -1.0, 9.0) == pytest.approx(0.5)


def test_psr_is_monotone_in_n_obs():
    ns = [2, 5, 10, 30, 100, 300, 1000, 5000]
    up = [probabilistic_sharpe_ratio(0.05, 0.01, n, -0.5, 6.0) for n in ns]
    down = [probabilistic_sharpe_ratio(0.01, 0.05, n, -0.5, 6.0) for n in ns]
    assert all(a < b for a, b in itertools.pairwise(up))
    assert all(a > b for a, b in itertools.pairwise(down))
    assert up[-1] > 0.99 and down[-1] < 0.01


def test_psr_penalizes_negative_skew_and_fat_tails():
    base = probabilistic_sharpe_ratio(0.1, 0.0, 250, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, -2.0, 3.0 + 4.0) < base
    assert probabilistic_sharpe_ratio(0.1, 0.0, 250, 0.0, 12.0) < base


def test_psr_nan_inputs_give_nan():
    assert math.isnan(probabilistic_sharpe_ratio(math.nan, 0.0, 100, 0.0, 3.0))
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 0.0, 100, math.nan, 3.0))


def test_psr_refuses_excess_kurtosis_and_short_samples():
    with pytest.raises(UsageError, match=r"kurtosis 0 is below 1 \+ skew² = 1.*non-excess"):
        probabilistic_sharpe_ratio(0.1, 0.0, 100, 0.0, 0.0)  # excess kurtosis of a normal
    with pytest.raises(UsageError, match=r"n_obs.*>= 2, got 1"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0)
    with pytest.raises(UsageError, match=r"n_obs.*got 2.5"):
        probabilistic_sharpe_ratio(0.1, 0.0, 2.5, 0.0, 3.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- expected max Sharpe


def test_expected_max_sharpe_formula_and_edges():
    for n, v in [(2, 1.0), (10, 0.5), (100, 0.002), (12_345, 3e-4)]:
        assert expected_max_sharpe(n, v) == pytest.approx(emax_ref(n, v), rel=1e-10)
    assert expected_max_sharpe(1, 0.7) == 0.0
    assert expected_max_sharpe(500, 0.0) == 0.0
    assert expected_max_sharpe(1.2, 1.0) == 0.0  # the approximation is negative there: clamped
    assert EULER_GAMMA == pytest.approx(0.5772156649015329, abs=1e-15)


def test_expected_max_sharpe_is_close_to_simulated_maxima():
    # The approximation of E[max of N standard normals] (Bailey & López de Prado): ~1 % at N = 100.
    z = np.random.default_rng(7).standard_normal((20_000, 100))
    assert expected_max_sharpe(100, 1.0) == pytest.approx(z.max(axis=1).mean(), rel=0.02)


def test_expected_max_sharpe_grows_with_trials():
    vals = [expected_max_sharpe(n, 0.01) for n in (1, 2, 5, 10, 100, 1000, 10**6, 10**12)]
    assert all(a < b for a, b in itertools.pairwise(vals))
    assert math.isfinite(vals[-1])


@pytest.mark.parametrize(("n", "v", "msg"), [(0, 1.0, "at least 1"), (math.nan, 1.0, "at least 1"), (5, -0.1, ">= 0")])
def test_expected_max_sharpe_errors(n, v, msg):
    with pytest.raises(UsageError, match=msg):
        expected_max_sharpe(n, v)
    with pytest.raises(UsageError, match="finite"):
        expected_max_sharpe(5, math.inf)


# --------------------------------------------------------------------------- DSR


def test_dsr_paper_example():
    """Bailey & López de Prado (2014), numerical example: N = 100 trials, V[SR] = 1/2
    annualized, 5 years of daily returns (T = 1250, 250 a year), annualized SR 2.5,
    skewness -3, kurtosis 10 → SR0 ≈ 0.1132 (per day) and DSR ≈ 0.9004."""
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe_ratio(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_dsr_benchmark_from_trials_matches_paper():
    # 100 trial Sharpe ratios with a sample variance of exactly 0.5 / 250.
    z = np.linspace(-1.0, 1.0, 100)
    trials = z / z.std(ddof=1) * math.sqrt(0.5 / 250)
    r = np.random.default_rng(3).normal(0.001, 0.01, 1250)
    res = deflated_sharpe_ratio(r, trials)
    assert res.var_trial_sharpes == pytest.approx(0.002, rel=1e-12)
    assert res.sharpe0 == pytest.approx(0.1132, abs=5e-5)
    assert res.n_trials == 100 and res.n_obs == 1250


def test_dsr_matches_hand_computation_with_scipy():
    rng = np.random.default_rng(11)
    r = rng.standard_t(4, 700) * 0.01 + 0.002
    trials = rng.normal(0.0, 0.05, 40)
    res = deflated_sharpe_ratio(r, trials)
    sr = r.mean() / r.std(ddof=1)
    sk = stats.skew(r, bias=True)
    ku = stats.kurtosis(r, fisher=False, bias=True)
    sr0 = emax_ref(40, trials.var(ddof=1))
    assert isinstance(res, DSRResult)
    assert res.sharpe == pytest.approx(sr, rel=1e-12)
    assert res.skew == pytest.approx(sk, rel=1e-10)
    assert res.kurtosis == pytest.approx(ku, rel=1e-10)
    assert res.sharpe0 == pytest.approx(sr0, rel=1e-10)
    assert res.dsr == pytest.approx(psr_ref(sr, sr0, 700, sk, ku), rel=1e-10)
    assert res.reason is None and res.n_finite_trials == 40


def test_dsr_decreases_as_trials_grow():
    r = np.random.default_rng(5).normal(0.003, 0.01, 500)
    out = []
    for n in (2, 5, 20, 100, 1000, 10_000):
        z = np.linspace(-1.0, 1.0, n)
        out.append(deflated_sharpe_ratio(r, z / z.std(ddof=1) * 0.03).dsr)  # same variance
    assert all(a > b for a, b in itertools.pairwise(out))


def test_dsr_single_trial_has_zero_benchmark():
    r = np.random.default_rng(9).normal(0.001, 0.01, 400)
    res = deflated_sharpe_ratio(r, [sharpe_per_period(r)])
    assert res.sharpe0 == 0.0 and res.n_trials == 1 and res.var_trial_sharpes == 0.0
    assert res.dsr == pytest.approx(probabilistic_sharpe_ratio(res.sharpe, 0.0, 400, res.skew, res.kurtosis))


def test_dsr_undefined_trials_are_counted_but_not_in_the_variance():
    r = np.random.default_rng(2).normal(0.002, 0.01, 300)
    finite = np.array([0.05, -0.02, 0.01, 0.2])
    res = deflated_sharpe_ratio(r, np.concatenate([finite, [math.nan, math.inf, -math.inf]]))
    assert res.n_trials == 7 and res.n_finite_trials == 4
    assert res.var_trial_sharpes == pytest.approx(finite.var(ddof=1))
    assert res.sharpe0 == pytest.approx(emax_ref(7, finite.var(ddof=1)))
    # Fewer than 2 finite: no dispersion observed, benchmark 0 whatever N.
    lone = deflated_sharpe_ratio(r, [0.2, math.nan, math.nan])
    assert lone.var_trial_sharpes == 0.0 and lone.sharpe0 == 0.0 and lone.n_trials == 3


def test_dsr_too_little_data_is_nan_with_a_reason():
    one = deflated_sharpe_ratio([0.01], [0.1, 0.2])
    assert math.isnan(one.dsr) and one.n_obs == 1 and "at least 2" in (one.reason or "")
    none = deflated_sharpe_ratio([], [0.1, 0.2])
    assert math.isnan(none.dsr) and none.n_obs == 0 and none.reason
    flat = deflated_sharpe_ratio([0.0] * 50, [0.1, 0.2])
    assert math.isnan(flat.dsr) and math.isnan(flat.sharpe) and "zero variance" in (flat.reason or "")
    assert flat.sharpe0 == pytest.approx(emax_ref(2, np.var([0.1, 0.2], ddof=1)))
    const = deflated_sharpe_ratio([0.01] * 50, [0.1, 0.2])  # rounding leaves a ~1e-18 "deviation"
    assert math.isnan(const.dsr) and math.isnan(const.skew) and math.isnan(const.kurtosis) and const.reason


def test_dsr_extreme_skew_does_not_trip_the_moment_check():
    # A two-point sample sits on the bound kurtosis = 1 + skew² (up to rounding).
    r = np.zeros(400)
    r[::50] = 0.05
    res = deflated_sharpe_ratio(r, [0.0, 0.1, 0.3])
    assert res.kurtosis == pytest.approx(1 + res.skew**2, rel=1e-9)
    assert 0.0 <= res.dsr <= 1.0


def test_dsr_usage_errors():
    with pytest.raises(UsageError, match=r"contain 1 NaN or infinite"):
        deflated_sharpe_ratio([0.01, math.nan, 0.02], [0.1, 0.2])
    with pytest.raises(UsageError, match="trial_sharpes is empty"):
        deflated_sharpe_ratio([0.01, 0.02, 0.0], [])
    with pytest.raises(UsageError, match=r"trial_sharpes must be a 1-D"):
        deflated_sharpe_ratio([0.01, 0.02, 0.0], [[0.1, 0.2]])


# --------------------------------------------------------------------------- PBO


@pytest.mark.parametrize(
    ("t", "n", "s", "seed"), [(60, 5, 4, 0), (101, 7, 6, 1), (200, 12, 8, 2), (37, 3, 2, 3), (16, 4, 16, 4)]
)
def test_pbo_matches_slow_cscv(t, n, s, seed):
    """The reference test of cscv_sharpe_nb (the default metric's compiled pass)."""
    rng = np.random.default_rng(seed)
    perf = rng.normal(0.0005, 0.01, (t, n)) + rng.normal(0, 0.003, n)
    res = pbo_cscv(perf, n_partitions=s)
    assert res.n_combinations == math.comb(s, s // 2) == res.logits.size
    assert (res.n_partitions, res.n_obs, res.n_trials) == (s, t, n)
    assert_matches_slow(res, pbo_slow(perf, s))


def test_pbo_custom_metric_matches_slow_and_default():
    rng = np.random.default_rng(21)
    perf = rng.normal(0.0, 0.01, (90, 9))

    def mean(a: np.ndarray) -> np.ndarray:
        return a.mean(axis=0)

    def drawdown_score(a: np.ndarray) -> np.ndarray:  # path-dependent: the row order matters
        eq = np.cumsum(a, axis=0)
        return -(np.maximum.accumulate(eq, axis=0) - eq).max(axis=0)

    for metric in (mean, drawdown_score):
        assert_matches_slow(pbo_cscv(perf, 6, metric=metric), pbo_slow(perf, 6, metric))
    via_callable = pbo_cscv(perf, 6, metric=sharpe_cols_slow)
    default = pbo_cscv(perf, 6)
    np.testing.assert_allclose(via_callable.logits, default.logits)
    np.testing.assert_array_equal(via_callable.chosen, default.chosen)


def test_pbo_ties_and_undefined_metrics_rank_like_rankdata():
    rng = np.random.default_rng(8)
    perf = rng.normal(0.0, 0.01, (80, 8))
    perf[:, 3] = 0.0  # never trades: Sharpe undefined everywhere
    perf[:, 5] = perf[:, 1]  # a duplicate: tied ranks

    def coarse(a: np.ndarray) -> np.ndarray:  # many ties
        return np.round(a.sum(axis=0) * 20)

    assert_matches_slow(pbo_cscv(perf, 8), pbo_slow(perf, 8))
    assert_matches_slow(pbo_cscv(perf, 8, metric=coarse), pbo_slow(perf, 8, coarse))
    assert 3 not in pbo_cscv(perf, 8).chosen


def test_pbo_of_pure_noise_is_near_one_half():
    pbos = [pbo_cscv(np.random.default_rng(seed).normal(0.0, 0.01, (480, 40))).pbo for seed in range(8)]
    assert 0.35 <= float(np.mean(pbos)) <= 0.65


def test_pbo_with_one_real_edge_is_near_zero():
    rng = np.random.default_rng(42)
    perf = rng.normal(0.0, 0.01, (480, 40))
    perf[:, 17] += 0.004  # Sharpe 0.4 a period against noise
    res = pbo_cscv(perf)
    assert res.pbo < 0.02
    assert np.all(res.chosen == 17)
    assert res.prob_oos_loss == 0.0
    assert np.all(res.logits > 0)


def test_pbo_result_is_read_only():
    res = pbo_cscv(np.random.default_rng(0).normal(size=(40, 4)), 4)
    with pytest.raises(ValueError):
        res.logits[0] = 1.0
    with pytest.raises(AttributeError):
        res.pbo = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("shape", "s", "msg"),
    [
        ((100, 5), 5, "must be even, got 5"),
        ((100, 5), 0, r"partitions must be a whole number >= 2, got 0"),
        ((100, 5), 2.0, r"partitions must be a whole number >= 2, got 2.0"),
        ((100, 1), 4, "at least 2 trials, got 1"),
        ((15, 5), 16, "16 partitions needs at least 16 periods, got 15"),
        ((100,), 4, r"2-D performance matrix.*\(100,\)"),
    ],
)
def test_pbo_usage_errors(shape, s, msg):
    with pytest.raises(UsageError, match=msg):
        pbo_cscv(np.zeros(shape), n_partitions=s)


def test_pbo_refuses_non_finite_performance():
    perf = np.random.default_rng(0).normal(size=(40, 4))
    perf[3, 2] = math.nan
    with pytest.raises(UsageError, match="contains 1 NaN or infinite"):
        pbo_cscv(perf, 4)


def test_pbo_custom_metric_must_return_one_value_per_trial():
    with pytest.raises(UsageError, match=r"one value per trial, shape \(4,\); got \(\)"):
        pbo_cscv(np.random.default_rng(0).normal(size=(40, 4)), 4, metric=lambda a: a.sum())


# --------------------------------------------------------------------------- numba kernels


def test_sharpe_from_sums_nb_matches_sharpe_per_period():
    rng = np.random.default_rng(4)
    for n in (1, 2, 3, 10, 500):
        x = rng.normal(0.01, 0.02, n) + 50.0 * (n == 500)  # a large mean: the centring matters
        shift = float(x.mean()) + 0.3
        y = x - shift
        got = _sharpe_from_sums_nb(y.sum(), (y * y).sum(), float(n), shift)
        want = sharpe_per_period(x)
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-9)
    flat = np.full(20, 0.01) - 0.005
    assert math.isnan(_sharpe_from_sums_nb(flat.sum(), (flat * flat).sum(), 20.0, 0.005))


def test_settle_nb_matches_argmax_and_rankdata():
    rng = np.random.default_rng(6)
    for trial in range(300):
        n = int(rng.integers(1, 12))
        is_m = rng.integers(-2, 3, n).astype(float)
        oos_m = rng.integers(-2, 3, n).astype(float)
        is_m[rng.random(n) < 0.2] = np.nan
        oos_m[rng.random(n) < 0.2] = np.nan
        if trial % 7 == 0:
            is_m[:] = np.nan
        out = (np.zeros(3, dtype=np.int64), np.zeros(3), np.zeros(3), np.zeros(3))
        settle_nb(1, is_m, oos_m, *out)
        best = int(np.argmax(np.where(np.isnan(is_m), -np.inf, is_m)))
        assert out[0][1] == best
        assert out[3][1] == stats.rankdata(np.where(np.isnan(oos_m), -np.inf, oos_m))[best]
        np.testing.assert_equal([out[1][1], out[2][1]], [is_m[best], oos_m[best]])
