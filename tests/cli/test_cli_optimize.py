"""`tradebot optimize` and `tradebot report S<id>` through the real CLI entry point."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tradebot.core.config import load_settings
from tradebot.data.study_repository import StudyRepository
from tradebot.services.context import Context

SIM = ["--exchange", "sim", "--timeframe", "1h", "--since", "2024-01-01", "--until", "2024-03-01"]
SMALL = ["--space", "period=7,14", "--space", "lower=25,30", "--space", "upper=70,75"]


def test_optimize_json_and_report_again(run):
    r = run("optimize", "--strategy", "rsi", *SIM, *SMALL, "--json")
    assert r.code == 0, r
    rep = r.json()
    assert rep["status"] == "done" and rep["trials"] == 8 and rep["evaluated"] == 8
    again = run("report", f"S{rep['study_id']}", "--json")
    assert again.code == 0, again
    assert again.json()["chosen"] == rep["chosen"]
    text = run("report", f"S{rep['study_id']}")
    assert text.code == 0 and "Chosen parameters" in text.out and "Deflated Sharpe Ratio" in text.out
    listed = run("optimize", "--list")
    assert listed.code == 0 and f"S{rep['study_id']}" in listed.out


def test_walk_forward_table_is_labeled(run):
    r = run("optimize", "--strategy", "rsi", *SIM, *SMALL, "--wf-train", "20d", "--wf-test", "10d")
    assert r.code == 0, r
    for label in ("Walk-forward windows", "Stitched out-of-sample", "In-sample", "out-of-sample"):
        assert label in r.out


def test_export_preset_is_accepted_by_backtest(run, home):
    r = run("optimize", "--strategy", "macd", *SIM, "--space", "fast=8,12", "--space", "slow=26", "--space",
            "signal=9", "--space", "below_zero=false", "--space", "stop_loss_pct=2,4", "--export-preset", "tuned",
            "--json")
    assert r.code == 0, r
    rep = r.json()
    text = (home / "presets" / "tuned.toml").read_text()
    assert "[strategy.params]" in text and "[stops]" in text
    bt = run("backtest", "--preset", "tuned", *SIM, "--json", "--no-save")
    assert bt.code == 0, bt
    assert bt.json()["header"]["strategy"] == "macd"
    assert bt.json()["summary"]["sharpe"] == pytest.approx(rep["chosen"]["in_sample"]["sharpe"], rel=1e-9)
    bad = run("optimize", "--strategy", "macd", *SIM, "--space", "fast=8,12", "--export-preset", "balanced")
    assert bad.code == 2 and "bundled preset" in bad.err  # refused before the (large) search runs


@pytest.mark.parametrize("extra, message", [
    (["--space", "period=30:10"], "period"),
    (["--space", "nope=1:2"], "nope"),
    (["--objective", "sharpee"], "did you mean sharpe"),
    (["--wf-train", "400d", "--wf-test", "30d"], "longer than the data"),
    (["--cluster", "scheduler-without-port"], "not a Dask scheduler address"),
    (["--method", "annealing"], "--method"),
    (["--resume", "S42"], "S42"),
])
def test_bad_input_is_one_line_and_stores_nothing(run, home, extra, message, code=2):
    space = [] if extra[0] == "--space" else ["--space", "period=7,14", "--space", "lower=25,30"]
    r = run("optimize", "--strategy", "rsi", *SIM, *space, *extra)
    assert r.code == code, r
    lines = [x for x in r.err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0], r
    ctx = Context(load_settings(overrides={"home": str(home)}, env={}))
    try:
        with ctx.store.session() as s:
            assert StudyRepository(s).latest() == []
    finally:
        ctx.close()


def test_an_unreachable_cluster_is_a_runtime_failure(run, home):
    """A well-formed scheduler address nobody answers on: exit 1 (runtime), one line, no study."""
    test_bad_input_is_one_line_and_stores_nothing(run, home, ["--cluster", "tcp://127.0.0.1:1"],
                                                  "cannot reach the Dask scheduler", code=1)


def test_kill_9_then_resume_equals_an_uninterrupted_study(tmp_path, home, run):
    import os
    import signal
    import subprocess
    import sys
    import time

    args = ["optimize", "--strategy", "rsi", "--exchange", "sim", "--timeframe", "1h", "--since", "2023-01-01",
            "--until", "2024-06-01", "--method", "random", "--trials", "240", "--batch-size", "8", "--seed", "3",
            "--space", "period=5:40", "--space", "lower=10:45", "--space", "upper=55:90"]
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
    env["TRADEBOT_HOME"] = str(home)
    import tradebot

    env["PYTHONPATH"] = str(Path(tradebot.__file__).resolve().parents[1])  # the tradebot under test
    exe = [sys.executable, "-m", "tradebot.cli.app"]
    proc = subprocess.Popen([*exe, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and proc.poll() is None:
        stored = len(trials_of(home, 1))
        if stored >= 24:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(trials_of(home, 1))
    assert 0 < partial < 240 and partial % 8 == 0  # whole batches only
    r = run("optimize", "--resume", "S1", "--json")
    assert r.code == 0, r
    assert r.json()["replayed"] == partial and r.json()["evaluated"] == 240 - partial
    other = tmp_path / "other"
    env2 = dict(env, TRADEBOT_HOME=str(other))
    done = subprocess.run([*exe, *args, "--json"], env=env2, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert trials_of(home, 1) == trials_of(other, 1)


def trials_of(home: Path, study_id: int) -> list[tuple]:
    """(window, number, params, scores, daily returns) of a study's stored trials, read-only."""
    db = home / "tradebot.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT window, number, params, scores, daily_returns FROM study_trials "
                           "WHERE study_id = ? ORDER BY window, number", (study_id,)).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        con.close()


def test_space_and_method_from_config_cli_wins_per_name(run, tmp_path):
    cfg = tmp_path / "opt.toml"
    cfg.write_text('[optimize]\nmethod = "grid"\nobjective = "sortino"\n'
                   'space = ["period=7,14", "lower=25,30", "upper=70"]\n')
    r = run("optimize", "--config", cfg, "--strategy", "rsi", *SIM, "--space", "upper=70,75", "--json")
    assert r.code == 0, r
    rep = r.json()
    assert rep["trials"] == 8 and rep["request"]["objectives"] == "sortino"
    assert {t["params"]["upper"] for t in rep["top"]} <= {70.0, 75.0}
