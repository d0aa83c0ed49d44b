"""Backtest of the ``ml`` strategy: walk-forward out of sample by default, in-sample on request.

:func:`run_ml_backtest` is what :func:`tradebot.services.backtest.run_backtest` runs for a
strategy that trades a registry model. The model named by the strategy's ``model``
parameter is resolved (champion or version; sha256, symbol and timeframe checked) and its
version pinned in the run's parameters, so ``report ID --rerun`` repeats the same recipe.

* default, **walk-forward**: the record's recipe is retrained every ``retrain_every`` bars
  on the preceding window (:mod:`tradebot.ml.walkforward`); the engine runs once over the
  bars after the first training window, which is all the equity curve covers.
* ``in_sample`` (``--in-sample``): the stored model predicts every bar as it is. Where the
  range overlaps the model's training data the run is labelled ``IN-SAMPLE`` in every
  output: the header's ``sample`` field, the data-source line the terminal, JSON, stored
  run and HTML report all show, and the CLI's banner.

Everything else (fees, slippage, stops, sizing, risk rules, the stored run) is the plain
backtest's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from tradebot.services.backtest import (
    BacktestOutcome,
    Progress,
    _data_source_label,
    _save_run,
    blocked_summary,
    engine_config,
    execution_summary,
    load_market,
    regime_section,
)
from tradebot.services.context import Context
from tradebot.services.provenance import candles_sha256, code_version

if TYPE_CHECKING:
    from tradebot.data.validation import GapReport
    from tradebot.strategies.base import Strategy

IN_SAMPLE = "IN-SAMPLE"
OUT_OF_SAMPLE = "out of sample"


def run_ml_backtest(ctx: Context, strategy: Strategy, *, save: bool = True, progress: Progress | None = None,
                    include_trades: bool = False) -> BacktestOutcome:
    from tradebot.analysis.metrics import compute_metrics
    from tradebot.analysis.report import build_report
    from tradebot.core.config import settings_to_dict
    from tradebot.engine.backtest import run_signals
    from tradebot.ml.evaluate import buy_and_hold
    from tradebot.ml.walkforward import WalkForwardSettings, walk_forward
    from tradebot.services.ml_models import resolve_model

    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    s = ctx.settings
    p = strategy.parameters
    wf_settings = WalkForwardSettings(int(p["retrain_every"]), int(p["train_window"]), p["window"] == "rolling")
    if save:
        from tradebot.services.data import check_store_target

        check_store_target(ctx)
    model = resolve_model(ctx, str(p["model"]), symbol=s.market.symbol, timeframe=s.market.timeframe)
    strategy.bind(model)  # type: ignore[attr-defined]
    strategy.set_parameters({"model": model.ref})  # the version is pinned in the stored run
    step("loading candles")
    candles = load_market(ctx, s.since_ms(), s.until_ms())
    n = len(candles)
    ts = candles.timestamp
    others = None
    if model.spec.symbols:  # other symbols' columns: their candles over the same span
        from tradebot.services.market import resolve_market
        from tradebot.services.train import other_symbols

        others = other_symbols(ctx, resolve_market(ctx), model.spec, candles)
    ml: dict[str, Any] = {"model": model.ref, "model_sha256": model.sha256, "model_verdict": model.verdict,
                          "trained_on": {"start_ms": model.data_start_ms, "end_ms": model.data_end_ms}}
    if p["in_sample"]:
        step(f"predicting {n:,} bars with the stored model {model.ref}")
        proba = model.predict(candles, others=others)
        first = 0
        overlap = model.overlaps(int(ts[0]), int(ts[-1]))
        sample = IN_SAMPLE if overlap else OUT_OF_SAMPLE
        ml["mode"] = "stored model, no retraining"
        what = (f"{IN_SAMPLE}: model {model.ref} as stored, on a range that overlaps its own training data"
                if overlap else f"{OUT_OF_SAMPLE}: model {model.ref} as stored, on bars after its training data")
    else:
        step(f"walk-forward: retraining {model.ref}'s recipe ({model.model.get('model')}, spec "
             f"{model.spec.name}) on {n:,} bars")
        wf = walk_forward(candles, model.spec, model.label_settings(), model.model_settings(), model.seed,
                          wf_settings, progress, others)
        proba, first = wf.proba, wf.first_test
        sample = OUT_OF_SAMPLE
        ml["mode"] = "walk-forward"
        ml["walk_forward"] = {**wf.summary(), "blocks_detail": [b.to_dict() for b in wf.blocks]}
        what = (f"{OUT_OF_SAMPLE} (walk-forward: retrained every {wf.retrain_every} bars on the "
                f"{'last ' + str(wf.train_window) if wf.rolling else 'preceding'} bars; equity from bar "
                f"{wf.first_test})")
    ml["sample"] = sample
    oos = candles.slice(first, n)
    config = engine_config(s)
    ind = {k: v[first:] for k, v in model.indicators(candles, proba).items()}
    signals = strategy.signals_from(oos, ind)
    step(f"simulating {len(oos):,} bars")
    result = run_signals(oos, signals, config)
    if model.is_meta:  # the base strategy it filters, alone over the same bars and costs
        from tradebot.core.signals import Signals
        from tradebot.ml.meta import describe

        alone = run_signals(oos, Signals(ind["base_entries"], ind["base_exits"]), config)
        ml["meta"] = {"base": describe(model.label),
                      "base_alone_return_pct": float(alone.equity[-1] / config.initial_capital - 1.0) * 100.0
                      if alone.equity.size else 0.0, "base_alone_trades": int(alone.trades.shape[0])}
        what += (f"; meta model: {ml['meta']['base']} filtered by {model.ref} (the base strategy alone: "
                 f"{ml['meta']['base_alone_return_pct']:+.2f}% in {ml['meta']['base_alone_trades']} trades)")
    metrics = compute_metrics(result, s.market.timeframe, s.risk.daily_profit_target)
    bh = buy_and_hold(candles, first, n - 1, config) if len(oos) >= 2 else None
    ml["buy_and_hold_return_pct"] = None if bh is None else bh.total_return * 100.0
    ml["traded_bars"] = len(oos)
    ml["predicted_bars"] = int(np.isfinite(proba[first:]).sum())
    data_sha = candles_sha256(candles)
    source = f"{what} · {_data_source_label(candles, s.seed)}"
    gaps = cast("GapReport | None", candles.meta.get("gap_report"))
    gap_info = None if gaps is None else {"count": gaps.gap_count, "missing": gaps.missing}
    resolved = settings_to_dict(s)
    resolved.pop("home", None)
    resolved.pop("database_url", None)
    resolved["strategy"] = {"name": strategy.name, "params": strategy.parameters}
    resolved["data"] = {"source": source, "gaps": gap_info, "ml": ml}  # "data" is provenance, not settings
    if candles.source == "sim":
        resolved["market"]["exchange"] = "sim"
    header: dict[str, Any] = {
        "strategy": strategy.name, "version": strategy.version, "params": strategy.parameters,
        "exchange": candles.exchange or s.market.exchange, "symbol": s.market.symbol,
        "timeframe": s.market.timeframe, "market_type": s.market.market_type, "data_source": source,
        "rows": n, "gaps": gap_info, "code_version": code_version(), "seed": s.seed,
        "fees": {"maker": s.fees.maker, "taker": s.fees.taker},
        "slippage": {"mode": s.slippage.mode, "bps": s.slippage.bps, "atr_mult": s.slippage.atr_mult},
        "data_sha256": data_sha, "preset": s.preset, "execution": execution_summary(s.execution.model_dump()),
        "sample": sample, "ml": ml,
    }
    by_regime = regime_section(oos, result)  # over the traded (out-of-sample) bars
    run_id = None
    if save:
        step("saving run")
        # the run list shows the stored source: an in-sample run says so there too
        stored = replace(candles, source=f"{candles.source} {IN_SAMPLE}") if sample == IN_SAMPLE else candles
        run_id = _save_run(ctx, strategy, stored, result, metrics, resolved, data_sha, by_regime)
        header["run_id"] = run_id
    report = build_report(metrics, header, result.trades if include_trades else None,
                          result.timestamp if include_trades else None)
    report["blocked_entries"] = blocked_summary(result.blocked)
    report["by_regime"] = by_regime
    return BacktestOutcome(run_id, report, result, metrics, strategy, candles, data_sha)
