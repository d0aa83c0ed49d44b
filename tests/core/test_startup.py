"""The collector during start-up (core/startup.py, decision 0029): paused by the console
script, resumed (with what start-up allocated frozen) before a command runs, and left alone
when someone else had switched it off."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from tradebot.core import startup


@pytest.fixture(autouse=True)
def restore_gc():
    was = gc.isenabled()
    startup._paused[0] = False
    yield
    startup._paused[0] = False
    gc.unfreeze()
    if was:
        gc.enable()
    else:
        gc.disable()


def test_pause_then_resume_freezes_and_enables() -> None:
    gc.enable()
    gc.unfreeze()
    startup.pause_gc()
    assert not gc.isenabled()
    startup.pause_gc()  # twice: still one pause
    junk = [[i] for i in range(1000)]
    startup.resume_gc()
    assert gc.isenabled() and gc.get_freeze_count() > len(junk)
    startup.resume_gc()  # again: nothing more
    assert gc.isenabled()


def test_a_collector_switched_off_by_someone_else_stays_off() -> None:
    gc.disable()
    startup.pause_gc()
    startup.resume_gc()
    assert not gc.isenabled() and gc.get_freeze_count() == 0


# the console script's entry point, then what the collector is doing when the process ends
PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("GC", gc.isenabled(), gc.get_freeze_count() > 10_000, len(gc.get_objects()) < 1_000))
sys.argv = ["tradebot", *sys.argv[1:]]
from tradebot.cli.entry import main
main()
"""


def test_a_command_runs_with_the_collector_on_and_start_up_frozen(tmp_path) -> None:
    """...and ends with everything frozen: the interpreter's finalization has nothing to walk
    (a command's own objects, about 13,000 after ``strategies list``, are frozen too)."""
    env = {"HOME": str(tmp_path), "TRADEBOT_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", PROBE, "strategies", "list"], capture_output=True, text=True,
                         timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "GC True True True"
