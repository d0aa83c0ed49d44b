"""Backtest use case: settings → candles → strategy → engine → metrics → stored run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from tradebot.core.candles import Candles
from tradebot.engine.config import EngineConfig
from tradebot.services.context import Context
from tradebot.services.provenance import candles_sha256, code_version

if TYPE_CHECKING:
    from tradebot.analysis.metrics import Metrics
    from tradebot.core.config import Settings
    from tradebot.data.validation import GapReport
    from tradebot.engine.result import BacktestResult
    from tradebot.strategies.base import Strategy

Progress = Callable[[str], None]

SIM_SOURCE = "sim"


@dataclass(frozen=True)
class BacktestOutcome:
    """Everything one backtest produced; ``run_id`` is None when not saved."""

    run_id: int | None
    report: dict[str, Any]
    result: BacktestResult
    metrics: Metrics
    strategy: Strategy
    candles: Candles
    data_sha256: str


def engine_config(settings: Settings) -> EngineConfig:
    """The engine's execution rules from the settings."""
    atr = settings.slippage.mode == "atr"
    fixed = settings.sizing.mode == "fixed_amount"
    risk = settings.risk
    ex = settings.execution
    return EngineConfig(
        initial_capital=settings.backtest.initial_capital,
        maker_fee=settings.fees.maker,
        taker_fee=settings.fees.taker,
        slippage_bps=settings.slippage.bps,
        slippage_atr_mult=settings.slippage.atr_mult if atr else 0.0,
        atr_period=settings.slippage.atr_period,
        latency_bars=ex.latency_bars,
        sizing=settings.sizing.mode,
        size_value=settings.sizing.amount if fixed else settings.sizing.fraction,
        stop_loss_pct=settings.stops.stop_loss_pct,
        take_profit_pct=settings.stops.take_profit_pct,
        trailing_stop_pct=settings.stops.trailing_stop_pct,
        allow_short=settings.market.market_type == "futures",
        risk_pct=settings.sizing.risk_pct,
        risk_atr_mult=settings.sizing.atr_mult,
        kelly_fraction=settings.sizing.kelly_fraction,
        max_fraction=settings.sizing.max_fraction,
        min_trades=settings.sizing.min_trades,
        max_position_fraction=risk.max_position_fraction,
        max_trades_per_day=risk.max_trades_per_day,
        max_daily_loss=risk.max_daily_loss,
        max_drawdown_pct=risk.max_drawdown_pct,
        flatten_on_breaker=risk.flatten_on_breaker,
        breaker_cooldown_bars=risk.breaker_cooldown_bars,
        cooldown_after_losses=risk.cooldown_after_losses,
        cooldown_bars=risk.cooldown_bars,
        entry_order=ex.entry_order,
        exit_order=ex.exit_order,
        limit_offset_bps=ex.limit_offset_bps,
        stop_offset_bps=ex.stop_offset_bps,
        stop_limit_offset_bps=ex.stop_limit_offset_bps,
        order_ttl_bars=ex.order_ttl_bars,
        spread_bps=ex.spread_bps,
        impact_coef=ex.impact_coef,
        max_volume_share=ex.max_volume_share,
        touch_fill_prob=ex.touch_fill_prob,
        fill_seed=ex.fill_seed,
    )


def load_market(ctx: Context, since_ms: int | None, until_ms: int | None) -> Candles:
    """Candles of the configured market, resolved by :func:`tradebot.services.market.resolve_market`
    (the cache, or the built-in ``sim`` market only when asked for or nothing was given on an
    empty cache); ``source`` on the returned candles says which."""
    from tradebot.services.market import load_candles, resolve_market

    return load_candles(ctx, resolve_market(ctx), since_ms, until_ms)


def _data_source_label(candles: Candles, seed: int) -> str:
    if candles.source == SIM_SOURCE:
        return f"sim: built-in synthetic market (seed {seed})"
    return f"cache: {candles.meta.get('path', '')}"


#: execution settings at their defaults (market orders filled at the next open, no matching)
_EXECUTION_DEFAULTS = {"entry_order": "market", "exit_order": "market", "limit_offset_bps": 0.0,
                       "stop_offset_bps": 0.0, "stop_limit_offset_bps": 0.0, "order_ttl_bars": 0,
                       "spread_bps": 0.0, "impact_coef": 0.0, "max_volume_share": None,
                       "touch_fill_prob": 1.0, "fill_seed": 0}


