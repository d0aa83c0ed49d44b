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

Risk rules (docs/decisions/0008-risk-rules.md), all off by default:

- Sizing (equity = cash, the account is flat at an entry): ``fixed_risk`` units =
  cash * risk_pct / (fill * distance), distance = stop_loss_pct, else risk_atr_mult *
  ATR[t-1] / fill (no entry while ATR is unknown), budget = min(units * fill * (1 + fee),
  cash); ``kelly`` f = W - (1 - W) / R over all closed trades (W: share of returns > 0,
  R: mean win / mean loss of return_pct; f = W without losses, 0 without wins, never
  < 0); ``optimal_f`` the f in (0, 1) maximizing sum(log(1 + f * r / |worst r|)) over the
  last 256 closed returns by golden-section search, rounded to 1e-4 (1 without losses, 0
  when those returns do not sum to > 0); both then min(f * kelly_fraction,
  max_fraction), and size_value before min_trades trades. Budget = cash * f.
  ``max_position_fraction`` caps every budget at cash * cap.
- At the start of the first bar of each UTC day: day start equity = equity at the
  previous close (the open of bar 0), entries today = 0.
- After marking bar t: the drawdown breaker. Halted: at t >= halted_until resume and
  set the peak to the equity. Else a new high moves the peak; equity <= peak * (1 - dd)
  trips it: halted until t + breaker_cooldown_bars (forever if 0), a pending entry is
  cancelled (blocked, reason breaker), and with flatten_on_breaker a held position gets
  a market close (reason 5) unless an order is in flight.
- A closed trade with pnl < 0 extends the losing streak (else resets it); reaching
  cooldown_after_losses sets cooldown_until = exit bar + cooldown_bars, streak = 0.
- An entry decision at bar t's close is blocked (first that applies): halted
  (breaker=2), t < cooldown_until (loss_cooldown=3), day start equity - equity >=
  max_daily_loss (1), entries today >= max_trades_per_day (0). Otherwise it counts as
  one of today's entries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Exit reasons, as the engine numbers them (tradebot.engine.result).
SIGNAL, STOP_LOSS, TAKE_PROFIT, TRAILING_STOP, STILL_OPEN, BREAKER = 0, 1, 2, 3, 4, 5
TRADES_PER_DAY, DAILY_LOSS, DRAWDOWN, LOSS_COOLDOWN = 0, 1, 2, 3
WINDOW = 256


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
    risk_pct: float = 1.0
    risk_atr_mult: float = 2.0
    kelly_fraction: float = 0.5
    max_fraction: float = 1.0
    min_trades: int = 10
    max_position_fraction: float | None = None
    max_trades_per_day: int | None = None
    max_daily_loss: float | None = None
    max_drawdown_pct: float | None = None
    flatten_on_breaker: bool = False
    breaker_cooldown_bars: int = 0
    cooldown_after_losses: int | None = None
    cooldown_bars: int = 0

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
    returns: list[float] = field(default_factory=list)  # return_pct of closed trades
    streak: int = 0
    cooldown_until: float = -1.0
    loss_n: int = 0  # cooldown_after_losses or 0


def _after_close(acc: _Account, tr: dict, t: int, cooldown_bars: int) -> None:
    acc.returns.append(tr["return_pct"])
    if tr["pnl"] < 0:
        acc.streak += 1
        if acc.loss_n and acc.streak >= acc.loss_n:
            acc.cooldown_until = t + cooldown_bars
            acc.streak = 0
    else:
        acc.streak = 0


def kelly_f(returns: list[float]) -> float:
    wins = [r for r in returns if r > 0]
    losses = [-r for r in returns if r <= 0]
    if not wins:
        return 0.0
    w = len(wins) / len(returns)
    if sum(losses) == 0:
        return w
    r = (sum(wins) / len(wins)) / (sum(losses) / len(losses))
    return max(w - (1 - w) / r, 0.0)


