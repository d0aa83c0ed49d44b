"""The portfolio report pieces against slow, obvious references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradebot.analysis.portfolio_report import (
    DAY_MS,
    asset_exposure,
    correlation,
    day_ends,
    equal_weight_index,
    forward_fill,
    pair_table,
)
from tradebot.engine.result import TRADE_DTYPE


def _ffill_slow(c: np.ndarray) -> np.ndarray:
    out = c.copy()
    for m in range(c.shape[0]):
        last = math.nan
        for t in range(c.shape[1]):
            if math.isnan(c[m, t]):
                out[m, t] = last
            else:
                last = c[m, t]
    return out


def test_forward_fill_marks_at_the_last_real_close_and_invents_nothing_before_the_first() -> None:
    rng = np.random.default_rng(0)
    c = rng.uniform(1, 2, size=(4, 200))
    c[rng.uniform(size=c.shape) < 0.3] = np.nan
    c[1, :17] = np.nan
    c[3, :] = np.nan
    got = forward_fill(c)
    np.testing.assert_array_equal(got, _ffill_slow(c))
    assert np.isnan(got[1, :17]).all() and np.isnan(got[3]).all()
    idx = equal_weight_index(got[:3])
    assert idx[0] == pytest.approx(1.0) and np.isfinite(idx).all()


def test_pair_table_sums_and_exposure() -> None:
    ts = np.arange(10, dtype=np.int64) * 3_600_000
    t = np.zeros(3, dtype=TRADE_DTYPE)
    t["entry_idx"], t["exit_idx"] = [0, 4, 1], [2, 6, 3]
    t["pnl"], t["return_pct"] = [10.0, -4.0, 0.0], [1.0, -0.4, 0.0]
    pos = np.zeros((2, 10))
    pos[0, 0:2] = 1.0
    pos[0, 4:6] = 2.0
    pos[1, 1:3] = -1.0
    rows = pair_table(["A/USDT", "B/USDT"], [t[:2], t[2:]], pos, 1000.0, ts)
    a, b = rows
    assert (a["trades"], a["wins"], a["losses"], b["draws"]) == (2, 1, 1, 1)
    assert a["profit"] == 6.0 and a["contribution_pct"] == pytest.approx(0.6) and a["share_pct"] == 100.0
    assert a["exposure_pct"] == 40.0 and b["exposure_pct"] == 20.0
    assert a["avg_duration_s"] == 7200.0 and a["win_rate_pct"] == 50.0


def test_exposure_by_asset_and_correlation_against_slow_references() -> None:
    rng = np.random.default_rng(1)
    n = 24 * 30
    ts = np.int64(1_704_067_200_000) + np.arange(n, dtype=np.int64) * 3_600_000
    close = np.cumprod(1 + rng.normal(0, 0.01, size=(3, n)), axis=1) * 100
    close[2] = close[0] * (1 + rng.normal(0, 0.001, size=n))  # strongly correlated with the first
    pos = np.where(rng.uniform(size=(3, n)) < 0.5, rng.uniform(0.5, 2, size=(3, n)), 0.0)
    equity = 1000 + rng.uniform(-10, 10, size=n)
    exp = asset_exposure(["A/USDT", "B/USDT", "C/USDT"], ts, pos, close, equity)
    ends = [i for i in range(n) if i == n - 1 or ts[i] // DAY_MS != ts[i + 1] // DAY_MS]
    assert list(day_ends(ts)) == ends
    for m, a in enumerate("ABC"):
        assert exp["assets"][a] == pytest.approx([abs(pos[m, i] * close[m, i]) / equity[i] * 100 for i in ends])
        assert exp["max_pct"][a] == pytest.approx(max(abs(pos[m, i] * close[m, i]) / equity[i] * 100
                                                      for i in range(n)))
    corr = correlation(["A", "B", "C"], ts, close)
    daily = close[:, ends]
    rets = daily[:, 1:] / daily[:, :-1] - 1

    def pearson(x: np.ndarray, y: np.ndarray) -> float:
        mx, my = x.mean(), y.mean()
        return float(((x - mx) * (y - my)).sum() / math.sqrt(((x - mx) ** 2).sum() * ((y - my) ** 2).sum()))

    for i in range(3):
        for j in range(3):
            assert corr["markets"][i][j] == pytest.approx(pearson(rets[i], rets[j]), abs=1e-12)
    assert corr["markets"][0][2] > 0.9
    flat = correlation(["A", "B"], ts, close[:2], np.ones((2, n)))  # a pair that never traded
    assert flat["strategy"] == [[None, None], [None, None]]