def execution_summary(execution: Mapping[str, Any]) -> dict[str, Any]:
    """The order-execution settings a run used: latency plus whatever differs from the
    plain market-order defaults (so a report shows when order matching was on)."""
    out = {"latency_bars": execution.get("latency_bars", 1)}
    for key, default in _EXECUTION_DEFAULTS.items():
        if key in execution and execution[key] != default:
            out[key] = execution[key]
    return out


def blocked_summary(blocked: np.ndarray) -> list[dict[str, Any]]:
    """Entries the risk rules refused, counted by reason (most frequent first)."""
    from tradebot.engine.result import BLOCK_REASONS

    if blocked.size == 0:
        return []
    codes, counts = np.unique(blocked["reason"], return_counts=True)
    rows = [{"reason": BLOCK_REASONS.get(int(c), str(int(c))), "count": int(n)}
            for c, n in zip(codes, counts, strict=True)]
    return sorted(rows, key=lambda r: -r["count"])


def trade_rows(trades: np.ndarray, timestamp: np.ndarray) -> list[dict[str, Any]]:
    """TRADE_DTYPE rows as the store's trade dicts (times in ms, reason names)."""
    from tradebot.engine.result import EXIT_REASONS

    tr, ts = trades, timestamp
    return [
        {
            "entry_ts_ms": int(ts[tr["entry_idx"][i]]),
            "exit_ts_ms": int(ts[tr["exit_idx"][i]]),
            "direction": int(tr["direction"][i]),
            "units": float(tr["units"][i]),
            "entry_price": float(tr["entry_price"][i]),
            "exit_price": float(tr["exit_price"][i]),
            "entry_fee": float(tr["entry_fee"][i]),
            "exit_fee": float(tr["exit_fee"][i]),
            "pnl": float(tr["pnl"][i]),
            "return_pct": float(tr["return_pct"][i]),
            "exit_reason": EXIT_REASONS[int(tr["exit_reason"][i])],
        }
        for i in range(tr.shape[0])
    ]


def run_backtest(
    ctx: Context,
    *,
    save: bool = True,
    progress: Progress | None = None,
    include_trades: bool = False,
) -> BacktestOutcome:
    """Run the backtest the settings describe; store it unless ``save`` is False."""
    from tradebot.analysis.metrics import compute_metrics
    from tradebot.analysis.report import build_report
    from tradebot.core.config import settings_to_dict
    from tradebot.engine.backtest import run_strategy

    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    s = ctx.settings
    if save:  # where the run will be stored is checked before the work, not after it
        from tradebot.services.data import check_store_target

        check_store_target(ctx)
    strategy = ctx.registry.create(s.strategy.name, dict(s.strategy.params))
    if getattr(strategy, "uses_model", False):  # the ml strategy: walk-forward by default
        from tradebot.services.ml_backtest import run_ml_backtest

        return run_ml_backtest(ctx, strategy, save=save, progress=progress, include_trades=include_trades)
    step("loading candles")
    candles = load_market(ctx, s.since_ms(), s.until_ms())
    config = engine_config(s)
    step(f"simulating {len(candles):,} bars")
    result = run_strategy(candles, strategy, config)
    step("computing metrics")
    metrics = compute_metrics(result, s.market.timeframe, s.risk.daily_profit_target)
    data_sha = candles_sha256(candles)
    gaps = cast("GapReport | None", candles.meta.get("gap_report"))
    resolved = settings_to_dict(s)
    resolved.pop("home", None)
    resolved.pop("database_url", None)
    resolved["strategy"] = {"name": strategy.name, "params": strategy.parameters}
    gap_info = None if gaps is None else {"count": gaps.gap_count, "missing": gaps.missing}
    resolved["data"] = {"source": _data_source_label(candles, s.seed), "gaps": gap_info}
    if candles.source == SIM_SOURCE:  # a rerun asks for the sim market by name
        resolved["market"]["exchange"] = SIM_SOURCE
    header: dict[str, Any] = {
        "strategy": strategy.name,
        "version": strategy.version,
        "params": strategy.parameters,
        "exchange": candles.exchange or s.market.exchange,
        "symbol": s.market.symbol,
        "timeframe": s.market.timeframe,
        "market_type": s.market.market_type,
        "data_source": _data_source_label(candles, s.seed),
        "rows": len(candles),
        "gaps": gap_info,
        "code_version": code_version(),
        "seed": s.seed,
        "fees": {"maker": s.fees.maker, "taker": s.fees.taker},
        "slippage": {"mode": s.slippage.mode, "bps": s.slippage.bps,
                     "atr_mult": s.slippage.atr_mult},
        "data_sha256": data_sha,
        "preset": s.preset,
        "execution": execution_summary(s.execution.model_dump()),
    }
    run_id = None
    by_regime = regime_section(candles, result)
    if save:
        step("saving run")
        run_id = _save_run(ctx, strategy, candles, result, metrics, resolved, data_sha, by_regime)
        header["run_id"] = run_id
    report = build_report(metrics, header, result.trades if include_trades else None,
                          result.timestamp if include_trades else None)
    report["blocked_entries"] = blocked_summary(result.blocked)
    report["by_regime"] = by_regime
    return BacktestOutcome(run_id, report, result, metrics, strategy, candles, data_sha)


