"""What a paper run records and tells: its ledger (orders, fills, balances, position), its
risk events, and the notifier's events (fills, closed trades, completed days, risk trips).

Pure functions over a run's engine output; :mod:`tradebot.services.paper` reads what they
need from the store and writes what they return, in the run's one transaction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tradebot.core.events import DailySummary, Event, OrderFilled, RiskTripped, TradeClosed
from tradebot.core.notify_config import RulesConfig
from tradebot.data.paper_repository import (
    FillRow,
    LedgerBook,
    LedgerUpdate,
    OrderRow,
    PositionRow,
    RiskEventRow,
)
from tradebot.engine.config import EngineConfig
from tradebot.engine.layout import (
    FOREVER,
    S_CASH,
    S_CONSEC_LOSSES,
    S_ENTRY_FEE,
    S_ENTRY_IDX,
    S_ENTRY_PRICE,
    S_HALT_UNTIL,
    S_PEAK,
    S_PENDING,
    S_UNITS,
)
from tradebot.engine.result import BLOCK_REASONS, EXIT_REASONS, INTENT_ENTRY, ORDER_TYPES

log = logging.getLogger("tradebot.paper")

DAY_MS = 86_400_000
#: A position is flat once what is left is this small a share of its largest size (sums of
#: partial fills are not exact).
_FLAT_REL = 1e-9
#: Risk events sent as ``risk_tripped`` (blocked entries themselves are not: a trip is
#: announced once, not at every refused signal).
NOTIFIED_KINDS = frozenset({"breaker_tripped", "limit_reached", "cooldown_started", "alert"})
DAILY_LIMITS = ("max_trades_per_day", "max_daily_loss")



def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def assets(symbol: str) -> tuple[str, str]:
    """``BTC/USDT`` -> (``BTC``, ``USDT``); a perpetual ``BTC/USDT:USDT`` settles in USDT."""
    base, _, rest = symbol.partition("/")
    quote, _, settle = rest.partition(":")
    return base or symbol, settle or quote or "QUOTE"


# -- orders and fills ------------------------------------------------------------------------


@dataclass
class _Working:
    """An order being built from fills (mutable; becomes an :class:`OrderRow`)."""

    row: OrderRow
    changed: bool = False


def _flat(pos: float, size: float) -> bool:
    return abs(pos) <= _FLAT_REL * max(size, abs(pos), 1e-300)


def orders_and_fills(fills: np.ndarray, ts: np.ndarray, book: LedgerBook, units_before: float,
                     trade_ms_before: int | None, units_after: float,
                     pending_after: float) -> tuple[list[OrderRow], list[FillRow], int | None]:
    """Group a run's FILL_DTYPE executions into orders.

    A fill joins the account's latest order when both have the same intent (entry/exit),
    side and order type and belong to the same position (the time of its first entry
    fill); otherwise it starts a new order. So a whole fill is an order of its own, and the
    partial fills of one order, over any number of candles and runs, make one order.

    Status: an exit order is ``filled`` once the position is flat; while it is open the
    latest exit order is ``partially_filled``, and an exit order followed by a different
    one before the position closed is ``cancelled`` (its ``qty`` is what filled). An entry
    order is ``partially_filled`` while the engine still has an entry order working on its
    side (``pending_after``), else ``filled`` (its ``qty`` is what filled: the fills do not
    say how much was asked). Every rule looks at the fills and the state at the end of
    the run only, so the ledger is the same however the candles were split into runs.
    Returns the new and changed orders, the new fills and the time of the open
    position's first entry fill (None when flat).
    """
    orders: list[_Working] = []
    if book.last_order is not None and book.last_order.status != "cancelled":
        last = book.last_order
        orders.append(_Working(last))
    out_fills: list[FillRow] = []
    next_order, next_fill = book.next_order_seq, book.next_fill_seq
    pos = units_before
    size = abs(units_before)
    trade_ms = trade_ms_before
    for f in fills:
        t = int(ts[int(f["bar_idx"])])
        sign = 1 if f["side"] > 0 else -1
        side = "buy" if sign > 0 else "sell"
        intent = "entry" if f["intent"] == INTENT_ENTRY else "exit"
        otype = ORDER_TYPES.get(int(f["order_type"]), "market")
        qty, price, fee = float(f["qty"]), float(f["price"]), float(f["fee"])
        if intent == "entry" and _flat(pos, size):
            trade_ms, size, pos = t, 0.0, 0.0  # a new position
        key = (intent, side, otype, trade_ms if trade_ms is not None else t)
        cur = orders[-1] if orders else None
        if cur is None or cur.row.status == "cancelled" or (
                cur.row.intent, cur.row.side, cur.row.order_type, cur.row.trade_entry_ms) != key:
            if cur is not None:
                _settle(cur, superseded=True, units_after=units_after, pending_after=pending_after)
            cur = _Working(OrderRow(next_order, key[3], t, t, side, otype, intent, 0.0, 0.0, 0.0, 0.0,
                                    0, "partially_filled", None), changed=True)
            orders.append(cur)
            next_order += 1
        r = cur.row
        new_qty, cost = r.qty + qty, r.cost + qty * price
        reason = EXIT_REASONS.get(int(f["reason"])) if intent == "exit" else None
        cur.row = replace(r, qty=new_qty, cost=cost, avg_price=cost / new_qty if new_qty else price,
                          fee=r.fee + fee, fills=r.fills + 1, last_fill_ms=t,
                          exit_reason=reason or r.exit_reason, status="partially_filled")
        cur.changed = True
        out_fills.append(FillRow(next_fill, r.seq, t, side, qty, price, fee, bool(f["maker"])))
        next_fill += 1
        pos += sign * qty
        if intent == "entry":
            size = max(size, abs(pos))
        elif _flat(pos, size):
            cur.row = replace(cur.row, status="filled")
            pos, trade_ms = 0.0, None
    if orders:
        _settle(orders[-1], superseded=False, units_after=units_after, pending_after=pending_after)
    if units_after == 0.0:
        trade_ms = None
    return [w.row for w in orders if w.changed], out_fills, trade_ms


def _settle(w: _Working, *, superseded: bool, units_after: float, pending_after: float) -> None:
    r = w.row
    if r.status != "partially_filled":
        return
    if r.intent == "exit":
        status = "cancelled" if superseded else ("filled" if units_after == 0.0 else "partially_filled")
    else:
        side = 1.0 if r.side == "buy" else -1.0
        working = (not superseded and pending_after == side and units_after * side > 0.0)
        status = "partially_filled" if working else "filled"
    if status != r.status:
        w.row = replace(r, status=status)
        w.changed = True


def position_after(symbol: str, state: np.ndarray, ts: np.ndarray, close: np.ndarray,
                   entry_ms: int | None, before: PositionRow | None) -> PositionRow | None:
    """The open position after a run, from the engine state, marked at the last close."""
    units = float(state[S_UNITS])
    if units == 0.0 or ts.size == 0:
        return None
    if entry_ms is None:  # opened before this account had a ledger
        if before is not None and math.copysign(1.0, before.qty) == math.copysign(1.0, units):
            entry_ms = before.entry_ms
        else:
            idx = int(state[S_ENTRY_IDX])
            entry_ms = int(ts[idx]) if 0 <= idx < ts.size else int(ts[-1])
    price, fee = float(state[S_ENTRY_PRICE]), float(state[S_ENTRY_FEE])
    mark = float(close[-1])
    return PositionRow(symbol, units, price, fee, int(entry_ms), mark, int(ts[-1]),
                       units * (mark - price) - fee)


# -- risk events -----------------------------------------------------------------------------


def breaker_events(ts: np.ndarray, start: int, equity: np.ndarray, before: np.ndarray,
                   after: np.ndarray, cfg: EngineConfig) -> list[RiskEventRow]:
    """Trips and resumes of the drawdown breaker in a run, at the candle they happened.

    The engine keeps only the breaker's state after the run; this replays its rule
    (``engine.risk_nb.breaker_nb``) over the run's equity from the state before it.
    """
    if cfg.max_drawdown_pct is None or equity.size == 0:
        return []
    dd, cd = cfg.max_drawdown_pct / 100.0, float(cfg.breaker_cooldown_bars)
    hu, peak = float(before[S_HALT_UNTIL]), float(before[S_PEAK])
    out: list[RiskEventRow] = []
    n, i = equity.size, 0
    while i < n:
        if hu < 0.0:
            seg = equity[i:]
            runpeak = np.maximum.accumulate(np.concatenate(([peak], seg)))[1:]
            hits = np.flatnonzero(seg <= runpeak * (1.0 - dd))
            if hits.size == 0:
                peak = float(runpeak[-1])
                break
            j = i + int(hits[0])
            peak = float(runpeak[j - i])
            eq = float(equity[j])
            hu = start + j + cd if cd > 0.0 else FOREVER
            until = f"for {int(cd)} candles" if cd > 0.0 else "until the account is reset"
            out.append(RiskEventRow(int(ts[start + j]), "breaker_tripped", "drawdown_breaker",
                                    f"equity {eq:,.2f} is {(1.0 - eq / peak) * 100.0:.2f}% below its "
                                    f"peak {peak:,.2f} (limit {cfg.max_drawdown_pct:g}%): new entries "
                                    f"halted {until}"
                                    + (", position flattened" if cfg.flatten_on_breaker else "")))
            i = j + 1
        else:
            if hu >= FOREVER:
                break
            j = max(i, math.ceil(hu) - start)
            if j >= n:
                break
            peak, hu = float(equity[j]), -1.0
            out.append(RiskEventRow(int(ts[start + j]), "breaker_resumed", "drawdown_breaker",
                                    f"entries resume; the peak restarts at equity {peak:,.2f}"))
            i = j + 1
    if (hu >= 0.0) != (float(after[S_HALT_UNTIL]) >= 0.0):
        log.warning("paper: the drawdown breaker replay disagrees with the engine state "
                    "(halted %s, engine %s); trip times may be off", hu >= 0.0,
                    float(after[S_HALT_UNTIL]) >= 0.0)
    return out


def cooldown_events(ts: np.ndarray, trades: np.ndarray, before: np.ndarray,
                    cfg: EngineConfig) -> list[RiskEventRow]:
    """Loss-streak cooldowns started in a run (``engine.risk_nb.on_trade_closed_nb``)."""
    k = cfg.cooldown_after_losses or 0
    if k <= 0 or cfg.cooldown_bars <= 0 or trades.size == 0:
        return []
    streak = float(before[S_CONSEC_LOSSES])
    out: list[RiskEventRow] = []
    for tr in trades:
        if tr["pnl"] < 0.0:
            streak += 1.0
            if streak >= k:
                out.append(RiskEventRow(int(ts[int(tr["exit_idx"])]), "cooldown_started",
                                        "loss_cooldown", f"{k} losing trades in a row: no new "
                                        f"entries for {cfg.cooldown_bars} candles"))
                streak = 0.0
        else:
            streak = 0.0
    return out


def blocked_events(ts: np.ndarray, blocked: np.ndarray, cfg: EngineConfig,
                   reached: set[tuple[str, int]]) -> list[RiskEventRow]:
    """One ``entry_blocked`` per refused entry, and a ``limit_reached`` at the first entry
    a daily limit refused on a UTC day (``reached``: the (rule, day) already recorded)."""
    limits = {"max_trades_per_day": f"{cfg.max_trades_per_day} entries a day",
              "max_daily_loss": f"a loss of {cfg.max_daily_loss} a day",
              "drawdown_breaker": f"drawdown breaker at {cfg.max_drawdown_pct}% from the peak",
              "loss_cooldown": f"{cfg.cooldown_bars} candles after {cfg.cooldown_after_losses} "
                               "losing trades"}
    out: list[RiskEventRow] = []
    seen = set(reached)
    for b in blocked:
        t = int(ts[int(b["bar_idx"])])
        rule = BLOCK_REASONS.get(int(b["reason"]), f"rule_{int(b['reason'])}")
        day = t // DAY_MS
        if rule in DAILY_LIMITS and (rule, day) not in seen:
            seen.add((rule, day))
            out.append(RiskEventRow(t, "limit_reached", rule, f"{limits[rule]} reached: no new "
                                    f"entries until the end of {_day(t)} (UTC)"))
        out.append(RiskEventRow(t, "entry_blocked", rule,
                                f"entry signal refused ({limits.get(rule, rule)})"))
    return out


@dataclass(frozen=True)
class AlertMemory:
    """What the store remembers of the ``[notify.rules]`` thresholds before a run."""

    drawdown_active: bool  # the drawdown alert is tripped (not cleared since)
    loss_days: frozenset[int]  # UTC days (ms // DAY) with a daily loss alert already
    peak_equity: float  # highest equity so far (or the initial capital)
    day_start_equity: float  # equity at the close before the run's first candle's day


def alert_events(rules: RulesConfig, account: str, ts: np.ndarray, equity: np.ndarray,
                 prev_equity: float, memory: AlertMemory) -> list[RiskEventRow]:
    """The ``[notify.rules]`` thresholds over a run's closes, once per crossing.

    ``drawdown_above_pct`` alerts when the drawdown from the equity peak crosses the
    threshold and is re-armed (``alert_cleared``) when it falls back below; ``loss_above``
    alerts at most once a UTC day. ``prev_equity`` is the equity before the run's first
    close. Details come from :func:`tradebot.notify.rules.threshold_alerts`.
    """
    from tradebot.notify.rules import threshold_alerts

    if ts.size == 0 or (rules.drawdown_above_pct is None and rules.loss_above is None):
        return []
    out: list[RiskEventRow] = []
    peak = np.maximum.accumulate(np.maximum(equity, memory.peak_equity))
    if rules.drawdown_above_pct is not None:
        dd = np.where(peak > 0, (peak - equity) / np.where(peak > 0, peak, 1.0) * 100.0, 0.0)
        active = dd >= rules.drawdown_above_pct
        prev = np.concatenate(([memory.drawdown_active], active[:-1]))
        for i in np.flatnonzero(active != prev):
            t = int(ts[i])
            if active[i]:
                only = RulesConfig(drawdown_above_pct=rules.drawdown_above_pct)
                a = threshold_alerts(only, account, float(equity[i]), float(peak[i]), 0.0, t)
                out.append(RiskEventRow(t, "alert", "drawdown_above_pct", a[0].detail))
            else:
                out.append(RiskEventRow(t, "alert_cleared", "drawdown_above_pct",
                                        f"drawdown {float(dd[i]):.2f}% back below "
                                        f"{rules.drawdown_above_pct:g}%"))
    if rules.loss_above is not None:
        days = ts // DAY_MS
        before = np.concatenate(([prev_equity], equity[:-1]))
        first_of_day = np.concatenate(([True], days[1:] != days[:-1]))
        start_eq = np.where(first_of_day, before, np.nan)
        start_eq[0] = memory.day_start_equity
        # carry each day's opening equity forward over its candles
        idx = np.where(first_of_day, np.arange(ts.size), 0)
        np.maximum.accumulate(idx, out=idx)
        day_pnl = equity - start_eq[idx]
        done = set(memory.loss_days)
        for i in np.flatnonzero(-day_pnl >= rules.loss_above):
            d = int(days[i])
            if d in done:
                continue
            done.add(d)
            only = RulesConfig(loss_above=rules.loss_above)
            a = threshold_alerts(only, account, float(equity[i]), float(peak[i]),
                                 float(day_pnl[i]), int(ts[i]))
            out.append(RiskEventRow(int(ts[i]), "alert", "loss_above", f"{a[0].detail} on {_day(int(ts[i]))}"))
    out.sort(key=lambda r: r.ts_ms)
    return out


def alert_memory(marks: Iterable[tuple[int, str, str]], peak_equity: float,
                 day_start_equity: float) -> AlertMemory:
    """:class:`AlertMemory` from the store's risk marks (see ``PaperRepository.risk_marks``)."""
    last_dd: tuple[int, str] | None = None
    loss_days: set[int] = set()
    for t, kind, rule in marks:
        if rule == "drawdown_above_pct" and kind in ("alert", "alert_cleared"):
            if last_dd is None or t >= last_dd[0]:
                last_dd = (t, kind)
        elif rule == "loss_above" and kind == "alert":
            loss_days.add(t // DAY_MS)
    return AlertMemory(last_dd is not None and last_dd[1] == "alert", frozenset(loss_days),
                       peak_equity, day_start_equity)


def risk_tripped(account: str, rows: Iterable[RiskEventRow]) -> list[RiskTripped]:
    """The ``risk_tripped`` events of a run's new risk events (trips, limits, alerts)."""
    return [RiskTripped(account, r.rule, r.detail, r.ts_ms) for r in rows if r.kind in NOTIFIED_KINDS]


def ledger_update(*, symbol: str, ts: np.ndarray, close: np.ndarray, start: int, book: LedgerBook,
                  before: np.ndarray, after: np.ndarray, fills: np.ndarray, trades: np.ndarray,
                  blocked: np.ndarray, equity: np.ndarray, cfg: EngineConfig,
                  reached: set[tuple[str, int]], alerts: list[RiskEventRow]) -> LedgerUpdate:
    """Everything a run adds to the ledger (see the functions above)."""
    units_before = float(before[S_UNITS])
    trade_ms = book.position.entry_ms if (book.position is not None and units_before != 0.0) else None
    if trade_ms is None and units_before != 0.0:
        idx = int(before[S_ENTRY_IDX])
        trade_ms = int(ts[idx]) if 0 <= idx < ts.size else None
    orders, new_fills, entry_ms = orders_and_fills(fills, ts, book, units_before, trade_ms,
                                                   float(after[S_UNITS]), float(after[S_PENDING]))
    base, quote = assets(symbol)
    risk = (breaker_events(ts, start, equity, before, after, cfg)
            + cooldown_events(ts, trades, before, cfg)
            + blocked_events(ts, blocked, cfg, reached) + alerts)
    risk.sort(key=lambda r: r.ts_ms)  # stable: at one candle, a trip before what it blocks
    return LedgerUpdate(tuple(orders), tuple(new_fills),
                        {quote: float(after[S_CASH]), base: float(after[S_UNITS])},
                        int(ts[-1]) if ts.size else None,
                        position_after(symbol, after, ts, close, entry_ms, book.position),
                        tuple(risk))


# -- notifications ---------------------------------------------------------------------------


def run_events(account: str, symbol: str, trades: list[dict[str, Any]], fills: Iterable[FillRow],
               risk: Iterable[RiskTripped] = (), days: Iterable[DailySummary] = ()) -> list[Event]:
    """Events for one run, in time order: ``fills`` its executions, ``trades`` the round
    trips closed in it, ``risk`` its risk trips, then ``days`` (:func:`day_summaries`: the
    days that ended in it)."""
    events: list[tuple[int, int, Event]] = []
    for f in fills:
        events.append((f.ts_ms, 0, OrderFilled(account, symbol, f.side, f.qty, f.price, f.fee,
                                               f.ts_ms)))
    for t in trades:
        events.append((t["exit_ts_ms"], 1, TradeClosed(
            account, symbol, "long" if t["direction"] > 0 else "short", t["entry_price"],
            t["exit_price"], t["pnl"], t["return_pct"], t["exit_reason"], t["exit_ts_ms"])))
    for r in risk:
        events.append((r.ts_ms, 2, r))
    events.sort(key=lambda e: (e[0], e[1]))
    return [e for _, _, e in events] + list(days)


def day_start(prev_last_ms: int | None, first_new_ms: int) -> int:
    """Where the rows a run's daily summaries need begin: the start of the day of the last
    bar processed before the run (that day ends in this run at the earliest), else of the
    run's first bar."""
    t = first_new_ms if prev_last_ms is None else prev_last_ms
    return t // DAY_MS * DAY_MS


def day_summaries(account: str, rows: Sequence[tuple[int, float]], start_equity: float, exits: Iterable[int],
                  target: float) -> list[DailySummary]:
    """The summary of every day that ended in a run: ``rows`` are the stored (ts, equity)
    closes from :func:`day_start` on (this run's included), ``start_equity`` the equity at
    the last close before them (the capital for a new account), ``exits`` the exit times of
    the trades closed since. Every day of ``rows`` but the last (still going) is summarized;
    the days before were summarized by the run that first passed them, so a day is told once
    however the runs are cut (a cron run of one candle included)."""
    if not rows:
        return []
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    eq = np.array([r[1] for r in rows], dtype=np.float64)
    days = ts // DAY_MS
    closed = np.array(list(exits), dtype=np.int64) // DAY_MS
    out = []
    prev = start_equity
    for d in np.unique(days)[:-1]:
        last = int(np.flatnonzero(days == d)[-1])
        pnl = float(eq[last] - prev)
        out.append(DailySummary(account, _day(int(d) * DAY_MS), pnl, target, pnl >= target, float(eq[last]),
                                int(np.count_nonzero(closed == d))))
        prev = float(eq[last])
    return out
