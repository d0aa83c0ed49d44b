"""``tradebot train --tune``, ``--if-older``, the per-model lock, kills and champion/challenger."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import tradebot_script
from tests.cli.test_cli_train import IDENTITY, cache, market_args, synthetic_market

Run = Callable[..., Any]
FAST = ["--spec", "minimal", "--folds", "3", "--shuffles", "0", "--no-importance", "--quiet"]


def _one_line_error(res: Any, needle: str, code: int = 2) -> None:
    assert res.code == code, res
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res
    assert "Traceback" not in res.err


def test_tune_is_seeded_recorded_and_deflates_the_verdict(run: Run, home: Path) -> None:
    cache(home, synthetic_market(1500, 5, True, "PLANT/USDT"))
    args = ["train", "--name", "tuned", *market_args("PLANT/USDT"), *FAST[:-1], "--tune", "4", "--seed", "3"]
    res = run(*args)
    assert res.code == 0, res
    for k in (1, 2, 3, 4):
        assert f"tuning trial {k}/4: log loss" in res.err
    assert "Tuning: best 4 of 4 trials" in res.out and "deflates for all 4 trials" in res.out
    rec = run("models", "show", "tuned:1", "--json").json()
    tun = rec["tuning"]
    assert rec["trials"] == 4 and tun["n_trials"] == 4 and len(tun["trials"]) == 4
    assert set(tun["space"]) == {"C"} and tun["requested_params"] == {}
    best = min(tun["trials"], key=lambda t: t["log_loss"])
    assert tun["best_trial"] == best["number"] and rec["model"]["params"] == best["params"]
    # the final CV of the chosen parameters scores what its trial scored
    assert rec["scores"]["summary"]["model"]["log_loss"] == pytest.approx(best["log_loss"])
    assert rec["verdict_detail"]["n_trials"] == 4  # deflated for every trial
    # same seed and data, 2 jobs: the same trials, choice and record
    again = run(*args, "--jobs", "2", "--json", "--quiet").json()
    assert {k: v for k, v in again.items() if k not in IDENTITY} == {k: v for k, v in rec.items() if k not in IDENTITY}
    # a later, different configuration under the same name counts all 4 trials before it
    later = run("train", "--name", "tuned", *market_args("PLANT/USDT"), *FAST, "--json").json()
    assert later["trials"] == 1 and later["verdict_detail"]["n_trials"] == 5


def test_tune_rf_space(run: Run, home: Path) -> None:
    cache(home, synthetic_market(1200, 6, True, "PLANT/USDT"))
    res = run("train", "--name", "forest", *market_args("PLANT/USDT"), *FAST, "--model", "rf", "--tune", "2",
              "--folds", "2", "--json")
    assert res.code == 0, res
    rec = res.json()
    assert set(rec["tuning"]["space"]) == {"n_estimators", "max_depth", "min_samples_leaf", "max_features"}
    assert set(rec["tuning"]["best_params"]) == set(rec["tuning"]["space"])


@pytest.mark.parametrize(("args", "needle"), [
    (["--tune", "0"], "--tune must be a number of trials from 1 to 1000, got 0"),
    (["--tune", "5", "--model", "sklearn.tree:DecisionTreeClassifier"], "has no declared search space"),
    (["--if-older", "soon"], "--if-older must be a positive age with a unit m, h, d or w (90m, 12h, 7d), got 'soon'"),
    (["--if-older", "0d"], "got '0d'"),
    (["--if-older", "7"], "got '7'"),
    (["--promote-margin", "-0.1"], "--promote-margin must be an AUC difference in [0, 0.5), got -0.1"),
])
def test_bad_tuning_and_retraining_options(run: Run, home: Path, args: list[str], needle: str) -> None:
    cache(home, synthetic_market(1000, 0, False, "WALK/USDT"))
    res = run("train", "--name", "bad", *market_args("WALK/USDT"), *FAST, *args)
    _one_line_error(res, needle)
    assert not (home / "models").exists()
    assert run("models", "list", "--json").json() == []


def _age_rows(home: Path, days: float) -> None:
    """Make every stored model ``days`` older (as if trained then)."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{home / 'tradebot.db'}")
    with engine.begin() as c:
        rows = c.execute(sa.text("SELECT id, created_at FROM ml_models")).fetchall()
        for rid, created in rows:
            t = created if isinstance(created, dt.datetime) else dt.datetime.fromisoformat(str(created))
            c.execute(sa.text("UPDATE ml_models SET created_at = :t WHERE id = :i"),
                      {"t": t - dt.timedelta(days=days), "i": rid})
    engine.dispose()