def regime_section(candles: Candles, result: BacktestResult) -> dict[str, Any]:
    """The report's performance-by-regime table (rule-based regimes of the run's candles,
    :mod:`tradebot.analysis.regime_report`)."""
    from tradebot.analysis.regime_report import backtest_regime_table

    return backtest_regime_table(candles, result.equity, result.trades)


def _save_run(ctx: Context, strategy: Strategy, candles: Candles, result: BacktestResult,
              metrics: Metrics, resolved: dict[str, Any], data_sha: str,
              by_regime: dict[str, Any] | None = None) -> int:
    from tradebot.data.repositories import NewRun, RunRepository, StrategyRepository

    s = ctx.settings
    summary = metrics.to_dict()
    daily = summary.pop("daily")
    summary["blocked_entries"] = blocked_summary(result.blocked)
    summary["by_regime"] = regime_section(candles, result) if by_regime is None else by_regime
    new = NewRun(
        strategy_name=strategy.name,
        strategy_version=strategy.version,
        params=strategy.parameters,
        config=resolved,
        exchange=candles.exchange or s.market.exchange,
        symbol=s.market.symbol,
        timeframe=s.market.timeframe,
        data_source=candles.source,
        data_start_ms=int(candles.timestamp[0]),
        data_end_ms=int(candles.timestamp[-1]),
        data_rows=len(candles),
        data_sha256=data_sha,
        code_version=code_version(),
        seed=s.seed,
        metrics=summary,
        trades=[{"seq": i, **t} for i, t in enumerate(trade_rows(result.trades, result.timestamp))],
        daily=[_daily_row(d) for d in metrics.daily],
    )
    del daily
    with ctx.store.session() as session:
        StrategyRepository(session).upsert(strategy.name, strategy.version, strategy.description,
                                           strategy.parameter_schema())
        return RunRepository(session).add(new)


def _daily_row(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"day": d["day"], "equity": d["equity"], "pnl": d["pnl"],
            "return_pct": d["return_pct"], "trades": d["trades"],
            "target_met": bool(d["target_met"])}


