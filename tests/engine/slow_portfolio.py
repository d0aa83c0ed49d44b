"""A slow, obvious, pure-Python portfolio backtester: the portfolio rules written out
plainly (from docs/decisions/0017, not from tradebot/engine/portfolio_nb.py), for the
market path: market orders, fees, slippage in bps, stop-loss / trailing stop /
take-profit, shorts, latency, fixed_fraction sizing, no risk limits.

Per bar t, over markets that have a candle at t (others are left alone):

1. in pair order: a due exit order fills at the open (long: open * (1 - slip), short:
   open * (1 + slip), taker fee); then the stops of a held position;
2. the due entries, in rank order (pair order, or the key of their deciding bar highest
   first, NaN last, ties in pair order): none while every slot is taken (blocked 4),
   stake = fixed amount / fraction of the previous close's equity / cash over free slots,
   at most the cash (none when <= 0: blocked 5); budget = stake * size_value; units =
   budget / (fill * (1 + fee)); then the stops in the entry bar;
3. equity = cash + sum(units * last real close); the signals become orders due at
   t + latency (an order due at a bar without a candle waits for the next candle).

Positions still open after the last bar are booked at their last real close, no fee.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class _Pos:
    units: float = 0.0
    entry_price: float = 0.0
    entry_fee: float = 0.0
    entry_idx: int = -1
    extreme: float = 0.0
    pending: str = ""  # "", "long", "short", "close"
    due: int = -1
    key: float = 0.0


@dataclass
class SlowResult:
    equity: list[float] = field(default_factory=list)
    cash: list[float] = field(default_factory=list)
    trades: list[tuple] = field(default_factory=list)  # (market, entry, exit, dir, units,
    # entry px, exit px, entry fee, exit fee, pnl, reason)
    blocked: list[tuple] = field(default_factory=list)  # (market, bar, reason)


def simulate(present, o, h, lo, c, entries, exits, s_entries, s_exits, keys, *, init, fee,
             maker_fee, slip, sl, tp, trail, latency, size_value, allow_short, max_open,
             stake, stake_amount, rank) -> SlowResult:
    n_m, n = present.shape
    pos = [_Pos() for _ in range(n_m)]
    mark = [0.0] * n_m
    cash = init
    eq_prev = init
    out = SlowResult()

    def book(m, p, t, price, xfee, reason):
        d = 1 if p.units > 0 else -1
        q = abs(p.units)
        pnl = q * (price - p.entry_price) * d - p.entry_fee - xfee
        out.trades.append((m, p.entry_idx, t, d, q, p.entry_price, price, p.entry_fee, xfee,
                           pnl, reason))
        p.units = 0.0

    def close_at(m, p, t, price, fee_rate, reason):
        nonlocal cash
        q = abs(p.units)
        xfee = q * price * fee_rate
        cash += q * price - xfee if p.units > 0 else -(q * price + xfee)
        book(m, p, t, price, xfee, reason)

    def stops(m, p, t):
        if p.units == 0:
            return
        entry_bar = p.entry_idx == t
        long = p.units > 0
        level, reason = (-math.inf if long else math.inf), 1
        if not math.isnan(sl):
            level = p.entry_price * (1 - sl) if long else p.entry_price * (1 + sl)
        if not math.isnan(trail):
            tl = p.extreme * (1 - trail) if long else p.extreme * (1 + trail)
            if (long and tl > level) or (not long and tl < level):
                level, reason = tl, 3
        if long and lo[m, t] <= level:
            px = level if (entry_bar or o[m, t] > level) else o[m, t]
            close_at(m, p, t, px * (1 - slip), fee, reason)
            return
        if not long and h[m, t] >= level:
            px = level if (entry_bar or o[m, t] < level) else o[m, t]
            close_at(m, p, t, px * (1 + slip), fee, reason)
            return
        if not math.isnan(tp):
            target = p.entry_price * (1 + tp) if long else p.entry_price * (1 - tp)
            if long and h[m, t] >= target:
                close_at(m, p, t, target if (entry_bar or o[m, t] < target) else o[m, t],
                         maker_fee, 2)
                return
            if not long and lo[m, t] <= target:
                close_at(m, p, t, target if (entry_bar or o[m, t] > target) else o[m, t],
                         maker_fee, 2)
                return
        p.extreme = max(p.extreme, h[m, t]) if long else min(p.extreme, lo[m, t])

    for t in range(n):
        # 1. exits and stops
        for m in range(n_m):
            p = pos[m]
            if not present[m, t] or p.pending in ("long", "short"):
                continue
            if p.pending == "close" and p.due <= t:
                p.pending = ""
                px = o[m, t] * (1 - slip) if p.units > 0 else o[m, t] * (1 + slip)
                close_at(m, p, t, px, fee, 0)
            stops(m, p, t)
        # 2. entries
        due = [m for m in range(n_m) if present[m, t] and pos[m].pending in ("long", "short")
               and pos[m].due <= t]
        if rank != "order":
            due.sort(key=lambda m: (math.isnan(pos[m].key), -pos[m].key if not
                                    math.isnan(pos[m].key) else 0.0, m))
        for m in due:
            p = pos[m]
            side = p.pending
            p.pending = ""
            n_open = sum(1 for q in pos if q.units != 0)
            if n_open >= max_open:
                out.blocked.append((m, t, 4))
                continue
            if stake == "fixed":
                st = stake_amount
            elif stake == "fraction":
                st = stake_amount * eq_prev
            else:
                st = cash / (max_open - n_open)
            st = min(st, cash)
            if st <= 0:
                out.blocked.append((m, t, 5))
                continue
            fill = o[m, t] * (1 + slip) if side == "long" else o[m, t] * (1 - slip)
            units = st * size_value / (fill * (1 + fee))
            efee = units * fill * fee
            cash += -units * fill - efee if side == "long" else units * fill - efee
            p.units = units if side == "long" else -units
            p.entry_price, p.entry_fee, p.entry_idx, p.extreme = fill, efee, t, fill
            stops(m, p, t)
        # 3. mark, decide
        eq = cash
        for m in range(n_m):
            if present[m, t]:
                mark[m] = c[m, t]
            eq += pos[m].units * mark[m]
        out.equity.append(eq)
        out.cash.append(cash)
        eq_prev = eq
        for m in range(n_m):
            p = pos[m]
            if not present[m, t] or p.pending:
                continue
            if p.units == 0:
                if entries[m, t]:
                    p.pending = "long"
                elif allow_short and s_entries[m, t]:
                    p.pending = "short"
                if p.pending:
                    p.due = t + latency
                    k = keys[m, t] if keys is not None else 0.0
                    p.key = -k if (rank == "signal" and p.pending == "short") else k
            elif (p.units > 0 and exits[m, t]) or (p.units < 0 and s_exits[m, t]):
                p.pending = "close"
                p.due = t + latency
    for m in range(n_m):
        if pos[m].units != 0:
            book(m, pos[m], n - 1, mark[m], 0.0, 4)
    return out
