"""``tradebot data import|list|check`` on real candles from ../shared/data, and backtests on them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from .conftest import BTC_5M, UNITTEST_1M, gunzip_to, shared_file, snapshot

BTC = ("--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "5m")


def _list_row(text: str, symbol: str) -> list[str]:
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if symbol in cells:
            return cells
    raise AssertionError(f"{symbol} not listed:\n{text}")


def test_empty_cache(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    res = run("data", "list")
    assert res.code == 0, res
    assert "No cached data" in res.out
    res = run("data", "check")
    assert res.code == 0, res
    assert "No cached data" in res.out


@pytest.mark.parametrize("plain", [False, True], ids=["gzip", "plain"])
def test_import_list_check(run, home: Path, tmp_path: Path, plain: bool) -> None:  # type: ignore[no-untyped-def]
    src = shared_file(BTC_5M)
    if plain:
        src = gunzip_to(src, tmp_path / "btc_usdt_5m.csv")
        assert src.read_bytes()[:9] == b"timestamp"
    res = run("data", "import", src, *BTC)
    assert res.code == 0, res
    assert "Imported 10,999 candles" in res.out
    assert "0 missing" in res.out or "no gaps" in res.out.lower(), res
    cache_file = home / "data" / "binance" / "BTC_USDT-5m.parquet"
    assert cache_file.is_file()

    listed = run("data", "list")
    assert listed.code == 0, listed
    row = _list_row(listed.out, "BTC/USDT")
    assert row[:4] == ["binance", "BTC/USDT", "5m", "10,999"], row
    assert "2023-01-02" in listed.out and "2023-02-09" in listed.out

    checked = run("data", "check")
    assert checked.code == 0, checked
    assert re.search(r"^ok binance BTC/USDT 5m: 10999 candles", checked.out, re.MULTILINE), checked


def test_gzip_and_plain_give_the_same_data(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gz = shared_file(BTC_5M)
    plain = gunzip_to(gz, tmp_path / "plain.csv")
    shas = []
    for src in (gz, plain):
        assert run("data", "import", src, *BTC).code == 0
        res = run("backtest", "--strategy", "rsi", *BTC, "--json", "--no-save")
        assert res.code == 0, res
        shas.append(res.json()["header"]["data_sha256"])
    assert shas[0] == shas[1]


def test_backtest_on_imported_data_matches_engine(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    from tradebot.data.csv_io import read_candles_csv
    from tradebot.engine.backtest import run_strategy
    from tradebot.engine.config import EngineConfig
    from tradebot.strategies.builtin.rsi import RsiStrategy

    src = shared_file(BTC_5M)
    assert run("data", "import", src, *BTC).code == 0

    text = run("backtest", "--strategy", "rsi", *BTC)
    assert text.code == 0, text
    assert "cache:" in text.out
    assert "synthetic" not in text.out
    assert "Stored as run 1" in text.out

    res = run("backtest", "--strategy", "rsi", *BTC, "--json", "--trades")
    assert res.code == 0, res
    report = res.json()
    header = report["header"]
    assert header["data_source"].startswith("cache:")
    assert header["exchange"] == "binance" and header["timeframe"] == "5m"
    assert header["rows"] == 10_999
    assert header["data_range"] == {"start": "2023-01-02T16:45:00Z", "end": "2023-02-09T21:15:00Z"}

    # the same job straight through the engine (defaults: 0.1 % fees, no slippage, all-in)
    candles = read_candles_csv(src, exchange="binance", symbol="BTC/USDT", timeframe="5m")
    result = run_strategy(candles, RsiStrategy(), EngineConfig(initial_capital=10_000.0))
    expected = result.trades
    got = report["trades"]
    assert len(expected) > 0
    assert len(got) == len(expected) == report["summary"]["trades"]
    for g, e in zip(got, expected, strict=True):
        assert g["entry_idx"] == int(e["entry_idx"]) and g["exit_idx"] == int(e["exit_idx"])
        assert g["entry_price"] == float(e["entry_price"])
        assert g["exit_price"] == float(e["exit_price"])
        assert g["units"] == float(e["units"])
        assert g["pnl"] == float(e["pnl"])
    assert report["summary"]["final_equity"] == pytest.approx(result.final_equity, rel=1e-12)

    # stored run 2 re-runs from the cache to the same numbers
    again = run("report", "2", "--rerun")
    assert again.code == 0, again
    assert "reproduced" in again.out


def test_backtest_range_on_cached_data(run) -> None:  # type: ignore[no-untyped-def]
    assert run("data", "import", shared_file(BTC_5M), *BTC).code == 0
    res = run(
        "backtest",
        "--strategy",
        "bollinger",
        *BTC,
        "--since",
        "2023-01-10",
        "--until",
        "2023-01-20",
        "--json",
        "--no-save",
    )
    assert res.code == 0, res
    data = res.json()
    assert data["summary"]["start"] == "2023-01-10T00:00:00Z"
    assert data["summary"]["end"] == "2023-01-19T23:55:00Z"
    assert data["header"]["rows"] == 10 * 288


def test_gap_file_reported_never_filled(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.parquet as pq

    src = shared_file(UNITTEST_1M)
    args = ("--exchange", "binance", "--symbol", "UNITTEST/BTC", "--timeframe", "1m")
    res = run("data", "import", src, *args)
    assert res.code == 0, res
    flat = " ".join(res.out.split())
    assert "Imported 13,681 candles" in flat
    assert "717 missing" in flat and "538 gaps" in flat

    cache_file = home / "data" / "binance" / "UNITTEST_BTC-1m.parquet"
    assert pq.read_metadata(cache_file).num_rows == 13_681  # not filled
    ts = pq.read_table(cache_file, columns=["timestamp"]).column(0).to_numpy()
    steps = np.diff(ts) // 60_000
    assert int((steps > 1).sum()) == 538 and int((steps - 1).sum()) == 717

    listed = run("data", "list")
    row = _list_row(listed.out, "UNITTEST/BTC")
    assert row[3] == "13,681" and "538" in row and "717" in row, row

    checked = run("data", "check")
    assert checked.code == 0, checked
    flat = " ".join(checked.out.split())
    assert "ok binance UNITTEST/BTC 1m" in flat and "717 missing" in flat and "538 gaps" in flat

    bt = run("backtest", "--strategy", "rsi", *args, "--json", "--no-save")
    assert bt.code == 0, bt
    header = bt.json()["header"]
    assert header["rows"] == 13_681
    assert header["gaps"] == {"count": 538, "missing": 717}
    assert pq.read_metadata(cache_file).num_rows == 13_681


def test_reimport_replaces_dataset(run, home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A valid re-import of the same market replaces the file (one dataset, new rows)."""
    src = shared_file(BTC_5M)
    plain = gunzip_to(src, tmp_path / "full.csv")
    lines = plain.read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:1001]) + "\n")
    assert run("data", "import", short, *BTC).code == 0
    row = _list_row(run("data", "list").out, "BTC/USDT")
    assert row[3] == "1,000"
    before = snapshot(home / "data")
    res = run("data", "import", plain, *BTC)
    assert res.code == 0, res
    row = _list_row(run("data", "list").out, "BTC/USDT")
    assert row[3] == "10,999"
    assert snapshot(home / "data") != before
    assert len(list((home / "data").rglob("*.parquet"))) == 1


