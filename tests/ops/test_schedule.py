"""``tradebot schedule``: idempotent, marked entries that leave the rest of a crontab alone;
systemd units whose calendars systemd accepts; remove deletes only what tradebot wrote."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ops.conftest import cache_market, paper_args

USER_LINES = "MAILTO=ops@example.com\n# my own job\n17 * * * * /usr/local/bin/rotate-things\n"


def test_crontab_install_is_idempotent_and_remove_keeps_the_users_lines(home: Path, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cache_market(home)
    assert run(*paper_args("a1")).code == 0
    assert run("paper", "-a", "fast", "--source", "sim", "--timeframe", "5m").code == 0
    tab = tmp_path / "crontab"
    tab.write_text(USER_LINES)
    retrain = "retrain=0 3 * * 0=train --spec trend"
    res = run("schedule", "install", "--crontab-file", tab, "--job", retrain)
    assert res.code == 0, res
    first = tab.read_text()
    assert first.startswith(USER_LINES) and "managed by tradebot" in first
    entries = run("schedule", "list", "--crontab-file", tab).out.splitlines()
    assert len(entries) == 5, entries
    assert entries[0].startswith("1 * * * * TRADEBOT_HOME=") and "paper --account a1" in entries[0]
    assert entries[1].startswith("1-59/5 * * * * ") and "paper --account fast" in entries[1]
    assert any(e.startswith("*/5 * * * * ") and e.endswith(" watch >/dev/null") for e in entries)
    assert any(e.startswith("30 2 * * * ") and "db backup --keep 7" in e for e in entries)
    assert any(e.startswith("0 3 * * 0 ") and "train --spec trend" in e for e in entries)
    res = run("schedule", "install", "--crontab-file", tab, "--job", retrain)
    assert res.code == 0 and "already installed" in res.out, res
    assert tab.read_text() == first  # idempotent
    res = run("schedule", "install", "--crontab-file", tab, "--account", "a1", "--no-backup")
    assert res.code == 0 and tab.read_text().count("managed by tradebot") == 2  # one block, replaced
    assert len(run("schedule", "list", "--crontab-file", tab).out.splitlines()) == 2
    assert run("schedule", "remove", "--crontab-file", tab).code == 0
    assert tab.read_text() == USER_LINES
    assert "no tradebot entries" in run("schedule", "list", "--crontab-file", tab).out


def test_bad_schedule_input_is_refused(home: Path, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("paper", "-a", "a1", "--source", "sim").code == 0
    tab = tmp_path / "crontab"
    for args, expect in ((["--account", "nope"], "no paper account 'nope'"),
                         (["--job", "x=61 * *=watch"], "invalid cron schedule"),
                         (["--job", "bad name=0 3 * * 0=watch"], "invalid job name")):
        res = run("schedule", "install", "--crontab-file", tab, *args)
        assert res.code == 2 and expect in res.err, res
        assert not tab.exists()


def test_systemd_units(home: Path, run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("paper", "-a", "a1", "--source", "sim", "--timeframe", "4h").code == 0
    units = tmp_path / "units"
    units.mkdir()
    (units / "other.service").write_text("[Service]\nExecStart=/bin/true\n")
    res = run("schedule", "install", "--systemd", "--unit-dir", units, "--job", "reopt=0 4 1 * *=optimize --trials 50")
    assert res.code == 0, res
    names = sorted(p.name for p in units.iterdir())
    assert names == sorted(["other.service", *(f"tradebot-{j}.{k}" for j in ("paper-a1", "watch", "backup", "reopt")
                                                for k in ("service", "timer"))])
    timer = (units / "tradebot-paper-a1.timer").read_text()
    assert "OnCalendar=*-*-* 0/4:01:00" in timer
    assert "ExecStart=" in (units / "tradebot-paper-a1.service").read_text()
    if shutil.which("systemd-analyze"):
        for p in units.glob("*.timer"):
            cal = next(line.split("=", 1)[1] for line in p.read_text().splitlines() if line.startswith("OnCalendar="))
            check = subprocess.run(["systemd-analyze", "calendar", cal], capture_output=True, text=True)
            assert check.returncode == 0, (p.name, cal, check.stderr)
    assert run("schedule", "remove", "--systemd", "--unit-dir", units).code == 0
    assert [p.name for p in units.iterdir()] == ["other.service"]


@pytest.mark.parametrize("expr, calendar", [("*/5 * * * *", "*-*-* *:0/5:00"),
                                            ("1-59/5 * * * *", "*-*-* *:01/5:00"),
                                            ("0 3 * * 0", "Sun *-*-* 03:00:00"),
                                            ("30 2 1,15 * 1-5", "Mon..Fri *-*-01,15 02:30:00")])
def test_cron_to_oncalendar(expr: str, calendar: str) -> None:
    from tradebot.services.schedule import cron_to_oncalendar

    assert cron_to_oncalendar(expr) == calendar
