"""`tradebot select`: evaluate a strategy selector walk-forward against its baselines, store
it, show it again.

:func:`evaluate_selector` checks everything it is given before any work or write (method,
regime count, candidates, window against the data), builds the out-of-sample record of every
candidate (:mod:`tradebot.ml.select.record`), takes the method's choice per window
(:mod:`tradebot.ml.select.model`), runs the selector and every baseline through the engine on
the same windows (:mod:`tradebot.ml.select.evaluate`), gives the verdict
(:mod:`tradebot.ml.select.verdict`) and stores it all in one transaction
(:mod:`tradebot.data.selector_models`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import UsageError
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.engine.config import EngineConfig
    from tradebot.ml.regime.settings import RegimeSettings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SelectorOutcome:
    evaluation_id: int | None
    report: dict[str, Any]
    choices: np.ndarray


def switch_cost(ctx: Context, config: EngineConfig) -> float:
    """The return a switch must promise: the configured fraction, or (``auto``) one round
    trip's taker fees, slippage and half-spreads."""
    cost = ctx.settings.selector.switch.cost
    if cost != "auto":
        return float(cost)
    one_way = config.taker_fee + config.slippage_bps / 10_000.0 + config.spread_bps / 20_000.0
    return 2.0 * one_way


def regime_settings(count: int | None) -> RegimeSettings:
    from tradebot.ml.regime.rules import check_rules
    from tradebot.ml.regime.settings import RegimeSettings, check_count, default_names

    s = RegimeSettings(names=default_names(check_count(4 if count is None else count)))
    try:
        check_rules(s)
    except UsageError as e:
        raise UsageError(f"--regimes {count}: {e}") from e
    return s


def evaluate_selector(ctx: Context, specs: Sequence[str] | None = None, *, window: str | None = None,
                      method: str | None = None, seed: int | None = None, min_train_windows: int | None = None,
                      regimes: int | None = None, save: bool = True,
                      progress: Progress | None = None) -> SelectorOutcome:
    """Evaluate the selector over the configured market; store it unless ``save`` is False.
    ``specs``/``window``/``method``/``seed``/``min_train_windows`` default to ``[selector]``."""
    from tradebot.ml.select.candidates import candidate_signals, resolve_candidates
    from tradebot.ml.select.evaluate import evaluate
    from tradebot.ml.select.model import check_method, model_choices, walk_forward_choices
    from tradebot.ml.select.record import parse_window, record_from_equities, window_bounds
    from tradebot.ml.select.verdict import selector_verdict, verdict_line
    from tradebot.services.backtest import engine_config, load_market
    from tradebot.services.provenance import candles_sha256, code_version

    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    s = ctx.settings
    sel = s.selector
    method = check_method(method or sel.method)
    rsettings = regime_settings(regimes)
    seed = int(seed if seed is not None else (sel.seed if sel.seed is not None else s.seed))
    min_train = int(min_train_windows if min_train_windows is not None else sel.min_train_windows)
    if min_train < 1:
        raise UsageError(f"--min-train-windows {min_train}: must be at least 1")
    window_text = str(window if window is not None else sel.window)
    window_bars = parse_window(window_text, s.market.timeframe)
    given = list(specs) if specs else list(sel.candidates)
    if save:
        from tradebot.services.data import check_store_target

        check_store_target(ctx)
    candidates = resolve_candidates(ctx, given)
    step("loading candles")
    candles = load_market(ctx, s.since_ms(), s.until_ms())
    n = len(candles)
    if window_bars > n:
        raise UsageError(f"--window {window_text} ({window_bars} bars) is longer than the data ({n} bars)")
    bounds = window_bounds(n, window_bars)
    if bounds.shape[0] < min_train + 2:
        raise UsageError(f"--window {window_text}: {bounds.shape[0]} window(s) of {window_bars} bars in {n} bars; "
                         f"the selector needs at least min_train_windows + 2 = {min_train + 2}")
    config = engine_config(s)
    cost = switch_cost(ctx, config)
    step(f"signals of {len(candidates)} candidates")
    signals = [candidate_signals(ctx, c, candles) for c in candidates]
    step(f"the out-of-sample record: {len(candidates)} candidates x {bounds.shape[0]} windows")
    from tradebot.engine.backtest import run_signals

    results = [run_signals(candles, sig, config) for sig in signals]
    record = record_from_equities(candles, [c.name for c in candidates], np.vstack([r.equity for r in results]),
                                  bounds, config.initial_capital, rsettings)
    step(f"choosing per window ({method})")
    predictions: list[Any] = []
    if method == "model":
        choices = model_choices(record, seed=seed, switch_cost=cost, min_train_windows=min_train,
                                predictions=predictions)
    else:
        choices = walk_forward_choices(record, method, seed=seed, switch_cost=cost, min_train_windows=min_train)
    step("running the selector and its baselines")
    lines, selector_line = evaluate(candles, signals, results, record, choices, min_train, config,
                                    method=method, seed=seed)
    from tradebot.core.timeframes import timeframe_ms
    from tradebot.ml.select.model import methods

    per_year = 365 * 86_400_000 / (window_bars * timeframe_ms(s.market.timeframe))
    rows = [ln.metrics(per_year) for ln in lines]
    cand_lines = [ln for ln in lines if ln.kind == "candidate"]
    blend = next(ln for ln in lines if ln.kind == "blend")
    verdict = selector_verdict(selector_line, cand_lines, blend, n_methods=len(methods()), seed=seed)
    data_sha = candles_sha256(candles)
    counts = np.bincount(choices[min_train:], minlength=len(candidates))
    report: dict[str, Any] = {
        "method": method, "seed": seed, "window": window_text, "window_bars": window_bars,
        "min_train_windows": min_train, "switch_cost": cost,
        "market": {"exchange": candles.exchange or s.market.exchange, "symbol": s.market.symbol,
                   "timeframe": s.market.timeframe, "source": candles.source, "rows": n,
                   "start_ms": int(candles.timestamp[0]), "end_ms": int(candles.timestamp[-1]),
                   "data_sha256": data_sha},
        "windows": {"total": int(bounds.shape[0]), "evaluated": int(bounds.shape[0] - min_train),
                    "first_evaluated_ms": int(record.starts_ms[min_train])},
        "candidates": [{**c.to_dict(), "windows_chosen": int(counts[i])} for i, c in enumerate(candidates)],
        "lines": rows, "verdict": verdict, "verdict_line": verdict_line(verdict),
        "choices": [{"window": w, "start_ms": int(record.starts_ms[w]), "index": int(ch),
                     "candidate": candidates[int(ch)].name} for w, ch in enumerate(choices)],
        "code_version": code_version(), "evaluation_id": None,
    }
    evaluation_id = None
    if save:
        evaluation_id = _store(ctx, report, record, choices, config, rsettings, predictions)
        report["evaluation_id"] = evaluation_id
    return SelectorOutcome(evaluation_id, report, choices)


