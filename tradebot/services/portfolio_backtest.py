"""Portfolio backtest: a pair list -> candles of every pair -> one strategy per market ->
the portfolio engine (one wallet) -> metrics of the whole portfolio, the per-pair table,
exposure and correlation -> one stored run.

Everything is checked before any work or write: the pair list (not empty, one quote
currency), every pair cached at the run's timeframe (a pair cached only at another
timeframe is named as such), the portfolio rules (``max_open_positions`` >= 1, the stake).
The stored run is a ``backtest_runs`` row (``symbol``: the pairs joined by commas;
``config["portfolio"]``: the rules and the pair list used, with a dynamic list's details)
plus one ``run_markets`` row per pair and its trades in ``run_market_trades``, written in
one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import DataValidationError, UsageError
from tradebot.core.pairs import PairList, parse_stake
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.analysis.metrics import Metrics
    from tradebot.core.config import Settings
    from tradebot.engine.portfolio import AlignedMarkets, PortfolioConfig, PortfolioResult
    from tradebot.strategies.base import Strategy

Progress = Callable[[str], None]
SIM = "sim"


@dataclass(frozen=True)
class PortfolioOutcome:
    """Everything one portfolio backtest produced; ``run_id`` is None when not saved."""

    run_id: int | None
    report: dict[str, Any]
    result: PortfolioResult
    metrics: Metrics
    strategy: Strategy
    pairs: PairList
    candles: tuple[Candles, ...]
    data_sha256: str


def portfolio_config(settings: Settings, n_pairs: int) -> PortfolioConfig:
    """The engine's portfolio rules from ``[portfolio]`` (``max_open_positions`` defaults to
    one slot per pair)."""
    from tradebot.engine.portfolio import PortfolioConfig

    p = settings.portfolio
    stake, amount = parse_stake(p.stake)
    slots = p.max_open_positions if p.max_open_positions is not None else n_pairs
    return PortfolioConfig(max_open_positions=slots, stake=stake, stake_amount=amount, rank=p.rank)


def check_pairs_cached(ctx: Context, pairs: PairList) -> None:
    """Every pair cached at the run's timeframe (sim: nothing to check); else a one-line
    UsageError naming the first pair that is not, and the timeframes it is cached at."""
    from tradebot.services.market import MarketNotCachedError, not_cached_message

    m = ctx.settings.market
    if m.exchange.strip().lower() == SIM:
        return
    entries = None
    for sym in pairs.symbols:
        if ctx.cache.exists(m.exchange, sym, m.timeframe):
            continue
        if entries is None:
            entries = [e for e in ctx.cache.scan() if not e.error and e.exchange == m.exchange]
        other = sorted({e.timeframe for e in entries if e.symbol == sym})
        if other:
            raise UsageError(
                f"pairs on different timeframes: {sym} is cached at {', '.join(other)}, not "
                f"{m.timeframe} (one portfolio runs on one timeframe; fetch it with `tradebot fetch "
                f"{m.exchange} {sym} -t {m.timeframe}` or choose --timeframe)")
        raise MarketNotCachedError(f"pair {sym}: " + not_cached_message(ctx, m.exchange, sym, m.timeframe))


def load_pairs(ctx: Context, pairs: PairList, since_ms: int | None, until_ms: int | None) -> tuple[Candles, ...]:
    """Each pair's candles in ``[since_ms, until_ms)`` (the cache, or the sim market)."""
    from tradebot.services.market import Market, load_candles

    m = ctx.settings.market
    sim = m.exchange.strip().lower() == SIM
    check_pairs_cached(ctx, pairs)
    out = []
    for sym in pairs.symbols:
        try:
            out.append(load_candles(ctx, Market(SIM if sim else m.exchange, sym, m.timeframe, sim),
                                    since_ms, until_ms))
        except DataValidationError as e:
            raise DataValidationError(f"pair {sym}: {e}") from e
    return tuple(out)


def check_rank(strategy: Strategy, rank: str) -> None:
    """``rank = "score"`` needs a strategy with a ``score_for(candles)`` method."""
    if rank == "score" and getattr(strategy, "score_for", None) is None:
        raise UsageError(f"--rank score: strategy {strategy.name!r} provides no score (a "
                         "score_for(candles) method); use --rank signal or --rank order")


