"""``tradebot report --model NAME[:VERSION]``: fold table, baselines, verdict, importance,
calibration, ``--json`` and a self-contained ``--html`` page (drawn by headless Chromium)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_report_html import CHROMIUM, assert_self_contained, one_error_line, trace
from tests.cli.test_cli_train import cache, market_args, synthetic_market
from tradebot.analysis.html_page import figures_in

Run = Callable[..., Any]


@pytest.fixture
def trained(run: Run, home: Path) -> dict[str, Any]:
    cache(home, synthetic_market(1500, 5, True, "PLANT/USDT"))
    res = run("train", "--name", "rep", *market_args("PLANT/USDT"), "--spec", "minimal", "--folds", "3",
              "--shuffles", "2", "--tune", "2", "--seed", "4", "--json", "--quiet")
    assert res.code == 0, res
    return res.json()


def test_terminal_and_json_report_of_a_model(run: Run, trained: dict[str, Any]) -> None:
    res = run("report", "--model", "rep")
    assert res.code == 0, res
    for needle in ("Model rep:1 (logreg", "Out of sample, per test fold (purged k-fold, 3 folds",
                   "model against baselines", "shuffled labels (best of 2)", "buy and hold",
                   "Feature importance, out of sample", "Tuning: best 2 of 2 trials",
                   "Calibration of P(up), out of sample", "Verdict: no evidence of edge", "verified"):
        assert needle in res.out, needle
    rep = run("report", "--model", "rep:1", "--json").json()
    assert rep["verdict_line"].startswith("Verdict: no evidence of edge") and rep["challenge_line"] is None
    assert {k: v for k, v in rep.items() if k not in ("verdict_line", "challenge_line")} == \
        run("models", "show", "rep:1", "--json").json() == trained
    cal = rep["scores"]["calibration"]
    bins = cal["bins"]
    assert len(bins) == 10 and bins[0]["low"] == 0.0 and bins[-1]["high"] == 1.0
    # every test-fold sample is in one bin (purged k-fold tests every sample once)
    assert cal["samples"] == sum(b["samples"] for b in bins) == sum(f["test_samples"] for f in rep["scores"]["folds"])
    ups = sum(b["samples"] * b["observed_up"] for b in bins if b["samples"])
    assert ups / cal["samples"] == pytest.approx(cal["base_rate"])
    for b in bins:
        if b["samples"]:
            assert b["low"] <= b["mean_predicted"] <= b["high"]
    gap = sum(b["samples"] * abs(b["observed_up"] - b["mean_predicted"]) for b in bins if b["samples"])
    assert cal["ece"] == pytest.approx(gap / cal["samples"])


def test_html_report_of_a_model(run: Run, trained: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "model.html"
    res = run("report", "--model", "rep", "--html", out)
    assert res.code == 0 and res.out.startswith("Wrote model rep:1 to "), res
    page = out.read_text(encoding="utf-8")
    assert_self_contained(page)
    figs = figures_in(page)
    assert set(figs) == {"folds", "calibration", "importance", "tuning"}
    auc = trace(figs["folds"], "auc")
    assert auc["y"] == pytest.approx([f["auc"] for f in trained["scores"]["folds"]])
    rel = trace(figs["calibration"], "reliability")
    populated = [b for b in trained["scores"]["calibration"]["bins"] if b["samples"]]
    assert rel["y"] == pytest.approx([b["observed_up"] for b in populated])
    assert "Verdict: no evidence of edge" in page and "Calibration table" in page
    if CHROMIUM is not None:
        cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}", "--proxy-server=socks5://127.0.0.1:9",
               "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=20000", "--window-size=1280,4000", "--dump-dom", out.as_uri()]
        env = {**os.environ, "HOME": str(tmp_path)}
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert dom.stdout.count('data-drawn="1"') == len(figs)
        assert [ln for ln in dom.stderr.splitlines() if ":CONSOLE" in ln] == []


BAD = [
    (["--model", "nope"], "no model nope in the registry"),
    (["--model", "rep", "--account", "x"], "--model goes alone"),
    (["--model", "rep:0"], "must be a positive number"),
    (["--model", "rep", "--html", "."], "is a directory"),
    (["--model", "rep", "--html", "x.html", "--json"], "--html and --json: choose one"),
]


def test_bad_model_report_input(run: Run, trained: dict[str, Any], tmp_path: Path) -> None:
    for args, needle in BAD:  # one trained model for every case
        one_error_line(run("report", *args), needle)
    assert not (tmp_path / "cwd" / "x.html").exists()
