"""The dashboard's market view: a paper account's (or a stored run's) candles with the trades
of its strategy and the strategy's own indicators, grouped to a drawable number of candles.

The candles come from where the account read them (as ``report --account --html``) or from
re-running the stored run (as ``report ID --rerun``); the indicators are the strategy's
``compute_indicators`` over those candles with the account's or run's parameters."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import Interrupted, TradebotError, UsageError
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.core.candles import Candles

__all__ = ["account_market", "run_market"]


def _floats(a: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(x) else float(x) for x in np.asarray(a, dtype=np.float64).tolist()]


def _view(ctx: Context, candles: Candles | None, strategy: str, params: dict[str, Any],
          max_candles: int) -> dict[str, Any]:
    """Grouped candles and the indicators sampled at each group's last bar."""
    from tradebot.analysis.html_downsample import group_candles

    if candles is None or not len(candles):
        return {"candles": None, "indicators": []}
    g = group_candles(candles.timestamp, candles.open, candles.high, candles.low, candles.close, max_candles)
    n = len(candles)
    last = np.minimum(np.arange(g.timestamp.size, dtype=np.int64) * g.per + g.per - 1, n - 1)
    close_mid = float(np.nanmedian(candles.close))
    indicators = []
    ind = ctx.registry.create(strategy, params).compute_indicators(candles)
    for name, values in ind.items():
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 1 or v.size != n:
            continue
        mid = float(np.nanmedian(v)) if np.isfinite(v).any() else math.nan
        overlay = math.isfinite(mid) and close_mid > 0 and 0.5 <= mid / close_mid <= 2.0  # on the price axis
        indicators.append({"name": name, "overlay": overlay, "values": _floats(v[last])})
    return {
        "candles": {"ts": g.timestamp.tolist(), "open": _floats(g.open), "high": _floats(g.high),
                    "low": _floats(g.low), "close": _floats(g.close), "per": g.per, "total": n,
                    "note": g.note},
        "indicators": indicators,
    }


def _trade(t: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime

    def ms(key: str) -> int | None:
        if t.get(f"{key}_ts_ms") is not None:
            return int(t[f"{key}_ts_ms"])
        text = t.get(f"{key}_time")
        return None if not text else int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)

    d = t.get("direction")
    return {"entry_ts_ms": ms("entry"), "exit_ts_ms": ms("exit"), "entry_price": t.get("entry_price"),
            "exit_price": t.get("exit_price"), "pnl": t.get("pnl"), "exit_reason": t.get("exit_reason"),
            "direction": d if isinstance(d, str) else ("long" if (d or 0) >= 0 else "short")}


def account_market(ctx: Context, name: str, max_candles: int = 1500) -> dict[str, Any]:
    """The market view of paper account ``name``; an unknown account is a UsageError."""
    from tradebot.analysis.html_report import Extras
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services.html_report import _account_candles
    from tradebot.services.paper import account_report

    rep = account_report(ctx, name, recent=0)  # an unknown account stops here, with the CLI's message
    with ctx.store.session() as session:
        acct = PaperRepository(session).get(name)
    if acct is None:
        raise UsageError(f"no paper account named {name!r}")
    extras = Extras()
    candles = _account_candles(ctx, acct, extras)
    view = _view(ctx, candles, acct.strategy, acct.params, max_candles)
    return {"kind": "account", "name": acct.name, "exchange": acct.exchange, "symbol": acct.symbol,
            "timeframe": acct.timeframe, "strategy": acct.strategy, "params": acct.params,
            "trades": [_trade(t) for t in rep["trades"]], "notes": extras.notes + extras.missing, **view}


def run_market(ctx: Context, run_id: int, max_candles: int = 1500) -> dict[str, Any]:
    """The market view of stored run ``run_id`` (re-run for its candles; nothing stored)."""
    from tradebot.services.backtest import rerun, stored_report

    rep = stored_report(ctx, run_id, include_trades=True)  # an unknown run stops here
    hd = rep["header"]
    notes: list[str] = []
    candles = None
    try:
        again = rerun(ctx, run_id)
    except Interrupted:
        raise
    except TradebotError as e:
        notes.append(f"candles are not drawn: the run's data could not be loaded again ({e})")
    else:
        candles = again.outcome.candles
        if again.differences:
            notes.append(f"re-running the run did not reproduce it ({'; '.join(again.differences)})")
    view = _view(ctx, candles, hd["strategy"], hd["params"] or {}, max_candles)
    return {"kind": "run", "name": f"run {run_id}", "exchange": hd["exchange"], "symbol": hd["symbol"],
            "timeframe": hd["timeframe"], "strategy": hd["strategy"], "params": hd["params"],
            "trades": [_trade(t) for t in rep["trades"] or []], "notes": notes, **view}
