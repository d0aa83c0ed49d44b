"""Bad input: one ``error:`` line naming what is wrong, exit code 2 for usage and config, no
traceback (unless ``--debug``), and TRADEBOT_HOME (store and cache) byte-for-byte unchanged.

Every case starts from a home that already holds one imported dataset (binance BTC/USDT 4h)
and one stored backtest run, and the bad CSVs are imported over that same dataset.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import BTC_4H, Result, shared_file, snapshot

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, aligned to 4h
H4 = 14_400_000
HEADER = "timestamp,open,high,low,close,volume"
MARKET = ("--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "4h")


def csv_rows(rows: list[str], header: str = HEADER) -> str:
    return header + "\n" + "\n".join(rows) + "\n"


def good_rows(n: int = 5) -> list[str]:
    return [f"{T0 + i * H4},100,110,90,105,7.5" for i in range(n)]


def with_row(i: int, row: str, n: int = 5) -> list[str]:
    rows = good_rows(n)
    rows[i] = row
    return rows


def t(i: int) -> int:
    return T0 + i * H4


# name -> (file name, content builder) ; each content is bytes
BAD_CSVS: dict[str, tuple[str, Callable[[], bytes], tuple[str, ...]]] = {
    "unsorted": (
        "unsorted.csv",
        lambda: csv_rows(
            [
                f"{t(0)},100,110,90,105,1",
                f"{t(2)},100,110,90,105,1",
                f"{t(1)},100,110,90,105,1",
                f"{t(3)},100,110,90,105,1",
            ]
        ).encode(),
        ("row 3", "unsorted"),
    ),
    "duplicate": (
        "dup.csv",
        lambda: csv_rows(
            [
                f"{t(0)},100,110,90,105,1",
                f"{t(1)},100,110,90,105,1",
                f"{t(1)},100,110,90,105,1",
                f"{t(2)},100,110,90,105,1",
            ]
        ).encode(),
        ("row 3", "duplicate"),
    ),
    "nan": ("nan.csv", lambda: csv_rows(with_row(2, f"{t(2)},100,110,NaN,105,1")).encode(), ("row 3", "NaN", "low")),
    "empty_value": ("blank.csv", lambda: csv_rows(with_row(1, f"{t(1)},100,,90,105,1")).encode(), ("row 2", "high")),
    "negative_price": (
        "neg.csv",
        lambda: csv_rows(with_row(1, f"{t(1)},-100,110,90,105,1")).encode(),
        ("row 2", "open=-100"),
    ),
    "high_below_low": (
        "hl.csv",
        lambda: csv_rows(with_row(3, f"{t(3)},100,80,90,85,1")).encode(),
        ("row 4", "high < low"),
    ),
    "high_below_close": (
        "hc.csv",
        lambda: csv_rows(with_row(0, f"{t(0)},100,104,90,105,1")).encode(),
        ("row 1", "high"),
    ),
    "non_numeric": (
        "text.csv",
        lambda: csv_rows(with_row(1, f"{t(1)},100,110,90,abc,1")).encode(),
        ("row 2", "'abc'", "close"),
    ),
    "missing_column": (
        "nocol.csv",
        lambda: csv_rows([f"{t(i)},100,110,90,105" for i in range(3)], header="timestamp,open,high,low,close").encode(),
        ("volume",),
    ),
    "short_row": ("short.csv", lambda: csv_rows(with_row(1, f"{t(1)},100,110")).encode(), ("row 2", "fields")),
    "empty_file": ("empty.csv", lambda: b"", ("empty",)),
    "header_only": ("header.csv", lambda: (HEADER + "\n").encode(), ("no data rows",)),
    "png": ("image.csv", lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, ("not a CSV", "PNG")),
    "random_bytes": ("noise.csv", lambda: b"\x00\x01" + random.Random(7).randbytes(4096), ("not a CSV",)),
    "corrupt_gzip": ("cut.csv.gz", lambda: gzip.compress(csv_rows(good_rows(400)).encode())[:300], ("gzip",)),
}


@pytest.fixture
def check_bad(run, seeded_home: Path) -> Callable[..., Result]:  # type: ignore[no-untyped-def]
    """Run a command that must fail; check the one-line error and that home is unchanged."""

    def _check(*args: object, expect: tuple[str, ...] = (), code: int = 2) -> Result:
        before = snapshot(seeded_home)
        assert before, "seeded home is empty"
        res = run(*args)
        assert res.code == code, res
        assert "Traceback" not in res.output, res
        lines = res.err.strip().splitlines()
        assert len(lines) == 1, res
        assert lines[0].startswith("error: "), res
        for word in expect:
            assert word.lower() in lines[0].lower(), f"{word!r} not in {lines[0]!r}"
        assert "internal error" not in lines[0], res
        assert res.out == "", res  # nothing half-printed on stdout
        after = snapshot(seeded_home)
        assert after == before, f"home changed after {args}: {set(after.items()) ^ set(before.items())}"
        return res

    return _check


def _assert_seed_intact(run) -> None:  # type: ignore[no-untyped-def]
    listed = run("data", "list")
    assert listed.code == 0, listed
    assert "500" in listed.out and "BTC/USDT" in listed.out
    runs = run("report", "--list", "--json").json()["runs"]
    assert [r["id"] for r in runs] == [1]
    check = run("data", "check")
    assert check.code == 0, check


# --------------------------------------------------------------------------- candle files


@pytest.mark.parametrize("case", list(BAD_CSVS))
def test_bad_csv_import_keeps_old_dataset(case: str, check_bad, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name, build, expect = BAD_CSVS[case]
    path = tmp_path / name
    path.write_bytes(build())
    check_bad("data", "import", path, *MARKET, expect=(name, *expect))
    _assert_seed_intact(run)


def test_good_rows_are_valid(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Control: the rows the bad files are made from import fine (so each case tests one fault)."""
    path = tmp_path / "good.csv"
    path.write_text(csv_rows(good_rows()))
    res = run("data", "import", path, *MARKET)
    assert res.code == 0, res
    assert "Imported 5 candles" in res.out


