"""The HTML page of an optimizer study, from :func:`tradebot.services.study_report.study_report`:
the Pareto front (several objectives), parameter importance, the walk-forward windows (in-sample
against out-of-sample) and the stitched out-of-sample equity, the top trials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from tradebot.analysis.html_charts import BLUE, GREY, RED, line_figure
from tradebot.analysis.html_page import Page, table

__all__ = ["objectives_of", "study_page"]

ORANGE = "#f08c00"


def objectives_of(rep: Mapping[str, Any]) -> list[str]:
    obj = rep.get("objectives") or (rep.get("request") or {}).get("objectives") or "objective"
    if isinstance(obj, str):
        return [o.strip() for o in obj.split(",") if o.strip()]
    return [str(o) for o in obj]


def _hover(t: Mapping[str, Any], names: Sequence[str]) -> str:
    scores = ", ".join(f"{n} {s:.3f}" if s is not None else f"{n} –"
                       for n, s in zip(names, t.get("scores") or [], strict=False))
    params = ", ".join(f"{k}={v}" for k, v in (t.get("params") or {}).items())
    return f"trial {t.get('number')}: {scores}<br>{params}"


def pareto_figure(rep: Mapping[str, Any], names: Sequence[str]) -> go.Figure:
    """The top trials and the Pareto front over the first two objectives."""
    fig = go.Figure()
    for rows, label, color, size, role in ((rep.get("top") or [], "top trials", GREY, 8, "top"),
                                           (rep.get("pareto") or [], "Pareto front", RED, 11, "pareto")):
        pts = sorted((r for r in rows if len(r.get("scores") or []) >= 2
                      and None not in r["scores"][:2]), key=lambda r: r["scores"][0])
        fig.add_trace(go.Scatter(
            x=[r["scores"][0] for r in pts], y=[r["scores"][1] for r in pts], name=label,
            mode="markers+lines" if role == "pareto" else "markers",
            line={"color": color, "dash": "dot", "width": 1}, marker={"color": color, "size": size},
            text=[_hover(r, names) for r in pts], hoverinfo="text", meta={"role": role}))
    fig.update_xaxes(title_text=names[0])
    fig.update_yaxes(title_text=names[1])
    return fig


def importance_figure(imp: Mapping[str, float]) -> go.Figure:
    items = sorted(imp.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                           marker={"color": BLUE}, meta={"role": "importance"},
                           text=[f"{v:.0%}" for _, v in items], textposition="auto"))
    fig.update_xaxes(title_text="share of the first objective's variance explained", tickformat=".0%")
    return fig


def windows_figure(windows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Each window's in-sample and out-of-sample span on a time line."""
    fig = go.Figure()
    for key, name, color in (("is", "in-sample", BLUE), ("oos", "out-of-sample", ORANGE)):
        ws = [w for w in windows if w.get(f"{key}_start_ms") is not None]  # no test span without walk-forward
        labels = [f"window {w['window']}" for w in ws]
        starts = [float(w[f"{key}_start_ms"]) for w in ws]
        spans = [float(w[f"{key}_end_ms"]) - float(w[f"{key}_start_ms"]) for w in ws]
        fig.add_trace(go.Bar(base=starts, x=spans, y=labels, orientation="h", name=name,
                             marker={"color": color}, meta={"role": key}))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(type="date")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def windows_metric_figure(windows: Sequence[Mapping[str, Any]], metric: str) -> go.Figure:
    """One metric per window, in-sample beside out-of-sample."""
    labels = [f"window {w['window']}" for w in windows]
    fig = go.Figure()
    for key, name, color in (("in_sample", "in-sample", BLUE), ("out_of_sample", "out-of-sample", ORANGE)):
        fig.add_trace(go.Bar(x=labels, y=[(w.get(key) or {}).get(metric) for w in windows], name=name,
                             marker={"color": color}, meta={"role": f"{key}_{metric}"}))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=metric)
    return fig


