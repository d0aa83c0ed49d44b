"""Candle validation: every rule with its row number, rule order, alignment and gap counting."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.errors import DataValidationError
from tradebot.data.validation import GapReport, format_ts, validate_candles

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def make(n: int = 10, step: int = H, start: int = T0, timeframe: str = "") -> Candles:
    """Valid candles: a gentle zig-zag with wicks."""
    ts = start + np.arange(n, dtype=np.int64) * step
    close = 100.0 + np.sin(np.arange(n)) * 5
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + 1.0
    low = np.minimum(open_, close) - 1.0
    volume = np.full(n, 10.0)
    return Candles(ts, open_, high, low, close, volume, symbol="X/Y", timeframe=timeframe)


def with_(c: Candles, column: str, row: int, value: float | int) -> Candles:
    """A copy of ``c`` with ``column[row - 1] = value`` (row is 1-based)."""
    arrays = {k: getattr(c, k).copy() for k in ("timestamp", "open", "high", "low", "close",
                                                 "volume")}
    arrays[column][row - 1] = value
    return Candles(**arrays, timeframe=c.timeframe)


def fails(c: Candles, *parts: str, timeframe_ms: int | None = None) -> str:
    with pytest.raises(DataValidationError) as info:
        validate_candles(c, "src.csv", timeframe_ms)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("src.csv: ")
    for part in parts:
        assert part in msg, (part, msg)
    return msg


def test_valid_candles_give_an_empty_gap_report() -> None:
    report = validate_candles(make(24), "src", H)
    assert report == GapReport(24, [], H, T0, T0 + 23 * H)
    assert (report.missing, report.gap_count, report.expected) == (0, 0, 24)
    assert report.summary() == (
        "24 candles from 2024-01-01T00:00:00Z to 2024-01-01T23:00:00Z, no gaps"
    )


def test_empty() -> None:
    c = make(0)
    fails(c, "no candles (empty)")


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "volume"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_row_column_and_time(column: str, value: float) -> None:
    fails(with_(make(), column, 4, value), "row 4 (2024-01-01T03:00:00Z)", f"{column} is",
          "NaN/inf")


def test_duplicate_timestamp() -> None:
    c = with_(make(), "timestamp", 6, T0 + 4 * H)
    fails(c, "row 6 (2024-01-01T04:00:00Z): duplicate timestamp (same as row 5)")


def test_unsorted_timestamps() -> None:
    c = with_(make(), "timestamp", 3, T0 - H)
    msg = fails(c, "row 3 (2023-12-31T23:00:00Z): unsorted timestamps (earlier than row 2")
    assert "duplicate" not in msg


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
@pytest.mark.parametrize("value", [0.0, -5.0])
def test_non_positive_prices(column: str, value: float) -> None:
    c = make()
    # keep OHLC consistent so that only the positivity rule can fire first
    arrays = {k: getattr(c, k).copy() for k in ("timestamp", "open", "high", "low", "close",
                                                 "volume")}
    arrays[column][6] = value
    fails(Candles(**arrays), "row 7 (2024-01-01T06:00:00Z)", f"non-positive price: {column}=")


def test_negative_volume() -> None:
    fails(with_(make(), "volume", 2, -1.0), "row 2 (", "negative volume: volume=-1.0")
    validate_candles(with_(make(), "volume", 2, 0.0), "src")  # zero volume is fine


def test_high_below_low() -> None:
    c = with_(with_(make(), "high", 5, 50.0), "low", 5, 60.0)
    fails(c, "row 5 (2024-01-01T04:00:00Z): high < low (high=50.0, low=60.0)")


def test_high_below_body() -> None:
    c = make()
    c = with_(c, "high", 8, float(max(c.open[7], c.close[7])) - 0.5)
    fails(c, "row 8 (", "high < max(open, close)")


def test_low_above_body() -> None:
    c = make()
    c = with_(c, "low", 9, float(min(c.open[8], c.close[8])) + 0.5)
    fails(c, "row 9 (", "low > min(open, close)")


def test_counts_every_failing_row() -> None:
    c = make()
    for row in (3, 5, 9):
        c = with_(c, "volume", row, -2.0)
    fails(c, "row 3 (", "3 rows fail this rule")


def test_rules_are_checked_in_order() -> None:
    c = with_(make(), "timestamp", 8, T0)  # unsorted at row 8
    c = with_(c, "close", 9, np.nan)  # NaN at a later row still wins: NaN comes first
    fails(c, "row 9 (", "close is nan")
    c = with_(make(), "high", 2, 1.0)  # high < low at row 2 ...
    c = with_(c, "timestamp", 5, T0)  # ... but unsorted at row 5 is reported first
    fails(c, "row 5 (", "unsorted")


def test_alignment_to_the_timeframe() -> None:
    c = make(start=T0 + 60_000)
    validate_candles(c, "src")  # no timeframe: alignment is not checked
    fails(c, "row 1 (2024-01-01T00:01:00Z)", "not aligned", "off by 60000 ms",
          timeframe_ms=H)
    fails(make(start=T0 + 60_000, timeframe="1h"), "not aligned to the 1h timeframe")
    # a 1m series declared as 1h
    fails(make(step=60_000, timeframe="1h"), "row 2 (2024-01-01T00:01:00Z)", "not aligned")
    # a step that is not a multiple, in the middle
    fails(with_(make(), "timestamp", 10, T0 + 8 * H + 30 * 60_000), "row 10", "not aligned",
          timeframe_ms=H)


def test_weekly_candles_may_open_on_monday() -> None:
    week = 7 * 24 * H
    monday = 1_704_067_200_000  # 2024-01-01 was a Monday
    validate_candles(make(5, step=week, start=monday, timeframe="1w"), "src")
    thursday = monday - 4 * 24 * H
    validate_candles(make(5, step=week, start=thursday, timeframe="1w"), "src")
    fails(make(5, step=week, start=monday + 24 * H, timeframe="1w"), "not aligned")


def test_gaps_are_counted_not_filled() -> None:
    c = make(20)
    keep = np.ones(20, dtype=bool)
    keep[[3, 4, 5, 10]] = False  # a 3-candle gap and a 1-candle gap
    c2 = Candles(*(getattr(c, k)[keep] for k in ("timestamp", "open", "high", "low", "close",
                                                  "volume")))
    report = validate_candles(c2, "src", H)
    assert report.rows == 16 and len(c2) == 16
    assert report.gaps == [(T0 + 3 * H, T0 + 5 * H, 3), (T0 + 10 * H, T0 + 10 * H, 1)]
    assert (report.missing, report.gap_count, report.expected) == (4, 2, 20)
    assert "4 missing (20.00%) in 2 gaps (largest: 3 from 2024-01-01T03:00:00Z" in report.summary()
    # without a timeframe, the smallest step is the unit
    assert validate_candles(c2, "src").gaps == report.gaps


def test_single_row_and_format_ts() -> None:
    assert validate_candles(make(1), "src").gaps == []
    assert format_ts(T0) == "2024-01-01T00:00:00Z"
    assert format_ts(T0 + 5) == "2024-01-01T00:00:00.005Z"


def test_shapes_and_dtype_are_checked() -> None:
    c = make()
    bad = Candles(c.timestamp, c.open[:-1], c.high, c.low, c.close, c.volume)
    fails(bad, "column 'open' has shape (9,)")
    bad = Candles(c.timestamp.astype(float), c.open, c.high, c.low, c.close, c.volume)
    fails(bad, "expected int64")


def test_large_input_is_vectorized() -> None:
    n = 1_000_000
    c = make(n, step=60_000, timeframe="1m")
    assert validate_candles(c, "src").rows == n
    fails(with_(c, "low", 999_999, 1e9), "row 999999 (", "high < low")


# --- real data ------------------------------------------------------------------------

README_COUNTS = {  # file -> (rows, missing candles, gaps), from shared/data/README.md
    "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz": (13681, 717, 538),
    "freqtrade-testdata_ADA_BTC-5m.csv.gz": (5720, 40, 5),
    "freqtrade-testdata_ETH_BTC-5m.csv.gz": (5760, 0, 0),
    "freqtrade-testdata_XRP_USDT-5m.csv.gz": (1999, 0, 0),
    "nautilus_BTC-PERP-1m.csv.gz": (45031, 0, 0),
    "octobot_Binance_BTC_USDT-4h.csv.gz": (500, 0, 0),
}
TIMEFRAMES = {"1m": 60_000, "5m": 300_000, "4h": 4 * H}


def load_shared(name: str) -> Candles:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    with gzip.open(path, "rt") as f:
        header = f.readline().strip().split(",")
        assert header == ["timestamp", "open", "high", "low", "close", "volume"]
        data = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    return Candles(data[:, 0].astype(np.int64), *(np.ascontiguousarray(data[:, i])
                                                   for i in range(1, 6)))


@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_real_files_match_the_readme(name: str) -> None:
    rows, missing, gaps = README_COUNTS[name]
    tf = TIMEFRAMES[name.rsplit("-", 1)[1].split(".")[0]]
    report = validate_candles(load_shared(name), name, tf)
    assert (report.rows, report.missing, report.gap_count) == (rows, missing, gaps)


def test_unittest_btc_gaps() -> None:
    name = "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz"
    c = load_shared(name)
    report = validate_candles(c, name, 60_000)
    assert report.missing == 717 and report.gap_count == 538
    assert report.start_ms == c.timestamp[0] and report.end_ms == c.timestamp[-1]
    assert report.expected == (c.timestamp[-1] - c.timestamp[0]) // 60_000 + 1
    for start, end, count in report.gaps:
        assert (end - start) // 60_000 + 1 == count
        assert not np.isin(np.arange(start, end + 1, 60_000), c.timestamp).any()
    assert report.summary().startswith(
        "13681 candles from 2017-11-04T23:02:00Z to 2017-11-14T22:59:00Z, 717 missing")