def test_rerun_detects_changed_data(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A stored run whose cached candles were replaced does not claim to reproduce."""
    src = shared_file(BTC_5M)
    plain = gunzip_to(src, tmp_path / "btc.csv")
    assert run("data", "import", plain, *BTC).code == 0
    first = run("backtest", "--strategy", "rsi", *BTC, "--json")
    assert first.code == 0, first
    lines = plain.read_text().splitlines()
    ts, o, h, lo, c, v = lines[2000].split(",")
    lines[2000] = ",".join([ts, o, h, lo, o, v])  # close := open, still a valid candle
    changed = tmp_path / "btc_changed.csv"
    changed.write_text("\n".join(lines) + "\n")
    assert c != o
    assert run("data", "import", changed, *BTC).code == 0
    again = run("report", "1", "--rerun")
    assert again.code == 1, again
    assert "did NOT reproduce" in again.out and "data changed" in again.out
    as_json = run("report", "1", "--rerun", "--json")
    assert as_json.code == 1, as_json
    assert as_json.json()["identical"] is False


def test_stored_report_keeps_data_header(run) -> None:  # type: ignore[no-untyped-def]
    src = shared_file(UNITTEST_1M)
    args = ("--exchange", "binance", "--symbol", "UNITTEST/BTC", "--timeframe", "1m")
    assert run("data", "import", src, *args).code == 0
    fresh = run("backtest", "--strategy", "rsi", *args, "--json").json()["header"]
    stored = run("report", "1", "--json").json()["header"]
    assert stored["gaps"] == fresh["gaps"] == {"count": 538, "missing": 717}
    assert stored["data_source"] == fresh["data_source"]


def _corrupt(path: Path) -> None:
    b = bytearray(path.read_bytes())
    mid = len(b) // 2
    b[mid] ^= 0xFF
    b[mid + 1] ^= 0xFF
    path.write_bytes(bytes(b))


def test_corrupt_cache_file_is_reported(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    src = shared_file(BTC_5M)
    assert run("data", "import", src, *BTC).code == 0
    cache_file = home / "data" / "binance" / "BTC_USDT-5m.parquet"
    _corrupt(cache_file)
    checked = run("data", "check")
    assert checked.code == 1, checked
    assert "INVALID" in checked.out and str(cache_file) in " ".join(checked.out.split())
    bt = run("backtest", "--strategy", "rsi", *BTC, "--no-save")
    assert bt.code != 0, bt
    assert bt.err.strip().splitlines() == [bt.err.strip()] and str(cache_file) in bt.err
    assert "Traceback" not in bt.output


def test_data_check_names_unreadable_file(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    src = shared_file(BTC_5M)
    assert run("data", "import", src, *BTC).code == 0
    cache_file = home / "data" / "binance" / "BTC_USDT-5m.parquet"
    cache_file.write_bytes(b"junk\n")
    checked = run("data", "check")
    assert checked.code == 1, checked
    assert str(cache_file) in " ".join(checked.out.split()), checked


def test_import_with_broken_store_changes_nothing(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    home.mkdir(parents=True)
    (home / "tradebot.db").write_text("this is not a database\n")
    before = snapshot(home)
    res = run("data", "import", shared_file(BTC_5M), *BTC)
    assert res.code == 1, res
    assert res.err.startswith("error: ") and "tradebot.db" in res.err
    assert snapshot(home) == before
