"""Performance by market regime: the table every backtest and paper report carries.

The regimes are the rule-based ones (:mod:`tradebot.ml.regime.rules`) computed on the run's
own candles, causally: a bar's regime is known at its close. A trade counts in the regime
of the bar before its entry bar (the bar whose close decided it); an equity change from
bar ``t-1`` to ``t`` counts in the regime of bar ``t-1`` (the position held through bar ``t``
was decided then); so does the market's own return, for comparison.

Per regime: bars (and share), trades, wins, P&L, the mean trade return, the strategy's
compounded return over the bars of that regime and the market's. Warm-up bars (too early
to classify) form their own row. numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError

WARMUP = "(warm-up)"


def _compound_pct(r: np.ndarray) -> float | None:
    r = r[np.isfinite(r)]
    return float((np.prod(1.0 + r) - 1.0) * 100.0) if r.size else None


def regime_performance(candles: Candles, equity_ts: np.ndarray, equity: np.ndarray, trade_entry_ts: np.ndarray,
                       trade_pnl: np.ndarray, trade_return_pct: np.ndarray, settings: Any = None) -> dict[str, Any]:
    """The performance-by-regime table (see the module docstring). ``settings``: a
    :class:`~tradebot.ml.regime.settings.RegimeSettings` (default: the defaults). Too few
    candles to classify any bar: ``{"available": False, "reason": ...}``."""
    from tradebot.ml.regime.features import regime_features
    from tradebot.ml.regime.rules import classify_rules
    from tradebot.ml.regime.settings import RegimeSettings

    s = settings or RegimeSettings()
    base = {"method": "rules", "names": list(s.names), "lag_bars": s.lag, "warmup_bars": s.warmup_bars}
    try:
        labels = classify_rules(regime_features(candles, s), s).labels
    except UsageError as e:
        return {**base, "available": False, "reason": str(e), "rows": []}
    ts = np.asarray(candles.timestamp, dtype=np.int64)
    k = s.count
    slot = np.where(labels >= 0, labels, k)  # k: the warm-up row

    def regime_of_bar_at(times: np.ndarray) -> np.ndarray:
        i = np.searchsorted(ts, np.asarray(times, dtype=np.int64), side="right") - 1
        return np.where(i >= 0, slot[np.clip(i, 0, None)], k)

    eq_ts = np.asarray(equity_ts, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        eq_ret = eq[1:] / eq[:-1] - 1.0 if eq.size > 1 else np.zeros(0)
        mk_ret = candles.close[1:] / candles.close[:-1] - 1.0
    eq_reg = regime_of_bar_at(eq_ts[:-1]) if eq.size > 1 else np.zeros(0, dtype=np.int64)
    mk_reg = slot[:-1]
    entry_ts = np.asarray(trade_entry_ts, dtype=np.int64)
    tr_reg = regime_of_bar_at(entry_ts - 1)  # the bar before the entry bar
    pnl = np.asarray(trade_pnl, dtype=np.float64)
    rpct = np.asarray(trade_return_pct, dtype=np.float64)
    # the bars the run covers: those with an equity value (a paper account starts late)
    covered = (ts >= eq_ts[0]) & (ts <= eq_ts[-1]) if eq_ts.size else np.zeros(ts.size, dtype=bool)
    rows = []
    for j in range(k + 1):
        name = s.names[j] if j < k else WARMUP
        bars = int(((slot == j) & covered).sum())
        mine = tr_reg == j
        if j == k and bars == 0 and not mine.any():
            continue
        n_tr = int(mine.sum())
        rows.append({
            "regime": name, "bars": bars, "share": bars / max(int(covered.sum()), 1),
            "trades": n_tr, "wins": int((pnl[mine] > 0).sum()),
            "win_rate": float((pnl[mine] > 0).mean()) if n_tr else None,
            "pnl": float(pnl[mine].sum()),
            "mean_trade_return_pct": float(rpct[mine].mean()) if n_tr else None,
            "return_pct": _compound_pct(eq_ret[eq_reg == j]),
            "market_return_pct": _compound_pct(mk_ret[(mk_reg == j) & covered[1:]]),
        })
    return {**base, "available": True, "rows": rows}


def backtest_regime_table(candles: Candles, equity: np.ndarray, trades: np.ndarray,
                          settings: Any = None) -> dict[str, Any]:
    """:func:`regime_performance` of an engine result (equity per bar, TRADE_DTYPE trades)."""
    ts = np.asarray(candles.timestamp, dtype=np.int64)
    if np.asarray(equity).shape[0] != ts.shape[0]:
        raise ValueError(f"equity has {np.asarray(equity).shape[0]} bars, the candles {ts.shape[0]}")
    entry = ts[np.asarray(trades["entry_idx"], dtype=np.int64)] if trades.size else np.zeros(0, dtype=np.int64)
    return regime_performance(candles, ts, equity, entry, trades["pnl"] if trades.size else np.zeros(0),
                              trades["return_pct"] if trades.size else np.zeros(0), settings)
