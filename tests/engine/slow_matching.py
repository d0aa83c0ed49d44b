"""A slow, obvious, pure-Python account with the order-matching fill model.

Used only by the tests, as an independent second implementation of
docs/decisions/0009-order-matching.md (written from the rules, not from
``tradebot/engine/matching_nb.py``); the market-path rules (fees, slippage, sizing,
stops, risk limits) are those of ``slow_reference.py``:

- At bar t's close the signals become at most one working order: entries when flat
  (through the risk limits), exits when holding. The order works from bar t + latency.
  An order not yet working ignores the signals; a working entry is cancelled by its exit
  signal without its entry signal (a part already filled then gets an exit order); a
  working exit is cancelled by an entry signal of the position's direction without its
  exit signal.
- Prices from the deciding close c: a buy limit c (1 - limit_off), a sell limit
  c (1 + limit_off); a buy stop c (1 + stop_off), a sell stop c (1 - stop_off); a
  stop-limit's limit is its stop times (1 ± stop_limit_off), beyond the trigger.
- An order expires order_ttl_bars bars after it starts working (0: never); a
  breaker flatten never expires.
- Each working bar: a market order fills at the open. A stop triggers when the bar
  reaches it (at the open if the bar opens beyond it) and fills at that price; once
  triggered the rest is a market order. A stop-limit triggers the same way; if the
  trigger price is within its limit it fills like a stop, at most at the limit; else
  (and on later bars) it is a resting limit. A limit buy fills at the open if the bar
  opens below it, at the limit if the low goes below it, and, if the low only equals
  it, with probability touch_fill_prob (draw: splitmix64 of (fill_seed, t)).
- Market and stop fills move the price against the order by slippage + spread / 2 +
  impact_coef * sqrt(min(qty / volume, 1)) (volume 0: 1) and pay the taker fee; an
  entry's impact is computed from its size at the price before impact. Limit fills
  (resting stop-limits too) pay the maker fee, no spread, slippage or impact.
- max_volume_share: at most that share of the bar's volume fills in a bar (none when the
  volume is 0); the rest keeps working.
- An entry is sized at its first fill (budget from the cash at the fill price before
  impact, with the fee rate of the fill); later fills spend what is left of the budget.
  The entry price is the volume-weighted average of the entry fills, the entry fee
  their sum; exits alike; one trade per round trip (units: all units entered).
- Stops after the order: stop-loss / trailing as stop orders with the whole position
  (no volume cap), take-profit as a limit (maker); no take-profit on a bar where an entry
  filled at a price other than the open. A stop or take-profit cancels the working order.
- Drawdown breaker: cancels a working entry (blocked), and with flatten_on_breaker sends
  a market close unless a market exit is already working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from slow_reference import (
    BREAKER,
    DAILY_LOSS,
    DRAWDOWN,
    LOSS_COOLDOWN,
    SIGNAL,
    STILL_OPEN,
    STOP_LOSS,
    TAKE_PROFIT,
    TRADES_PER_DAY,
    TRAILING_STOP,
    RefConfig,
    kelly_f,
    optimal_f,
    wilder_atr,
)

MARKET, LIMIT, STOP, STOP_LIMIT = 0, 1, 2, 3
ORDER_CODES = {"market": MARKET, "limit": LIMIT, "stop": STOP, "stop_limit": STOP_LIMIT}
MASK = (1 << 64) - 1


def splitmix_u01(seed: int, t: int) -> float:
    """Output number t + 1 of splitmix64 started at ``seed``, as a float in [0, 1)."""
    z = (seed + (t + 1) * 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return (z >> 11) / 2.0**53


@dataclass
class MatchConfig(RefConfig):
    entry_order: str = "market"
    exit_order: str = "market"
    limit_offset_bps: float = 0.0
    stop_offset_bps: float = 0.0
    stop_limit_offset_bps: float = 0.0
    order_ttl_bars: int = 0
    spread_bps: float = 0.0
    impact_coef: float = 0.0
    max_volume_share: float | None = None
    touch_fill_prob: float = 1.0
    fill_seed: int = 0


@dataclass
class Order:
    kind: str  # long | short | close | flatten
    type: int  # MARKET | LIMIT | STOP | STOP_LIMIT
    active_from: int
    expires: int | None
    limit: float | None = None
    stop: float | None = None
    triggered: bool = False
    budget: float | None = None  # entries: what is left to spend once sized


@dataclass
class Position:
    direction: int
    units: float  # held now (> 0)
    entry_idx: int
    entry_price: float  # VWAP of the entry fills
    entry_fee: float
    total: float  # units entered
    extreme: float
    exit_qty: float = 0.0
    exit_price: float = 0.0  # VWAP of the exit fills
    exit_fee: float = 0.0


@dataclass
class Account:
    cash: float
    pos: Position | None = None
    order: Order | None = None
    trades: list[dict] = field(default_factory=list)
    fills: list[dict] = field(default_factory=list)
    returns: list[float] = field(default_factory=list)
    streak: int = 0
    cooldown_until: float = -1.0


def run_matching_reference(candles, signals, cfg: MatchConfig, blocked: list | None = None):
    """Returns ``(trades, equity, fills, position)`` (lists; trades and fills as dicts with
    TRADE_DTYPE / FILL_DTYPE field names)."""
    o = [float(x) for x in candles.open]
    h = [float(x) for x in candles.high]
    lo = [float(x) for x in candles.low]
    c = [float(x) for x in candles.close]
    vol = [float(x) for x in candles.volume]
    ts = [int(x) for x in candles.timestamp]
    n = len(c)
    ent = [bool(x) for x in signals.entries]
    ext = [bool(x) for x in signals.exits]
    shorts = cfg.allow_short and len(signals.short_entries) > 0
    sent = [bool(x) for x in signals.short_entries] if shorts else [False] * n
    sext = [bool(x) for x in signals.short_exits] if shorts else [False] * n
    blocked = [] if blocked is None else blocked
    if cfg.slippage_atr_mult > 0 or (cfg.sizing == "fixed_risk" and cfg.stop_loss_pct is None):
        atr = wilder_atr(h, lo, c, cfg.atr_period)
    else:
        atr = [math.nan] * n
    pct = {k: (None if getattr(cfg, k) is None else getattr(cfg, k) / 100.0)
           for k in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct")}
    sl, tp, trail = pct["stop_loss_pct"], pct["take_profit_pct"], pct["trailing_stop_pct"]
    half_spread = cfg.spread_bps / 10_000.0 / 2.0
    acc = Account(cash=cfg.initial_capital)

    def slip(t: int, price: float) -> float:
        s = cfg.slippage_bps / 10_000.0
        if cfg.slippage_atr_mult > 0 and t > 0 and not math.isnan(atr[t - 1]):
            s += cfg.slippage_atr_mult * atr[t - 1] / price
        return s

    def impact(q: float, v: float) -> float:
        if cfg.impact_coef == 0:
            return 0.0
        return cfg.impact_coef * math.sqrt(min(q / v, 1.0) if v > 0 else 1.0)

    def budget_for(t: int, cash: float, px: float, fee_rate: float) -> float:
        if cfg.sizing == "fixed_amount":
            budget = min(cfg.size_value, cash)
        elif cfg.sizing == "fixed_fraction":
            budget = cash * cfg.size_value
        elif cfg.sizing == "fixed_risk":
            if sl is not None:
                dist = sl
            elif t > 0 and not math.isnan(atr[t - 1]) and atr[t - 1] > 0:
                dist = cfg.risk_atr_mult * atr[t - 1] / px
            else:
                return 0.0
            units = cash * (cfg.risk_pct / 100.0) / (px * dist)
            budget = min(units * px * (1 + fee_rate), cash)
        else:
            if len(acc.returns) < cfg.min_trades:
                f = cfg.size_value
            else:
                raw = kelly_f(acc.returns) if cfg.sizing == "kelly" else optimal_f(acc.returns)
                f = min(raw * cfg.kelly_fraction, cfg.max_fraction)
            budget = cash * f
        if cfg.max_position_fraction is not None:
            budget = min(budget, cash * cfg.max_position_fraction)
        return budget

    def log_fill(t, side, q, price, fee, otype, intent, reason, maker):
        acc.fills.append({"bar_idx": t, "side": side, "qty": q, "price": price, "fee": fee,
                          "order_type": otype, "intent": intent, "reason": reason,
                          "maker": maker})

    def book(t: int, p: Position, exit_price: float, exit_fee: float, reason: int) -> None:
        if p.direction == 1:
            pnl = p.total * (exit_price - p.entry_price) - p.entry_fee - exit_fee
        else:
            pnl = p.total * (p.entry_price - exit_price) - p.entry_fee - exit_fee
        acc.trades.append({
            "entry_idx": p.entry_idx, "exit_idx": t, "direction": p.direction,
            "units": p.total, "entry_price": p.entry_price, "exit_price": exit_price,
            "entry_fee": p.entry_fee, "exit_fee": exit_fee, "pnl": pnl,
            "return_pct": pnl / (p.total * p.entry_price + p.entry_fee) * 100.0,
            "exit_reason": reason,
        })

    def exit_fill(t, q, price, fee, otype, maker, reason) -> None:
        p = acc.pos
        assert p is not None and q <= p.units
        if p.direction == 1:
            acc.cash += q * price - fee
        else:
            acc.cash -= q * price + fee
        log_fill(t, -p.direction, q, price, fee, otype, 1, reason, maker)
        p.exit_price = price if p.exit_qty == 0 else (
            (p.exit_qty * p.exit_price + q * price) / (p.exit_qty + q))
        p.exit_qty += q
        p.exit_fee += fee
        if q < p.units:
            p.units -= q
            return
        book(t, p, p.exit_price, p.exit_fee, reason)
        acc.pos = None
        acc.order = None

    def entry_fill(t, side, q, price, fee, otype, maker) -> None:
        if side == 1:
            acc.cash = acc.cash - q * price - fee
        else:
            acc.cash = acc.cash + q * price - fee
        p = acc.pos
        if p is None:
            acc.pos = Position(side, q, t, price, fee, q, price)
        else:
            p.entry_price = (p.total * p.entry_price + q * price) / (p.total + q)
            p.entry_fee += fee
            p.total += q
            p.units += q
        log_fill(t, side, q, price, fee, otype, 0, -1, maker)

    def place(t: int, kind: str, otype: int) -> None:
        if kind in ("close", "flatten"):
            assert acc.pos is not None
            side = -acc.pos.direction
        else:
            side = 1 if kind == "long" else -1
        start = t + cfg.latency_bars
        expires = start + cfg.order_ttl_bars if cfg.order_ttl_bars and kind != "flatten" else None
        order = Order(kind, otype, start, expires)
        if otype == LIMIT:
            order.limit = c[t] * (1 - side * (cfg.limit_offset_bps / 10_000.0))
        elif otype in (STOP, STOP_LIMIT):
            order.stop = c[t] * (1 + side * (cfg.stop_offset_bps / 10_000.0))
            if otype == STOP_LIMIT:
                order.limit = order.stop * (1 + side * (cfg.stop_limit_offset_bps / 10_000.0))
        acc.order = order

    def match(t: int) -> bool:
        """The working order against bar t; True when an entry filled inside the bar."""
        order = acc.order
        assert order is not None
        if order.expires is not None and t >= order.expires:
            acc.order = None
            return False
        is_exit = order.kind in ("close", "flatten")
        if is_exit and acc.pos is None:
            acc.order = None
            return False
        if is_exit:
            assert acc.pos is not None
            side = -acc.pos.direction
        else:
            side = 1 if order.kind == "long" else -1
        px: float | None = None
        bound: float | None = None
        resting = order.type == LIMIT
        if order.type == MARKET:
            px = o[t]
        elif order.type in (STOP, STOP_LIMIT):
            if not order.triggered:
                assert order.stop is not None
                s = order.stop
                if side == 1:
                    trig = o[t] if o[t] >= s else (s if h[t] >= s else None)
                else:
                    trig = o[t] if o[t] <= s else (s if lo[t] <= s else None)
                if trig is None:
                    return False
                order.triggered = True
                if order.type == STOP:
                    px = trig
                else:
                    assert order.limit is not None
                    if (side == 1 and trig <= order.limit) or (side == -1 and trig >= order.limit):
                        px, bound = trig, order.limit
                    else:
                        resting = True
            elif order.type == STOP:
                px = o[t]
            else:
                resting = True
        if resting:
            lim = order.limit
            assert lim is not None
            beyond_open = o[t] < lim if side == 1 else o[t] > lim
            crossed = lo[t] < lim if side == 1 else h[t] > lim
            touched = lo[t] == lim if side == 1 else h[t] == lim
            if beyond_open:
                px = o[t]
            elif crossed:
                px = lim
            elif touched:
                p = cfg.touch_fill_prob
                if p >= 1 or (p > 0 and splitmix_u01(cfg.fill_seed, t) < p):
                    px = lim
        if px is None:
            return False
        cap = math.inf
        if cfg.max_volume_share is not None:
            cap = cfg.max_volume_share * vol[t] if vol[t] > 0 else 0.0
            if cap <= 0:
                return False
        fee_rate = cfg.maker_fee if resting else cfg.taker_fee
        base = 0.0 if resting else slip(t, px) + half_spread
        maker = 1 if resting else 0
        if is_exit:
            assert acc.pos is not None
            q = min(acc.pos.units, cap)
            frac = base + (0.0 if resting else impact(q, vol[t]))
            price = px * (1 + side * frac)
            exit_fill(t, q, price, q * price * fee_rate, order.type, maker,
                      SIGNAL if order.kind == "close" else BREAKER)
            return False
        pre = px * (1 + side * base)
        if order.budget is None:
            budget = budget_for(t, acc.cash, pre, fee_rate)
            if budget <= 0:
                acc.order = None
                return False
            order.budget = budget
        price = pre
        if not resting and cfg.impact_coef > 0:
            q0 = min(order.budget / (pre * (1 + fee_rate)), cap)
            price = px * (1 + side * (base + impact(q0, vol[t])))
        if bound is not None:
            price = min(price, bound) if side == 1 else max(price, bound)
        q = order.budget / (price * (1 + fee_rate))
        whole = q <= cap
        q = q if whole else cap
        fee = q * price * fee_rate
        entry_fill(t, side, q, price, fee, order.type, maker)
        if whole:
            acc.order = None
        else:
            order.budget -= q * price + fee
        return px != o[t]

    def stops(t: int, skip_tp: bool) -> None:
        p = acc.pos
        assert p is not None
        first_bar = p.entry_idx == t
        d = p.direction
        levels = []
        if sl is not None:
            levels.append((p.entry_price * (1 - d * sl), STOP_LOSS))
        if trail is not None:
            levels.append((p.extreme * (1 - d * trail), TRAILING_STOP))
        stop, why = None, None
        for level, reason in levels:  # the tightest stop fires (ties: the stop-loss)
            if stop is None or (level > stop if d == 1 else level < stop):
                stop, why = level, reason
        hit = stop is not None and (lo[t] <= stop if d == 1 else h[t] >= stop)
        if hit:
            assert stop is not None
            gapped = o[t] <= stop if d == 1 else o[t] >= stop
            px = o[t] if (not first_bar and gapped) else stop
            q = p.units
            frac = slip(t, px) + half_spread + impact(q, vol[t])
            price = px * (1 - d * frac)
            exit_fill(t, q, price, q * price * cfg.taker_fee, STOP, 0, why)
            return
        if tp is not None and not skip_tp:
            target = p.entry_price * (1 + d * tp)
            if (h[t] >= target) if d == 1 else (lo[t] <= target):
                past = o[t] >= target if d == 1 else o[t] <= target
                px = o[t] if (not first_bar and past) else target
                q = p.units
                exit_fill(t, q, px, q * px * cfg.maker_fee, LIMIT, 1, TAKE_PROFIT)
                return
        if d == 1:
            p.extreme = max(p.extreme, h[t])
        else:
            p.extreme = min(p.extreme, lo[t])

    day_limits = cfg.max_trades_per_day is not None or cfg.max_daily_loss is not None
    has_limits = day_limits or cfg.max_drawdown_pct is not None or bool(cfg.cooldown_after_losses)
    day, day_start, today = None, 0.0, 0
    peak, halted_until = cfg.initial_capital, None
    dd = None if cfg.max_drawdown_pct is None else cfg.max_drawdown_pct / 100.0
    has_stops = sl is not None or tp is not None or trail is not None
    entry_type = ORDER_CODES[cfg.entry_order]
    exit_type = ORDER_CODES[cfg.exit_order]
    equity: list[float] = []
    position: list[float] = []
    for t in range(n):
        if day_limits and ts[t] // 86_400_000 != day:
            day = ts[t] // 86_400_000
            held = 0.0 if acc.pos is None else acc.pos.direction * acc.pos.units
            day_start = acc.cash + held * (c[t - 1] if t > 0 else o[t])
            today = 0
        n_closed = len(acc.trades)
        intrabar = False
        if acc.order is not None and t >= acc.order.active_from:
            intrabar = match(t)
        if has_stops and acc.pos is not None:
            stops(t, intrabar)
        for tr in acc.trades[n_closed:]:
            acc.returns.append(tr["return_pct"])
            if tr["pnl"] < 0:
                acc.streak += 1
                if cfg.cooldown_after_losses and acc.streak >= cfg.cooldown_after_losses:
                    acc.cooldown_until = t + cfg.cooldown_bars
                    acc.streak = 0
            else:
                acc.streak = 0
        p = acc.pos
        held = 0.0 if p is None else p.direction * p.units
        eq = acc.cash + held * c[t]
        equity.append(eq)
        position.append(held)

        if dd is not None:
            if halted_until is not None:
                if t >= halted_until:
                    halted_until, peak = None, eq
            elif eq > peak:
                peak = eq
            elif eq <= peak * (1 - dd):
                halted_until = (t + cfg.breaker_cooldown_bars if cfg.breaker_cooldown_bars
                                else math.inf)
                if acc.order is not None and acc.order.kind in ("long", "short"):
                    acc.order = None
                    blocked.append((t, DRAWDOWN))
                if acc.pos is not None and cfg.flatten_on_breaker:
                    w = acc.order
                    market_exit = w is not None and (
                        w.kind == "flatten" or (w.kind == "close" and w.type == MARKET))
                    if not market_exit:
                        place(t, "flatten", MARKET)

        p = acc.pos
        w = acc.order
        if w is not None:
            if t < w.active_from:
                continue
            if w.kind == "long" and ext[t] and not ent[t]:
                acc.order = None
                if p is not None:
                    place(t, "close", exit_type)
            elif w.kind == "short" and sext[t] and not sent[t]:
                acc.order = None
                if p is not None:
                    place(t, "close", exit_type)
            elif w.kind == "close" and p is not None and (
                    (p.direction == 1 and ent[t] and not ext[t])
                    or (p.direction == -1 and sent[t] and not sext[t])):
                acc.order = None
            continue
        if p is None:
            want = "long" if ent[t] else ("short" if sent[t] else None)
            if want is None:
                continue
            why = None
            if halted_until is not None:
                why = DRAWDOWN
            elif t < acc.cooldown_until:
                why = LOSS_COOLDOWN
            elif cfg.max_daily_loss is not None and day_start - eq >= cfg.max_daily_loss:
                why = DAILY_LOSS
            elif cfg.max_trades_per_day is not None and today >= cfg.max_trades_per_day:
                why = TRADES_PER_DAY
            if why is not None:
                blocked.append((t, why))
                continue
            if has_limits:
                today += 1
            place(t, want, entry_type)
        elif (p.direction == 1 and ext[t]) or (p.direction == -1 and sext[t]):
            place(t, "close", exit_type)

    p = acc.pos
    if p is not None and n > 0:
        q = p.units
        price = c[n - 1] if p.exit_qty == 0 else (
            (p.exit_qty * p.exit_price + q * c[n - 1]) / (p.exit_qty + q))
        book(n - 1, p, price, p.exit_fee, STILL_OPEN)
    return acc.trades, equity, acc.fills, position
