"""A new user's first hour (issue 10, items 1-3 and the data parts of 7), through the CLI.

* No silent fallback to the synthetic market: ``sim`` only when asked for (``--exchange
  sim``, ``paper --source sim``) or when no market was given at all on an empty cache.
* A refused command writes nothing: every file under the home is byte-identical after it
  (and a home that did not exist still does not).
* Inputs that used to be accepted are refused with one ``error:`` line and exit 2.
* ``data import`` says when it replaced a corrupted cache file and when timestamps were
  epoch seconds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Result

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
H = 3_600_000
D = 24 * H
HEADER = "timestamp,open,high,low,close,volume"

Run = Callable[..., Result]


# --------------------------------------------------------------------------- helpers


def home_files(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (directories as markers): the home's exact state."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)) + ("/" if p.is_dir() else ""):
            "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def error_line(res: Result, *expect: str, code: int = 2) -> str:
    """The one ``error:`` line of a refused command (exit ``code``), containing ``expect``."""
    assert res.code == code, res
    assert "Traceback" not in res.output, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res
    for e in expect:
        assert e in lines[0], (e, res)
    return lines[0]


def refused(run: Run, home: Path, *args: object, expect: tuple[str, ...], code: int = 2) -> str:
    """Run a command that must be refused; the home must be byte-identical afterwards."""
    before = home_files(home)
    line = error_line(run(*args), *expect, code=code)
    assert home_files(home) == before, "a refused command changed the home"
    return line


def price(i: int) -> float:
    return 100.0 + 10.0 * ((i * 7919) % 23 - 11) / 11.0 + i * 0.05


def csv_text(n: int = 200, step: int = H, start: int = T0, seconds: bool = False,
             override: dict[int, tuple[float, float, float, float]] | None = None) -> str:
    rows = []
    for i in range(n):
        o, c = price(i), price(i + 1)
        hi, lo = max(o, c) * 1.01, min(o, c) * 0.99
        if override and i in override:
            o, hi, lo, c = override[i]
        ts = start + i * step
        rows.append(f"{ts // 1000 if seconds else ts},{o!r},{hi!r},{lo!r},{c!r},12.5")
    return HEADER + "\n" + "\n".join(rows) + "\n"


def write_csv(path: Path, **kw: object) -> Path:
    path.write_text(csv_text(**kw))  # type: ignore[arg-type]
    return path


def import_market(run: Run, tmp_path: Path, exchange: str = "binance", symbol: str = "BTC/USDT",
                  timeframe: str = "1h", **kw: object) -> Result:
    step = {"1h": H, "1d": D}[timeframe]
    src = write_csv(tmp_path / f"{exchange}-{symbol.replace('/', '_')}-{timeframe}.csv", step=step, **kw)
    res = run("data", "import", src, "--exchange", exchange, "--symbol", symbol, "--timeframe", timeframe)
    assert res.code == 0, res
    return res


def iso_days_ago(days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86_400))


# --------------------------------------------------------------------------- 1. no silent sim


def test_mistyped_exchange_on_an_empty_home_is_refused_not_simulated(run: Run, home: Path) -> None:
    line = refused(run, home, "backtest", "-s", "rsi", "--exchange", "binanse", "--symbol", "BTC/USDT",
                   "-t", "1h", expect=("no cached candles for binanse BTC/USDT 1h", "nothing is cached",
                                       "`tradebot fetch binanse BTC/USDT -t 1h`", "--exchange sim"))
    assert "synthetic" in line
    assert not home.exists()


def test_not_cached_names_the_closest_cached_markets_first(run: Run, home: Path, tmp_path: Path) -> None:
    import_market(run, tmp_path, "kraken", "ETH/EUR", "1d")
    import_market(run, tmp_path, "binance", "BTC/USDT", "1h")
    import_market(run, tmp_path, "okx", "SOL/USDT", "1d")
    line = refused(run, home, "backtest", "-s", "rsi", "--exchange", "binanse", "--symbol", "BTC/USDT",
                   "-t", "1h", "--no-save",
                   expect=("cached: binance BTC/USDT 1h, ", "`tradebot fetch binanse BTC/USDT -t 1h`"))
    assert line.index("binance BTC/USDT 1h") < line.index("kraken ETH/EUR 1d")


def test_main_job_on_an_empty_home_still_runs_on_the_sim_market(run: Run, home: Path) -> None:
    res = run("backtest", "--strategy", "rsi", "--since", "2025-10-01", "--json", "--no-save")
    assert res.code == 0, res
    assert res.json()["header"]["data_source"].startswith("sim: built-in synthetic market")


def test_a_run_on_the_default_sim_market_reruns_on_it(run: Run, home: Path, tmp_path: Path) -> None:
    first = run("backtest", "--strategy", "rsi", "--since", "2025-10-01", "--json")
    assert first.code == 0, first
    import_market(run, tmp_path, "kraken", "ETH/EUR", "1d")  # the cache is no longer empty
    again = run("report", "1", "--rerun", "--json")
    assert again.code == 0, again
    assert again.json()["identical"] is True


def test_explicit_sim_exchange_is_used_even_with_a_cache(run: Run, home: Path, tmp_path: Path) -> None:
    import_market(run, tmp_path, "kraken", "ETH/EUR", "1d")
    res = run("backtest", "-s", "rsi", "--exchange", "sim", "--since", "2025-10-01", "--json", "--no-save")
    assert res.code == 0, res
    assert res.json()["header"]["data_source"].startswith("sim:")


def test_cached_market_is_used(run: Run, home: Path, tmp_path: Path) -> None:
    import_market(run, tmp_path, "binance", "BTC/USDT", "1h")
    res = run("backtest", "-s", "rsi", "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1h",
              "--json", "--no-save")
    assert res.code == 0, res
    assert res.json()["header"]["data_source"].startswith("cache:")


def test_no_market_given_but_a_cache_without_it_is_refused(run: Run, home: Path, tmp_path: Path) -> None:
    import_market(run, tmp_path, "kraken", "ETH/EUR", "1d")
    refused(run, home, "backtest", "-s", "rsi",
            expect=("no cached candles for binance BTC/USDT 1h", "cached: kraken ETH/EUR 1d",
                    "`tradebot fetch binance BTC/USDT -t 1h`"))


def test_a_market_from_the_environment_counts_as_given(run: Run, home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_MARKET__TIMEFRAME", "4h")
    refused(run, home, "backtest", "-s", "rsi", expect=("no cached candles for binance BTC/USDT 4h",))
    assert not home.exists()


def test_a_market_from_the_config_file_counts_as_given(run: Run, home: Path) -> None:
    home.mkdir()
    (home / "config.toml").write_text('[market]\nexchange = "kraken"\n')
    refused(run, home, "backtest", "-s", "rsi",
            expect=("no cached candles for kraken BTC/USDT 1h", "`tradebot fetch kraken BTC/USDT -t 1h`"))


def test_optimize_resolves_the_market_the_same_way(run: Run, home: Path) -> None:
    refused(run, home, "optimize", "-s", "rsi", "--method", "random", "--trials", "2", "--exchange", "binanse",
            "--symbol", "BTC/USDT", "-t", "1h",
            expect=("no cached candles for binanse BTC/USDT 1h", "`tradebot fetch binanse BTC/USDT -t 1h`"))
    assert not home.exists()


def test_a_study_on_the_default_sim_market_resumes_on_it(run: Run, home: Path, tmp_path: Path) -> None:
    res = run("optimize", "-s", "rsi", "--method", "grid", "--space", "period=7,14", "--since", "2025-10-01")
    assert res.code == 0, res
    import_market(run, tmp_path, "kraken", "ETH/EUR", "1d")  # the cache is no longer empty
    again = run("optimize", "--resume", "S1")
    assert again.code == 0, again


def test_strategies_check_resolves_the_market_the_same_way(run: Run, home: Path) -> None:
    refused(run, home, "strategies", "check", "rsi", "--exchange", "kraken",
            expect=("no cached candles for kraken BTC/USDT 1h",))


def test_paper_with_an_uncached_market_is_refused(run: Run, home: Path) -> None:
    refused(run, home, "paper", "--account", "a", "--strategy", "rsi", "--exchange", "binanse", "-t", "1h",
            expect=("no cached candles for binanse BTC/USDT 1h", "`tradebot fetch binanse BTC/USDT -t 1h`"))
    refused(run, home, "paper", "--account", "a", "--source", "cache",
            expect=("no cached candles for binance BTC/USDT 1h",))
    assert not home.exists()


def test_paper_without_a_market_on_an_empty_home_uses_sim_and_keeps_it(run: Run, home: Path,
                                                                       tmp_path: Path) -> None:
    res = run("paper", "--account", "demo")
    assert res.code == 0, res
    assert "demo: 1 candle(s) via sim" in res.out
    import_market(run, tmp_path, "kraken", "ETH/EUR", "1d")  # the cache is no longer empty
    res = run("paper", "--account", "demo")  # the account was created on sim: it stays there
    assert res.code == 0, res
    assert "demo:" in res.out
    refused(run, home, "paper", "--account", "other",  # a new account now needs its market
            expect=("no cached candles for binance BTC/USDT 1h", "cached: kraken ETH/EUR 1d"))


def test_paper_source_sim_is_used_when_asked(run: Run, home: Path, tmp_path: Path) -> None:
    import_market(run, tmp_path, "kraken", "ETH/EUR", "1d")
    res = run("paper", "--account", "s", "--source", "sim", "--exchange", "binance", "-t", "1d")
    assert res.code == 0, res
    assert "via sim" in res.out


# --------------------------------------------------------------------------- 2. refused = no writes


@pytest.fixture
def paper_home(run: Run, home: Path) -> Path:
    """A home holding one paper account ``demo`` (sim, created live) and its lock file."""
    res = run("paper", "--account", "demo")
    assert res.code == 0, res
    assert (home / "tradebot.db").is_file() and (home / "locks" / "paper-demo.lock").is_file()
    return home


def test_bad_source_on_an_empty_home_writes_nothing(run: Run, home: Path) -> None:
    refused(run, home, "paper", "--account", "demo2", "--strategy", "rsi", "--source", "bogus",
            expect=("unknown --source 'bogus'", "auto, cache, sim, exchange"))
    assert not home.exists()


def test_bad_source_next_to_an_account_writes_nothing(run: Run, paper_home: Path) -> None:
    refused(run, paper_home, "paper", "--account", "demo2", "--strategy", "rsi", "--source", "bogus",
            expect=("unknown --source 'bogus'",))
    assert not (paper_home / "locks" / "paper-demo2.lock").exists()


@pytest.mark.parametrize("args,expect", [
    (("--strategy", "nosuch"), "nosuch"),
    (("--strategy", "rsi", "--param", "period=-3"), "period"),
    (("--strategy", "rsi", "--exchange", "kraken"), "no cached candles for kraken"),
])
def test_a_new_account_refused_for_any_option_writes_nothing(args: tuple[str, ...], expect: str, run: Run,
                                                             paper_home: Path) -> None:
    refused(run, paper_home, "paper", "--account", "fresh", *args, expect=(expect,))
    assert not (paper_home / "locks" / "paper-fresh.lock").exists()


def test_report_on_an_empty_home_creates_nothing(run: Run, home: Path) -> None:
    refused(run, home, "report", "1", expect=("no stored run with id 1",))
    refused(run, home, "report", "--account", "zz", expect=("no paper account named 'zz'",))
    refused(run, home, "report", "S1", expect=("no study S1",))
    res = run("report", "--list")
    assert res.code == 0 and "No stored runs." in res.out, res
    assert not home.exists()


def test_import_with_a_bad_exchange_id_creates_nothing(run: Run, home: Path, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "ok.csv")
    refused(run, home, "data", "import", src, "--exchange", "bin ance", "--symbol", "BTC/USDT", "-t", "1h",
            expect=("invalid exchange id 'bin ance'",))
    assert not home.exists()


# --------------------------------------------------------------------------- 3. inputs refused


@pytest.mark.parametrize(("args", "expect"), [
    (("fetch", "nosuchexchange", "BTC/USDT", "-t", "1h"), ("unknown exchange 'nosuchexchange'",)),
    (("fetch", "binance", "BTC/USDT", "-t", "7x"), ("invalid timeframe '7x'",)),
    (("fetch", "sim", "BTC/USDT", "-t", "1h"), ("sim is the built-in synthetic market",)),
    (("optimize", "--resume", "S9"), ("no study S9",)),
])
def test_refused_fetch_and_resume_create_nothing(args: tuple[str, ...], expect: tuple[str, ...],
                                                   run: Run, home: Path) -> None:
    """Checked offline, before the home, the database or a request: on an empty home nothing
    appears (the fetch cases would otherwise open the store or ask the network first)."""
    refused(run, home, *args, expect=expect)
    assert not home.exists()


def test_optimize_list_on_an_empty_home_creates_nothing(run: Run, home: Path) -> None:
    res = run("optimize", "--list")
    assert res.code == 0, res
    assert "No stored studies." in res.out
    assert not home.exists()


@pytest.mark.parametrize("name,expect", [
    ("", "must not be empty"),
    ("   ", "must not be empty"),
    ("a/b", "path separator"),
    ("..\\x", "path separator"),
    ("tab\there", "control character"),
    (" demo", "start or end with spaces"),
    ("x" * 65, "at most 64 characters"),
])
def test_paper_refuses_account_names_that_cannot_name_a_lock_file(name: str, expect: str, run: Run,
                                                                  home: Path) -> None:
    refused(run, home, "paper", "--account", name, "--strategy", "rsi", expect=("--account", expect))
    assert not home.exists()


def test_paper_refuses_a_start_in_the_future(run: Run, home: Path) -> None:
    refused(run, home, "paper", "--account", "new", "--since", "2099-01-01",
            expect=("--since 2099-01-01T00:00:00Z is in the future",))
    assert not home.exists()


def test_paper_since_on_an_existing_account_is_refused(run: Run, paper_home: Path) -> None:
    refused(run, paper_home, "paper", "--account", "demo", "--since", "2024-01-01",
            expect=("paper account 'demo' keeps its history from", "--since 2024-01-01T00:00:00Z only applies "
                    "to a new account"))


def test_paper_since_the_account_started_with_is_accepted_again(run: Run, home: Path) -> None:
    """A cron line re-run unchanged (``--since`` included) keeps working."""
    args = ("paper", "--account", "r", "--exchange", "sim", "-t", "1d", "--since", iso_days_ago(20))
    first = run(*args)
    assert first.code == 0 and "via sim" in first.out, first
    again = run(*args)
    assert again.code == 0 and "up to date" in again.out, again
    refused(run, home, "paper", "--account", "r", "--since", iso_days_ago(30),
            expect=("only applies to a new account",))


@pytest.fixture
def stored_run(run: Run, home: Path, tmp_path: Path) -> Path:
    import_market(run, tmp_path, "binance", "BTC/USDT", "1h")
    res = run("backtest", "-s", "rsi", "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1h")
    assert res.code == 0 and "Stored as run 1" in res.out, res
    return home


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_report_list_limit_below_one_is_refused(limit: str, run: Run, stored_run: Path) -> None:
    refused(run, stored_run, "report", "--list", "--limit", limit, expect=(f"--limit {limit}", "at least 1"))
    res = run("report", "--list", "--limit", "1")
    assert res.code == 0 and "No stored runs." not in res.out, res


@pytest.mark.parametrize("command", [("data", "list"), ("data", "check"), ("report", "--list"),
                                     ("backtest", "-s", "rsi")])
def test_home_under_a_regular_file_is_a_config_error(command: tuple[str, ...], run: Run, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv("TRADEBOT_HOME", str(blocker / "home"))
    refused(run, tmp_path, *command,
            expect=(f"TRADEBOT_HOME {blocker / 'home'}: not a directory ({blocker} is a file)",))


def test_home_that_is_a_regular_file_is_a_config_error(run: Run, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv("TRADEBOT_HOME", str(blocker))
    refused(run, tmp_path, "data", "list", expect=(f"TRADEBOT_HOME {blocker}: not a directory",))


@pytest.mark.parametrize("command", [("backtest", "-s", "rsi"), ("report", "--list"),
                                     ("paper", "--account", "a")])
def test_garbage_database_url_is_a_config_error(command: tuple[str, ...], run: Run, home: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_DATABASE_URL", "garbage://")
    refused(run, home, *command, expect=("invalid database URL 'garbage://'", "TRADEBOT_DATABASE_URL"))
    assert not home.exists()


def test_garbage_database_url_refuses_an_import_before_it_writes(run: Run, home: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_DATABASE_URL", "garbage://")
    src = write_csv(tmp_path / "ok.csv")
    refused(run, home, "data", "import", src, "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1h",
            expect=("invalid database URL 'garbage://'",))
    refused(run, home, "data", "list", expect=("invalid database URL 'garbage://'",))
    assert not home.exists()


def test_garbage_database_url_exits_2_without_the_password(run_subprocess: Callable[..., Result],
                                                           home: Path) -> None:
    res = run_subprocess("backtest", "-s", "rsi", env={"TRADEBOT_DATABASE_URL": "garbage://bob:s3cret@db/x"})
    line = error_line(res, "invalid database URL", "bob:***@db/x")
    assert "s3cret" not in res.output, line
    assert not home.exists()


def test_implausible_prices_are_refused_with_their_row(run: Run, home: Path, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "huge.csv", override={2: (1e308, 1e308, 1e308, 1e308)})
    refused(run, home, "data", "import", src, "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1h",
            expect=("huge.csv: row 3 (", "implausible price: open=1e+308", "--allow-implausible"))
    assert not home.exists()
    src = write_csv(tmp_path / "neg.csv", override={4: (-1.0, 2.0, -2.0, 1.0)})
    refused(run, home, "data", "import", src, "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1h",
            expect=("neg.csv: row 5 (", "non-positive price: open=-1.0"))


def test_absurd_jumps_are_not_rejected(run: Run, home: Path, tmp_path: Path) -> None:
    res = import_market(run, tmp_path, override={7: (100.0, 1e9, 99.0, 9e8), 8: (9e8, 9e8, 95.0, 101.0)})
    assert "Imported 200 candles" in res.out


def test_allow_implausible_keeps_them_and_the_cache_remembers(run: Run, home: Path, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "huge.csv", override={2: (1e308, 1e308, 1e308, 1e308)})
    res = run("data", "import", src, "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1h",
              "--allow-implausible")
    assert res.code == 0, res
    assert "note: --allow-implausible: kept 1 candle(s) with prices above 1e+12" in res.out
    check = run("data", "check")
    assert check.code == 0 and "ok binance BTC/USDT 1h" in check.out, check


def test_cache_validation_flags_implausible_prices_on_load(run: Run, home: Path, tmp_path: Path) -> None:
    """A cache file with such prices that was not imported with the flag (an older version,
    another tool) fails ``data check`` and every load."""
    import pyarrow.parquet as pq

    src = write_csv(tmp_path / "huge.csv", override={2: (1e308, 1e308, 1e308, 1e308)})
    res = run("data", "import", src, "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1h",
              "--allow-implausible")
    assert res.code == 0, res
    path = home / "data" / "binance" / "BTC_USDT-1h.parquet"
    table = pq.read_table(path)
    meta = {k: v for k, v in table.schema.metadata.items() if k != b"tradebot.allow_implausible"}
    pq.write_table(table.replace_schema_metadata(meta), path)
    check = run("data", "check")
    assert check.code == 1, check
    assert "INVALID binance BTC/USDT 1h" in check.out and "implausible price" in check.out
    refused(run, home, "backtest", "-s", "rsi", "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1h",
            expect=("row 3 (", "implausible price: open=1e+308"))


# --------------------------------------------------------------------------- 7. import summary


def test_import_over_a_corrupted_cache_file_says_so(run: Run, home: Path, tmp_path: Path) -> None:
    import_market(run, tmp_path)
    path = home / "data" / "binance" / "BTC_USDT-1h.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file any more")
    res = import_market(run, tmp_path)
    notes = [line for line in res.out.splitlines() if "note:" in line]
    assert len(notes) == 1 and f"note: replaced a corrupted cache file {path}" in notes[0], res
    assert run("data", "check").code == 0


def test_import_over_a_valid_cache_file_says_what_it_replaced(run: Run, home: Path, tmp_path: Path) -> None:
    import_market(run, tmp_path, n=150)
    res = import_market(run, tmp_path)
    assert "note: replaced the 150 candles cached before" in res.out, res


def test_import_of_epoch_seconds_says_they_were_converted(run: Run, home: Path, tmp_path: Path) -> None:
    res = import_market(run, tmp_path, seconds=True)
    assert "note: timestamps are epoch seconds: converted to milliseconds" in res.out, res
    plain = import_market(run, tmp_path, "kraken")
    assert "epoch seconds" not in plain.out
