"""Rich rendering of optimization studies (``tradebot optimize`` and ``tradebot report S<id>``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

_COLS = (("sharpe", "Sharpe"), ("sortino", "Sortino"), ("calmar", "Calmar"), ("return_pct", "Return %"),
         ("max_dd_pct", "Max DD %"), ("trades", "Trades"), ("daily_target_share", "Days ≥ target"))


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _metric(m: dict[str, Any], key: str) -> str:
    v = m.get(key)
    if v is None:
        return "-"
    if key == "trades":
        return f"{int(v):,}"
    if key == "daily_target_share":
        return f"{float(v):.0%}"
    return _num(v, 2 if key.endswith("_pct") else 3)


def _day(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _params(p: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={_num(v, 4)}" for k, v in (p or {}).items())


def render_study(rep: dict[str, Any], out: Console) -> None:
    req = rep.get("request") or {}
    out.print(f"[bold]Study S{rep['study_id']}[/] — {rep['strategy']} on {rep['exchange']} {rep['symbol']} "
              f"{rep['timeframe']} ({rep['data_rows']:,} bars, {_day(rep['data_start_ms'])} → "
              f"{_day(rep['data_end_ms'])}); method {rep['method']}, objectives {req.get('objectives')}, "
              f"seed {rep['seed']}, status {rep['status']}, {rep.get('trials', 0)} trials")
    out.print(f"data: {rep['data_source']} · code {rep['code_version']}")
    chosen = rep.get("chosen")
    if chosen:
        out.print(f"\n[bold]Chosen parameters[/] (window {chosen['window'] + 1}): {_params(chosen['params'])}")
        t = Table(title="In-sample vs out-of-sample (chosen parameters)", title_justify="left")
        t.add_column("")
        for _, label in _COLS:
            t.add_column(label, justify="right")
        t.add_row("in-sample", *[_metric(chosen.get("in_sample") or {}, k) for k, _ in _COLS])
        if chosen.get("out_of_sample"):
            t.add_row("out-of-sample", *[_metric(chosen["out_of_sample"], k) for k, _ in _COLS])
        out.print(t)
    wf = rep.get("walk_forward")
    if wf:
        _render_walk_forward(rep, wf, out)
    h = rep.get("honesty")
    if h:
        d, p = h.get("dsr") or {}, h.get("pbo") or {}
        out.print("\n[bold]Overfitting checks[/] (last in-sample window)")
        if "error" in d or d.get("dsr") is None:
            out.print(f"  Deflated Sharpe Ratio: n/a ({d.get('error') or d.get('reason') or 'undefined'})")
        else:
            out.print(f"  Deflated Sharpe Ratio: {_num(d.get('dsr'))} — probability that the chosen daily Sharpe "
                      f"{_num(d.get('sharpe'), 4)} beats the best of {d.get('n_trials')} unskilled trials "
                      f"(expected max {_num(d.get('sharpe0'), 4)}); {d.get('n_obs')} days")
        if "error" in p:
            out.print(f"  Probability of backtest overfitting: n/a ({p['error']})")
        else:
            out.print(f"  Probability of backtest overfitting (CSCV, {p.get('n_partitions')} blocks, "
                      f"{p.get('n_combinations')} splits, {p.get('n_trials')} trials): {_num(p.get('pbo'))}; "
                      f"P(out-of-sample loss) {_num(p.get('prob_oos_loss'))}")
    _render_top(rep, out)
    imp = rep.get("importance")
    if imp:
        out.print("\n[bold]Parameter importance[/] (share of the first objective's variance): "
                  + ", ".join(f"{k} {v:.0%}" for k, v in imp.items()))
    if rep.get("pareto"):
        t = Table(title=f"Pareto front ({len(rep['pareto'])} trials)", title_justify="left")
        t.add_column("#", justify="right")
        t.add_column("parameters")
        t.add_column("scores", justify="right")
        for r in rep["pareto"]:
            t.add_row(str(r["number"]), _params(r["params"]), ", ".join(_num(v) for v in r["scores"]))
        out.print(t)


def _render_walk_forward(rep: dict[str, Any], wf: dict[str, Any], out: Console) -> None:
    t = Table(title="Walk-forward windows", title_justify="left")
    for col in ("#", "in-sample", "out-of-sample", "parameters", "IS Sharpe", "OOS Sharpe", "IS ret %",
                "OOS ret %"):
        t.add_column(col, justify="right" if col not in ("parameters", "in-sample", "out-of-sample") else "left")
    for w in rep.get("windows") or []:
        i, o = w.get("in_sample") or {}, w.get("out_of_sample") or {}
        t.add_row(str(w["window"] + 1), f"{_day(w['is_start_ms'])} → {_day(w['is_end_ms'])}",
                  f"{_day(w['oos_start_ms'])} → {_day(w['oos_end_ms'])}", _params(w["best_params"]),
                  _num(i.get("sharpe")), _num(o.get("sharpe")), _num(i.get("return_pct"), 2),
                  _num(o.get("return_pct"), 2))
    out.print(t)
    s = wf.get("out_of_sample") or {}
    ism = wf.get("in_sample_mean") or {}
    out.print(f"[bold]Stitched out-of-sample[/] ({s.get('days', 0)} days): "
              f"return {_num(s.get('total_return_pct'), 2)} %, "
              f"Sharpe {_num(s.get('sharpe'))}, Sortino {_num(s.get('sortino'))}, max DD (daily closes) "
              f"{_num(s.get('max_dd_pct'), 2)} %, Calmar {_num(s.get('calmar'))}")
    out.print(f"[bold]In-sample[/] (mean of the windows' best): Sharpe {_num(ism.get('sharpe'))}, return "
              f"{_num(ism.get('return_pct'), 2)} %, max DD {_num(ism.get('max_dd_pct'), 2)} %")


def _render_top(rep: dict[str, Any], out: Console) -> None:
    top = rep.get("top") or []
    if not top:
        out.print("\nNo trial had a defined objective (no trades, or every set broke a constraint).")
        return
    t = Table(title="Top trials (in-sample, last window)", title_justify="left")
    t.add_column("#", justify="right")
    t.add_column("parameters")
    t.add_column("score", justify="right")
    for _, label in _COLS:
        t.add_column(label, justify="right")
    for r in top:
        m = r.get("metrics") or {}
        t.add_row(str(r["number"]), _params(r["params"]), ", ".join(_num(v) for v in r["scores"]),
                  *[_metric(m, k) for k, _ in _COLS])
    out.print(t)


def render_study_list(rows: list[dict[str, Any]], out: Console) -> None:
    if not rows:
        out.print("No stored studies. `tradebot optimize -s STRATEGY` runs one.")
        return
    t = Table(title="Studies")
    for col in ("id", "created", "status", "strategy", "method", "market", "objectives", "chosen"):
        t.add_column(col)
    for r in rows:
        t.add_row(f"S{r['study_id']}", r["created_at"][:16], r["status"], r["strategy"], r["method"],
                  f"{r['symbol']} {r['timeframe']}", str(r["objectives"]), _params(r.get("best")))
    out.print(t)
