"""``strategies``, ``config``, ``db``, ``--version``, ``--help``, TRADEBOT_DATABASE_URL and user
strategies from ``--strategy-path``."""

from __future__ import annotations

import json
import re
import sqlite3
import textwrap
from pathlib import Path

import pytest

from .conftest import Result

USER_STRATEGY = textwrap.dedent('''
    """A user strategy: moving-average crossover, numpy only."""

    import numpy as np

    from tradebot.core.signals import Signals
    from tradebot.strategies.base import Strategy
    from tradebot.strategies.params import Param


    def _sma(x, n):
        out = np.full(x.shape, np.nan)
        c = np.cumsum(np.insert(x, 0, 0.0))
        out[n - 1:] = (c[n:] - c[:-n]) / n
        return out


    class SmaCross(Strategy):
        """Long while the fast average is above the slow one."""

        name = "sma_cross"
        version = "0.3"
        description = "user SMA crossover"
        params = {
            "fast": Param("int", 10, 2, 100, description="fast SMA"),
            "slow": Param("int", 40, 3, 400, description="slow SMA"),
        }
        indicator_params = ("fast", "slow")

        def compute_indicators(self, candles):
            return {"fast": _sma(candles.close, int(self.fast)),
                    "slow": _sma(candles.close, int(self.slow))}

        def signals_from(self, candles, ind):
            above = ind["fast"] > ind["slow"]
            below = ind["fast"] < ind["slow"]
            return Signals(entries=above, exits=below)
''')


def _table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)]
        cells = [c for c in cells if c]
        if cells:
            rows.append(cells)
    return rows


# --------------------------------------------------------------------------- strategies