def _store(ctx: Context, report: dict[str, Any], record: Any, choices: np.ndarray, config: EngineConfig,
           rsettings: RegimeSettings, predictions: list[Any]) -> int:
    from dataclasses import asdict

    from tradebot.data.selector_models import SelectorRepository

    m = report["market"]
    rec = {"names": list(record.names), "bounds": record.bounds.tolist(), "starts_ms": record.starts_ms.tolist(),
           "returns": [[float(v) for v in row] for row in record.returns],
           "feature_names": list(record.feature_names),
           "predictions": predictions or None}
    cfg = {"engine": config.to_dict(), "switch_cost": report["switch_cost"],
           "regime": {k: v for k, v in asdict(rsettings).items() if k != "extra"}}
    with ctx.store.session() as session:
        return SelectorRepository(session).add(
            method=report["method"], seed=report["seed"], window=report["window"],
            window_bars=report["window_bars"], min_train_windows=report["min_train_windows"],
            candidates=report["candidates"], config=_jsonable(cfg), exchange=m["exchange"], symbol=m["symbol"],
            timeframe=m["timeframe"], data_source=m["source"], data_start_ms=m["start_ms"],
            data_end_ms=m["end_ms"], data_rows=m["rows"], data_sha256=m["data_sha256"],
            code_version=report["code_version"], record=rec, choices=[int(c) for c in choices],
            report=_jsonable(report))


def _jsonable(x: Any) -> Any:
    import json

    return json.loads(json.dumps(x, default=lambda v: v.item() if hasattr(v, "item") else list(v)
                                 if isinstance(v, tuple | np.ndarray) else str(v)))


def selector_report(ctx: Context, evaluation_id: int | None = None) -> dict[str, Any]:
    """The stored report of evaluation ``evaluation_id`` (the latest when None), with its
    choices per window."""
    from tradebot.data.selector_models import SelectorRepository
    from tradebot.services.data import read_store_if_missing

    read_store_if_missing(ctx)
    with ctx.store.session() as session:
        repo = SelectorRepository(session)
        if evaluation_id is None:
            rows = repo.latest(1)
            if not rows:
                raise UsageError("no selector evaluations in the store (run tradebot select evaluate)")
            row = rows[0]
        else:
            row = repo.get(evaluation_id)
        report = dict(row.report)
        report["evaluation_id"] = row.id
        report["created_at"] = row.created_at.isoformat()
        return report


def list_selectors(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
    from tradebot.data.selector_models import SelectorRepository
    from tradebot.services.data import read_store_if_missing

    read_store_if_missing(ctx)
    with ctx.store.session() as session:
        out = []
        for row in SelectorRepository(session).latest(limit):
            lines = {ln["kind"]: ln for ln in row.report.get("lines", [])}
            out.append({"evaluation_id": row.id, "created_at": row.created_at.isoformat(), "method": row.method,
                        "seed": row.seed, "window": row.window, "symbol": row.symbol, "timeframe": row.timeframe,
                        "candidates": len(row.candidates),
                        "return_pct": (lines.get("selector") or {}).get("return_pct"),
                        "verdict": (row.report.get("verdict") or {}).get("verdict")})
        return out
