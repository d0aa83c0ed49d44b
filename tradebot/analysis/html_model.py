"""The HTML page of a trained model (``tradebot report --model NAME[:VERSION] --html FILE``),
from its registry record: the verdict, the out-of-sample fold table and baselines, the
reliability diagram, feature importance, the tuning trials and the champion/challenger
comparison. Every number on it is out of sample unless labelled otherwise."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from tradebot.analysis.html_charts import BLUE, GREY, RED
from tradebot.analysis.html_page import Page, table

__all__ = ["model_page"]

ORANGE = "#f08c00"


def _day(ms: int | None) -> str:
    if ms is None:
        return "–"
    return dt.datetime.fromtimestamp(int(ms) / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def folds_figure(folds: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Each test fold's AUC (0.5: no skill) and its return beside buy and hold."""
    from plotly.subplots import make_subplots

    labels = [f"fold {f['fold']}" for f in folds]
    fig = make_subplots(rows=1, cols=2)
    fig.add_trace(go.Bar(x=labels, y=[f.get("auc") for f in folds], name="AUC", marker={"color": BLUE},
                         meta={"role": "auc"}), row=1, col=1)
    fig.add_hline(y=0.5, line={"color": GREY, "dash": "dot"}, row=1, col=1)
    fig.add_trace(go.Bar(x=labels, y=[f.get("return") for f in folds], name="model", marker={"color": ORANGE},
                         meta={"role": "return"}), row=1, col=2)
    fig.add_trace(go.Bar(x=labels, y=[f.get("buy_hold_return") for f in folds], name="buy and hold",
                         marker={"color": GREY}, meta={"role": "buy_hold"}), row=1, col=2)
    fig.update_yaxes(title_text="ROC AUC (0.5: no skill)", row=1, col=1)
    fig.update_yaxes(title_text="return, after costs", tickformat=".0%", row=1, col=2)
    return fig


def reliability_figure(cal: Mapping[str, Any]) -> go.Figure:
    """Mean predicted P(up) against the observed share of "up", per bin (size: samples)."""
    rows = [b for b in cal["bins"] if b["samples"]]
    biggest = max((b["samples"] for b in rows), default=1)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line={"color": GREY, "dash": "dot"}, meta={"role": "diagonal"}))
    fig.add_trace(go.Scatter(
        x=[b["mean_predicted"] for b in rows], y=[b["observed_up"] for b in rows], mode="lines+markers",
        name="model (out of sample)", line={"color": RED},
        marker={"size": [8 + 22 * b["samples"] / biggest for b in rows], "color": RED},
        text=[f"{b['samples']:,} samples in [{b['low']:.1f}, {b['high']:.1f})" for b in rows],
        meta={"role": "reliability"}))
    fig.update_xaxes(title_text="mean predicted P(up)", range=[0, 1])
    fig.update_yaxes(title_text="observed share of up", range=[0, 1])
    return fig


def importance_figure(groups: Sequence[Mapping[str, Any]], top: int = 15) -> go.Figure:
    rows = list(groups[:top])[::-1]
    names = [", ".join(g["members"][:3]) + (f" (+{len(g['members']) - 3})" if len(g["members"]) > 3 else "")
             for g in rows]
    fig = go.Figure(go.Bar(x=[g.get("mda") for g in rows], y=names, orientation="h", marker={"color": BLUE},
                           error_x={"type": "data", "array": [g.get("mda_sd") or 0.0 for g in rows]},
                           meta={"role": "mda"}))
    fig.update_xaxes(title_text="MDA: rise of the test folds' log loss when permuted")
    return fig


def tuning_figure(tuning: Mapping[str, Any]) -> go.Figure:
    trials = tuning["trials"]
    fig = go.Figure(go.Scatter(x=[t["number"] + 1 for t in trials], y=[t["log_loss"] for t in trials],
                               mode="markers", marker={"color": BLUE}, name="trial", meta={"role": "trials"},
                               text=[", ".join(f"{k}={v}" for k, v in t["params"].items()) for t in trials]))
    best = next(t for t in trials if t["number"] == tuning["best_trial"])
    fig.add_trace(go.Scatter(x=[best["number"] + 1], y=[best["log_loss"]], mode="markers", name="chosen",
                             marker={"color": RED, "size": 12}, meta={"role": "chosen"}))
    fig.update_xaxes(title_text="trial")
    fig.update_yaxes(title_text="mean test-fold log loss")
    return fig