def strategy_scores(strategy: Strategy, aligned: AlignedMarkets, rank: str) -> np.ndarray | None:
    """The (n_markets, n_bars) score array of ``rank = "score"``: the strategy's
    ``score_for(candles)`` per market, on the union timeline (NaN where no candle)."""
    if rank != "score":
        return None
    check_rank(strategy, rank)
    fn = strategy.score_for  # type: ignore[attr-defined]
    out = np.full((aligned.n_markets, aligned.n_bars), np.nan)
    for m in range(aligned.n_markets):
        out[m, aligned.present[m]] = np.asarray(fn(aligned.candles(m)), dtype=np.float64)
    return out


def pair_strategies(ctx: Context, pairs: PairList) -> tuple[Strategy, ...]:
    """One strategy per pair: ``[strategy.params]`` with ``[portfolio.pair_params]`` of that
    pair on top (``optimize --per-pair``). A pair_params entry for a pair not in the list, or
    a parameter the strategy refuses, is a one-line error naming it."""

    s = ctx.settings
    extra = dict(s.portfolio.pair_params)
    unknown = sorted(set(extra) - set(pairs.symbols))
    if unknown:
        raise UsageError(f"portfolio.pair_params: {unknown[0]} is not in the pair list "
                         f"({', '.join(pairs.symbols)})")
    base = dict(s.strategy.params)
    out = []
    for sym in pairs.symbols:
        try:
            out.append(ctx.registry.create(s.strategy.name, {**base, **extra.get(sym, {})}))
        except UsageError as e:
            if sym not in extra:
                raise
            raise UsageError(f"portfolio.pair_params {sym}: {e}") from None
    return tuple(out)


def market_scores(strategies: tuple[Strategy, ...], aligned: AlignedMarkets, rank: str) -> np.ndarray | None:
    """:func:`strategy_scores` with one strategy per market."""
    if rank != "score":
        return None
    out = np.full((aligned.n_markets, aligned.n_bars), np.nan)
    for m, strategy in enumerate(strategies):
        one = strategy_scores(strategy, aligned, rank)
        assert one is not None
        out[m] = one[m]
    return out


def combined_sha256(candles: tuple[Candles, ...], symbols: tuple[str, ...]) -> str:
    """One fingerprint of every pair's candles, in pair order."""
    from tradebot.services.provenance import candles_sha256

    h = hashlib.sha256()
    for sym, c in zip(symbols, candles, strict=True):
        h.update(sym.encode() + b"\0" + candles_sha256(c).encode())
    return h.hexdigest()


def simulate(candles: tuple[Candles, ...], pairs: PairList, strategy: Strategy, settings: Settings,
             strategies: tuple[Strategy, ...] | None = None) -> tuple[AlignedMarkets, PortfolioResult]:
    """Align the pairs, compute each market's signals on its own candles (with its own
    strategy when ``strategies`` gives one per pair), run the portfolio."""
    from tradebot.engine.portfolio import align, run_portfolio
    from tradebot.services.backtest import engine_config

    aligned = align(list(candles), pairs.symbols)
    pcfg = portfolio_config(settings, len(pairs.symbols))
    per = strategies if strategies is not None else (strategy,) * len(candles)
    signals = [st.signals_for(c) for st, c in zip(per, candles, strict=True)]
    scores = market_scores(per, aligned, pcfg.rank)
    return aligned, run_portfolio(aligned, signals, engine_config(settings), pcfg, scores)


def whole_result(result: PortfolioResult, aligned: AlignedMarkets) -> Any:
    """The portfolio as one BacktestResult for the usual metrics: its equity, every trade
    (ordered by exit bar, then booking order) and an equal-weight buy-and-hold index as
    the 'close' of the buy-and-hold comparison."""
    from tradebot.analysis.portfolio_report import equal_weight_index, forward_fill
    from tradebot.engine.result import BacktestResult

    order = np.argsort(result.trades["exit_idx"], kind="stable") if result.trades.size else np.zeros(0, int)
    index = equal_weight_index(forward_fill(aligned.close))
    return BacktestResult(result.timestamp, index, result.equity, result.trades[order],
                          result.initial_capital)