def test_if_older_skips_a_young_model_and_retrains_an_old_one(run: Run, home: Path) -> None:
    cache(home, synthetic_market(1200, 1, True, "PLANT/USDT"))
    args = ["train", "--name", "cron", *market_args("PLANT/USDT"), *FAST[:-1], "--if-older", "7d"]
    res = run(*args)  # nothing yet: trains
    assert res.code == 0 and "Stored as cron:1" in res.out, res
    res = run(*args)
    assert res.code == 0, res
    assert "cron:1 was trained 0 minutes ago, younger than --if-older 7.0 days: not retrained" in res.out
    assert [r["version"] for r in run("models", "list", "--json").json()] == [1]
    assert run(*args, "--json").json()["newest"]["version"] == 1
    assert (home / "tradebot.db").is_file()
    _age_rows(home, 8)
    res = run(*args)
    assert res.code == 0 and "Stored as cron:2" in res.out, res


def test_a_held_lock_refuses_clearly_or_skips_under_if_older(run: Run, home: Path) -> None:
    from tradebot.ml.retrain import model_lock

    cache(home, synthetic_market(1200, 1, True, "PLANT/USDT"))
    args = ["train", "--name", "busy", *market_args("PLANT/USDT"), *FAST]
    home.mkdir(parents=True, exist_ok=True)
    with model_lock(home, "busy", wait=False):
        res = run(*args)
        _one_line_error(res, "model 'busy' is being trained by another process", code=1)
        assert "pass --wait" in res.err
        res = run(*args, "--if-older", "1d")
        assert res.code == 0 and "is being trained by another process" in res.out and "not retrained" in res.out
        assert run("train", "--name", "other", *market_args("PLANT/USDT"), *FAST).code == 0  # other names: free
    assert run("models", "list", "busy", "--json").json() == []
    assert run(*args).code == 0  # released


