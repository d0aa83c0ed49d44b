"""Parquet candle cache and atomic writes: exact round trips, no half-written or bad files."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tradebot.core.atomic import atomic_path, atomic_write_bytes
from tradebot.core.candles import COLUMNS, Candles
from tradebot.core.errors import DataNotFoundError, DataValidationError, UsageError
from tradebot.data.cache import CachedFile, CacheEntry, CandleCache, sha256_file

H = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
#: awkward floats within the plausible price range (up to MAX_PRICE, 1e12)
AWKWARD = [0.1 + 0.2, 1 / 3, np.pi * 1e10, 2.0**-1074, 969_696_969_696.9697,
           6.02214076e11, 1e-300, 9007199254740993.0 / 2**14]  # high adds up to 2 %
#: and beyond it: stored exactly too, when the file is allowed implausible prices
EXTREME = [1.7976931348623157e308 / 4, 6.02214076e23, 9007199254740993.0]


def make(n: int = 100, symbol: str = "BTC/USDT", timeframe: str = "1h", exchange: str = "binance",
         seed: int = 0, start: int = T0) -> Candles:
    rng = np.random.default_rng(seed)
    step = {"1h": H, "1m": 60_000, "1d": 24 * H}[timeframe]
    close = 100 * np.exp(rng.normal(0, 0.01, n).cumsum())
    close[: min(n, len(AWKWARD))] = AWKWARD[: min(n, len(AWKWARD))]
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.random(n) / 50)
    low = np.minimum(open_, close) * (1 - rng.random(n) / 50)
    return Candles(start + np.arange(n, dtype=np.int64) * step, open_, high, low, close,
                   rng.random(n) * 1e3, exchange=exchange, symbol=symbol, timeframe=timeframe)


@pytest.fixture
def cache(tmp_path: Path) -> CandleCache:
    return CandleCache(tmp_path / "home" / "data")


def same(a: Candles, b: Candles) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in COLUMNS) and all(
        getattr(a, k).dtype == getattr(b, k).dtype for k in COLUMNS)


# --- layout and names -------------------------------------------------------------------------

def test_layout(cache: CandleCache) -> None:
    root = cache.root
    assert cache.path_for("binance", "BTC/USDT", "1h") == root / "binance" / "BTC_USDT-1h.parquet"
    assert cache.path_for("binance", "BTC/USDT:USDT", "5m") == \
        root / "binance" / "BTC_USDT_USDT-5m.parquet"
    assert cache.path_for("Binance", "1000PEPE/USDT", "1d") == \
        root / "binance" / "1000PEPE_USDT-1d.parquet"
    assert cache.path_for("okx", "BTC/USD:BTC-240329", "1w").name == "BTC_USD_BTC-240329-1w.parquet"


@pytest.mark.parametrize("exchange,symbol,timeframe", [
    ("../x", "BTC/USDT", "1h"),
    ("..", "BTC/USDT", "1h"),
    ("binance/..", "BTC/USDT", "1h"),
    ("", "BTC/USDT", "1h"),
    ("binance", "../x", "1h"),
    ("binance", "../../etc/passwd", "1h"),
    ("binance", "BTC/../../x", "1h"),
    ("binance", "BTC/USDT/../../x", "1h"),
    ("binance", "..\\x", "1h"),
    ("binance", ".hidden", "1h"),
    ("binance", "BTC_USDT", "1h"),
    ("binance", "BTC/USDT\x00", "1h"),
    ("binance", "/etc/passwd", "1h"),
    ("binance", "", "1h"),
    ("binance", "BTC/USDT", "../1h"),
    ("binance", "BTC/USDT", "1h/../../x"),
    ("binance", "BTC/USDT", "1x"),
    ("binance", "BTC/USDT", " 1h"),
    ("binance", "BTC/USDT", ""),
])
def test_unsafe_names_are_refused(cache: CandleCache, exchange: str, symbol: str,
                                  timeframe: str) -> None:
    with pytest.raises(UsageError) as info:
        cache.path_for(exchange, symbol, timeframe)
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError):
        cache.load(exchange, symbol, timeframe)
    with pytest.raises(UsageError):
        cache.save(make(exchange=exchange, symbol=symbol, timeframe="1h") if timeframe == "1h"
                   else Candles(*(getattr(make(), k) for k in COLUMNS), exchange=exchange,
                                symbol=symbol, timeframe=timeframe))
    assert not cache.root.exists() or not any(cache.root.rglob("*"))


# --- round trip -----------------------------------------------------------------------------

def test_round_trip_is_exact(cache: CandleCache) -> None:
    c = make(1000)
    saved = cache.save(c)
    assert isinstance(saved, CachedFile)
    assert saved.path == cache.path_for("binance", "BTC/USDT", "1h") and saved.path.is_file()
    assert (saved.rows, saved.start_ms, saved.end_ms) == (1000, T0, T0 + 999 * H)
    assert (saved.exchange, saved.symbol, saved.timeframe) == ("binance", "BTC/USDT", "1h")
    assert saved.gap_report.rows == 1000 and saved.gap_report.gaps == []
    assert cache.exists("binance", "BTC/USDT", "1h")
    assert not cache.exists("binance", "ETH/USDT", "1h")

    back = cache.load("binance", "BTC/USDT", "1h")
    assert same(back, c)
    assert (back.exchange, back.symbol, back.timeframe, back.source) == \
        ("binance", "BTC/USDT", "1h", "cache")
    assert back.meta["path"] == str(saved.path)
    assert back.meta["gap_report"] == saved.gap_report
    assert all(getattr(back, k).flags.writeable and getattr(back, k).flags.c_contiguous
               for k in COLUMNS)


def test_implausible_prices_round_trip_only_when_allowed(cache: CandleCache) -> None:
    import pyarrow.parquet as pq

    c = make(100)
    for i, v in enumerate(EXTREME):
        c.open[10 + i] = c.close[10 + i] = v
        c.high[10 + i], c.low[10 + i] = v * 1.01, v * 0.99
    with pytest.raises(DataValidationError, match=r"row 11 .*implausible price: open="):
        cache.save(c)
    assert not cache.exists("binance", "BTC/USDT", "1h")
    saved = cache.save(c, allow_implausible=True)
    assert pq.read_schema(saved.path).metadata[b"tradebot.allow_implausible"] == b"1"
    assert same(cache.load("binance", "BTC/USDT", "1h"), c)  # the file says so: loads accept it
    assert cache.gap_report("binance", "BTC/USDT", "1h").rows == 100
    later = make(2, start=T0 + 100 * H)
    rows = np.column_stack([later.timestamp, later.open, later.high, later.low, later.close, later.volume])
    cache.extend("binance", "BTC/USDT", "1h", after=rows)  # an extension keeps the permission
    assert len(cache.load("binance", "BTC/USDT", "1h")) == 102
    cache.save(make(5))  # a plain save drops it
    assert b"tradebot.allow_implausible" not in pq.read_schema(saved.path).metadata


def test_parquet_schema_and_metadata(cache: CandleCache) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    saved = cache.save(make(10, symbol="BTC/USDT:USDT"))
    f = pq.ParquetFile(saved.path)
    schema = f.schema_arrow
    assert schema.names == list(COLUMNS)
    assert schema.field("timestamp").type == pa.int64()
    assert all(schema.field(c).type == pa.float64() for c in COLUMNS[1:])
    assert schema.metadata[b"tradebot.symbol"] == b"BTC/USDT:USDT"
    assert schema.metadata[b"tradebot.exchange"] == b"binance"
    assert schema.metadata[b"tradebot.timeframe"] == b"1h"
    assert f.metadata.row_group(0).column(1).compression.lower() in ("zstd", "snappy")


def test_gaps_survive_and_are_reported(cache: CandleCache) -> None:
    c = make(50)
    keep = np.r_[0:10, 15:50]
    c = Candles(*(getattr(c, k)[keep] for k in COLUMNS), exchange="binance",
                symbol="BTC/USDT", timeframe="1h")
    saved = cache.save(c)
    assert saved.gap_report.gaps == [(T0 + 10 * H, T0 + 14 * H, 5)]
    back = cache.load("binance", "BTC/USDT", "1h")
    assert len(back) == 45 and back.meta["gap_report"].missing == 5


def test_sha256_is_of_the_file_bytes_and_stable(cache: CandleCache, tmp_path: Path) -> None:
    c = make(500)
    first = cache.save(c)
    assert first.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert sha256_file(first.path) == first.sha256
    assert cache.save(c).sha256 == first.sha256  # same candles, same bytes
    other = CandleCache(tmp_path / "elsewhere").save(c)
    assert other.sha256 == first.sha256
    changed = Candles(c.timestamp, c.open, c.high, c.low, c.close, c.volume + 1.0,
                      exchange="binance", symbol="BTC/USDT", timeframe="1h")
    assert cache.save(changed).sha256 != first.sha256


# --- nothing bad or half-written ----------------------------------------------------------------

def test_bad_data_is_never_written(cache: CandleCache) -> None:
    good = cache.save(make(100))
    before = good.path.read_bytes()
    c = make(100)
    high = c.high.copy()
    high[41] = c.low[41] / 2
    broken = Candles(c.timestamp, c.open, high, c.low, c.close, c.volume,
                     exchange="binance", symbol="BTC/USDT", timeframe="1h")
    with pytest.raises(DataValidationError, match=r"^binance BTC/USDT 1h: row 42 \(.*high < low"):
        cache.save(broken)
    assert good.path.read_bytes() == before
    with pytest.raises(DataValidationError, match="not aligned to the 1h timeframe"):
        cache.save(make(10, start=T0 + 1))
    empty = np.array([], dtype=np.float64)
    with pytest.raises(DataValidationError, match="empty"):
        cache.save(Candles(np.array([], dtype=np.int64), empty, empty, empty, empty, empty,
                           exchange="binance", symbol="ETH/USDT", timeframe="1h"))
    assert not cache.exists("binance", "ETH/USDT", "1h")
    assert sorted(p.name for p in good.path.parent.iterdir()) == ["BTC_USDT-1h.parquet"]


def test_failing_write_leaves_previous_file(cache: CandleCache,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    good = cache.save(make(100))
    before = good.path.read_bytes()

    def half_write(self: object, table: object, *args: object, **kw: object) -> None:
        raise OSError(28, "No space left on device")  # the disk fills mid-file

    monkeypatch.setattr(pq.ParquetWriter, "write_table", half_write)
    with pytest.raises(UsageError, match=r"cannot write .*BTC_USDT-1h.parquet: No space left"):
        cache.save(make(200, seed=1))
    assert good.path.read_bytes() == before
    assert sorted(p.name for p in good.path.parent.iterdir()) == ["BTC_USDT-1h.parquet"]
    monkeypatch.undo()
    assert same(cache.load("binance", "BTC/USDT", "1h"), make(100))


def test_unwritable_root_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UsageError, match=r"^cannot write .*BTC_USDT-1h.parquet: ") as info:
        CandleCache(blocker / "data").save(make(5))
    assert info.value.exit_code == 2


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "binance").mkdir(parents=True)
    (root / "binance").chmod(0o500)
    try:
        with pytest.raises(UsageError, match="Permission denied"):
            CandleCache(root).save(make(5))
    finally:
        (root / "binance").chmod(0o700)


# --- loading bad files ------------------------------------------------------------------------

def test_missing_file(cache: CandleCache) -> None:
    with pytest.raises(DataNotFoundError) as info:
        cache.load("binance", "ETH/USDT", "1h")
    assert str(cache.path_for("binance", "ETH/USDT", "1h")) in str(info.value)
    assert "binance ETH/USDT 1h" in str(info.value)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "png"])
def test_corrupted_file(cache: CandleCache, damage: str) -> None:
    path = cache.save(make(300)).path
    data = path.read_bytes()
    path.write_bytes({"garbage": os.urandom(2000), "truncated": data[: len(data) // 2],
                      "empty": b"", "png": b"\x89PNG\r\n\x1a\n" + data}[damage])
    with pytest.raises(DataValidationError) as info:
        cache.load("binance", "BTC/USDT", "1h")
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg
    [entry] = cache.scan()
    assert entry.path == path and entry.error


def test_file_of_another_market(cache: CandleCache) -> None:
    src = cache.save(make(10)).path
    dst = cache.path_for("binance", "ETH/USDT", "1h")
    shutil.copy(src, dst)
    with pytest.raises(DataValidationError, match="holds binance BTC/USDT 1h, expected binance "
                                                  "ETH/USDT 1h"):
        cache.load("binance", "ETH/USDT", "1h")


def test_a_bad_file_written_behind_our_back_is_caught(cache: CandleCache) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    c = make(20)
    close = c.close.copy()
    close[7] = np.nan
    table = pa.table({k: getattr(c, k) for k in COLUMNS} | {"close": close},
                     metadata={"tradebot.exchange": "binance", "tradebot.symbol": "BTC/USDT",
                               "tradebot.timeframe": "1h"})
    path = cache.path_for("binance", "BTC/USDT", "1h")
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    with pytest.raises(DataValidationError, match=r"BTC_USDT-1h.parquet: row 8 \(.*close is nan"):
        cache.load("binance", "BTC/USDT", "1h")
    pq.write_table(table.drop_columns(["volume"]), path)
    with pytest.raises(DataValidationError, match="not a candle file \\(no column 'volume'\\)"):
        cache.load("binance", "BTC/USDT", "1h")


# --- scan ------------------------------------------------------------------------------------

def test_scan(cache: CandleCache) -> None:
    assert cache.scan() == []
    a = cache.save(make(24, symbol="BTC/USDT:USDT", exchange="bybit"))
    b = cache.save(make(10, timeframe="1d"))
    (a.path.parent / ".BTC_USDT_USDT-1h.parquet.123.abcd.tmp").write_bytes(b"leftover")
    (cache.root / "README.txt").write_text("not data")
    entries = cache.scan()
    assert entries == [
        CacheEntry(b.path, "binance", "BTC/USDT", "1d", 10, T0, T0 + 9 * 24 * H,
                   b.path.stat().st_size),
        CacheEntry(a.path, "bybit", "BTC/USDT:USDT", "1h", 24, T0, T0 + 23 * H,
                   a.path.stat().st_size),
    ]
    assert cache.info("bybit", "BTC/USDT:USDT", "1h") == entries[1]


# --- core/atomic -----------------------------------------------------------------------------

def test_atomic_write_bytes(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"
    assert atomic_write_bytes(target, b"one") == target
    assert target.read_bytes() == b"one"
    target.chmod(0o640)
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o640  # the replaced file's mode is kept
    assert os.listdir(target.parent) == ["file.bin"]


def test_atomic_path_removes_temp_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.exists() and tmp != target
            tmp.write_text("new but doomed")
            raise KeyError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible before the rename
    assert target.read_text() == "new"


def test_atomic_errors_are_one_line_usage_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError) as info:
        atomic_write_bytes(blocker / "sub" / "x.bin", b"data")
    assert str(info.value).startswith(f"cannot write {blocker / 'sub' / 'x.bin'}: ")
    assert "\n" not in str(info.value)


# --- streamed extension ------------------------------------------------------------------------


def rows(c: Candles) -> np.ndarray:
    return np.column_stack([c.timestamp, c.open, c.high, c.low, c.close, c.volume])


def test_extend_streams_to_the_same_bytes_as_one_save(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import tradebot.data.cache as cache_mod

    monkeypatch.setattr(cache_mod, "ROW_GROUP", 64)  # many row groups on a small file
    full = make(1000)
    whole = CandleCache(tmp_path / "a").save(full)
    pieces = CandleCache(tmp_path / "b")
    pieces.extend("binance", "BTC/USDT", "1h", after=rows(full.slice(400, 700)))
    pieces.extend("binance", "BTC/USDT", "1h", before=rows(full.slice(100, 400)))
    pieces.extend("binance", "BTC/USDT", "1h", after=rows(full.slice(700, 1000)))
    done = pieces.extend("binance", "BTC/USDT", "1h", before=rows(full.slice(0, 100)))
    assert done.path.read_bytes() == whole.path.read_bytes()
    assert done.sha256 == whole.sha256 and done.rows == 1000
    assert same(pieces.load("binance", "BTC/USDT", "1h"), full)


def test_extend_reports_gaps_across_pieces_and_refuses_overlap(cache: CandleCache) -> None:
    full = make(300)
    cache.extend("binance", "BTC/USDT", "1h", after=rows(full.slice(0, 100)))
    saved = cache.extend("binance", "BTC/USDT", "1h", after=rows(full.slice(150, 300)))
    assert saved.gap_report.gaps == [(int(full.timestamp[100]), int(full.timestamp[149]), 50)]
    assert cache.gap_report("binance", "BTC/USDT", "1h").gaps == saved.gap_report.gaps
    before = saved.path.read_bytes()
    with pytest.raises(DataValidationError, match="not after"):
        cache.extend("binance", "BTC/USDT", "1h", after=rows(full.slice(250, 260)))
    assert saved.path.read_bytes() == before  # nothing half-written