def model_page(rec: Mapping[str, Any], verdict_text: str, challenge_text: str | None) -> str:
    """The whole page of one model record (as ``tradebot models show --json`` prints it)."""
    ref = f"{rec['name']}:{rec['version']}"
    scores = rec["scores"]
    page = Page(f"Model {ref}", f"{rec['model'].get('model')} on {rec['exchange']} {rec['symbol']} "
                f"{rec['timeframe']}, {_day(rec['data_start_ms'])} to {_day(rec['data_end_ms'])} "
                f"({rec['data_rows']:,} bars, {rec['samples']:,} samples); status {rec['status']}")
    page.section("Verdict", f"<p><b>{_esc(verdict_text)}</b></p>"
                 + (f"<p>{_esc(challenge_text)}</p>" if challenge_text else ""))
    page.section("Model", table([
        ("model", rec["model"].get("estimator")), ("parameters", rec["model"].get("params") or "defaults"),
        ("labels", rec["label"]), ("cross-validation", rec["cv"]),
        ("feature spec", f"{rec['spec_name']} ({rec['spec_sha256'][:12]}), {len(rec['columns'])} columns"),
        ("configurations tried (trials)", rec.get("trials", 1)), ("seed", rec["seed"]),
        ("data sha256", rec["data_sha256"][:16]), ("artifact sha256", rec["artifact_sha256"][:16]),
        ("created", rec["created_at"]), ("libraries", rec["libraries"])]))
    folds = scores["folds"]
    page.figure("folds", "Out of sample, per test fold", folds_figure(folds), height=340)
    page.section("Out of sample, per test fold (trading through the engine with fees and slippage)", table(
        [(f["fold"], _day(f["start_ms"]), _day(f["end_ms"]), f["train_samples"], f["test_samples"], f["log_loss"],
          f["auc"], f["balanced_accuracy"], f["brier"], _pct(f["return"]), f["trades"], _pct(f["buy_hold_return"]))
         for f in folds],
        ["fold", "test from", "to", "train", "test", "log loss", "AUC", "bal. acc", "Brier", "return", "trades",
         "buy & hold"]))
    sm = scores["summary"]
    m, maj, sh, bh = sm["model"], sm["majority"], sm["shuffled"], sm["buy_hold"]
    base = [("model", m["auc"], m["log_loss"], m["brier"], _pct(m["return"])),
            ("majority class", maj["auc"], maj["log_loss"], maj["brier"], None)]
    if sh["runs"]:
        base.append((f"shuffled labels (mean of {sh['runs']})", sh["auc_mean"], sh["log_loss_mean"], None,
                     _pct(sh["return_mean"])))
        base.append((f"shuffled labels (best of {sh['runs']})", sh["auc_max"], None, None, _pct(sh["return_max"])))
    base.append(("buy and hold", None, None, None, _pct(bh["return"])))
    page.section("Out of sample, model against baselines", table(base, ["", "AUC", "log loss", "Brier", "return"]))
    cal = scores.get("calibration")
    if cal and cal.get("samples"):
        page.figure("calibration", f"Calibration (reliability) of the test folds' P(up): ECE {cal['ece']:.3f}",
                    reliability_figure(cal), height=380)
        page.section("Calibration table", table(
            [(f"[{b['low']:.1f}, {b['high']:.1f})", b["samples"], b["mean_predicted"], b["observed_up"])
             for b in cal["bins"]], ["P(up) bin", "samples", "mean predicted", "observed up"]))
    else:
        page.missing.append("calibration table: not stored with this model (trained before it was recorded)")
    imp = scores.get("importance")
    if imp and imp.get("groups"):
        page.figure("importance", "Feature importance, out of sample (grouped MDA, mean and sd over folds)",
                    importance_figure(imp["groups"]), height=60 + 24 * min(15, len(imp["groups"])))
    tuning = rec.get("tuning")
    if tuning:
        page.figure("tuning", f"Tuning: {tuning['n_trials']} trials ({tuning['objective']})",
                    tuning_figure(tuning), height=320)
        page.note(f"The chosen trial was picked on the same folds the fold table reports; the verdict's "
                  f"Deflated Sharpe Ratio deflates for all {tuning['n_trials']} trials.")
    if rec["cv"].get("scheme") == "purged":
        page.note("Purged k-fold: each fold is unseen by its model, but the models of early folds were trained "
                  "on later data; walk-forward trains on the past only.")
    return page.render()


def _pct(x: Any) -> str | None:
    import math

    return None if x is None or not math.isfinite(float(x)) else f"{float(x):+.2%}"


def _esc(text: str) -> str:
    import html

    return html.escape(text)