def test_missing_csv_file(check_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    check_bad("data", "import", tmp_path / "nope.csv", *MARKET, expect=("nope.csv", "not found"))


def test_csv_spacing_does_not_match_timeframe(check_bad) -> None:  # type: ignore[no-untyped-def]
    src = shared_file(BTC_4H)
    check_bad(
        "data",
        "import",
        src,
        "--exchange",
        "binance",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1h",
        expect=(src.name, "1h"),
    )
    check_bad(
        "data",
        "import",
        src,
        "--exchange",
        "binance",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "1d",
        expect=(src.name, "1d"),
    )


def test_unknown_timeframe_on_import(check_bad) -> None:  # type: ignore[no-untyped-def]
    src = shared_file(BTC_4H)
    check_bad(
        "data",
        "import",
        src,
        "--exchange",
        "binance",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "7x",
        expect=("'7x'", "timeframe"),
    )


# --------------------------------------------------------------------------- strategies, params


def test_unknown_strategy_suggests_close_names(check_bad) -> None:  # type: ignore[no-untyped-def]
    res = check_bad("backtest", "--strategy", "rsii", expect=("'rsii'", "unknown strategy"))
    assert "did you mean rsi" in res.err
    res = check_bad("backtest", "--strategy", "bolinger", expect=("'bolinger'",))
    assert "bollinger" in res.err
    check_bad("strategies", "show", "mcad", expect=("'mcad'", "macd"))


@pytest.mark.parametrize(
    ("param", "expect"),
    [
        ("period=abc", ("period", "'abc'", "integer")),
        ("period=-3", ("period", "-3", "range")),
        ("period=2.5", ("period", "2.5")),
        ("period=100000", ("period", "100000", "range")),
        ("lower=nan", ("lower", "nan")),
        ("perod=10", ("'perod'", "period")),  # unknown, with a suggestion
        ("foo=1", ("'foo'", "no parameter")),
        ("period", ("'period'", "NAME=VALUE")),  # no '='
        ("=5", ("'=5'", "NAME=VALUE")),
        ("lower=80", ("lower=80", "upper=70")),  # cross-parameter rule: lower < upper
    ],
)
def test_bad_param(param: str, expect: tuple[str, ...], check_bad) -> None:  # type: ignore[no-untyped-def]
    check_bad("backtest", "--strategy", "rsi", "--param", param, expect=expect)


def test_bad_param_other_strategy(check_bad) -> None:  # type: ignore[no-untyped-def]
    check_bad("backtest", "--strategy", "macd", "--param", "period=14", expect=("macd", "'period'"))


# --------------------------------------------------------------------------- config


def test_malformed_config_names_file_and_line(check_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("[fees]\ntaker = 0.001\nmaker = = 3\n")
    check_bad("backtest", "--config", bad, expect=("bad.toml", "line 3"))
    check_bad("config", "validate", bad, expect=("bad.toml", "line 3"))
    check_bad("config", "show", "--config", bad, expect=("bad.toml", "line 3"))


def test_config_out_of_range(check_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "range.toml"
    cfg.write_text("[fees]\ntaker = 5\n")
    check_bad("backtest", "--config", cfg, expect=("range.toml", "fees.taker", "5"))
    check_bad("config", "validate", cfg, expect=("range.toml", "fees.taker", "5"))


def test_config_unknown_key(check_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "typo.toml"
    cfg.write_text("[fees]\ntakr = 0.001\n")
    check_bad("config", "validate", cfg, expect=("typo.toml", "takr", "taker"))


def test_config_file_not_found(check_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    check_bad("backtest", "--config", tmp_path / "missing.toml", expect=("missing.toml",))


def test_home_config_toml_broken(check_bad, seeded_home: Path) -> None:  # type: ignore[no-untyped-def]
    """$TRADEBOT_HOME/config.toml is read by default; broken, it is named in the error."""
    cfg = seeded_home / "config.toml"
    cfg.write_text("[market\n")
    check_bad("backtest", expect=("config.toml", "line 1"))
    check_bad("data", "list", expect=("config.toml",))


def test_bad_environment_variable(check_bad, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRADEBOT_FEES__TAKER", "abc")
    check_bad("backtest", expect=("TRADEBOT_FEES__TAKER", "abc"))


def test_unknown_preset(check_bad) -> None:  # type: ignore[no-untyped-def]
    check_bad("backtest", "--preset", "yolo", expect=("'yolo'", "conservative"))


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("--capital", "-5"), ("initial_capital", "-5")),
        (("--fee", "2"), ("fees", "2")),
        (("--slippage", "-1"), ("slippage", "-1")),
    ],
)
def test_out_of_range_options(args: tuple[str, ...], expect: tuple[str, ...], check_bad) -> None:  # type: ignore[no-untyped-def]
    check_bad("backtest", "--strategy", "rsi", *args, expect=expect)


# --------------------------------------------------------------------------- range, timeframe, runs


def test_since_after_until(check_bad) -> None:  # type: ignore[no-untyped-def]
    check_bad(
        "backtest",
        "--since",
        "2024-05-01",
        "--until",
        "2024-01-01",
        expect=("--since 2024-05-01", "after", "--until 2024-01-01"),
    )
    check_bad("backtest", "--since", "2024-01-01", "--until", "2024-01-01", expect=("2024-01-01",))


def test_bad_date(check_bad) -> None:  # type: ignore[no-untyped-def]
    check_bad("backtest", "--since", "last tuesday", expect=("since", "'last tuesday'"))


def test_range_without_data(check_bad) -> None:  # type: ignore[no-untyped-def]
    """The cached 4h data ends in March 2024: a later range has no candles. The request names
    data that is not there — a usage error (exit 2), not a runtime failure (exit 1): nothing
    failed, and the same command can only succeed with another range or after a fetch."""
    res = check_bad(
        "backtest", *MARKET, "--since", "2025-01-01", "--until", "2025-02-01", expect=("binance", "BTC/USDT")
    )
    assert res.code == 2


@pytest.mark.parametrize("tf", ["7x", "1x", "m1", "0h", "abc"])
def test_unknown_timeframe(tf: str, check_bad) -> None:  # type: ignore[no-untyped-def]
    check_bad("backtest", "--strategy", "rsi", "--timeframe", tf, expect=(repr(tf), "timeframe"))


def test_report_unknown_run(check_bad) -> None:  # type: ignore[no-untyped-def]
    check_bad("report", "999", expect=("999",))
    check_bad("report", "999", "--rerun", expect=("999",))
    check_bad("report", expect=("RUN_ID",))


def test_bad_strategy_path(check_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    check_bad("backtest", "--strategy-path", tmp_path / "nowhere", expect=("nowhere",))
    broken = tmp_path / "user"
    broken.mkdir()
    (broken / "mine.py").write_text("def broken(:\n    pass\n")
    check_bad("strategies", "list", "--strategy-path", broken, expect=("mine.py", "line 1"))


# --------------------------------------------------------------------------- unwritable home


def test_unwritable_home(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """TRADEBOT_HOME under a regular file cannot be created, even by root."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory\n")
    bad_home = blocker / "home"
    monkeypatch.setenv("TRADEBOT_HOME", str(bad_home))
    before = snapshot(tmp_path)
    src = shared_file(BTC_4H)
    for args in (
        ("backtest", "--strategy", "rsi"),
        ("data", "import", src, *MARKET),
        ("report", "--list"),
        ("report", "1"),
        ("db", "upgrade"),
    ):
        res = run(*args)
        assert res.code == 2, (args, res)
        lines = res.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, res)
        assert str(bad_home) in lines[0], (args, res)
        assert "TRADEBOT_HOME" in lines[0], (args, res)
        assert "Traceback" not in res.output
        assert snapshot(tmp_path) == before, args
    assert blocker.read_text() == "not a directory\n"


# --------------------------------------------------------------------------- real processes


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("backtest", "--strategy", "rsii"), "did you mean rsi"),
        (("backtest", "--param", "period=abc"), "period"),
        (("report", "999"), "999"),
        (("backtest", "--since", "2024-05-01", "--until", "2024-01-01"), "after"),
    ],
)
def test_subprocess_exit_code_and_no_traceback(args, expect, run_subprocess) -> None:  # type: ignore[no-untyped-def]
    res = run_subprocess(*args)
    assert res.code == 2, res
    assert "Traceback" not in res.output
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], res


def test_subprocess_bad_csv(run_subprocess, tmp_path: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "image.csv"
    bad.write_bytes(BAD_CSVS["png"][1]())
    res = run_subprocess("data", "import", bad, *MARKET)
    assert res.code == 2, res
    assert "Traceback" not in res.output
    assert res.err.strip().splitlines() == [f"error: {bad}: not a CSV text file (looks like a PNG image)"]
    assert not (home / "data").exists() or not any((home / "data").rglob("*.parquet"))


def test_subprocess_unwritable_home(run_subprocess, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    res = run_subprocess("backtest", "--strategy", "rsi", env={"TRADEBOT_HOME": str(blocker / "home")})
    assert res.code == 2, res
    assert "Traceback" not in res.output
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(blocker) in lines[0], res


def test_debug_shows_traceback(run_subprocess, run) -> None:  # type: ignore[no-untyped-def]
    res = run_subprocess("--debug", "backtest", "--strategy", "rsii")
    assert res.code != 0, res
    assert "Traceback" in res.err
    assert "UnknownStrategyError" in res.err and "rsii" in res.err

    res = run_subprocess("report", "999", env={"TRADEBOT_DEBUG": "1"})
    assert res.code != 0, res
    assert "Traceback" in res.err and "RunNotFoundError" in res.err

    # in-process, --debug lets the exception through instead of exiting
    from tradebot.cli.app import main
    from tradebot.core.errors import UnknownStrategyError

    with pytest.raises(UnknownStrategyError):
        main(["--debug", "backtest", "--strategy", "rsii"])


def test_bad_csv_for_new_market_leaves_nothing(check_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Not even an empty exchange folder is created for a file that fails validation."""
    path = tmp_path / "dup.csv"
    path.write_bytes(BAD_CSVS["duplicate"][1]())
    check_bad(
        "data",
        "import",
        path,
        "--exchange",
        "kraken",
        "--symbol",
        "ETH/EUR",
        "--timeframe",
        "4h",
        expect=("dup.csv", "duplicate"),
    )


def test_bad_exchange_name_on_import(check_bad, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "x.csv"
    good.write_text(csv_rows(good_rows()))
    check_bad(
        "data",
        "import",
        good,
        "--exchange",
        "Bad Ex!",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "4h",
        expect=("'Bad Ex!'",),
    )


def test_import_refuses_symbol_backtest_refuses(check_bad, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bt = run("backtest", "--symbol", "BTCUSDT", "--no-save")
    assert bt.code == 2 and "'BTCUSDT'" in bt.err, bt
    good = tmp_path / "x.csv"
    good.write_text(csv_rows(good_rows()))
    check_bad(
        "data",
        "import",
        good,
        "--exchange",
        "binance",
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "4h",
        expect=("'BTCUSDT'",),
    )


@pytest.mark.parametrize(
    "args",
    [
        ("backtest", "--capital", "lots"),
        ("report", "abc"),
        ("backtest", "--no-such-option"),
    ],
)
def test_click_usage_errors_are_one_line(args, run) -> None:  # type: ignore[no-untyped-def]
    res = run(*args)
    assert res.code == 2, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res


@pytest.mark.parametrize(
    "body",
    [
        '[strategy]\nname = "rsii"\n',
        '[strategy]\nname = "rsi"\n[strategy.params]\nperiod = 500\n',
    ],
)
def test_config_validate_checks_strategy(body: str, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "strat.toml"
    cfg.write_text(body)
    bt = run("backtest", "--config", cfg, "--no-save")
    assert bt.code == 2, bt  # backtest refuses it ...
    res = run("config", "validate", cfg)
    assert res.code == 2, res  # ... so validate must too
    assert "strat.toml" in res.err