def optimal_f(returns: list[float]) -> float:
    """Golden-section search of the concave sum(log(1 + f * r / |worst|)) on (0, 1)."""
    n = len(returns)
    ring = [0.0] * WINDOW  # the engine keeps the last WINDOW returns in a ring
    for k, r in enumerate(returns):
        ring[k % WINDOW] = r
    kept = ring[:min(n, WINDOW)]
    worst = min(kept + [0.0])
    if worst >= 0:
        return 1.0
    if sum(kept) <= 0:  # the slope of the log TWR at f = 0: no positive f helps
        return 0.0
    aw = -worst

    def g(f: float) -> float:
        total = 0.0
        for r in kept:
            term = 1.0 + f * (r / aw)
            total += math.log(term) if term > 0 else -math.inf
        return total

    gr = 0.6180339887498949
    a, b = 0.0, 1.0
    c, d = b - gr * (b - a), a + gr * (b - a)
    for _ in range(60):
        if g(c) > g(d):
            b = d
        else:
            a = c
        c, d = b - gr * (b - a), a + gr * (b - a)
    return math.floor((a + b) / 2.0 / 1e-4 + 0.5) * 1e-4  # rounded to 1e-4


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
                  short_exits=None, config: RefConfig | None = None, timestamp=None,
                  blocked: list[tuple[int, int]] | None = None):
    """Returns ``(trades, equity)``: a list of dicts (TRADE_DTYPE field names) and a list.

    Blocked entries are appended to ``blocked`` as (bar, reason) when it is given.
    """
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
    blocked = [] if blocked is None else blocked
    ts = [0] * n if timestamp is None else [int(x) for x in timestamp]
    if cfg.slippage_atr_mult > 0 or (cfg.sizing == "fixed_risk" and cfg.stop_loss_pct is None):
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

    def budget_for(t: int, cash: float, px: float) -> float:
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
            budget = min(units * px * (1 + cfg.taker_fee), cash)
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

    day_limits = cfg.max_trades_per_day is not None or cfg.max_daily_loss is not None
    day, day_start, today = None, 0.0, 0
    peak, halted_until = cfg.initial_capital, None
    dd = None if cfg.max_drawdown_pct is None else cfg.max_drawdown_pct / 100.0

    acc = _Account(cash=cfg.initial_capital, loss_n=cfg.cooldown_after_losses or 0)
    equity: list[float] = []
    for t in range(n):
        # 0. a new UTC day
        if day_limits and ts[t] // 86_400_000 != day:
            day = ts[t] // 86_400_000
            held = 0.0 if acc.pos is None else acc.pos.direction * acc.pos.units
            day_start = acc.cash + held * (c[t - 1] if t > 0 else o[t])
            today = 0
        n_closed = len(acc.trades)
        # 1. the order whose time has come fills at this bar's open
        if acc.order is not None and acc.order[1] == t:
            kind = acc.order[0]
            acc.order = None
            s = slip(t, o[t])
            if kind in ("close", "flatten"):
                assert acc.pos is not None
                px = o[t] * (1 - s) if acc.pos.direction == 1 else o[t] * (1 + s)
                _close(acc, t, px, cfg.taker_fee, SIGNAL if kind == "close" else BREAKER)
            else:
                assert acc.pos is None
                px = o[t] * (1 + s) if kind == "long" else o[t] * (1 - s)
                budget = budget_for(t, acc.cash, px)
                if budget > 0:
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

        for tr in acc.trades[n_closed:]:  # the loss streak and the sizing statistics
            _after_close(acc, tr, t, cfg.cooldown_bars)

        # 3. mark to market at the close
        p = acc.pos
        held = 0.0 if p is None else p.direction * p.units
        eq = acc.cash + held * c[t]
        equity.append(eq)

        # 3b. the drawdown circuit breaker
        if dd is not None:
            if halted_until is not None:
                if t >= halted_until:
                    halted_until, peak = None, eq
            elif eq > peak:
                peak = eq
            elif eq <= peak * (1 - dd):
                halted_until = t + cfg.breaker_cooldown_bars if cfg.breaker_cooldown_bars else math.inf
                if acc.order is not None and acc.order[0] in ("long", "short"):
                    acc.order = None
                    blocked.append((t, DRAWDOWN))
                elif acc.order is None and p is not None and cfg.flatten_on_breaker:
                    acc.order = ("flatten", t + cfg.latency_bars)

        # 4. decide at the close
        if acc.order is None:
            at = t + cfg.latency_bars
            if p is None:
                want = "long" if ent[t] else ("short" if sent[t] else None)
                if want is not None:
                    why = None
                    if halted_until is not None:
                        why = DRAWDOWN
                    elif t < acc.cooldown_until:
                        why = LOSS_COOLDOWN
                    elif cfg.max_daily_loss is not None and day_start - eq >= cfg.max_daily_loss:
                        why = DAILY_LOSS
                    elif cfg.max_trades_per_day is not None and today >= cfg.max_trades_per_day:
                        why = TRADES_PER_DAY
                    if why is None:
                        acc.order = (want, at)
                        today += 1
                    else:
                        blocked.append((t, why))
            elif (p.direction == 1 and ext[t]) or (p.direction == -1 and sext[t]):
                acc.order = ("close", at)

    if acc.pos is not None and n > 0:
        _book(acc, n - 1, c[n - 1], 0.0, STILL_OPEN)
    return acc.trades, equity
