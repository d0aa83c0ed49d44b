"""What a study concluded, rebuilt from the stored trials: the choice, in-sample against
out-of-sample, the Deflated Sharpe Ratio, the probability of backtest overfitting,
parameter importance, and the export of the chosen parameters as a preset."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import UsageError
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.data.study_repository import StoredTrial, StudyRepository

DAYS_PER_YEAR = 365.0
TOP = 10


def _f(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def stitched_oos(returns: list[np.ndarray], day_ms: list[np.ndarray], initial: float) -> dict[str, Any]:
    """The out-of-sample windows chained: each starts from the equity the previous ended at."""
    r = np.concatenate(returns) if returns else np.zeros(0)
    ms = np.concatenate(day_ms) if day_ms else np.zeros(0, dtype=np.int64)
    equity = initial * np.cumprod(1.0 + r)
    out: dict[str, Any] = {"days": int(r.size)}
    if r.size == 0:
        return out
    peak = np.maximum.accumulate(np.concatenate([[initial], equity]))[1:]
    max_dd = float(np.max(1.0 - equity / peak))
    sd = r.std(ddof=1) if r.size > 1 else 0.0
    down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    growth = equity[-1] / initial
    cagr = growth ** (DAYS_PER_YEAR / r.size) - 1.0 if growth > 0 else -1.0
    out.update({
        "total_return_pct": (growth - 1.0) * 100.0,
        "profit": equity[-1] - initial,
        "sharpe": _f(r.mean() / sd * math.sqrt(DAYS_PER_YEAR)) if sd > 1e-12 else None,
        "sortino": _f(r.mean() / down * math.sqrt(DAYS_PER_YEAR)) if down > 1e-12 else None,
        "max_dd_pct": max_dd * 100.0,
        "calmar": _f(cagr / max_dd) if max_dd > 0 else None,
        "equity": [[int(t), float(e)] for t, e in zip(ms, equity, strict=True)],
    })
    return out


def importance(trials: list[StoredTrial], names: list[str]) -> dict[str, float]:
    """Main-effect share of each parameter in the first objective's variance (η², the
    between-group variance over the total), normalized to sum to 1 over the parameters.

    Numeric parameters are cut into at most ``n / 5`` quantile bins (10 at most) so that a
    group holds several trials; with fewer than 10 feasible trials nothing is estimated."""
    ok = [t for t in trials if np.isfinite(t.scores[0])]
    if len(ok) < 10:
        return {}
    y = np.array([t.scores[0] for t in ok])
    total = float(np.var(y))
    bins = max(2, min(10, len(ok) // 5))
    raw: dict[str, float] = {}
    for name in names:
        vals = [t.params.get(name) for t in ok]
        if len({repr(v) for v in vals}) < 2 or total <= 0:
            raw[name] = 0.0
            continue
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals) and len(set(vals)) > bins:
            x = np.asarray(vals, dtype=float)
            edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
            groups = np.searchsorted(edges[1:-1], x, side="right")
        else:
            _, groups = np.unique(np.array([repr(v) for v in vals]), return_inverse=True)
        between = sum((groups == g).sum() * (y[groups == g].mean() - y.mean()) ** 2
                      for g in np.unique(groups)) / y.size
        raw[name] = float(between / total)
    s = sum(raw.values())
    return {k: (v / s if s > 0 else 0.0) for k, v in sorted(raw.items(), key=lambda kv: -kv[1])}


def honesty(trials: list[StoredTrial], chosen: int) -> dict[str, Any]:
    """Deflated Sharpe Ratio of the chosen trial and PBO (CSCV) over the window's trials."""
    from tradebot.optimize.overfit import deflated_sharpe_ratio, pbo_cscv, sharpe_per_period

    out: dict[str, Any] = {"n_trials": len(trials)}
    rets = [t.daily_returns for t in trials]
    srs = np.array([sharpe_per_period(r) for r in rets])
    try:
        d = deflated_sharpe_ratio(rets[chosen], srs)
        out["dsr"] = {"dsr": _f(d.dsr), "sharpe": _f(d.sharpe), "sharpe0": _f(d.sharpe0),
                      "n_trials": d.n_trials, "n_obs": d.n_obs, "skew": _f(d.skew),
                      "kurtosis": _f(d.kurtosis), "annualized_sharpe": _f(d.sharpe * math.sqrt(DAYS_PER_YEAR))}
        if d.reason:
            out["dsr"]["reason"] = d.reason
    except UsageError as e:
        out["dsr"] = {"error": str(e)}
    feasible = [i for i, t in enumerate(trials) if np.isfinite(t.scores).all() and t.daily_returns.size]
    lengths = {trials[i].daily_returns.size for i in feasible}
    if len(feasible) < 2 or len(lengths) != 1:
        out["pbo"] = {"error": "needs at least 2 trials with a defined objective"}
        return out
    matrix = np.column_stack([trials[i].daily_returns for i in feasible])
    partitions = 16 if matrix.shape[0] >= 32 else max(2, (matrix.shape[0] // 2) // 2 * 2)
    try:
        p = pbo_cscv(matrix, n_partitions=partitions)
        out["pbo"] = {"pbo": _f(p.pbo), "n_combinations": p.n_combinations, "n_partitions": p.n_partitions,
                      "n_trials": len(feasible), "prob_oos_loss": _f(p.prob_oos_loss)}
    except UsageError as e:
        out["pbo"] = {"error": str(e)}
    return out


def _trial_row(t: StoredTrial) -> dict[str, Any]:
    return {"number": t.number, "params": t.params, "scores": [_f(v) for v in t.scores], "metrics": t.metrics,
            "error": t.error}


def summarize(repo: StudyRepository, study_id: int, walk_forward: bool, initial: float) -> dict[str, Any]:
    """The study's conclusions, from the store alone (also used by the report)."""
    from tradebot.data.study_repository import unblob
    from tradebot.optimize.pareto import pareto_front

    study = repo.get(study_id)
    windows = repo.windows(study_id)
    if not windows:
        return {}
    last = windows[-1]
    trials = repo.trials(study_id, last.window)
    scores = np.array([t.scores for t in trials])
    order = [i for i in np.argsort(-scores[:, 0], kind="stable") if np.isfinite(scores[i]).all()]
    summary: dict[str, Any] = {
        "objectives": study.request.get("objectives"),
        "chosen": {"window": last.window, "number": last.best_number, "params": last.best_params,
                   "in_sample": last.is_metrics, "out_of_sample": last.oos_metrics},
        "trials": repo.count_trials(study_id),
        "top": [_trial_row(trials[i]) for i in order[:TOP]],
        "honesty": honesty(trials, last.best_number),
        "importance": importance(trials, list(study.space.get("names") or trials[0].params.keys())),
        "windows": [{"window": w.window, "is_start_ms": w.is_start_ms, "is_end_ms": w.is_end_ms,
                     "oos_start_ms": w.oos_start_ms, "oos_end_ms": w.oos_end_ms, "best_params": w.best_params,
                     "in_sample": w.is_metrics, "out_of_sample": w.oos_metrics} for w in windows],
    }
    if scores.shape[1] > 1:
        summary["pareto"] = [_trial_row(trials[i]) for i in pareto_front(scores)]
    if walk_forward:
        summary["walk_forward"] = {
            "out_of_sample": stitched_oos([unblob(w.oos_daily_returns) for w in windows],
                                          [unblob(w.oos_daily_ms, "<i8") for w in windows], initial),
            "in_sample_mean": {k: _mean([w.is_metrics.get(k) for w in windows])
                               for k in ("sharpe", "sortino", "calmar", "return_pct", "max_dd_pct")},
            "out_of_sample_mean": {k: _mean([(w.oos_metrics or {}).get(k) for w in windows])
                                   for k in ("sharpe", "sortino", "calmar", "return_pct", "max_dd_pct")},
        }
    return summary


def _mean(values: list[Any]) -> float | None:
    v = [float(x) for x in values if x is not None]
    return sum(v) / len(v) if v else None


def parse_study_id(text: str) -> int:
    """``S12``, ``s12`` or ``12`` → 12."""
    t = str(text).strip()
    if t[:1] in ("S", "s"):
        t = t[1:]
    if not t.isdigit():
        raise UsageError(f"study id {text!r}: expected S<number>, e.g. S3")
    return int(t)


def study_report(ctx: Context, study_id: int) -> dict[str, Any]:
    from tradebot.data.study_repository import StudyRepository

    with ctx.store.session() as session:
        repo = StudyRepository(session)
        s = repo.get(study_id)
        summary = dict(s.summary or {})
        if not summary:  # interrupted: what is stored so far
            trials = repo.trials(study_id)
            ok = sorted((t for t in trials if np.isfinite(t.scores[0])), key=lambda t: -t.scores[0])
            summary = {"trials": len(trials), "top": [_trial_row(t) for t in ok[:TOP]]}
        return {
            "study_id": s.id, "status": s.status, "strategy": s.strategy_name, "method": s.method,
            "seed": s.seed, "request": s.request, "space": s.space, "exchange": s.exchange, "symbol": s.symbol,
            "timeframe": s.timeframe, "data_source": s.data_source, "data_start_ms": s.data_start_ms,
            "data_end_ms": s.data_end_ms, "data_rows": s.data_rows, "data_sha256": s.data_sha256,
            "code_version": s.code_version, "created_at": s.created_at.isoformat(), **summary,
        }


def list_studies(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
    from tradebot.data.study_repository import StudyRepository

    with ctx.store.session() as session:
        return [{"study_id": s.id, "created_at": s.created_at.isoformat(), "status": s.status,
                 "strategy": s.strategy_name, "method": s.method, "symbol": s.symbol, "timeframe": s.timeframe,
                 "objectives": s.request.get("objectives"),
                 "best": ((s.summary or {}).get("chosen") or {}).get("params")}
                for s in StudyRepository(session).latest(limit)]


#: engine parameter → (settings section, key)
_ENGINE_KEYS = {"stop_loss_pct": ("stops", "stop_loss_pct"), "take_profit_pct": ("stops", "take_profit_pct"),
                "trailing_stop_pct": ("stops", "trailing_stop_pct"), "size_value": ("sizing", "fraction"),
                "risk_pct": ("sizing", "risk_pct"), "kelly_fraction": ("sizing", "kelly_fraction")}


def check_preset_name(name: str) -> None:
    """Refuse a name that cannot be a user preset (checked before a study runs)."""
    from tradebot.core.presets import bundled_presets, valid_preset_name

    if not valid_preset_name(name):
        raise UsageError(f"--export-preset {name!r}: use letters, digits, '-' and '_' only")
    if name in bundled_presets():
        raise UsageError(f"--export-preset {name!r}: that is a bundled preset; choose another name")


def export_preset(ctx: Context, study_id: int, name: str) -> Path:
    """Write the study's chosen parameters as ``$TRADEBOT_HOME/presets/NAME.toml``."""
    from tradebot.core.atomic import atomic_write_bytes
    from tradebot.optimize.space import SearchSpace

    check_preset_name(name)
    rep = study_report(ctx, study_id)
    chosen = (rep.get("chosen") or {}).get("params")
    if not chosen:
        raise UsageError(f"study S{study_id} has no chosen parameters yet (status {rep['status']}); "
                         f"finish it with tradebot optimize --resume S{study_id}")
    space = SearchSpace.from_dict(rep["space"])
    strat, engine = space.split(dict(chosen))
    sizing_mode = ((rep["request"] or {}).get("extra") or {}).get("sizing_mode")
    lines = [f"# exported from study S{study_id} ({rep['strategy']}, {rep['method']}, "
             f"objectives {rep['request'].get('objectives')}, seed {rep['seed']}, code {rep['code_version']})",
             "", "[strategy]", f"name = {_toml(rep['strategy'])}", "", "[strategy.params]"]
    lines += [f"{k} = {_toml(v)}" for k, v in strat.items()]
    sections: dict[str, dict[str, Any]] = {}
    for k, v in engine.items():
        sec, key = _ENGINE_KEYS[k]
        if k == "size_value" and sizing_mode == "fixed_amount":
            key = "amount"
        sections.setdefault(sec, {})[key] = v
    for sec, kv in sections.items():
        lines += ["", f"[{sec}]"] + [f"{k} = {_toml(v)}" for k, v in kv.items()]
    path = ctx.home / "presets" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'
