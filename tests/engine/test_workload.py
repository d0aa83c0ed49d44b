"""The standard workload (/work/shared/bench/WORKLOAD.md): data and reference answers."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.engine.backtest import run_strategy
from tradebot.engine.config import EngineConfig
from tradebot.strategies.builtin.rsi import RsiStrategy

SHA256 = {
    10_000: "b2b34321b2652bacaaaf41ce27391b74746c3bedc31bc2ce8ff11201accdacbb",
    100_000: "4098ad32f82c35193fd9eab1c5600c808aee6643b596110d51a7c56e23cc0ab0",
}

# bars -> (trades, final equity, max drawdown %) from WORKLOAD.md section 5
REFERENCE = {
    10_000: (36, 9_497.049925, 10.6995),
    100_000: (352, 6_932.961870, 34.4428),
    1_000_000: (3_491, 18.309502, 99.8233),
}


@pytest.mark.parametrize("n", sorted(SHA256))
def test_generated_csv_matches_published_hash(h, n):
    assert h.sha256(h.workload_csv(h.workload_arrays(n))) == SHA256[n]


def test_csv_round_trip_equals_arrays(h):
    """Parsing the CSV text back gives exactly the rounded arrays the tests run on."""
    import pandas as pd

    a = h.workload_arrays(10_000)
    df = pd.read_csv(io.StringIO(h.workload_csv(a)))
    for col in ("timestamp", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(df[col].to_numpy(), a[col])
    parsed = Candles.from_frame(df)
    np.testing.assert_array_equal(parsed.close, h.workload_candles(10_000).close)


def test_prefix_property(h):
    small, big = h.workload_arrays(10_000), h.workload_arrays(100_000)
    for col in small:
        np.testing.assert_array_equal(small[col], big[col][:10_000])


@pytest.mark.parametrize("n", sorted(REFERENCE))
def test_rsi_reference_answers(h, n):
    trades, final_equity, max_dd_pct = REFERENCE[n]
    res = run_strategy(h.workload_candles(n), RsiStrategy(), EngineConfig())
    assert len(res.trades) == trades
    assert res.final_equity == pytest.approx(final_equity, rel=1e-4)  # 0.01 %
    # the table rounds to 6 decimals: the engine agrees to that precision as well
    assert res.final_equity == pytest.approx(final_equity, abs=5e-7)
    assert h.max_drawdown(res.equity) * 100 == pytest.approx(max_dd_pct, abs=5e-5)
    total_return_pct = (res.final_equity / 10_000 - 1) * 100
    assert total_return_pct == pytest.approx((final_equity / 10_000 - 1) * 100, abs=1e-4)


def test_rsi_workload_follows_the_rules(h):
    """Fills at the next open after an RSI level signal, all-in, fee 0.1 % both sides."""
    candles = h.workload_candles(10_000)
    res = run_strategy(candles, RsiStrategy(), EngineConfig())
    from tradebot import indicators

    r = indicators.rsi(candles.close, 14)
    t = res.trades
    assert np.all(r[t["entry_idx"] - 1] < 30)
    closed = t[t["exit_reason"] == 0]
    assert np.all(r[closed["exit_idx"] - 1] > 70)
    np.testing.assert_array_equal(t["entry_price"], candles.open[t["entry_idx"]])
    np.testing.assert_array_equal(closed["exit_price"], candles.open[closed["exit_idx"]])
    # all in: each entry spends the whole cash (units * price * 1.001 = equity before)
    spent = t["units"] * t["entry_price"] * 1.001
    np.testing.assert_allclose(spent, res.equity[t["entry_idx"] - 1], rtol=1e-12)