def blocked_rows(result: PortfolioResult) -> list[dict[str, Any]]:
    """Entries refused, counted by reason (risk rules, no free slot, no cash)."""
    from tradebot.engine.result import BLOCK_REASONS

    names = {**BLOCK_REASONS, 4: "max_open_positions", 5: "no_cash"}
    b = result.blocked
    if b.size == 0:
        return []
    codes, counts = np.unique(b["reason"], return_counts=True)
    rows = [{"reason": names.get(int(c), str(int(c))), "count": int(n)} for c, n in zip(codes, counts, strict=True)]
    return sorted(rows, key=lambda r: -r["count"])


def run_portfolio_backtest(ctx: Context, pairs: PairList, *, save: bool = True,
                           progress: Progress | None = None,
                           include_trades: bool = False) -> PortfolioOutcome:
    """Run the portfolio backtest the settings describe over ``pairs``; store it unless
    ``save`` is False. Every check happens before the work and the write."""
    from tradebot.analysis.metrics import compute_metrics
    from tradebot.analysis.report import build_report
    from tradebot.core.config import settings_to_dict
    from tradebot.services.backtest import execution_summary
    from tradebot.services.provenance import code_version

    def step(msg: str) -> None:
        if progress is not None:
            progress(msg)

    s = ctx.settings
    portfolio_config(s, len(pairs.symbols))  # the rules, checked first
    if save:
        from tradebot.services.data import check_store_target

        check_store_target(ctx)
    strategy = ctx.registry.create(s.strategy.name, dict(s.strategy.params))
    check_rank(strategy, s.portfolio.rank)
    per_pair = pair_strategies(ctx, pairs)
    pair_params = {sym: st.parameters for sym, st in zip(pairs.symbols, per_pair, strict=True)
                   if sym in s.portfolio.pair_params}
    step("loading candles")
    candles = load_pairs(ctx, pairs, s.since_ms(), s.until_ms())
    bars = sum(len(c) for c in candles)
    step(f"simulating {bars:,} bars over {len(candles)} markets")
    aligned, result = simulate(candles, pairs, strategy, s, per_pair)
    step("computing metrics")
    whole = whole_result(result, aligned)
    metrics = compute_metrics(whole, s.market.timeframe, s.risk.daily_profit_target)
    section = _section(result, aligned)
    data_sha = combined_sha256(candles, pairs.symbols)
    resolved = settings_to_dict(s)
    resolved.pop("home", None)
    resolved.pop("database_url", None)
    resolved["strategy"] = {"name": strategy.name, "params": strategy.parameters}
    # the pair list that was used, as a static list (a rerun trades the same pairs)
    resolved["portfolio"] = {**resolved.get("portfolio", {}), "pairs": list(pairs.symbols),
                             "pairs_file": None, "pair_params": pair_params}
    resolved["portfolio"]["pairlist"] = {**resolved["portfolio"].get("pairlist", {}), "method": "static"}
    sim = candles[0].source == SIM
    source = f"sim: built-in synthetic market (seed {s.seed})" if sim else "cache"
    resolved["data"] = {"source": source, "pairlist": pairs.to_dict()}
    if sim:
        resolved["market"]["exchange"] = SIM
    header: dict[str, Any] = {
        "strategy": strategy.name, "version": strategy.version, "params": strategy.parameters,
        "exchange": SIM if sim else s.market.exchange, "symbol": ",".join(pairs.symbols),
        "timeframe": s.market.timeframe, "market_type": s.market.market_type,
        "data_source": source, "rows": aligned.n_bars, "code_version": code_version(),
        "seed": s.seed, "fees": {"maker": s.fees.maker, "taker": s.fees.taker},
        "slippage": {"mode": s.slippage.mode, "bps": s.slippage.bps, "atr_mult": s.slippage.atr_mult},
        "data_sha256": data_sha, "preset": s.preset,
        "execution": execution_summary(s.execution.model_dump()),
        "pairs": list(pairs.symbols), "pairlist": pairs.to_dict(),
        "portfolio_rules": _rules(s, len(pairs.symbols)),
    }
    if pair_params:
        header["pair_params"] = pair_params
    run_id = None
    if save:
        step("saving run")
        run_id = _save(ctx, strategy, pairs, candles, result, metrics, section, resolved, data_sha, sim)
        header["run_id"] = run_id
    report = build_report(metrics, header)
    report["per_pair"] = section["pairs"]
    report["portfolio"] = section
    report["blocked_entries"] = blocked_rows(result)
    if include_trades:
        report["trades"] = _trade_dicts(result)
    return PortfolioOutcome(run_id, report, result, metrics, strategy, pairs, candles, data_sha)


