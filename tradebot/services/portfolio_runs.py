"""Stored portfolio runs: tell them apart, report them from the store alone, re-run them.

A run is a portfolio run when it has ``run_markets`` rows (migration 0007); every other run
is a one-market run and goes through :mod:`tradebot.services.backtest` as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from tradebot.core.pairs import PairList
from tradebot.services.context import Context
from tradebot.services.portfolio_backtest import PortfolioOutcome


def is_portfolio_run(ctx: Context, run_id: int) -> bool:
    from sqlalchemy import select

    from tradebot.data.run_market_models import RunMarket

    with ctx.store.session() as session:
        return session.execute(select(RunMarket.id).where(RunMarket.run_id == run_id).limit(1)).first() is not None


def _markets(ctx: Context, run_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from sqlalchemy import select

    from tradebot.data.base import TradeColumns
    from tradebot.data.run_market_models import RunMarket, RunMarketTrade

    fields = [k for k in vars(TradeColumns) if not k.startswith("_")]
    with ctx.store.session() as session:
        markets = [{"seq": m.seq, "symbol": m.symbol, "data_source": m.data_source,
                    "data_start_ms": m.data_start_ms, "data_end_ms": m.data_end_ms,
                    "data_rows": m.data_rows, "data_sha256": m.data_sha256, "metrics": m.metrics}
                   for m in session.scalars(select(RunMarket).where(RunMarket.run_id == run_id)
                                            .order_by(RunMarket.seq))]
        trades = [{"seq": t.seq, "pair": t.symbol, **{k: getattr(t, k) for k in fields}}
                  for t in session.scalars(select(RunMarketTrade).where(RunMarketTrade.run_id == run_id)
                                           .order_by(RunMarketTrade.seq))]
    return markets, trades


def stored_portfolio_report(ctx: Context, run_id: int, include_trades: bool = False) -> dict[str, Any]:
    """The report of a stored portfolio run, rebuilt from the database alone: the whole
    portfolio's metrics, the per-pair table, exposure by asset and correlation as stored."""
    from tradebot.data.repositories import RunRepository
    from tradebot.services.backtest import _stored_trade, stored_report

    report = stored_report(ctx, run_id)
    markets, trades = _markets(ctx, run_id)
    with ctx.store.session() as session:
        run = RunRepository(session).get(run_id)
    stored = (run.metrics or {}).get("portfolio") or {}
    pairs = [m["metrics"] for m in markets]
    report["per_pair"] = pairs
    report["portfolio"] = {"symbols": [m["symbol"] for m in markets], "pairs": pairs,
                           "exposure": stored.get("exposure"), "correlation": stored.get("correlation")}
    report["summary"].pop("portfolio", None)
    data = (run.config.get("data") or {})
    report["header"]["pairs"] = [m["symbol"] for m in markets]
    report["header"]["pairlist"] = data.get("pairlist")
    pair_params = (run.config.get("portfolio") or {}).get("pair_params")
    if pair_params:  # optimize --per-pair: each pair's strategy parameters
        report["header"]["pair_params"] = pair_params
    report["header"]["markets"] = [{k: m[k] for k in ("symbol", "data_start_ms", "data_end_ms", "data_rows",
                                                      "data_sha256")} for m in markets]
    if include_trades:
        report["trades"] = [{**_stored_trade(t), "pair": t["pair"]} for t in trades]
    return report


@dataclass(frozen=True)
class PortfolioRerun:
    run_id: int
    outcome: PortfolioOutcome
    differences: list[str]  # empty when the numbers are identical


def rerun_portfolio(ctx: Context, run_id: int) -> PortfolioRerun:
    """Run a stored portfolio backtest again from its stored config, pairs and data range;
    compare the whole portfolio's and each pair's numbers."""
    from tradebot.core.config import load_settings
    from tradebot.data.repositories import RunRepository
    from tradebot.services.backtest import _iso
    from tradebot.services.portfolio_backtest import run_portfolio_backtest

    with ctx.store.session() as session:
        run = RunRepository(session).get(run_id)
    markets, _ = _markets(ctx, run_id)
    overrides = dict(run.config)
    overrides["home"] = str(ctx.home)
    if ctx.settings.database_url is not None:
        overrides["database_url"] = ctx.settings.database_url
    overrides.pop("exchanges", None)
    overrides.pop("data", None)
    overrides["backtest"] = dict(overrides.get("backtest") or {})
    overrides["backtest"]["since"] = _iso(cast(int, run.data_start_ms))
    overrides["backtest"]["until"] = _iso(cast(int, run.data_end_ms) + 1)
    settings = load_settings(overrides=overrides, env={})
    sub = Context(settings, ctx.strategy_path)
    sub.__dict__["store"] = ctx.store
    pairs = PairList(tuple(m["symbol"] for m in markets), f"run {run_id}")
    outcome = run_portfolio_backtest(sub, pairs, save=False)
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
    fresh = {r["pair"]: r for r in outcome.report["per_pair"]}
    for m in markets:
        old, now = m["metrics"], fresh.get(m["symbol"], {})
        for key in ("trades", "profit"):
            if old.get(key) != now.get(key):
                diffs.append(f"{m['symbol']} {key}: stored {old.get(key)} vs now {now.get(key)}")
    return PortfolioRerun(run_id, outcome, diffs)
