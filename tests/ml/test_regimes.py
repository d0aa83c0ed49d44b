"""Market regimes: the planted market is recognised (learned and rules) after the lag the
classifier reports, names are stable across refits, features are causal, summaries and the
performance-by-regime table add up, bad settings are refused."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.analysis.regime_report import regime_performance
from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.ml.regime.features import regime_features, rolling_percentile, rolling_percentile_np
from tradebot.ml.regime.learned import classify_learned, fit_learned, name_components
from tradebot.ml.regime.percentile_nb import rolling_percentile_nb
from tradebot.ml.regime.rules import classify_rules
from tradebot.ml.regime.settings import RegimeSettings, check_method, default_names
from tradebot.ml.regime.summary import agreement, history_summary
from tradebot.testing.markets import PLANTED_REGIMES, planted_regime_market

N = 8000


@pytest.fixture(scope="module")
def planted() -> dict[int, tuple[Candles, np.ndarray, object]]:
    s = RegimeSettings()
    out = {}
    for seed in (2, 3):
        candles, labels = planted_regime_market(N, seed)
        out[seed] = (candles, labels, regime_features(candles, s))
    return out


@pytest.mark.parametrize("seed", [2, 3])
def test_learned_agrees_with_planted_after_its_lag(planted, seed) -> None:
    s = RegimeSettings()
    candles, truth, feats = planted[seed]
    model = fit_learned(feats, s, seed=11)
    got = classify_learned(model, feats)
    a = agreement(got.labels, truth, got.names, PLANTED_REGIMES, got.lag)
    assert a["lag_bars"] == s.lag == got.lag == 24  # the lag is reported, and it is what was used
    assert a["agreement"] >= 0.80, a
    assert a["counted_share"] >= 0.8  # the lag leaves most bars counted
    assert a["agreement_no_lag"] < a["agreement"]  # the lag matters: bars right after a change are harder
    # a bar's probability is the posterior of its regime, the largest of the row
    ok = got.labels >= 0
    assert np.allclose(got.prob[ok], got.probs[ok].max(axis=1))
    assert np.allclose(got.probs[ok].sum(axis=1), 1.0)


@pytest.mark.parametrize("seed", [2, 3])
def test_rules_agree_with_planted_after_the_lag(planted, seed) -> None:
    s = RegimeSettings()
    _, truth, feats = planted[seed]
    got = classify_rules(feats, s)
    a = agreement(got.labels, truth, got.names, PLANTED_REGIMES, got.lag)
    assert a["agreement"] >= 0.80, a
    ok = got.labels >= 0
    assert (got.prob[ok] > 0).all() and (got.prob[ok] < 1).all()
    assert np.allclose(got.probs[ok].sum(axis=1), 1.0)


def test_names_are_stable_across_refits_with_other_seeds(planted) -> None:
    s = RegimeSettings()
    _, _, feats = planted[2]
    fits = [fit_learned(feats, s, seed=k) for k in (0, 1, 7)]
    labels = [classify_learned(m, feats).labels for m in fits]
    for other in labels[1:]:
        assert (other == labels[0]).mean() >= 0.98
    cols = fits[0].columns
    for m in fits:
        means = dict(zip(s.names, m.component_means, strict=True))
        z = cols.index("z_48")
        assert means["trend_up"][z] > 0.5 > -0.5 > means["trend_down"][z]
        vol = cols.index("log_vol")
        assert means["high_vol"][vol] == max(v[vol] for v in means.values())
    # a refit on another market with the same kind of regimes names them the same way
    c2, truth2 = planted_regime_market(N, 5)
    f2 = regime_features(c2, s)
    got = classify_learned(fit_learned(f2, s, seed=3), f2)
    assert agreement(got.labels, truth2, got.names, PLANTED_REGIMES, got.lag)["agreement"] >= 0.8


def test_name_components_orders_by_volatility_then_trend() -> None:
    z = np.array([0.1, -2.0, 0.0, 2.5])
    vol = np.array([-4.0, -4.6, -3.0, -4.5])
    assert name_components(z, vol, 4, True) == (2, 1, 3, 0)  # 2 is most volatile; 3 up; 1 down; 0 range
    assert name_components(np.array([-1.0, 1.0]), np.zeros(2), 2, False) == (1, 0)


def test_features_and_regimes_are_causal(planted) -> None:
    """Changing every bar after t changes nothing at or before t."""
    s = RegimeSettings()
    candles, _, feats = planted[3]
    t = 5000
    rng = np.random.default_rng(0)
    k = np.ones(N)
    k[t + 1:] = np.exp(np.cumsum(0.05 * rng.standard_normal(N - t - 1)))
    wide = np.where(np.arange(N) > t, 0.01, 0.0)  # wider wicks too, after t only
    other = Candles(candles.timestamp, candles.open * k, candles.high * k * (1 + wide), candles.low * k * (1 - wide),
                    candles.close * k, candles.volume, timeframe="1h")
    f2 = regime_features(other, s)
    assert np.array_equal(feats.values[: t + 1], f2.values[: t + 1], equal_nan=True)
    assert not np.array_equal(feats.values[t + 1:], f2.values[t + 1:], equal_nan=True)
    r1, r2 = classify_rules(feats, s), classify_rules(f2, s)
    assert np.array_equal(r1.labels[: t + 1], r2.labels[: t + 1])
    model = fit_learned(feats, s, seed=1)  # one fitted model: its output at t depends on bars <= t only
    l1, l2 = classify_learned(model, feats), classify_learned(model, f2)
    assert np.array_equal(l1.labels[: t + 1], l2.labels[: t + 1])
    assert np.array_equal(l1.prob[: t + 1], l2.prob[: t + 1], equal_nan=True)


def _slow_percentile(x: np.ndarray, window: int, minimum: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    first = int(np.flatnonzero(np.isfinite(x))[0])
    for t in range(first, x.shape[0]):
        lo = max(first, t - window + 1)
        w = x[lo:t + 1]
        if w.size >= minimum and np.isfinite(w).all():
            out[t] = np.mean(w <= x[t])
    return out


@pytest.mark.parametrize(("window", "minimum"), [(100, 20), (50, 50), (10, 1), (1000, 250)])
def test_rolling_percentile_kernel_and_numpy_match_the_obvious_loop(window: int, minimum: int) -> None:
    """The compiled kernel and the numpy path: the loop's numbers exactly (ties, a NaN and an
    inf inside, NaN before the first value)."""
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal(1500), 1)  # many ties
    x[:5] = np.nan
    x[700] = np.nan
    x[900] = np.inf
    want = _slow_percentile(x, window, minimum)
    assert np.array_equal(rolling_percentile_np(x, window, minimum), want, equal_nan=True)
    assert np.array_equal(rolling_percentile_nb(x, window, minimum), want, equal_nan=True)
    assert np.isnan(want[: 5 + minimum - 1]).all() and np.isfinite(want[5 + minimum - 1:700]).all()
    assert np.isfinite(rolling_percentile(x[:600], window, minimum)[5 + minimum:]).all()


def test_history_summary_counts_spells_and_transitions() -> None:
    labels = np.array([-1, -1, 0, 0, 1, 1, 1, 0, 2])
    h = history_summary(labels, ("a", "b", "c"))
    assert h["classified_bars"] == 7 and h["unclassified_bars"] == 2 and h["switches"] == 3
    rows = {r["regime"]: r for r in h["regimes"]}
    assert (rows["a"]["bars"], rows["a"]["spells"], rows["a"]["mean_duration_bars"]) == (3, 2, 1.5)
    assert (rows["b"]["bars"], rows["b"]["spells"], rows["b"]["mean_duration_bars"]) == (3, 1, 3.0)
    assert h["transitions"][0] == [pytest.approx(1 / 3), pytest.approx(1 / 3), pytest.approx(1 / 3)]
    assert h["transitions"][1] == [pytest.approx(1 / 3), pytest.approx(2 / 3), 0.0]
    assert h["transitions"][2] == [None, None, None]  # never left: no row


def test_performance_by_regime_adds_up(planted) -> None:
    candles, _, _ = planted[2]
    n = len(candles)
    rng = np.random.default_rng(1)
    equity = 1000.0 * np.cumprod(1 + 0.001 * rng.standard_normal(n))
    entries = rng.choice(np.arange(1, n), 60, replace=False)
    pnl = rng.standard_normal(60)
    out = regime_performance(candles, candles.timestamp, equity, candles.timestamp[entries], pnl,
                             100 * pnl / 1000, RegimeSettings())
    rows = out["rows"]
    assert out["available"] and [r["regime"] for r in rows] == [*PLANTED_REGIMES, "(warm-up)"]
    assert sum(r["trades"] for r in rows) == 60
    assert sum(r["pnl"] for r in rows) == pytest.approx(pnl.sum())
    assert sum(r["bars"] for r in rows) == n
    growth = np.prod([1 + r["return_pct"] / 100 for r in rows])
    assert growth == pytest.approx(equity[-1] / equity[0])
    # a trade belongs to the regime of the bar before its entry bar (the bar that decided it)
    labels = classify_rules(regime_features(candles, RegimeSettings()), RegimeSettings()).labels
    first = int(entries[0])
    name = "(warm-up)" if labels[first - 1] < 0 else PLANTED_REGIMES[labels[first - 1]]
    single = regime_performance(candles, candles.timestamp, equity, candles.timestamp[[first]], pnl[:1],
                                pnl[:1], RegimeSettings())
    assert [r["regime"] for r in single["rows"] if r["trades"]] == [name]


def test_too_little_data_gives_an_unavailable_table() -> None:
    candles, _ = planted_regime_market(100, 1)
    out = regime_performance(candles, candles.timestamp, np.ones(100), np.zeros(0, dtype=np.int64), np.zeros(0),
                             np.zeros(0))
    assert out["available"] is False and "the data has 100" in out["reason"]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UsageError, match="at least 2"):
        RegimeSettings(names=("only",))
    with pytest.raises(UsageError, match="at least 2"):
        RegimeSettings.with_count(1)
    with pytest.raises(UsageError, match="distinct"):
        RegimeSettings(names=("a", "a"))
    with pytest.raises(UsageError, match="unknown regime method 'foo'"):
        check_method("foo")
    with pytest.raises(UsageError, match="the data has 300"):
        regime_features(planted_regime_market(300, 1)[0], RegimeSettings(pct_min=400, pct_window=500))
    assert default_names(3) == ("trend_up", "trend_down", "range")
    assert default_names(5) == ("trend_up", "trend_down", "range", "range_2", "high_vol")