def _rules(s: Settings, n_pairs: int) -> dict[str, Any]:
    p = portfolio_config(s, n_pairs)
    return {"max_open_positions": p.max_open_positions, "stake": s.portfolio.stake, "rank": p.rank}


def _section(result: PortfolioResult, aligned: AlignedMarkets) -> dict[str, Any]:
    from tradebot.analysis.portfolio_report import portfolio_section

    per = result.per_market
    position = np.vstack([r.position for r in per]) if per else np.zeros((0, aligned.n_bars))
    contribution = np.vstack([r.equity for r in per]) if per else None
    by_market = result.trades_by_market()
    return portfolio_section(aligned.symbols, result.timestamp, aligned.close, result.equity,
                             position, [by_market[s] for s in aligned.symbols],
                             result.initial_capital, contribution)


def _trade_dicts(result: PortfolioResult) -> list[dict[str, Any]]:
    from tradebot.analysis.report import trades_to_dicts

    rows = trades_to_dicts(result.trades, result.timestamp)
    for r, m in zip(rows, result.trade_market, strict=True):
        r["pair"] = result.symbols[int(m)]
    return rows


def _save(ctx: Context, strategy: Strategy, pairs: PairList, candles: tuple[Candles, ...],
          result: PortfolioResult, metrics: Metrics, section: dict[str, Any],
          resolved: dict[str, Any], data_sha: str, sim: bool) -> int:
    from sqlalchemy import insert

    from tradebot.data.repositories import NewRun, RunRepository, StrategyRepository
    from tradebot.data.run_market_models import RunMarket, RunMarketTrade
    from tradebot.services.backtest import _daily_row, trade_rows
    from tradebot.services.provenance import candles_sha256, code_version

    s = ctx.settings
    summary = metrics.to_dict()
    summary.pop("daily")
    summary["blocked_entries"] = blocked_rows(result)
    summary["portfolio"] = {"exposure": section["exposure"], "correlation": section["correlation"]}
    new = NewRun(
        strategy_name=strategy.name, strategy_version=strategy.version,
        params=strategy.parameters, config=resolved,
        exchange=SIM if sim else s.market.exchange, symbol=",".join(pairs.symbols),
        timeframe=s.market.timeframe, data_source=candles[0].source,
        data_start_ms=int(result.timestamp[0]), data_end_ms=int(result.timestamp[-1]),
        data_rows=int(result.timestamp.size), data_sha256=data_sha, code_version=code_version(),
        seed=s.seed, metrics=summary, trades=[], daily=[_daily_row(d) for d in metrics.daily],
    )
    rows_by_pair = {r["pair"]: r for r in section["pairs"]}
    trades = trade_rows(result.trades, result.timestamp)
    with ctx.store.session() as session:
        StrategyRepository(session).upsert(strategy.name, strategy.version, strategy.description,
                                           strategy.parameter_schema())
        run_id = RunRepository(session).add(new)
        session.execute(insert(RunMarket), [
            {"run_id": run_id, "seq": i, "symbol": sym, "data_source": c.source,
             "data_start_ms": int(c.timestamp[0]), "data_end_ms": int(c.timestamp[-1]),
             "data_rows": len(c), "data_sha256": candles_sha256(c), "metrics": rows_by_pair[sym]}
            for i, (sym, c) in enumerate(zip(pairs.symbols, candles, strict=True))])
        if trades:
            session.execute(insert(RunMarketTrade), [
                {"run_id": run_id, "seq": i, "symbol": result.symbols[int(m)], **t}
                for i, (t, m) in enumerate(zip(trades, result.trade_market, strict=True))])
        return run_id