def _wait_for(path: Path, needle: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and needle in path.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {needle!r}: {path.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"no {needle!r} within {timeout}s")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TRADEBOT_")}
    env.update({"TRADEBOT_HOME": str(home), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"})
    return env


def test_sigkill_during_training_leaves_the_registry_as_it_was(run: Run, home: Path, tmp_path: Path) -> None:
    cache(home, synthetic_market(1500, 2, True, "PLANT/USDT"))
    args = ["train", "--name", "k", *market_args("PLANT/USDT"), "--spec", "minimal", "--folds", "3",
            "--shuffles", "0", "--no-importance"]
    assert run(*args, "--quiet").code == 0
    before = run("models", "list", "--json").json()
    before_files = sorted(p.name for p in (home / "models" / "k").iterdir())
    for stage in ("fold 1/3", "storing the model"):
        err = tmp_path / f"err-{stage[:5]}.txt"
        with err.open("w") as f:
            proc = subprocess.Popen([*tradebot_script(), *args], stdout=subprocess.DEVNULL, stderr=f, text=True,
                                    env=_env(home))
            try:
                _wait_for(err, stage, proc)
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        after = run("models", "list", "--json").json()
        if stage == "storing the model" and len(after) == len(before) + 1:  # the kill came after the commit
            assert after[:-1] == before and run("models", "show", f"k:{after[-1]['version']}").code == 0
            before = after
        assert after == before
    # an artifact a killed run may have left (no row) is harmless: the next run replaces it
    nxt = before[-1]["version"] + 1
    (home / "models" / "k" / f"{nxt}.joblib").write_bytes(b"orphan")
    res = run(*args, "--json", "--quiet")
    assert res.code == 0, res
    assert res.json()["version"] == nxt
    assert run("models", "show", f"k:{nxt}").code == 0  # its sha256 matches the new bytes
    assert before_files == ["1.joblib"]


def test_two_concurrent_trainings_of_one_model(home: Path, tmp_path: Path, run: Run) -> None:
    """The first training is frozen (SIGSTOP) while it holds the lock: a second one is
    refused with one line, a third with --wait waits and then trains the next version."""
    cache(home, synthetic_market(1500, 2, True, "PLANT/USDT"))
    args = ["train", "--name", "twice", *market_args("PLANT/USDT"), "--spec", "minimal", "--folds", "3",
            "--shuffles", "0", "--no-importance"]
    err1, err3 = tmp_path / "first.txt", tmp_path / "third.txt"
    with err1.open("w") as f1, err3.open("w") as f3:
        first = subprocess.Popen([*tradebot_script(), *args], stdout=subprocess.DEVNULL, stderr=f1, text=True,
                                 env=_env(home))
        waited = None
        try:
            _wait_for(err1, "fold 1/3", first)  # the lock is held from before "loading candles"
            first.send_signal(signal.SIGSTOP)
            refused = subprocess.run([*tradebot_script(), *args], capture_output=True, text=True, env=_env(home),
                                     timeout=120)
            waited = subprocess.Popen([*tradebot_script(), *args, "--wait"], stdout=subprocess.PIPE, stderr=f3,
                                      text=True, env=_env(home))
            time.sleep(1.5)
            assert waited.poll() is None and "loading candles" not in err3.read_text()  # waiting for the lock
        finally:
            first.send_signal(signal.SIGCONT)
            first.wait(timeout=120)
        out, _ = waited.communicate(timeout=120)
    assert first.returncode == 0
    assert refused.returncode == 1, refused
    errors = [ln for ln in refused.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "model 'twice' is being trained by another process" in errors[0]
    assert "loading candles" not in refused.stderr
    assert waited.returncode == 0, err3.read_text()
    assert "Stored as twice:2" in out
    assert [r["version"] for r in run("models", "list", "--json").json()] == [1, 2]


def test_champion_challenger(run: Run, home: Path, tmp_path: Path) -> None:
    cache(home, synthetic_market(2500, 4, True, "PLANT/USDT"))
    weak = tmp_path / "weak.toml"  # calendar only: nothing to learn from on this market
    weak.write_text('name = "weak"\n[[features]]\nkind = "time"\n')
    res = run("train", "--name", "cc", *market_args("PLANT/USDT"), *FAST, "--spec", weak)
    assert res.code == 0, res
    assert run("models", "promote", "cc:1").code == 0
    base = ["train", "--name", "cc", *market_args("PLANT/USDT"), "--folds", "3", "--shuffles", "0",
            "--no-importance", "--quiet", "--spec", "minimal"]
    res = run(*base, "--promote-margin", "0.01")
    assert res.code == 0, res
    assert "Champion/challenger on the most recent window" in res.out
    assert "cc:2 wins and becomes the champion" in res.out and "Stored as cc:2 (champion)." in res.out
    rec = run("models", "show", "cc:2", "--json").json()
    ch = rec["challenge"]
    assert ch["wins"] and ch["champion"] == "cc:1" and ch["margin"] == 0.01 and ch["samples"] > 0
    assert ch["challenger"]["auc"] >= ch["champion_scores"]["auc"] + 0.01
    assert ch["champion_in_sample"] is True  # cc:1 was trained on this window too (said in the line)
    assert [r["status"] for r in run("models", "list", "--json").json()] == ["retired", "champion"]
    assert "cc:2 wins and becomes the champion" in run("models", "show", "cc:2").out
    # the same configuration again cannot beat itself by a margin: stays candidate
    res = run(*base, "--promote-margin", "0.01")
    assert res.code == 0 and "cc:3 stays candidate, cc:2 stays champion" in res.out, res
    assert run("models", "show", "cc:3", "--json").json()["challenge"]["wins"] is False
    assert [r["status"] for r in run("models", "list", "--json").json()] == ["retired", "champion", "candidate"]
    # without --promote-margin nothing is compared
    assert run(*base, "--json").json()["challenge"] is None


@pytest.mark.parametrize(("text", "needle"), [
    ('[[features]]\nkind = "rsi"\nperiod = 1\n', "period must be an integer between 2 and 100000, got 1"),
    ('[[features]]\nkind = "rsi"\nperoid = 3\n', "unknown parameter 'peroid'; did you mean 'period'?"),
    ('[[features]]\nkind = "supertrendx"\n', "unknown feature 'supertrendx'"),
    ('[[features]]\nkind = "rsi"\ntimeframe = "1h"\n', "needs the spec's base timeframe"),
    ('timeframe = "5m"\n[[features]]\nkind = "rsi"\ntimeframe = "1h"\n', "is for 5m candles, these are 1h"),
    ('[[features]]\nkind = "sma_dist"\nperiod = 5000\n', "needs at least 5000 bars of history"),
])
def test_bad_feature_specs_store_nothing(run: Run, home: Path, tmp_path: Path, text: str, needle: str) -> None:
    cache(home, synthetic_market(1000, 0, False, "WALK/USDT"))
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    res = run("train", "--name", "bad", *market_args("WALK/USDT"), *FAST, "--spec", spec)
    _one_line_error(res, needle)
    assert not (home / "models").exists()
    assert run("models", "list", "--json").json() == []


def test_progress_bars_over_trials_folds_and_shuffles() -> None:
    from tradebot.cli.train import TrainProgress

    p = TrainProgress("rich")
    update = p.__enter__()
    try:
        for msg in ("loading candles (sim)", "tuning trial 1/4: log loss 0.69", "tuning trial 4/4: log loss 0.68",
                    "fold 2/5 (out of sample): AUC 0.5", "shuffled labels 7/19: AUC 0.5"):
            update(msg)
        tasks = {t.description: (t.completed, t.total) for t in p._bar.tasks}
    finally:
        p.__exit__(None, None, None)
    assert tasks == {"tuning trials": (4, 4), "folds (out of sample)": (2, 5), "shuffled-label runs": (7, 19)}
    assert TrainProgress(None).__enter__() is None
    from tradebot.cli.common import write_line

    assert TrainProgress("lines").__enter__() is write_line