def test_strategies_list(run) -> None:  # type: ignore[no-untyped-def]
    res = run("strategies", "list")
    assert res.code == 0, res
    rows = {r[0]: r for r in _table_rows(res.out) if len(r) >= 3}
    for name in ("rsi", "macd", "bollinger"):
        assert name in rows, res.out
        assert re.fullmatch(r"\d+(\.\d+)*", rows[name][1]), rows[name]  # a version
        assert rows[name][2] == "builtin"
        assert len(rows[name]) >= 4 and rows[name][3]  # a description


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rsi", {"period": "[2, 200]", "lower": "[1, 99]", "upper": "[1, 99]"}),
        ("macd", {}),
        ("bollinger", {}),
    ],
)
def test_strategies_show(run, name: str, params: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    from tradebot.strategies.registry import Registry

    res = run("strategies", "show", name)
    assert res.code == 0, res
    assert res.out.startswith(f"{name} v")
    assert "Parameters" in res.out
    rows = {r[0]: r for r in _table_rows(res.out)}
    cls = Registry().get(name).cls
    assert cls.params, name
    for pname, p in cls.params.items():
        assert pname in rows, (pname, res.out)
        assert rows[pname][1] == p.kind
        if p.low is not None and p.high is not None:
            assert any(c.startswith("[") and "," in c for c in rows[pname]), rows[pname]
    for pname, rng in params.items():
        assert rng in rows[pname], rows[pname]


# --------------------------------------------------------------------------- config


def test_config_show_masks_secrets(run, run_subprocess, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", "supersecret")
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", "hushhush")
    res = run("config", "show")
    assert res.code == 0, res
    assert "supersecret" not in res.output and "hushhush" not in res.output
    assert "[exchanges.binance]" in res.out
    assert "********" in res.out
    js = run("config", "show", "--json")
    assert js.code == 0, js
    assert "supersecret" not in js.output
    data = js.json()
    assert data["exchanges"]["binance"]["api_key"] == "********"
    assert data["fees"]["taker"] == 0.001 and data["market"]["timeframe"] == "1h"
    assert data["schema_version"] == 1

    # the same from a real process, and secrets from a config file too
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text('[exchanges.kraken]\nsecret = "filesecret"\n')
    sub = run_subprocess("config", "show", env={"TRADEBOT_EXCHANGES__BINANCE__API_KEY": "supersecret"})
    assert sub.code == 0, sub
    assert "supersecret" not in sub.output and "filesecret" not in sub.output
    assert "[exchanges.kraken]" in sub.out


def test_config_show_masks_database_password(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRADEBOT_DATABASE_URL", "postgresql+psycopg://bob:pa55word@db.local/tb")
    res = run("config", "show", "--json")
    assert res.code == 0, res
    assert "pa55word" not in res.output
    assert "bob" in res.json()["database_url"]


def test_config_show_layers(run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """preset < config file < environment."""
    cfg = tmp_path / "my.toml"
    cfg.write_text('preset = "conservative"\n[fees]\ntaker = 0.0005\n[stops]\ntake_profit_pct = 6.0\n')
    monkeypatch.setenv("TRADEBOT_STOPS__TAKE_PROFIT_PCT", "7.5")
    res = run("config", "show", "--config", cfg, "--json")
    assert res.code == 0, res
    data = res.json()
    assert data["stops"]["stop_loss_pct"] == 2.0  # preset
    assert data["fees"]["taker"] == 0.0005  # file
    assert data["stops"]["take_profit_pct"] == 7.5  # environment
    text = run("config", "show", "--config", cfg)
    assert text.code == 0, text
    assert f"# from {cfg}" in text.out


def test_config_validate(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.toml"
    good.write_text(
        textwrap.dedent("""
        schema_version = 1
        preset = "balanced"
        [market]
        exchange = "sim"
        symbol = "ETH/USDT"
        timeframe = "4h"
        [fees]
        taker = 0.0004
        [strategy]
        name = "macd"
        [backtest]
        since = 2024-01-01
        until = "2024-06-01"
    """)
    )
    res = run("config", "validate", good)
    assert res.code == 0, res
    assert "valid" in res.out and "good.toml" in res.out

    bad = tmp_path / "bad.toml"
    bad.write_text('[market]\ntimeframe = "1h"\nsymbol = \n')
    res = run("config", "validate", bad)
    assert res.code == 2, res
    assert res.err.startswith("error: ") and "bad.toml" in res.err and "line 3" in res.err

    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[sizing]\nfraction = 1.5\n")
    res = run("config", "validate", wrong)
    assert res.code == 2, res
    assert "sizing.fraction" in res.err and "1.5" in res.err

    # a valid config file is used by backtest
    bt = run("backtest", "--config", good, "--json", "--no-save")
    assert bt.code == 0, bt
    h = bt.json()["header"]
    assert (h["strategy"], h["symbol"], h["timeframe"]) == ("macd", "ETH/USDT", "4h")
    assert h["fees"]["taker"] == 0.0004
    assert bt.json()["summary"]["start"] == "2024-01-01T00:00:00Z"


# --------------------------------------------------------------------------- db


def test_db_upgrade_twice(run, home: Path) -> None:  # type: ignore[no-untyped-def]
    res = run("db", "upgrade")
    assert res.code == 0, res
    assert "upgraded" in res.out and "->" in res.out
    assert (home / "tradebot.db").is_file()
    again = run("db", "upgrade")
    assert again.code == 0, again
    assert "already at" in again.out


def test_db_upgrade_after_backtest(run) -> None:  # type: ignore[no-untyped-def]
    """Migrations are applied automatically: after a stored run there is nothing to do."""
    assert run("backtest", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1d").code == 0
    res = run("db", "upgrade")
    assert res.code == 0, res
    assert "already at" in res.out


def test_database_url_is_used(run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "elsewhere" / "other.db"
    other.parent.mkdir()
    monkeypatch.setenv("TRADEBOT_DATABASE_URL", f"sqlite:///{other}")
    res = run("backtest", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1d")
    assert res.code == 0, res
    assert "Stored as run 1" in res.out
    assert other.is_file()
    assert not (home / "tradebot.db").exists()
    with sqlite3.connect(other) as con:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        assert "alembic_version" in tables
    listed = run("report", "--list", "--json")
    assert [r["id"] for r in listed.json()["runs"]] == [1]
    up = run("db", "upgrade")
    assert up.code == 0 and "other.db" in up.out and "already at" in up.out, up

    # without the variable, the home database is used (and has no runs); a report only reads,
    # so it does not create that database
    monkeypatch.delenv("TRADEBOT_DATABASE_URL")
    listed = run("report", "--list", "--json")
    assert listed.code == 0, listed
    assert listed.json()["runs"] == []
    assert not (home / "tradebot.db").exists()
    assert run("backtest", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1d").code == 0
    assert [r["id"] for r in run("report", "--list", "--json").json()["runs"]] == [1]
    assert (home / "tradebot.db").is_file()


# --------------------------------------------------------------------------- version, help


def test_version(run, run_subprocess) -> None:  # type: ignore[no-untyped-def]
    import tradebot

    res = run("--version")
    assert res.code == 0, res
    assert res.out.startswith(f"tradebot {tradebot.__version__}")
    sub = run_subprocess("--version")
    assert sub.code == 0, sub
    assert sub.out.startswith(f"tradebot {tradebot.__version__}")  # (+g<commit> may move on)


def test_help(run, run_subprocess) -> None:  # type: ignore[no-untyped-def]
    res = run("--help")
    assert res.code == 0, res
    for cmd in ("backtest", "report", "strategies", "data", "config", "db"):
        assert cmd in res.out
    bt = run("backtest", "--help")
    assert bt.code == 0, bt
    for opt in (
        "--strategy",
        "--symbol",
        "--exchange",
        "--timeframe",
        "--since",
        "--until",
        "--param",
        "--capital",
        "--fee",
        "--slippage",
        "--preset",
        "--config",
        "--strategy-path",
        "--json",
        "--trades",
        "--no-save",
    ):
        assert opt in bt.out, opt
    for sub_cmd in (
        ("report", "--help"),
        ("data", "import", "--help"),
        ("config", "--help"),
        ("strategies", "--help"),
        ("db", "--help"),
    ):
        r = run(*sub_cmd)
        assert r.code == 0, (sub_cmd, r)
    bare = run()  # help (click's no_args_is_help exits 2, like a usage error)
    assert bare.code in (0, 2) and "backtest" in bare.output and "Traceback" not in bare.output
    sub = run_subprocess("--help")
    assert sub.code == 0, sub
    assert "backtest" in sub.out and "Traceback" not in sub.output


def test_click_usage_error_exit_code(run) -> None:  # type: ignore[no-untyped-def]
    """Unknown options and commands are usage errors (exit 2), no traceback."""
    for args in (
        ("backtest", "--no-such-option"),
        ("frobnicate",),
        ("report", "abc"),
        ("backtest", "--capital", "lots"),
    ):
        res = run(*args)
        assert res.code == 2, (args, res)
        assert "Traceback" not in res.output


# --------------------------------------------------------------------------- user strategies


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    d = tmp_path / "my_strategies"
    d.mkdir()
    (d / "sma_cross.py").write_text(USER_STRATEGY)
    (d / "_helpers.py").write_text("raise RuntimeError('files starting with _ are skipped')\n")
    return d


def test_user_strategy_via_strategy_path(run, user_dir: Path) -> None:  # type: ignore[no-untyped-def]
    listed = run("strategies", "list", "--strategy-path", user_dir)
    assert listed.code == 0, listed
    rows = {r[0]: r for r in _table_rows(listed.out)}
    assert rows["sma_cross"][1] == "0.3"
    assert "sma_cross.py" in " ".join(rows["sma_cross"])
    assert "rsi" in rows  # built-ins still there

    shown = run("strategies", "show", "sma_cross", "--strategy-path", user_dir)
    assert shown.code == 0, shown
    assert "fast" in shown.out and "[2, 100]" in shown.out

    res = run("backtest", "--strategy", "sma_cross", "--strategy-path", user_dir, "--json", "--param", "fast=8")
    assert res.code == 0, res
    data = res.json()
    assert data["header"]["strategy"] == "sma_cross" and data["header"]["version"] == "0.3"
    assert data["header"]["params"] == {"fast": 8, "slow": 40}
    assert data["summary"]["trades"] > 0

    text = run("backtest", "--strategy", "sma_cross", "--strategy-path", user_dir)
    assert text.code == 0, text
    assert "sma_cross v0.3" in text.out

    again = run("report", "1", "--rerun", "--strategy-path", user_dir)
    assert again.code == 0, again
    assert "reproduced" in again.out

    bad = run("backtest", "--strategy", "sma_cross", "--strategy-path", user_dir, "--param", "fast=1")
    assert bad.code == 2 and "fast" in bad.err, bad

    missing = run("backtest", "--strategy", "sma_cross")  # not registered without the path
    assert missing.code == 2 and "sma_cross" in missing.err, missing


def test_user_strategy_subprocess(run_subprocess, user_dir: Path) -> None:  # type: ignore[no-untyped-def]
    res: Result = run_subprocess(
        "backtest", "--strategy", "sma_cross", "--strategy-path", user_dir, "--exchange", "sim", "--timeframe", "4h",
        "--json", "--no-save"
    )
    assert res.code == 0, res
    assert json.loads(res.out)["summary"]["trades"] > 0
