"""``tradebot optimize ... --if-older AGE``: cron-safe re-tuning (services/optimize_cron.py)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., Any]
SIM = ["--exchange", "sim", "--symbol", "BTC/USDT", "--timeframe", "1h", "--since", "2024-01-01",
       "--until", "2024-02-01"]
SMALL = ["--strategy", "rsi", "--space", "period=7,14", "--space", "lower=25,30", "--space", "upper=70"]


def _studies(run: Run) -> list[int]:
    res = run("optimize", "--list", "--json")
    assert res.code == 0, res
    return sorted(int(r["study_id"]) for r in res.json()["studies"])


def _age_studies(home: Path, days: float) -> None:
    """Make every stored study ``days`` older (as if it finished then)."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{home / 'tradebot.db'}")
    with engine.begin() as c:
        for sid, when in c.execute(sa.text("SELECT id, updated_at FROM studies")).fetchall():
            t = when if isinstance(when, dt.datetime) else dt.datetime.fromisoformat(str(when))
            c.execute(sa.text("UPDATE studies SET updated_at = :t, created_at = :t WHERE id = :i"),
                      {"t": t - dt.timedelta(days=days), "i": sid})
    engine.dispose()


def test_a_young_study_is_not_rerun_an_old_one_is(run: Run, home: Path) -> None:
    args = ["optimize", *SMALL, *SIM, "--if-older", "7d", "--quiet"]
    first = run(*args, "--json")
    assert first.code == 0, first
    sid = first.json()["study_id"]
    assert first.json()["evaluated"] == 4
    again = run(*args)
    assert again.code == 0, again
    assert again.out.strip() == (f"study S{sid} (rsi on sim BTC/USDT 1h, grid search) finished 0 minutes ago, "
                                 "younger than --if-older 7.0 days: not re-run")
    assert _studies(run) == [sid]
    js = run(*args, "--json")
    assert js.code == 0 and js.json() == {"skipped": js.json()["skipped"], "study_id": sid}, js
    # the same space written differently is the same study; another space, method or market is not
    same = run("optimize", "--strategy", "rsi", "--space", "upper=70", "--space", "lower=25, 30",
               "--space", "period=7,14", *SIM, "--if-older", "7d", "--quiet")
    assert same.code == 0 and f"study S{sid} " in same.out and "not re-run" in same.out, same
    other = run("optimize", *SMALL[:-2], "--space", "upper=75", *SIM, "--if-older", "7d", "--quiet", "--json")
    assert other.code == 0 and other.json()["study_id"] != sid, other
    rnd = run("optimize", *SMALL, *SIM, "--method", "random", "--trials", "2", "--if-older", "7d", "--quiet",
              "--json")
    assert rnd.code == 0 and rnd.json()["evaluated"] == 2, rnd
    eth = run("optimize", *SMALL, *SIM, "--symbol", "ETH/USDT", "--if-older", "7d", "--quiet", "--json")
    assert eth.code == 0 and "evaluated" in eth.json(), eth
    assert len(_studies(run)) == 4
    # eight days later a weekly cron runs it again (a new study); a 10-day age still skips
    _age_studies(home, 8)
    assert "not re-run" in run(*args[:-3], "--if-older", "10d", "--quiet").out
    later = run(*args, "--json")
    assert later.code == 0 and later.json()["study_id"] > sid and later.json()["evaluated"] == 4, later
    assert len(_studies(run)) == 5


def test_an_interrupted_study_does_not_count(run: Run, home: Path) -> None:
    import sqlalchemy as sa

    first = run("optimize", *SMALL, *SIM, "--if-older", "7d", "--quiet", "--json")
    assert first.code == 0, first
    engine = sa.create_engine(f"sqlite:///{home / 'tradebot.db'}")
    with engine.begin() as c:  # as if killed before it finished
        c.execute(sa.text("UPDATE studies SET status = 'running'"))
    engine.dispose()
    again = run("optimize", *SMALL, *SIM, "--if-older", "7d", "--quiet", "--json")
    assert again.code == 0 and again.json()["study_id"] != first.json()["study_id"], again


def test_a_held_study_lock_skips_under_cron_and_wait_waits(run: Run, home: Path) -> None:
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.optimize import OptimizeRequest
    from tradebot.services.optimize_cron import study_key, study_lock

    settings = load_settings(overrides={"home": str(home), "strategy": {"name": "rsi"},
                                        "market": {"exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1h"}},
                             env={})
    ctx = Context(settings, None)
    key = study_key(ctx, OptimizeRequest(method="grid", space=("period=7,14", "lower=25,30", "upper=70")))
    args = ["optimize", *SMALL, *SIM, "--if-older", "7d", "--quiet"]
    with study_lock(home, key, wait=False):
        busy = run(*args)
        assert busy.code == 0, busy
        assert "is being run by another process" in busy.out and busy.out.strip().endswith("not re-run"), busy
        assert "study-" in busy.out  # names the lock file
        assert not (home / "tradebot.db").exists() or _studies(run) == []
        other = run("optimize", *SMALL[:-2], "--space", "upper=75", *SIM, "--if-older", "7d", "--quiet")
        assert other.code == 0 and "Study S1" in other.out, other  # another key is free
    held = threading.Event()

    def hold() -> None:
        with study_lock(home, key, wait=False):
            held.set()
            time.sleep(1.5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    t0 = time.monotonic()
    waited = run(*args, "--wait", "--json")
    t.join()
    assert waited.code == 0, waited
    assert time.monotonic() - t0 >= 1.0  # it waited for the lock, then ran
    assert waited.json()["evaluated"] == 4
    ctx.close()


@pytest.mark.parametrize(("extra", "needle"), [
    (["--if-older", "soon"], "--if-older must be a positive age with a unit m, h, d or w (90m, 12h, 7d), got 'soon'"),
    (["--if-older", "0d"], "got '0d'"),
    (["--wait"], "--wait goes with --if-older"),
    (["--if-older", "7d", "--resume", "S1"], "--if-older re-runs one market's study; not with --list, --resume"),
    (["--if-older", "7d", "--symbols", "BTC/USDT,ETH/USDT"], "not with a pair list of two or more pairs"),
    (["--if-older", "7d", "--space", "nope=1:2"], "nope"),
    (["--if-older", "7d", "--method", "annealing"], "--method 'annealing'"),
])
def test_bad_cron_options_are_one_line_and_store_nothing(run: Run, home: Path, extra: list[str],
                                                         needle: str) -> None:
    res = run("optimize", *SMALL, *SIM, *extra)
    assert res.code == 2, res
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res
    assert "Traceback" not in res.err
    assert not (home / "tradebot.db").exists() or _studies(run) == []