# -- stored runs ---------------------------------------------------------------------------
def stored_report(ctx: Context, run_id: int, include_trades: bool = False) -> dict[str, Any]:
    """The report of a stored run, rebuilt from the database alone."""
    from tradebot.analysis.metrics import Metrics
    from tradebot.analysis.report import build_report
    from tradebot.data.repositories import RunRepository

    with ctx.store.session() as session:
        repo = RunRepository(session)
        run = repo.get(run_id)
        trades = repo.trades(run_id) if include_trades else None
        daily = repo.daily(run_id)  # for the PSR and bootstrap intervals
    metrics = Metrics.from_dict({**run.metrics, "daily": daily})
    cfg = run.config
    data = cfg.get("data") or {}
    header = {
        "strategy": run.strategy_name, "version": run.strategy_version, "params": run.params,
        "exchange": run.exchange, "symbol": run.symbol, "timeframe": run.timeframe,
        "market_type": (cfg.get("market") or {}).get("market_type"),
        "data_source": data.get("source", run.data_source), "gaps": data.get("gaps"),
        "rows": run.data_rows, "run_id": run.id, "code_version": run.code_version,
        "seed": run.seed, "fees": cfg.get("fees"), "slippage": cfg.get("slippage"),
        "data_sha256": run.data_sha256, "created_at": run.created_at.isoformat(),
        "preset": cfg.get("preset"),
        "execution": execution_summary(cfg.get("execution") or {}),
    }
    report = build_report(metrics, header)
    report["blocked_entries"] = run.metrics.get("blocked_entries") or []
    report["by_regime"] = run.metrics.get("by_regime")  # None: a run stored before the table
    if trades is not None:
        report["trades"] = [_stored_trade(t) for t in trades]
    return report


def _stored_trade(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored trade row in the shape of a fresh report's trades (no bar indices)."""
    from tradebot.data.validation import format_ts

    direction = row["direction"]
    return {
        "entry_idx": None, "exit_idx": None,
        "entry_time": format_ts(row["entry_ts_ms"]), "exit_time": format_ts(row["exit_ts_ms"]),
        "duration_s": (row["exit_ts_ms"] - row["entry_ts_ms"]) / 1000.0,
        "direction": direction if isinstance(direction, str)
        else ("long" if direction >= 0 else "short"),
        **{k: row[k] for k in ("units", "entry_price", "exit_price", "entry_fee", "exit_fee",
                               "pnl", "return_pct", "exit_reason")},
    }


def list_runs(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
    from tradebot.data.repositories import RunRepository

    with ctx.store.session() as session:
        runs = RunRepository(session).list(limit=limit)
    out = []
    for r in runs:
        row = {k: getattr(r, k) for k in ("id", "created_at", "strategy", "symbol", "timeframe",
                                          "exchange", "data_source") if hasattr(r, k)}
        row.update(r.metrics or {})
        out.append(row)
    return out


@dataclass(frozen=True)
class RerunOutcome:
    run_id: int
    outcome: BacktestOutcome
    differences: list[str]  # empty when the numbers are identical


def rerun(ctx: Context, run_id: int) -> RerunOutcome:
    """Run a stored backtest again from its stored config and data range; compare."""
    from tradebot.core.config import load_settings
    from tradebot.data.repositories import RunRepository

    with ctx.store.session() as session:
        run = RunRepository(session).get(run_id)
    overrides = dict(run.config)
    overrides["home"] = str(ctx.home)
    if ctx.settings.database_url is not None:
        overrides["database_url"] = ctx.settings.database_url
    overrides.pop("exchanges", None)
    overrides.pop("data", None)  # provenance, not settings
    if run.data_source == SIM_SOURCE:  # ran on the sim market (also runs stored before it was named)
        overrides["market"] = {**(overrides.get("market") or {}), "exchange": SIM_SOURCE}
    overrides["backtest"] = dict(overrides.get("backtest") or {})
    # run_backtest always stores the data range; cast only informs the type checker
    overrides["backtest"]["since"] = _iso(cast(int, run.data_start_ms))
    overrides["backtest"]["until"] = _iso(cast(int, run.data_end_ms) + 1)
    settings = load_settings(overrides=overrides, env={})
    sub = Context(settings, ctx.strategy_path)
    sub.__dict__["store"] = ctx.store
    outcome = run_backtest(sub, save=False)
    diffs: list[str] = []
    if outcome.strategy.version != run.strategy_version:
        diffs.append(f"strategy version {run.strategy_version} -> {outcome.strategy.version}")
    if outcome.data_sha256 != run.data_sha256:
        diffs.append("data changed since the run (sha256 differs)")
    new = outcome.metrics.to_dict()
    for key in ("trades", "final_equity", "total_return_pct", "max_drawdown_pct", "sharpe"):
        a, b = run.metrics.get(key), new.get(key)
        if a != b:
            diffs.append(f"{key}: stored {a} vs now {b}")
    return RerunOutcome(run_id, outcome, diffs)


def _iso(ms: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()
