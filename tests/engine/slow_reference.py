"""A slow, obvious, pure-Python backtester: the engine's rules written out plainly.

Used only by the tests, as an independent second implementation of the fill rules
(written from the rules, not from ``tradebot/engine/kernels.py``):

- At bar t's close, bar t's signals are turned into at most one market order
  (entries only when flat, exits only when holding, nothing while an order is in
  flight). It fills at ``open[t + latency]``; an order that would fill after the last
  bar never fills.
- Market orders and stops pay the taker fee and suffer adverse slippage
  ``s = bps / 1e4 + atr_mult * ATR[t-1] / price`` (buy at ``price * (1 + s)``, sell at
  ``price * (1 - s)``); take-profit pays the maker fee, no slippage.
- Sizing: ``fixed_fraction`` budget = cash * fraction, ``fixed_amount`` budget =
  min(amount, cash); units = budget / (fill * (1 + fee)).
- Stops are percentages of the entry fill price, checked inside every bar from the
  entry bar on: stop-loss / trailing first, then take-profit. The trailing stop hangs
  below the highest high of the bars before the current one since entry (the entry
  fill price to start with); for shorts, above the lowest low. A bar that opens
  beyond the stop (or past the target), other than the entry bar, fills at the open.
- Equity at each bar = cash + signed units * close, after that bar's fills.
- A position still open after the last bar is a trade closed at the last close, exit
  fee 0, reason "still open".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Exit reasons, as the engine numbers them (tradebot.engine.result).
SIGNAL, STOP_LOSS, TAKE_PROFIT, TRAILING_STOP, STILL_OPEN = 0, 1, 2, 3, 4


@dataclass
class RefConfig:
    initial_capital: float = 10_000.0
    maker_fee: float = 0.001
    taker_fee: float = 0.001
    slippage_bps: float = 0.0
    slippage_atr_mult: float = 0.0
    atr_period: int = 14
    latency_bars: int = 1
    sizing: str = "fixed_fraction"
    size_value: float = 1.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_stop_pct: float | None = None
    allow_short: bool = False

    @classmethod
    def from_engine(cls, cfg: object) -> RefConfig:
        return cls(**{k: getattr(cfg, k) for k in cls.__dataclass_fields__})


def wilder_atr(high: list[float], low: list[float], close: list[float],
               period: int) -> list[float]:
    """ATR as TA-Lib defines it: NaN for the first ``period`` bars, then the mean of the
    true ranges of bars 1..period, then Wilder smoothing."""
    n = len(close)
    out = [math.nan] * n
    if period < 1 or n <= period:
        return out
    tr = [math.nan] + [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        for i in range(1, n)
    ]
    avg = sum(tr[1:period + 1]) / period
    out[period] = avg
    for i in range(period + 1, n):
        avg = (avg * (period - 1) + tr[i]) / period
        out[i] = avg
    return out


@dataclass
class _Position:
    direction: int  # 1 long, -1 short
    units: float  # > 0
    entry_idx: int
    entry_price: float
    entry_fee: float


@dataclass
class _Account:
    cash: float
    pos: _Position | None = None
    order: tuple[str, int] | None = None  # ("long" | "short" | "close", bar it fills at)
    trades: list[dict] = field(default_factory=list)


def _book(acc: _Account, t: int, price: float, fee: float, reason: int) -> None:
    """Record the round trip of ``acc.pos`` closed at ``price`` with ``fee``."""
    p = acc.pos
    assert p is not None
    if p.direction == 1:
        pnl = p.units * (price - p.entry_price) - p.entry_fee - fee
    else:
        pnl = p.units * (p.entry_price - price) - p.entry_fee - fee
    acc.trades.append({
        "entry_idx": p.entry_idx,
        "exit_idx": t,
        "direction": p.direction,
        "units": p.units,
        "entry_price": p.entry_price,
        "exit_price": price,
        "entry_fee": p.entry_fee,
        "exit_fee": fee,
        "pnl": pnl,
        "return_pct": pnl / (p.units * p.entry_price + p.entry_fee) * 100.0,
        "exit_reason": reason,
    })


def _close(acc: _Account, t: int, price: float, fee_rate: float, reason: int) -> None:
    p = acc.pos
    assert p is not None
    value = p.units * price
    fee = value * fee_rate
    if p.direction == 1:
        acc.cash += value - fee  # sell what we hold
    else:
        acc.cash -= value + fee  # buy back what we owe
    _book(acc, t, price, fee, reason)
    acc.pos = None
    acc.order = None  # an exit order still in flight has nothing left to close


def run_reference(open_, high, low, close, entries, exits, short_entries=None,
                  short_exits=None, config: RefConfig | None = None):
    """Returns ``(trades, equity)``: a list of dicts (TRADE_DTYPE field names) and a list."""
    cfg = config or RefConfig()
    o = [float(x) for x in open_]
    h = [float(x) for x in high]
    lo = [float(x) for x in low]
    c = [float(x) for x in close]
    n = len(c)
    ent = [bool(x) for x in entries]
    ext = [bool(x) for x in exits]
    use_shorts = cfg.allow_short and short_entries is not None and len(short_entries) > 0
    sent = [bool(x) for x in short_entries] if use_shorts else [False] * n
    sext = [bool(x) for x in short_exits] if use_shorts else [False] * n
    if cfg.slippage_atr_mult > 0:
        atr = wilder_atr(h, lo, c, cfg.atr_period)
    else:
        atr = [math.nan] * n
    sl = None if cfg.stop_loss_pct is None else cfg.stop_loss_pct / 100.0
    tp = None if cfg.take_profit_pct is None else cfg.take_profit_pct / 100.0
    trail = None if cfg.trailing_stop_pct is None else cfg.trailing_stop_pct / 100.0

    def slip(t: int, price: float) -> float:
        s = cfg.slippage_bps / 10_000.0
        if cfg.slippage_atr_mult > 0 and t > 0 and not math.isnan(atr[t - 1]):
            s += cfg.slippage_atr_mult * atr[t - 1] / price
        return s

    acc = _Account(cash=cfg.initial_capital)
    equity: list[float] = []
    for t in range(n):
        # 1. the order whose time has come fills at this bar's open
        if acc.order is not None and acc.order[1] == t:
            kind = acc.order[0]
            acc.order = None
            s = slip(t, o[t])
            if kind == "close":
                assert acc.pos is not None
                px = o[t] * (1 - s) if acc.pos.direction == 1 else o[t] * (1 + s)
                _close(acc, t, px, cfg.taker_fee, SIGNAL)
            else:
                assert acc.pos is None
                if cfg.sizing == "fixed_amount":
                    budget = min(cfg.size_value, acc.cash)
                else:
                    budget = acc.cash * cfg.size_value
                if budget > 0:
                    px = o[t] * (1 + s) if kind == "long" else o[t] * (1 - s)
                    units = budget / (px * (1 + cfg.taker_fee))
                    fee = units * px * cfg.taker_fee
                    if kind == "long":
                        acc.cash -= units * px + fee
                        acc.pos = _Position(1, units, t, px, fee)
                    else:
                        acc.cash += units * px - fee
                        acc.pos = _Position(-1, units, t, px, fee)

        # 2. stops inside this bar: stop-loss / trailing first, then take-profit
        p = acc.pos
        if p is not None and (sl is not None or tp is not None or trail is not None):
            first_bar = p.entry_idx == t
            if p.direction == 1:
                candidates = []
                if sl is not None:
                    candidates.append((p.entry_price * (1 - sl), STOP_LOSS))
                if trail is not None:
                    best = max([p.entry_price] + h[p.entry_idx:t])
                    candidates.append((best * (1 - trail), TRAILING_STOP))
                stop, reason = None, None
                for level, why in candidates:  # the highest stop is the one that fires
                    if stop is None or level > stop:
                        stop, reason = level, why
                if stop is not None and lo[t] <= stop:
                    px = o[t] if (not first_bar and o[t] <= stop) else stop
                    _close(acc, t, px * (1 - slip(t, px)), cfg.taker_fee, reason)
                elif tp is not None and h[t] >= p.entry_price * (1 + tp):
                    target = p.entry_price * (1 + tp)
                    px = o[t] if (not first_bar and o[t] >= target) else target
                    _close(acc, t, px, cfg.maker_fee, TAKE_PROFIT)
            else:
                candidates = []
                if sl is not None:
                    candidates.append((p.entry_price * (1 + sl), STOP_LOSS))
                if trail is not None:
                    best = min([p.entry_price] + lo[p.entry_idx:t])
                    candidates.append((best * (1 + trail), TRAILING_STOP))
                stop, reason = None, None
                for level, why in candidates:  # the lowest stop is the one that fires
                    if stop is None or level < stop:
                        stop, reason = level, why
                if stop is not None and h[t] >= stop:
                    px = o[t] if (not first_bar and o[t] >= stop) else stop
                    _close(acc, t, px * (1 + slip(t, px)), cfg.taker_fee, reason)
                elif tp is not None and lo[t] <= p.entry_price * (1 - tp):
                    target = p.entry_price * (1 - tp)
                    px = o[t] if (not first_bar and o[t] <= target) else target
                    _close(acc, t, px, cfg.maker_fee, TAKE_PROFIT)

        # 3. mark to market at the close
        p = acc.pos
        held = 0.0 if p is None else p.direction * p.units
        equity.append(acc.cash + held * c[t])

        # 4. decide at the close
        if acc.order is None:
            at = t + cfg.latency_bars
            if p is None:
                if ent[t]:
                    acc.order = ("long", at)
                elif sent[t]:
                    acc.order = ("short", at)
            elif (p.direction == 1 and ext[t]) or (p.direction == -1 and sext[t]):
                acc.order = ("close", at)

    if acc.pos is not None and n > 0:
        _book(acc, n - 1, c[n - 1], 0.0, STILL_OPEN)
    return acc.trades, equity
