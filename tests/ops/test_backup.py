"""Backups: an archive taken while paper runs write restores to exactly the state of one
instant; a truncated or bit-flipped archive is refused and changes nothing; an archive made
before the latest migration restores and is migrated; --keep rotates."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import snapshot
from tests.ops.conftest import SECRETS, cache_market, write_config
from tests.services.conftest import ledger_snapshot

START = 1_704_067_200_000
HOUR = 3_600_000
N = 700
MARKET = {"market": {"exchange": "testex", "symbol": "TEST/USDT", "timeframe": "1h"}, "strategy": {"name": "rsi"}}

WRITER = textwrap.dedent("""
    import sys, time
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.paper import run_paper
    home, log, first, step, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    market = {"exchange": "testex", "symbol": "TEST/USDT", "timeframe": "1h"}
    ctx = Context(load_settings(overrides={"market": market, "strategy": {"name": "rsi"}},
                                env={"TRADEBOT_HOME": home}))
    now = first
    with open(log, "a") as out:
        while now <= int(sys.argv[6]):
            run_paper(ctx, "a1", source="cache", now_ms=now, since_ms=int(sys.argv[7]))
            out.write(f"{now}\\n"); out.flush()
            now += step
            time.sleep(pause)
""")


def _ctx(home: Path):  # type: ignore[no-untyped-def]
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context

    return Context(load_settings(overrides=MARKET, env={"TRADEBOT_HOME": str(home)}))


def _state(home: Path) -> dict[str, Any]:
    """Every run, trade and account report of a home, without row ids or wall-clock times."""
    from tradebot.services.paper import account_report

    db = home / "tradebot.db"
    con = sqlite3.connect(db)
    try:
        runs = con.execute("SELECT strategy_name, params, metrics, data_sha256 FROM backtest_runs "
                           "ORDER BY id").fetchall()
        trades = con.execute("SELECT run_id, entry_ts_ms, exit_ts_ms, pnl FROM trades ORDER BY id").fetchall()
    finally:
        con.close()
    ctx = _ctx(home)
    try:
        report = account_report(ctx, "a1")
    finally:
        ctx.close()
    return {"runs": runs, "trades": trades, "ledger": ledger_snapshot(db), "report": json.dumps(report, default=str)}


def test_backup_while_paper_runs_write_restores_one_instant(tmp_path: Path, run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    cache_market(src, N)
    monkeypatch.setenv("TRADEBOT_HOME", str(src))
    res = run("backtest", "--strategy", "rsi", "--exchange", "testex", "--symbol", "TEST/USDT", "--timeframe", "1h")
    assert res.code == 0, res
    log = tmp_path / "writes.log"
    first, step = START + 200 * HOUR, 50 * HOUR
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(src), str(log), str(first), str(step), "0.3",
                               str(START + N * HOUR), str(START)])
    try:
        deadline = time.monotonic() + 60
        while (not log.exists() or len(log.read_text().split()) < 3) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.poll() is None, "the writer stopped before the backup"
        res = run("db", "backup", tmp_path / "b")
        assert res.code == 0, res
        written_before = len(log.read_text().split())
        time.sleep(0.7)
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert len(log.read_text().split()) > written_before  # the writer went on after the backup
    (archive,) = (tmp_path / "b").glob("tradebot-backup-*.tar.gz")

    dest = tmp_path / "dest"
    monkeypatch.setenv("TRADEBOT_HOME", str(dest))
    res = run("db", "restore", archive)
    assert res.code == 0, res
    con = sqlite3.connect(dest / "tradebot.db")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    (last_bar,) = con.execute("SELECT last_bar_ms FROM paper_accounts WHERE name='a1'").fetchone()
    con.close()
    source_final = _state(src)

    # the same runs replayed up to the restored account's last candle: the state of that instant
    ref = tmp_path / "ref"
    cache_market(ref, N)
    monkeypatch.setenv("TRADEBOT_HOME", str(ref))
    assert run("backtest", "--strategy", "rsi", "--exchange", "testex", "--symbol", "TEST/USDT",
               "--timeframe", "1h").code == 0
    from tradebot.services.paper import run_paper

    ctx = _ctx(ref)
    try:
        for now in (int(x) for x in log.read_text().split()):
            result = run_paper(ctx, "a1", source="cache", now_ms=now, since_ms=START)
            if result.last_ms == last_bar:
                break
        else:
            pytest.fail(f"no run ended at the restored candle {last_bar}")
    finally:
        ctx.close()
    cache_market(dest, N)  # candles are not in a backup (they can be fetched again); the report reads them
    restored = _state(dest)
    assert restored == _state(ref)
    assert restored["runs"] == source_final["runs"] and restored["trades"] == source_final["trades"]
    assert restored["ledger"] != source_final["ledger"]  # the source moved on after the instant


def _home_with_archive(tmp_path: Path, run, monkeypatch) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    src = tmp_path / "src"
    monkeypatch.setenv("TRADEBOT_HOME", str(src))
    assert run("paper", "-a", "a1", "--source", "sim").code == 0
    (src / "models" / "m").mkdir(parents=True)
    (src / "models" / "m" / "v1.joblib").write_bytes(os.urandom(5000))
    res = run("db", "backup", tmp_path / "b")
    assert res.code == 0, res
    (archive,) = (tmp_path / "b").glob("*.tar.gz")
    return src, archive


@pytest.mark.parametrize("damage", ["truncated", "bit-flipped"])
def test_a_damaged_archive_is_refused_and_nothing_changes(tmp_path: Path, run, monkeypatch, damage: str) -> None:  # type: ignore[no-untyped-def]
    src, archive = _home_with_archive(tmp_path, run, monkeypatch)
    data = bytearray(archive.read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 2] ^= 0x10
    bad = tmp_path / f"{damage}.tar.gz"
    bad.write_bytes(bytes(data))
    for home, extra in ((tmp_path / "empty", []), (src, ["--force"])):
        monkeypatch.setenv("TRADEBOT_HOME", str(home))
        before = snapshot(home)
        res = run("db", "restore", bad, *extra)
        assert res.code == 2, res
        lines = res.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {bad}") and "nothing was changed" in lines[0], res
        assert snapshot(home) == before
    monkeypatch.setenv("TRADEBOT_HOME", str(tmp_path / "empty"))
    assert run("db", "restore", archive).code == 0  # the intact archive restores
    assert (tmp_path / "empty" / "models" / "m" / "v1.joblib").read_bytes() == \
        (src / "models" / "m" / "v1.joblib").read_bytes()


def test_restore_refuses_a_used_home_unless_forced_and_keeps_the_old_data(tmp_path: Path, run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    src, archive = _home_with_archive(tmp_path, run, monkeypatch)
    other = tmp_path / "other"
    monkeypatch.setenv("TRADEBOT_HOME", str(other))
    assert run("paper", "-a", "b2", "--source", "sim").code == 0
    before = snapshot(other)
    res = run("db", "restore", archive)
    assert res.code == 2 and "not empty" in res.err and snapshot(other) == before, res
    res = run("db", "restore", archive, "--force")
    assert res.code == 0, res
    (previous,) = (other / "backups" / "pre-restore").glob("*.tar.gz")
    con = sqlite3.connect(other / "tradebot.db")
    assert [r[0] for r in con.execute("SELECT name FROM paper_accounts")] == ["a1"]
    con.close()
    keep = tmp_path / "keep"
    keep.mkdir()
    monkeypatch.setenv("TRADEBOT_HOME", str(keep))
    assert run("db", "restore", previous).code == 0  # the automatic backup restores the old data
    con = sqlite3.connect(keep / "tradebot.db")
    assert [r[0] for r in con.execute("SELECT name FROM paper_accounts")] == ["b2"]
    con.close()


def test_restore_of_an_archive_before_the_latest_migration(tmp_path: Path, run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from tradebot.data.db import HEAD_REVISION, MIGRATIONS_DIR

    old = tmp_path / "old"
    old.mkdir()
    engine = create_engine(f"sqlite:///{old / 'tradebot.db'}")
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, "0007")
        conn.exec_driver_sql("INSERT INTO strategies (name, version, description, parameter_schema) "
                             "VALUES ('legacy', '1', 'from an old release', '{}')")
    engine.dispose()
    monkeypatch.setenv("TRADEBOT_HOME", str(old))
    res = run("db", "backup", tmp_path / "b")
    assert res.code == 0 and "revision 0007" in " ".join(res.out.split()), res
    (archive,) = (tmp_path / "b").glob("*.tar.gz")
    new = tmp_path / "new"
    monkeypatch.setenv("TRADEBOT_HOME", str(new))
    res = run("db", "restore", archive)
    assert res.code == 0 and f"revision {HEAD_REVISION} (migrated from 0007)" in " ".join(res.out.split()), res
    con = sqlite3.connect(new / "tradebot.db")
    assert con.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD_REVISION,)
    assert con.execute("SELECT description FROM strategies WHERE name='legacy'").fetchone() == ("from an old release",)
    assert con.execute("SELECT count(*) FROM ops_errors").fetchone() == (0,)
    con.close()


def test_keep_rotates_and_the_archive_holds_no_secret(tmp_path: Path, run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "h"
    monkeypatch.setenv("TRADEBOT_HOME", str(home))
    write_config(home, f'[exchanges.binance]\napi_key = "{SECRETS["api_key"]}"\nsecret = "{SECRETS["secret"]}"\n'
                       f'[notify.channels.ops]\nurl = "json://bot:{SECRETS["url_password"]}@127.0.0.1:9/x"\n')
    assert run("paper", "-a", "a1", "--source", "sim").code == 0
    for _ in range(4):
        assert run("db", "backup", "--keep", "2").code == 0
    archives = sorted((home / "backups").glob("tradebot-backup-*.tar.gz"))
    assert len(archives) == 2
    import gzip

    raw = gzip.decompress(archives[-1].read_bytes())
    for secret in (SECRETS["api_key"], SECRETS["secret"], SECRETS["url_password"]):
        assert secret.encode() not in raw
    assert b"[exchanges.binance]" in raw  # the rest of the config is kept
