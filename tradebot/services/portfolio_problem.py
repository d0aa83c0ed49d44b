"""The optimizer's problem for a pair list: each parameter set run as a portfolio backtest.

:class:`PortfolioProblem` stands where :class:`~tradebot.optimize.evaluate.Problem` stands in
a study (the executors, the study loop of :mod:`tradebot.services.optimize`, the store), but
a trial is one portfolio run of every pair with one wallet (the ``[portfolio]`` rules),
scored from the metrics the portfolio report shows for it.

Bars are those of the union timeline of the pairs (:func:`tradebot.engine.portfolio.align`),
so walk-forward windows cut that timeline. Evaluating bars ``[start, stop)`` reads nothing
at or after ``stop``: each market's signals are computed on its own candles before the
timeline's bar ``stop`` (earlier candles warm the indicators up), then the portfolio runs
from a fresh account over ``[start, stop)`` only. So the in-sample choice of a window cannot
depend on its out-of-sample candles, whatever the strategy computes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import TradebotError
from tradebot.core.signals import Signals
from tradebot.optimize.evaluate import BarRange, IndicatorKey, Indicators, Problem, Trials

if TYPE_CHECKING:
    from tradebot.engine.config import EngineConfig
    from tradebot.engine.portfolio import AlignedMarkets, PortfolioConfig
    from tradebot.optimize.objectives import ObjectiveSpec
    from tradebot.optimize.space import SearchSpace
    from tradebot.strategies.base import Strategy


def metrics_row(m: Any) -> np.ndarray:
    """The optimizer's metric columns (:data:`tradebot.optimize.objectives.METRICS`) from the
    report's Metrics of one portfolio run."""
    from tradebot.optimize.objectives import METRICS

    def f(x: Any) -> float:
        return math.nan if x is None else float(x)

    values = {"sharpe": f(m.sharpe), "sortino": f(m.sortino), "calmar": f(m.calmar),
              "profit": m.final_equity - m.initial_capital, "return_pct": f(m.total_return_pct),
              "max_dd_pct": f(m.max_drawdown_pct), "trades": float(m.trades),
              "daily_target_share": f(m.target_days_pct) / 100.0, "cagr_pct": f(m.cagr_pct)}
    return np.array([values[k] for k in METRICS], dtype=np.float64)


def timeline(aligned: AlignedMarkets, source: str) -> Candles:
    """The union timeline as Candles (timestamps only; prices zero): what the study loop
    reads to place windows and day ends."""
    z = np.zeros(aligned.n_bars)
    return Candles(aligned.timestamp, z, z, z, z, z, symbol=",".join(aligned.symbols),
                   timeframe=aligned.timeframe, source=source)


class PortfolioProblem(Problem):
    """Pairs + strategy + engine config + portfolio rules + space + objectives."""

    def __init__(self, markets: Sequence[Candles], symbols: Sequence[str], strategy_cls: type[Strategy],
                 base_config: EngineConfig, portfolio: PortfolioConfig, space: SearchSpace,
                 spec: ObjectiveSpec, timeframe: str, base_params: Mapping[str, Any] | None = None,
                 source: str = "") -> None:
        from tradebot.engine.portfolio import align

        self.markets = tuple(markets)
        self.aligned = align(list(self.markets), tuple(symbols))
        super().__init__(timeline(self.aligned, source), strategy_cls, base_config, space, spec, timeframe,
                         base_params)
        self.portfolio = portfolio

    # indicators are computed per trial on each market's candles: nothing to share
    def keys_for(self, param_sets: Sequence[Mapping[str, Any]]) -> list[IndicatorKey]:
        return []

    def add_indicators(self, shared: Mapping[IndicatorKey, Indicators]) -> None:
        pass

    def _window(self, start: int, stop: int) -> tuple[AlignedMarkets, list[Candles], list[int]]:
        """The aligned bars [start, stop), each market's candles before bar ``stop``, and
        how many of those lie before bar ``start``."""
        a = self.aligned
        sub = dataclasses.replace(a, timestamp=a.timestamp[start:stop], present=a.present[:, start:stop],
                                  open=a.open[:, start:stop], high=a.high[:, start:stop],
                                  low=a.low[:, start:stop], close=a.close[:, start:stop],
                                  volume=a.volume[:, start:stop])
        end_ms = int(a.timestamp[stop - 1])
        first_ms = int(a.timestamp[start])
        prefixes, skip = [], []
        for c in self.markets:
            k = int(np.searchsorted(c.timestamp, end_ms, side="right"))
            prefixes.append(_head(c, k))
            skip.append(int(np.searchsorted(c.timestamp[:k], first_ms, side="left")))
        return sub, prefixes, skip

    def run_window(self, strategy: Strategy, config: EngineConfig, start: int, stop: int) -> Any:
        """One portfolio run of ``strategy`` over bars [start, stop): (aligned window, result)."""
        from tradebot.engine.portfolio import run_portfolio

        sub, prefixes, skip = self._window(start, stop)
        signals = []
        for c, k in zip(prefixes, skip, strict=True):
            sig = strategy.signals_for(c) if len(c) else Signals(np.zeros(0, np.bool_), np.zeros(0, np.bool_))
            signals.append(Signals(sig.entries[k:], sig.exits[k:],
                                   sig.short_entries[k:] if sig.short_entries.size else sig.short_entries,
                                   sig.short_exits[k:] if sig.short_exits.size else sig.short_exits))
        scores = None
        if self.portfolio.rank == "score":
            fn = strategy.score_for  # type: ignore[attr-defined]
            scores = np.full((sub.n_markets, sub.n_bars), np.nan)
            for m, (c, k) in enumerate(zip(prefixes, skip, strict=True)):
                if len(c):
                    scores[m, sub.present[m]] = np.asarray(fn(c), dtype=np.float64)[k:]
        return sub, run_portfolio(sub, signals, config, self.portfolio, scores)

    def evaluate(self, param_sets: Sequence[Mapping[str, Any]], window: BarRange) -> Trials:
        """Run every set as a portfolio over bars ``[start, stop)`` from a fresh account."""
        from tradebot.analysis.metrics import compute_metrics
        from tradebot.optimize.objectives import METRICS, daily_last_index, daily_returns, scores
        from tradebot.services.portfolio_backtest import whole_result

        start, stop = window
        day_last = daily_last_index(self.aligned.timestamp, start, stop) - start
        initial = self.base_config.initial_capital
        n_sets = len(param_sets)
        errors: list[str | None] = [None] * n_sets
        rows = np.full((n_sets, len(METRICS)), np.nan)
        daily = np.full((n_sets, day_last.size), initial)
        for j, values in enumerate(param_sets):
            try:
                strategy, config = self.build(values)
            except (TradebotError, ValueError, TypeError) as e:
                errors[j] = str(e).splitlines()[0] if str(e) else type(e).__name__
                continue
            sub, res = self.run_window(strategy, config, start, stop)
            rows[j] = metrics_row(compute_metrics(whole_result(res, sub), self.timeframe, self.spec.daily_target))
            daily[j] = res.equity[day_last]
        return Trials([dict(p) for p in param_sets], rows, scores(rows, self.spec),
                      daily_returns(daily, initial), errors)


def _head(c: Candles, k: int) -> Candles:
    return dataclasses.replace(c, timestamp=c.timestamp[:k], open=c.open[:k], high=c.high[:k], low=c.low[:k],
                               close=c.close[:k], volume=c.volume[:k])
