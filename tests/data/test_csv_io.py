"""Candle CSV import/export: formats, timestamps, and a one-line error for every bad input."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from tradebot.core.candles import COLUMNS, Candles
from tradebot.core.errors import DataValidationError
from tradebot.data.csv_io import read_candles_csv, write_candles_csv

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z

GOOD = """timestamp,open,high,low,close,volume
1704067200000,100.0,101.5,99.5,101.0,12.5
1704070800000,101.0,102.0,100.0,100.5,8
1704074400000,100.5,100.5,98.25,99.0,0
"""


def write(tmp_path: Path, text: str | bytes, name: str = "c.csv", gz: bool = False) -> Path:
    data = text.encode() if isinstance(text, str) else text
    p = tmp_path / name
    p.write_bytes(gzip.compress(data) if gz else data)
    return p


def rows(c: Candles) -> list[tuple[float, ...]]:
    return [tuple(float(getattr(c, k)[i]) for k in COLUMNS) for i in range(len(c))]


EXPECTED = [
    (T0, 100.0, 101.5, 99.5, 101.0, 12.5),
    (T0 + H, 101.0, 102.0, 100.0, 100.5, 8.0),
    (T0 + 2 * H, 100.5, 100.5, 98.25, 99.0, 0.0),
]


def bad(path: Path, *parts: str, **kw: str) -> str:
    with pytest.raises(DataValidationError) as info:
        read_candles_csv(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    for part in parts:
        assert part in msg, (part, msg)
    assert info.value.exit_code == 2
    return msg


# --- formats ----------------------------------------------------------------------------

def test_plain_csv(tmp_path: Path) -> None:
    c = read_candles_csv(write(tmp_path, GOOD), "binance", "BTC/USDT", "1h")
    assert rows(c) == EXPECTED
    assert (c.exchange, c.symbol, c.timeframe, c.source) == ("binance", "BTC/USDT", "1h", "csv")
    assert c.timestamp.dtype == np.int64 and c.close.dtype == np.float64
    assert all(getattr(c, k).flags.writeable for k in COLUMNS)
    assert c.meta["path"] == str(tmp_path / "c.csv")
    assert c.meta["gap_report"].rows == 3


def test_gzip_is_detected_by_magic_bytes_not_name(tmp_path: Path) -> None:
    assert rows(read_candles_csv(write(tmp_path, GOOD, "a.csv", gz=True))) == EXPECTED
    assert rows(read_candles_csv(write(tmp_path, GOOD, "b.csv.gz", gz=False))) == EXPECTED
    assert rows(read_candles_csv(write(tmp_path, GOOD, "c.txt.gz", gz=True))) == EXPECTED


def test_columns_in_any_order_any_case_extra_ignored(tmp_path: Path) -> None:
    text = ("Volume,CLOSE,trades,Low,High,Open,TimeStamp,note\n"
            "12.5,101.0,7,99.5,101.5,100.0,1704067200000,a\n"
            "8,100.5,3,100.0,102.0,101.0,1704070800000,b\n"
            "0,99.0,0,98.25,100.5,100.5,1704074400000,\n")
    assert rows(read_candles_csv(write(tmp_path, text))) == EXPECTED


def test_crlf_bom_semicolons_and_date_alias(tmp_path: Path) -> None:
    text = "\ufeff" + GOOD.replace("timestamp", "date").replace(",", ";").replace("\n", "\r\n")
    assert rows(read_candles_csv(write(tmp_path, text))) == EXPECTED


def test_leading_blank_lines_and_padded_values(tmp_path: Path) -> None:
    assert rows(read_candles_csv(write(tmp_path, "\n \n" + GOOD))) == EXPECTED
    padded = GOOD.replace(",101.5,", ", 101.5 ,")
    assert rows(read_candles_csv(write(tmp_path, "\n" + padded, gz=True))) == EXPECTED


def test_epoch_seconds(tmp_path: Path) -> None:
    text = GOOD.replace("1704067200000", "1704067200").replace("1704070800000", "1704070800") \
        .replace("1704074400000", "1704074400")
    assert rows(read_candles_csv(write(tmp_path, text))) == EXPECTED
    text = text.replace("1704067200,", "1704067200.0,")  # float seconds
    assert rows(read_candles_csv(write(tmp_path, text))) == EXPECTED


@pytest.mark.parametrize("stamps", [
    ("2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"),
    ("2024-01-01 00:00:00", "2024-01-01 01:00:00", "2024-01-01 02:00:00"),
    ("2024-01-01T02:00:00+02:00", "2024-01-01T03:00:00+02:00", "2024-01-01T04:00:00+02:00"),
    ("2024-01-01T00:00:00.000Z", "2024-01-01T01:00:00.000Z", "2024-01-01T02:00:00.000Z"),
])
def test_iso_timestamps(tmp_path: Path, stamps: tuple[str, str, str]) -> None:
    text = GOOD
    for ms, iso in zip(("1704067200000", "1704070800000", "1704074400000"), stamps, strict=True):
        text = text.replace(ms, iso)
    assert rows(read_candles_csv(write(tmp_path, text), timeframe="1h")) == EXPECTED


def test_iso_dates_for_daily_candles(tmp_path: Path) -> None:
    text = ("timestamp,open,high,low,close,volume\n"
            "2024-01-01,1,2,0.5,1.5,3\n2024-01-02,1.5,2,1,1.2,3\n")
    c = read_candles_csv(write(tmp_path, text), timeframe="1d")
    assert c.timestamp.tolist() == [T0, T0 + 24 * H]


def test_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 5000
    close = np.exp(rng.normal(0, 0.01, n).cumsum()) * 0.123456789012345
    close[:4] = [0.1 + 0.2, 1 / 3, 1e-300, 123456789.12345678]
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.random(n) / 100)
    low = np.minimum(open_, close) * (1 - rng.random(n) / 100)
    low[2] = min(open_[2], close[2]) / 3
    c = Candles(T0 + np.arange(n, dtype=np.int64) * 60_000, open_, high, low, close,
                rng.random(n) * 1e6)
    for name in ("out.csv", "out.csv.gz"):
        path = write_candles_csv(c, tmp_path / "sub" / name)
        back = read_candles_csv(path)
        for k in COLUMNS:
            assert np.array_equal(getattr(back, k), getattr(c, k)), k
    with gzip.open(tmp_path / "sub" / "out.csv.gz", "rt") as f:
        assert f.readline() == "timestamp,open,high,low,close,volume\n"
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".")]


def test_real_files(tmp_path: Path) -> None:
    path = SHARED_DATA / "freqtrade-testdata_UNITTEST_BTC-1m.csv.gz"
    if not path.exists():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    c = read_candles_csv(path, "freqtrade", "UNITTEST/BTC", "1m")
    assert len(c) == 13681
    assert (c.meta["gap_report"].missing, c.meta["gap_report"].gap_count) == (717, 538)
    assert c.timestamp[0] == 1509836520000 and c.close[0] == 0.00162008
    for name in ("octobot_Binance_BTC_USDT-4h.csv.gz", "freqtrade-testdata_ETH_BTC-5m.csv.gz"):
        assert len(read_candles_csv(SHARED_DATA / name)) in (500, 5760)


# --- bad input -----------------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    bad(tmp_path / "nope.csv", "file not found")
    bad(tmp_path, "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    bad(write(tmp_path, ""), "empty file")
    bad(write(tmp_path, "", "e.csv.gz", gz=True), "empty file")
    bad(write(tmp_path, "\n\n  \n"), "empty file")


def test_header_only(tmp_path: Path) -> None:
    bad(write(tmp_path, "timestamp,open,high,low,close,volume\n"), "no data rows")


def test_binary_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    bad(write(tmp_path, rng.bytes(5000), "r.csv"), "not a CSV text file")
    png = b"\x89PNG\r\n\x1a\n" + rng.bytes(300)
    bad(write(tmp_path, png, "img.csv"), "not a CSV text file (looks like a PNG image)")
    bad(write(tmp_path, png, "img.csv.gz", gz=True), "looks like a PNG image")
    bad(write(tmp_path, b"timestamp,open\x00\x01\x02", "nul.csv"), "binary data at byte 14")
    bad(write(tmp_path, b"\x1f\x8b\x08\x00garbage", "broken.csv.gz"), "corrupt gzip")
    bad(write(tmp_path, GOOD.encode("utf-16"), "excel.csv"), "looks like UTF-16 text")
    bad(write(tmp_path, b"PK\x03\x04" + rng.bytes(100), "book.xlsx"), "looks like a zip archive")


def test_missing_column_is_named(tmp_path: Path) -> None:
    text = GOOD.replace(",volume", "").replace(",12.5\n", "\n").replace(",8\n", "\n") \
        .replace(",0\n", "\n")
    bad(write(tmp_path, text), "missing column 'volume'",
        "(header: timestamp,open,high,low,close)")
    bad(write(tmp_path, GOOD.replace("timestamp", "when")), "missing column 'timestamp'")
    bad(write(tmp_path, GOOD.replace("open,high", "o,h")), "missing columns 'open', 'high'")


def test_headerless_file(tmp_path: Path) -> None:
    bad(write(tmp_path, GOOD.split("\n", 1)[1]), "no header row: first line is data")


def test_duplicate_column(tmp_path: Path) -> None:
    bad(write(tmp_path, "timestamp,open,high,low,close,volume,Close\n1,2,3,1,2,3,4\n"),
        "duplicate column 'close'")


@pytest.mark.parametrize("gz", [False, True])
def test_non_numeric_value_names_column_and_row(tmp_path: Path, gz: bool) -> None:
    text = GOOD.replace("100.5,98.25", "100.5,abc")
    bad(write(tmp_path, text, gz=gz), "row 3: non-numeric value 'abc' in column 'low'")


def test_non_numeric_deep_in_a_large_file(tmp_path: Path) -> None:
    n = 200_000
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{T0 + i * 60_000},1,2,0.5,1.5,3" for i in range(n)]
    lines[150_001] = lines[150_001].replace(",2,", ",2x,")
    bad(write(tmp_path, "\n".join(lines) + "\n"), "row 150001: non-numeric value '2x' in column 'high'")


def test_bad_timestamp_names_row(tmp_path: Path) -> None:
    bad(write(tmp_path, GOOD.replace("1704070800000", "yesterday")),
        "row 2: timestamp 'yesterday' is neither")
    bad(write(tmp_path, GOOD.replace("1704070800000", "")), "row 2: empty or NaN value",
        "'timestamp'")
    bad(write(tmp_path, GOOD.replace("1704070800000", "2024-01-01T01:00:00Z")),
        "mixed timestamp formats: row 1 is a number, row 2 a date")


def test_wrong_field_count(tmp_path: Path) -> None:
    bad(write(tmp_path, GOOD.replace(",8\n", "\n")), "row 2: expected 6 fields, got 5")


def test_nan_and_empty_values(tmp_path: Path) -> None:
    bad(write(tmp_path, GOOD.replace(",12.5\n", ",NaN\n")),
        "row 1: empty or NaN value in column 'volume'")
    bad(write(tmp_path, GOOD.replace("100.5,8", ",8")), "row 2: empty or NaN value",
        "'close'")
    bad(write(tmp_path, GOOD.replace(",12.5\n", ",inf\n")), "row 1 (2024-01-01T00:00:00Z)",
        "volume is inf")


def test_validation_runs_with_row_numbers(tmp_path: Path) -> None:
    swapped = GOOD.replace("1704070800000", "X").replace("1704074400000", "1704070800000") \
        .replace("X", "1704074400000")
    bad(write(tmp_path, swapped), "row 3 (2024-01-01T01:00:00Z): unsorted")
    bad(write(tmp_path, GOOD.replace("1704074400000", "1704070800000")),
        "row 3 (2024-01-01T01:00:00Z): duplicate timestamp (same as row 2)")
    bad(write(tmp_path, GOOD.replace("800000,101.0", "800000,-101.0")), "row 2 (",
        "non-positive price")
    bad(write(tmp_path, GOOD.replace("101.5,99.5", "98,99.5")), "row 1 (", "high < low")
    bad(write(tmp_path, GOOD), "row 2 (2024-01-01T01:00:00Z): timestamp not aligned to the 1d",
        timeframe="1d")


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD, "keep.csv")
    before = path.read_bytes()
    import pyarrow.csv as pacsv

    def explode(*a: object, **k: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pacsv, "write_csv", explode)
    c = read_candles_csv(path)
    with pytest.raises(RuntimeError):
        write_candles_csv(c, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.csv"]
