"""``tradebot train`` and ``tradebot models`` end to end on synthetic markets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.testing.markets import regime_market

Run = Callable[..., Any]


def synthetic_market(n: int, seed: int, planted: bool, symbol: str) -> Candles:
    """A planted-trend market or a random walk (tradebot.testing.markets), cached as synth."""
    return regime_market(n, seed, planted, symbol=symbol, exchange="synth")


def write_csv(candles: Candles, path: Path) -> Path:
    rows = ["timestamp,open,high,low,close,volume"]
    rows += [f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r}" for t, o, h, lo, c, v in
             zip(candles.timestamp.tolist(), candles.open.tolist(), candles.high.tolist(), candles.low.tolist(),
                 candles.close.tolist(), candles.volume.tolist(), strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def cache(home: Path, candles: Candles) -> None:
    from tradebot.data.cache import CandleCache

    CandleCache(home / "data").save(candles)


def market_args(symbol: str) -> list[str]:
    return ["--exchange", "synth", "--symbol", symbol, "--timeframe", "1h"]


#: fields that differ between two records of the same training (identity and time)
IDENTITY = {"id", "version", "created_at", "artifact_path"}


def test_planted_signal_edge_registry_and_determinism(run: Run, home: Path, tmp_path: Path) -> None:
    csv = write_csv(synthetic_market(4000, 1, True, "PLANT/USDT"), tmp_path / "plant.csv")
    res = run("data", "import", csv, *market_args("PLANT/USDT"))
    assert res.code == 0, res
    res = run("train", "--name", "trend", *market_args("PLANT/USDT"), "--folds", "3", "--seed", "7")
    assert res.code == 0, res
    assert "Verdict: edge (out of sample:" in res.out
    assert "Out of sample, per test fold (purged k-fold, 3 folds" in res.out
    assert "buy and hold" in res.out and "shuffled labels (best of 19)" in res.out
    assert "Stored as trend:1 (candidate)" in res.out
    res_text_first = res.out
    for k in (1, 2, 3):  # one progress line per fold, on stderr
        assert f"fold {k}/3 (out of sample): AUC" in res.err
    assert (home / "models" / "trend" / "1.joblib").is_file()

    # the same seed and data again, in 2 processes: the same record but for its identity, the same bytes
    res = run("train", "--name", "trend", *market_args("PLANT/USDT"), "--folds", "3", "--seed", "7", "--json",
              "--quiet", "--jobs", "2")
    assert res.code == 0, res
    second = res.json()
    assert res.err == ""
    first = run("models", "show", "trend:1", "--json").json()
    assert second["version"] == 2
    assert {k: v for k, v in first.items() if k not in IDENTITY} == \
        {k: v for k, v in second.items() if k not in IDENTITY}
    assert first["verdict"] == "edge" and first["verdict_detail"]["n_trials"] == 1
    assert first["artifact_sha256"] == second["artifact_sha256"]
    assert first["symbol"] == "PLANT/USDT" and first["timeframe"] == "1h" and first["seed"] == 7
    assert first["scores"]["summary"]["model"]["auc"] > 0.55
    assert len(first["scores"]["folds"]) == 3
    imp = first["scores"]["importance"]  # computed in the main process: the same with 1 or 2 jobs (compared above)
    assert imp["folds"] == 3 and len(imp["features"]) == len(first["columns"])
    assert "Feature importance, out of sample: top 10 of" in res_text_first

    # the record's artifact predicts; loaded only through the checksum
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.train import load_model

    ctx = Context(load_settings(None, None, {}))
    try:
        rec, model = load_model(ctx, "trend:2")
        x = np.zeros((3, len(rec["columns"])))
        assert model.predict_proba(x).shape == (3, 2)
    finally:
        ctx.close()

    rows = run("models", "list", "--json").json()
    assert [(r["name"], r["version"], r["status"]) for r in rows] == [("trend", 1, "candidate"),
                                                                        ("trend", 2, "candidate")]
    assert run("models", "promote", "trend:1").out.strip() == "trend:1 is the champion."
    res = run("models", "promote", "trend")  # the newest version
    assert res.code == 0 and "trend:2 is the champion; trend:1 retired." in res.out
    assert run("models", "show", "trend", "--json").json()["version"] == 2  # NAME: the champion
    res = run("models", "show", "trend")
    assert res.code == 0 and "verified" in res.out and "Verdict: edge" in res.out
    assert run("models", "retire", "trend:2").out.strip() == "trend:2 retired."
    assert [r["status"] for r in run("models", "list", "trend", "--json").json()] == ["retired", "retired"]
    listing = run("models", "list")
    assert "trend:1" in listing.out and "out of sample" in listing.out


def test_random_walk_is_no_evidence_of_edge(run: Run, home: Path) -> None:
    cache(home, synthetic_market(4000, 2, False, "WALK/USDT"))
    res = run("train", "--name", "walk", *market_args("WALK/USDT"), "--folds", "3", "--quiet")
    assert res.code == 0, res
    assert "Verdict: no evidence of edge (out of sample:" in res.out
    assert run("models", "list", "--json").json()[0]["verdict"] == "no evidence of edge"


def _one_line_error(res: Any, needle: str) -> None:
    assert res.code == 2, res
    lines = [ln for ln in res.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res
    assert "Traceback" not in res.err


@pytest.mark.parametrize(("args", "needle"), [
    (["--spec", "nope"], "feature spec 'nope' is neither a file nor a built-in spec"),
    (["--horizon", "5000"], "label horizon of 5000 bars is longer than the data (1000 bars)"),
    (["--model", "sklearn.nope:Foo"], "cannot import module 'sklearn.nope'"),
    (["--model", "tradebot.nope:Model"], "cannot import module 'tradebot.nope'"),
    (["--label", "sign"], "label method must be one of"),
    (["--embargo", "lots"], "--embargo must be a number"),
    (["--cv", "shuffled"], "cv must be one of"),
    (["--jobs", "0"], "--jobs must be a positive number"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_stored(run: Run, home: Path, args: list[str],
                                                          needle: str) -> None:
    cache(home, synthetic_market(1000, 0, False, "WALK/USDT"))
    res = run("train", "--name", "bad", *market_args("WALK/USDT"), "--quiet", *args)
    _one_line_error(res, needle)
    assert not (home / "models").exists()
    assert run("models", "list", "--json").json() == []


def test_too_little_history_and_bad_names_store_nothing(run: Run, home: Path) -> None:
    cache(home, synthetic_market(600, 0, False, "SHORT/USDT"))
    res = run("train", "--name", "short", *market_args("SHORT/USDT"), "--quiet")
    _one_line_error(res, "feature spec 'default' needs at least 651 bars")
    res = run("train", "--name", "../escape", *market_args("SHORT/USDT"), "--quiet")
    _one_line_error(res, "model name '../escape'")
    res = run("train", "--name", "x", *market_args("OTHER/USDT"), "--quiet")
    _one_line_error(res, "no cached candles for synth OTHER/USDT 1h")
    assert not (home / "models").exists()
    assert run("models", "list", "--json").json() == []


def test_tampered_artifact_is_refused(run: Run, home: Path) -> None:
    cache(home, synthetic_market(1500, 3, True, "PLANT/USDT"))
    res = run("train", "--name", "m", *market_args("PLANT/USDT"), "--spec", "minimal", "--folds", "2",
              "--shuffles", "0", "--quiet")
    assert res.code == 0, res
    assert "19 shuffled-label runs" not in res.out and "use --shuffles 19 or more" in res.out
    artifact = home / "models" / "m" / "1.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"\x00")
    for cmd in (["models", "show", "m"], ["models", "show", "m:1", "--json"], ["models", "promote", "m:1"]):
        res = run(*cmd)
        _one_line_error(res, "m:1: artifact")
        assert "refusing to load it" in res.err
    assert run("models", "list", "--json").json()[0]["status"] == "candidate"  # promote changed nothing
    res = run("models", "show", "nope")
    _one_line_error(res, "no model nope in the registry")


def test_every_option_reaches_the_record(run: Run, home: Path, tmp_path: Path) -> None:
    cache(home, synthetic_market(2500, 4, True, "PLANT/USDT"))
    spec = tmp_path / "small.toml"
    spec.write_text('name = "small"\n[[features]]\nkind = "returns"\nperiods = [1, 12, 48]\n'
                    '[[features]]\nkind = "time"\n')
    res = run("train", "--name", "opts", *market_args("PLANT/USDT"), "--spec", spec, "--label", "triple_barrier",
              "--horizon", "24", "--pt", "1.5", "--sl", "1", "--model", "sklearn.tree:DecisionTreeClassifier",
              "--calibration", "sigmoid", "--pca", "0.9", "--folds", "3", "--embargo", "24", "--cv", "walk-forward",
              "--shuffles", "2", "--seed", "3", "--json", "--quiet")
    assert res.code == 0, res
    rec = res.json()
    assert rec["spec_name"] == "small" and len(rec["columns"]) == 7
    assert rec["label"] == {"method": "triple_barrier", "horizon": 24, "profit": 1.5, "stop": 1.0, "atr_period": 14}
    assert rec["model"]["estimator"] == "sklearn.tree:DecisionTreeClassifier"
    assert (rec["model"]["calibration"], rec["model"]["pca"]) == ("sigmoid", 0.9)
    assert (rec["cv"]["scheme"], rec["cv"]["folds"], rec["cv"]["embargo"], rec["cv"]["shuffles"]) == \
        ("walk-forward", 3, 24, 2)
    assert rec["seed"] == 3 and rec["verdict"] == "no evidence of edge"  # 2 shuffles cannot show an edge
    assert "WalkForwardSplit(n_splits=3, expanding, embargo=24)" == rec["scores"]["splitter"]
    res = run("train", "--name", "opts", *market_args("PLANT/USDT"), "--label", "forward", "--dead-zone", "0.002",
              "--spec", "minimal", "--folds", "2", "--shuffles", "0", "--json", "--quiet")
    assert res.code == 0, res
    assert res.json()["label"] == {"method": "forward", "horizon": 12, "dead_zone": 0.002}
    spec.write_text('name = "bad"\n[[features]]\nkind = "rsii"\n')
    res = run("train", "--name", "opts", *market_args("PLANT/USDT"), "--spec", spec, "--quiet")
    _one_line_error(res, "unknown feature 'rsii'; did you mean 'rsi'?")
    assert [r["version"] for r in run("models", "list", "opts", "--json").json()] == [1, 2]


def test_feature_importance_in_the_record_output_and_models_show(run: Run, home: Path) -> None:
    cache(home, synthetic_market(2000, 5, True, "PLANT/USDT"))
    args = ["train", "--name", "imp", *market_args("PLANT/USDT"), "--spec", "minimal", "--model", "rf",
            "--folds", "3", "--shuffles", "0", "--seed", "11"]
    res = run(*args, "--quiet")
    assert res.code == 0, res
    assert "Feature importance, out of sample: top" in res.out and "MDI (in-sample)" in res.out
    shown = run("models", "show", "imp:1")
    assert shown.code == 0 and "Feature importance, out of sample: top" in shown.out
    rec = run("models", "show", "imp:1", "--json").json()
    imp = rec["scores"]["importance"]
    assert imp["scoring"] == "log_loss" and imp["model_measure_kind"] == "mdi"
    assert (imp["n_repeats"], imp["max_rows"], imp["threshold"], imp["seed"]) == (3, 2000, 0.7, 11)
    assert sorted(r["feature"] for r in imp["features"]) == sorted(rec["columns"])
    assert sorted(m for g in imp["groups"] for m in g["members"]) == sorted(rec["columns"])
    assert all({"mda", "mda_sd", "mdi"} <= set(r) for r in imp["features"])
    mdas = [g["mda"] for g in imp["groups"]]
    assert mdas == sorted(mdas, reverse=True) and mdas[0] > 0  # the planted trend is used out of sample
    # the same seed: the same importance; --no-importance: none, and the same scores otherwise
    again = run(*args, "--quiet", "--json").json()
    assert again["scores"]["importance"] == imp
    res = run(*args, "--quiet", "--json", "--no-importance")
    assert res.code == 0, res
    off = res.json()
    assert off["scores"]["importance"] is None
    assert off["scores"]["folds"] == rec["scores"]["folds"]
    assert "Feature importance" not in run("models", "show", "imp:3").out
