"""The selector's walk-forward backtest against its baselines, over the same windows.

Evaluated windows: those after the ``min_train_windows`` warm-up windows, the same for every
line of the report:

* **selector** — the engine over :func:`.record.spliced_signals` of its choices (switches pay
  their fees and slippage for real);
* **each candidate alone** — its own continuous run (the record's), over the same windows;
* **equal-weight blend** — the capital split equally across the candidates at the first
  evaluated window, each part following its candidate, never rebalanced;
* **random switcher** — a candidate drawn uniformly per window (seeded), spliced like the
  selector;
* **oracle** — the candidate with the best return in hindsight per window, spliced: an upper
  bound no causal selector can reach.

Per line: compounded return, Sharpe of the per-window returns (annualised by the windows per
year), maximum drawdown of the per-bar equity, switches, costs paid (fees, and slippage
measured against each fill bar's open, each as a share of the equity before it: the return the
costs took).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.core.signals import Signals
    from tradebot.engine.config import EngineConfig
    from tradebot.engine.result import BacktestResult
    from tradebot.ml.select.record import CandidateRecord

SELECTOR, CANDIDATE, BLEND, RANDOM, ORACLE = "selector", "candidate", "blend", "random", "oracle"


@dataclass(frozen=True)
class Line:
    """One line of the report: a baseline's per-window returns and what it paid."""

    name: str
    kind: str
    window_returns: np.ndarray  # over the evaluated windows
    equity: np.ndarray  # per bar over the evaluated span, starting at 1.0 before its first bar
    switches: int
    costs: float  # the return the costs took (sum of each fill's cost / equity before it)
    trades: int

    def metrics(self, windows_per_year: float) -> dict[str, Any]:
        r = self.window_returns
        total = float(np.prod(1.0 + r) - 1.0) if r.size else 0.0
        sd = float(r.std(ddof=1)) if r.size >= 2 else 0.0
        sharpe = float(r.mean() / sd * math.sqrt(windows_per_year)) if sd > 1e-12 else None
        peak = np.maximum.accumulate(self.equity)
        dd = float(np.max(1.0 - self.equity / peak)) if self.equity.size else 0.0
        return {"name": self.name, "kind": self.kind, "return_pct": total * 100.0, "sharpe": sharpe,
                "max_dd_pct": dd * 100.0, "switches": self.switches, "costs_pct": self.costs * 100.0,
                "trades": self.trades}


def costs_paid(result: BacktestResult, open_: np.ndarray, lo: int, hi: int) -> float:
    """Fees plus slippage (fill price against the bar's open, times quantity) of the fills on
    bars ``[lo, hi)``, each as a share of the equity before its bar, summed: the return the
    costs took."""
    f = result.fills
    if f.size == 0:
        return 0.0
    f = f[(f["bar_idx"] >= lo) & (f["bar_idx"] < hi)]
    bars = f["bar_idx"].astype(np.int64)
    cost = f["fee"] + np.abs(f["price"] - open_[bars]) * f["qty"]
    before = np.where(bars > 0, result.equity[np.maximum(bars - 1, 0)], result.initial_capital)
    return float((cost / before).sum())


def _trades_in(result: BacktestResult, lo: int, hi: int) -> int:
    t = result.trades
    return int(((t["entry_idx"] >= lo) & (t["entry_idx"] < hi)).sum()) if t.size else 0


def switches(choices: np.ndarray, first: int) -> int:
    """Changes of candidate over the evaluated windows (counting the change into the first one
    from the flat warm-up)."""
    c = np.asarray(choices, dtype=np.int64)
    prev = c[first - 1] if first > 0 else 0
    seq = np.concatenate([[prev], c[first:]])
    return int((seq[1:] != seq[:-1]).sum())


def line_from_run(name: str, kind: str, result: BacktestResult, record: CandidateRecord, first: int,
                  open_: np.ndarray, initial: float, n_switches: int = 0) -> Line:
    from tradebot.ml.select.record import window_returns

    b = record.bounds
    lo, hi = int(b[first, 0]), int(b[-1, 1])
    eq = result.equity
    base = float(eq[lo - 1]) if lo > 0 else initial
    curve = np.concatenate([[1.0], eq[lo:hi] / base])
    wr = window_returns(eq, b, initial)[first:]
    return Line(name, kind, wr, curve, n_switches, costs_paid(result, open_, lo, hi),
                _trades_in(result, lo, hi))


def spliced_line(name: str, kind: str, candles: Candles, signals: Sequence[Signals], choices: np.ndarray,
                 record: CandidateRecord, first: int, config: EngineConfig) -> tuple[Line, BacktestResult]:
    from tradebot.engine.backtest import run_signals
    from tradebot.ml.select.record import spliced_signals

    c = np.asarray(choices, dtype=np.int64).copy()
    c[:first] = -1  # flat before the evaluated windows
    result = run_signals(candles, spliced_signals(signals, c, record.bounds, config.allow_short), config)
    return line_from_run(name, kind, result, record, first, candles.open, config.initial_capital,
                         switches(np.where(c < 0, 0, c), first)), result


def blend_line(lines: Sequence[Line]) -> Line:
    curves = np.vstack([ln.equity for ln in lines])
    curve = curves.mean(axis=0)
    # per-window returns of the blend: its equity at each window's last bar
    n_w = lines[0].window_returns.shape[0]
    ends = np.empty(n_w + 1)
    ends[0] = 1.0
    growth = np.cumprod(1.0 + np.vstack([ln.window_returns for ln in lines]), axis=1)
    ends[1:] = growth.mean(axis=0)
    wr = ends[1:] / ends[:-1] - 1.0
    return Line("equal-weight blend", BLEND, wr, curve, 0, float(np.mean([ln.costs for ln in lines])),
                int(sum(ln.trades for ln in lines)))


def random_choices(n_windows: int, n_candidates: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed), 0x5E1EC7])
    return rng.integers(0, n_candidates, size=n_windows).astype(np.int64)


def oracle_choices(record: CandidateRecord) -> np.ndarray:
    return np.asarray(np.argmax(record.returns, axis=1), dtype=np.int64)


def evaluate(candles: Candles, signals: Sequence[Signals], results: Sequence[BacktestResult],
             record: CandidateRecord, choices: np.ndarray, first: int, config: EngineConfig, *,
             method: str, seed: int) -> tuple[list[Line], Line]:
    """Every line of the report (selector first) and the selector's line."""
    sel, _ = spliced_line(f"selector ({method})", SELECTOR, candles, signals, choices, record, first, config)
    cands = [line_from_run(name, CANDIDATE, res, record, first, candles.open, config.initial_capital)
             for name, res in zip(record.names, results, strict=True)]
    rnd, _ = spliced_line("random switcher", RANDOM, candles, signals,
                          random_choices(record.n_windows, record.n_candidates, seed), record, first, config)
    orc, _ = spliced_line("oracle (upper bound)", ORACLE, candles, signals, oracle_choices(record), record,
                          first, config)
    return [sel, orc, rnd, blend_line(cands), *cands], sel
