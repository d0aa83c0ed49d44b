"""What a paper run tells the notifier: fills, closed trades, completed days."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from tradebot.core.events import DailySummary, Event, OrderFilled, TradeClosed

_DAY_MS = 86_400_000


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def run_events(account: str, symbol: str, trades: list[dict[str, Any]], first_ms: int,
               open_entry: tuple[int, float, float, float] | None,
               equity: list[dict[str, Any]], equity_before: float, target: float) -> list[Event]:
    """Events for one run, in time order.

    ``trades`` are the round trips closed in the run; ``open_entry`` is (time, side sign,
    units, price) of a position opened in the run and still open; ``equity`` the
    per-candle equity rows of the run; ``equity_before`` the equity before its first candle.
    A day is summarized once a candle of the next day has been processed.
    """
    events: list[tuple[int, Event]] = []
    for t in trades:
        side_in, side_out = ("buy", "sell") if t["direction"] > 0 else ("sell", "buy")
        if t["entry_ts_ms"] >= first_ms:
            events.append((t["entry_ts_ms"], OrderFilled(account, symbol, side_in, t["units"],
                                                         t["entry_price"], t["entry_fee"],
                                                         t["entry_ts_ms"])))
        events.append((t["exit_ts_ms"], OrderFilled(account, symbol, side_out, t["units"],
                                                    t["exit_price"], t["exit_fee"], t["exit_ts_ms"])))
        events.append((t["exit_ts_ms"], TradeClosed(
            account, symbol, "long" if t["direction"] > 0 else "short", t["entry_price"],
            t["exit_price"], t["pnl"], t["return_pct"], t["exit_reason"], t["exit_ts_ms"])))
    if open_entry is not None:
        at, sign, units, price = open_entry
        events.append((at, OrderFilled(account, symbol, "buy" if sign > 0 else "sell", units,
                                       price, 0.0, at)))
    if equity:
        ts = np.array([e["ts_ms"] for e in equity], dtype=np.int64)
        eq = np.array([e["equity"] for e in equity], dtype=np.float64)
        days = ts // _DAY_MS
        prev = equity_before
        for d in np.unique(days)[:-1]:  # the last day is still going
            last = int(np.flatnonzero(days == d)[-1])
            closed = sum(1 for t in trades if t["exit_ts_ms"] // _DAY_MS == d)
            pnl = float(eq[last] - prev)
            events.append((int(ts[last]), DailySummary(account, _day(int(d) * _DAY_MS), pnl,
                                                       target, pnl >= target, float(eq[last]),
                                                       closed)))
            prev = float(eq[last])
    events.sort(key=lambda e: e[0])
    return [e for _, e in events]
