"""A second timeframe and other symbols' columns: aligned without look-ahead."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.errors import ConfigError, UsageError
from tradebot.ml.align import align_asof, align_closed, resample
from tradebot.ml.features import build_features, features_at_last_bar
from tradebot.ml.lookahead import check_feature_lookahead
from tradebot.ml.spec import load_spec, parse_spec, spec_from_content

from .conftest import random_candles

M5, H1 = 300_000, 3_600_000


def five_minute(n: int, seed: int, gaps: bool = True, symbol: str = "TEST/USDT") -> Candles:
    """5-minute candles starting mid-hour (00:35), with a few bars missing."""
    c = random_candles(n, seed=seed, start_ms=1_704_067_200_000 + 7 * M5, step_ms=M5)
    keep = np.ones(n, dtype=bool)
    if gaps:
        keep[np.random.default_rng(seed).choice(np.arange(50, n), size=n // 40, replace=False)] = False
    idx = np.flatnonzero(keep)
    return Candles(c.timestamp[idx], c.open[idx], c.high[idx], c.low[idx], c.close[idx], c.volume[idx],
                   symbol=symbol, timeframe="5m", source="test")


def test_resample_matches_a_slow_obvious_grouping() -> None:
    c = five_minute(900, 1)
    h = resample(c, H1, "1h")
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(c.timestamp.tolist()):
        groups.setdefault(t - t % H1, []).append(i)
    assert h.timestamp.tolist() == sorted(groups) and h.timeframe == "1h"
    for j, (_start, rows) in enumerate(sorted(groups.items())):
        assert h.open[j] == c.open[rows[0]] and h.close[j] == c.close[rows[-1]]
        assert h.high[j] == max(c.high[rows]) and h.low[j] == min(c.low[rows])
        assert h.volume[j] == pytest.approx(sum(c.volume[rows]))


def test_align_closed_uses_only_closed_higher_bars() -> None:
    c = five_minute(700, 2)
    h = resample(c, H1)
    vals = np.arange(len(h), dtype=np.float64)
    got = align_closed(c.timestamp, M5, h.timestamp, H1, vals)
    for t, ts in enumerate(c.timestamp.tolist()):
        closed = [j for j, hs in enumerate(h.timestamp.tolist()) if hs + H1 <= ts + M5]
        assert (np.isnan(got[t]) and not closed) or got[t] == closed[-1]
    other_ts = c.timestamp[::3]
    got = align_asof(c.timestamp, other_ts, np.arange(other_ts.size, dtype=np.float64))
    for t, ts in enumerate(c.timestamp.tolist()):
        assert got[t] == max(j for j, o in enumerate(other_ts.tolist()) if o <= ts)


MTF = {"name": "mtf", "timeframe": "5m", "features": [
    {"kind": "returns", "periods": [1, 3]},
    {"kind": "returns", "periods": [1], "timeframe": "1h", "lags": [1]},
    {"kind": "rsi", "period": 6, "timeframe": "1h"},
    {"kind": "volatility", "windows": [4], "timeframe": "4h"}]}


def test_higher_timeframe_features_are_causal_and_shifting_proves_it() -> None:
    spec = parse_spec(MTF)
    assert spec.columns[:3] == ("ret_1", "ret_3", "1h:ret_1")
    assert "1h:ret_1_lag1" in spec.columns and "1h:rsi_6" in spec.columns and "4h:rvol_4" in spec.columns
    c = five_minute(3000, 3)
    m = build_features(c, spec, mask_warmup=False)
    col = spec.columns.index("1h:ret_1")
    # the value at a bar is the return of the last *closed* hour, held until the next one closes
    h = resample(c, H1)
    hret = np.log(h.close[1:] / h.close[:-1])
    for t in (400, 401, 1234, len(c) - 1):
        j = int(np.searchsorted(h.timestamp + H1, c.timestamp[t] + M5, side="right")) - 1
        assert m.values[t, col] == pytest.approx(hret[j - 1])
    # shift the future: multiply every price from bar k on; nothing before k may change
    for k in (1500, 1501, 2222):
        f = 1.37
        moved = Candles(c.timestamp, np.r_[c.open[:k], c.open[k:] * f], np.r_[c.high[:k], c.high[k:] * f],
                        np.r_[c.low[:k], c.low[k:] * f], np.r_[c.close[:k], c.close[k:] * f],
                        np.r_[c.volume[:k], c.volume[k:] * 3], symbol=c.symbol, timeframe="5m")
        m2 = build_features(moved, spec, mask_warmup=False)
        np.testing.assert_array_equal(m2.values[:k], m.values[:k])
        assert not np.allclose(m2.values[k:, col], m.values[k:, col], equal_nan=True)  # the change is seen later
    report = check_feature_lookahead(spec, c, points=12)
    assert report.ok, report.summary()
    row = features_at_last_bar(c, spec)
    np.testing.assert_allclose(row, m.values[-1], rtol=1e-7, atol=1e-10)


def test_joining_the_forming_higher_bar_would_be_caught() -> None:
    """The naive join (the hour's bar by its open time, still forming) changes under truncation."""
    c = five_minute(800, 4, gaps=False)
    naive_full = align_asof(c.timestamp, resample(c, H1).timestamp, resample(c, H1).close)
    k = 500 + int(np.flatnonzero((c.timestamp[500:] % H1) == 6 * M5)[0])  # mid-hour cut
    cut = c.slice(0, k)
    naive_cut = align_asof(cut.timestamp, resample(cut, H1).timestamp, resample(cut, H1).close)
    assert not np.array_equal(naive_full[:k], naive_cut)  # look-ahead
    closed_full = align_closed(c.timestamp, M5, resample(c, H1).timestamp, H1, resample(c, H1).close)
    closed_cut = align_closed(cut.timestamp, M5, resample(cut, H1).timestamp, H1, resample(cut, H1).close)
    np.testing.assert_array_equal(closed_full[:k], closed_cut)


def test_other_symbols_columns() -> None:
    base = five_minute(1200, 5, gaps=False)
    eth = five_minute(1200, 6, gaps=True, symbol="ETH/USDT")
    spec = parse_spec({"features": [{"kind": "returns", "periods": [1]},
                                    {"kind": "returns", "periods": [1], "symbol": "ETH/USDT"},
                                    {"kind": "volatility", "windows": [4], "symbol": "ETH/USDT", "timeframe": "1h"}],
                       "timeframe": "5m"})
    assert spec.symbols == ("ETH/USDT",)
    assert spec.columns == ("ret_1", "ETH/USDT:ret_1", "ETH/USDT@1h:rvol_4")
    m = build_features(base, spec, mask_warmup=False, others={"ETH/USDT": eth})
    eret = np.r_[np.nan, np.diff(np.log(eth.close))]
    pos = {t: i for i, t in enumerate(eth.timestamp.tolist())}
    for t in range(1, 1200, 37):
        ts = int(base.timestamp[t])
        j = pos.get(ts, max(i for i, o in enumerate(eth.timestamp.tolist()) if o <= ts))  # gap: the last closed
        assert m.values[t, 1] == pytest.approx(eret[j], nan_ok=True)
    report = check_feature_lookahead(spec, base, points=10, others={"ETH/USDT": eth})
    assert report.ok, report.summary()
    with pytest.raises(UsageError, match="needs the candles of ETH/USDT"):
        build_features(base, spec)


@pytest.mark.parametrize(("data", "needle"), [
    ({"features": [{"kind": "rsi", "timeframe": "1h"}]}, "needs the spec's base timeframe"),
    ({"timeframe": "5m", "features": [{"kind": "rsi", "timeframe": "7m"}]}, "must be a multiple of the base"),
    ({"timeframe": "1h", "features": [{"kind": "rsi", "timeframe": "5m"}]}, "must be a multiple of the base"),
    ({"timeframe": "5x", "features": [{"kind": "rsi"}]}, "invalid timeframe '5x'"),
    ({"features": [{"kind": "rsi", "symbol": "ETH:USDT"}]}, "symbol must be a market symbol"),
])
def test_bad_timeframe_and_symbol_entries(data: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_spec(data)


def test_spec_content_round_trips_and_old_hashes_are_kept() -> None:
    spec = parse_spec(MTF)
    again = spec_from_content("mtf", spec.to_dict())
    assert again.sha256 == spec.sha256 and again.columns == spec.columns
    import tomllib

    assert parse_spec(tomllib.loads(spec.to_toml())).sha256 == spec.sha256
    assert load_spec("default").to_dict().get("timeframe") is None  # specs without them hash as before
    with pytest.raises(UsageError, match="is for 5m candles"):
        build_features(random_candles(3000), spec)  # hourly candles