def _top_table(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    if not rows:
        return "none"
    pkeys = list((rows[0].get("params") or {}).keys())
    mkeys = [k for k in ("return_pct", "max_dd_pct", "sharpe", "trades") if k in (rows[0].get("metrics") or {})]
    body = [[r.get("number"), *[(r.get("params") or {}).get(k) for k in pkeys], *(r.get("scores") or []),
             *[(r.get("metrics") or {}).get(k) for k in mkeys]] for r in rows]
    return table(body, ["trial", *pkeys, *names, *mkeys])


def _conclusions(rep: Mapping[str, Any]) -> list[tuple[str, Any]]:
    chosen = rep.get("chosen") or {}
    hon = rep.get("honesty") or {}
    dsr = hon.get("dsr") or {}
    pbo = hon.get("pbo") or {}
    rows: list[tuple[str, Any]] = [("Chosen parameters", chosen.get("params")), ("Trial", chosen.get("number"))]
    for key, label in (("in_sample", "in-sample"), ("out_of_sample", "out-of-sample")):
        m = chosen.get(key) or {}
        for k in ("return_pct", "sharpe", "max_dd_pct", "trades"):
            if k in m:
                rows.append((f"{label} {k}", m[k]))
    rows.append(("Deflated Sharpe Ratio", dsr.get("dsr", dsr.get("error"))))
    rows.append(("Probability of backtest overfitting", pbo.get("pbo", pbo.get("error"))))
    return rows


def study_page(rep: Mapping[str, Any], notes: Sequence[str] = ()) -> str:
    names = objectives_of(rep)
    rows = rep.get("data_rows")
    page = Page(f"Study S{rep['study_id']}: {rep['strategy']} on {rep['symbol']} {rep['timeframe']}",
                f"{rep['method']} search, objectives {', '.join(names)} · {rep.get('trials')} trials · "
                f"status {rep['status']} · {rows if rows is not None else '?'} bars ({rep.get('data_source')})")
    page.notes += list(notes)
    figure_notes: list[str] = []
    if not rep.get("windows"):
        page.missing.append(f"study S{rep['study_id']} has no finished window (status {rep['status']}): "
                            "only its best trials so far are shown")
    if len(names) > 1:
        if rep.get("pareto"):
            page.figure("pareto", f"Pareto front: {names[0]} against {names[1]} (top trials grey)",
                        pareto_figure(rep, names), 420)
            if len(names) > 2:
                page.note(f"the Pareto front is drawn over the first two objectives; {', '.join(names[2:])} "
                          "are in each point's hover text")
        else:
            page.missing.append("no Pareto front stored for this study")
    if rep.get("importance"):
        page.figure("importance", "Parameter importance", importance_figure(rep["importance"]), 300)
    elif rep.get("windows"):
        page.note("parameter importance needs at least 10 trials with a defined objective")
    windows = rep.get("windows") or []
    if windows:
        page.figure("windows", "Walk-forward windows: in-sample and out-of-sample spans", windows_figure(windows),
                    120 + 28 * len(windows))
        page.figure("windows_return", "Return % per window: in-sample against out-of-sample",
                    windows_metric_figure(windows, "return_pct"), 320)
        page.figure("windows_sharpe", "Sharpe per window: in-sample against out-of-sample",
                    windows_metric_figure(windows, "sharpe"), 320)
    oos = (rep.get("walk_forward") or {}).get("out_of_sample") or {}
    if oos.get("equity"):
        eq = np.asarray(oos["equity"], dtype=np.float64)
        page.figure("oos_equity", f"Stitched out-of-sample equity ({oos.get('total_return_pct', 0):+.2f} %, "
                                  f"max drawdown {oos.get('max_dd_pct', 0):.2f} %, per day)",
                    line_figure(eq[:, 0].astype(np.int64), eq[:, 1], "out-of-sample equity", "equity",
                                figure_notes), 320)
    page.section("Top trials", _top_table(rep.get("top") or [], names))
    blocks = [("Conclusion", table(_conclusions(rep)))]
    wf = rep.get("walk_forward") or {}
    if wf:
        keys = ("return_pct", "sharpe", "sortino", "calmar", "max_dd_pct")
        blocks.append(("Walk-forward means", table(
            [(k, (wf.get("in_sample_mean") or {}).get(k), (wf.get("out_of_sample_mean") or {}).get(k)) for k in keys],
            ["metric", "in-sample", "out-of-sample"])))
    blocks.append(("Study", table([("Strategy", rep["strategy"]), ("Method", rep["method"]), ("Seed", rep["seed"]),
                                   ("Market", f"{rep['exchange']} {rep['symbol']} {rep['timeframe']}"),
                                   ("Data", rep.get("data_source")), ("Data SHA-256", rep.get("data_sha256")),
                                   ("Code version", rep.get("code_version")), ("Created", rep.get("created_at"))])))
    page.tables("Conclusion", blocks)
    page.notes += figure_notes
    return page.render()
