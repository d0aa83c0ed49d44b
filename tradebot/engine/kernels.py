"""Compiled execution kernels: decisions and fills bar by bar.

Every mode runs the same loop, :func:`run_bars_nb`. For each bar it:

1. fills the pending market order whose time has come, at this bar's open;
2. checks stop-loss / trailing stop / take-profit inside this bar (stop first when a
   bar touches both: the conservative assumption);
3. marks the position to this bar's close;
4. decides at the close from this bar's signals; a decision becomes a market order
   that fills ``latency`` bars later.

With the order-matching fill model on (``params[P_MATCHING]``), step 1 matches the
working order (market, limit, stop, stop-limit; partial fills) with the helpers of
:mod:`tradebot.engine.matching_nb` instead. Every execution is appended to a fill log.

The backtest (:func:`simulate`) runs it over all bars; the step runner (paper,
live) runs it over the bars that closed since its last run, with the persisted
``state`` vector. Arrays in, arrays out; no Python objects.

Compile time: the loop has three paths (:func:`run_market_nb`, :func:`run_risk_nb`,
:func:`run_match_nb`); callers from Python take the one their parameters need with
:func:`runner_for`, so a command compiles only that path. Helpers are separate kernels
(compiled once each, LLVM inlines them) rather than ``inline="always"`` (numba IR
inlining, which made every caller's compile several times slower); results are the same
bit for bit. Kernels are decorated with :func:`tradebot._jit.njit` (cache location).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from tradebot._jit import njit
from tradebot.engine.config import (
    P_FLATTEN,
    P_HAS_DAY,
    P_HAS_LIMITS,
    P_HAS_STOPS,
    P_INIT,
    P_LATENCY,
    P_MAKER,
    P_MATCHING,
    P_MAX_DD,
    P_SHORT,
    P_SIZE_MODE,
    P_SL,
    P_TAKER,
    P_TP,
    P_TRAIL,
    SIZE_KELLY,
)
from tradebot.engine.layout import (
    BUY_LONG,
    CLOSE,
    FLATTEN,
    N_FILL_COLS,
    N_MATCH,
    N_TRADE_COLS,
    NO_ORDER,
    S_CASH,
    S_ENTRY_FEE,
    S_ENTRY_IDX,
    S_ENTRY_PRICE,
    S_EXTREME,
    S_PENDING,
    S_PENDING_AT,
    S_UNITS,
    SELL_SHORT,
    T_PNL,
    T_RETURN,
)
from tradebot.engine.matching_nb import (
    close_open_trade_match_nb,
    decide_match_nb,
    init_match_state_nb,
    match_base_nb,
    match_order_nb,
    record_fill_nb,
    record_trade_nb,
    slip_nb,
    stops_match_nb,
    trip_breaker_match_nb,
)
from tradebot.engine.result import (
    EXIT_BREAKER,
    EXIT_OPEN,
    EXIT_SIGNAL,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    EXIT_TRAILING_STOP,
    INTENT_ENTRY,
    INTENT_EXIT,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
)
from tradebot.engine.risk_nb import (
    BLOCK_BREAKER,
    N_BLOCKED_COLS,
    N_STATE,
    S_COOL_UNTIL,
    S_DAY,
    S_HALT_UNTIL,
    S_PEAK,
    S_TRADES_TODAY,
    breaker_nb,
    entry_block_reason_nb,
    entry_budget_nb,
    new_day_nb,
    on_trade_closed_nb,
)
from tradebot.engine.stops_nb import level_fill_px_nb, stop_level_nb, track_extreme_nb

# The state, trade and fill layouts are in tradebot.engine.layout: state slots 0..7 are
# the account and its pending order, 8..N_STATE-1 the risk state (risk_nb.S_*), then the
# optimal-f ring (optimal f sizing only), then the working order of the matching model.


@njit(cache=True)
def new_state_nb(params):
    """A flat account holding the initial capital in cash."""
    mb = match_base_nb(params)
    state = np.zeros(mb + N_MATCH, dtype=np.float64)
    init_match_state_nb(state, mb)
    state[S_CASH] = params[P_INIT]
    state[S_PENDING_AT] = -1.0
    state[S_ENTRY_IDX] = -1.0
    state[S_DAY] = -1.0  # finite: the state is persisted as JSON
    state[S_PEAK] = params[P_INIT]
    state[S_HALT_UNTIL] = -1.0
    state[S_COOL_UNTIL] = -1.0
    return state


@njit(cache=True)
def _record_close_nb(state, t, exit_price, exit_fee, reason, trades, n_trades):
    """Book the whole position as a round trip closed at bar ``t``."""
    units = state[S_UNITS]
    return record_trade_nb(trades, n_trades, t, 1.0 if units > 0 else -1.0, abs(units),
                           state[S_ENTRY_IDX], state[S_ENTRY_PRICE], state[S_ENTRY_FEE],
                           exit_price, exit_fee, reason)


@njit(cache=True)
def _close_position_nb(state, t, price, fee_rate, reason, params, trades, n_trades, fills,
                       fc):
    """Close the whole position at ``price`` (already slipped), log the fill (the fill
    count is ``fc[0]``) and book the trade. A take-profit is a resting limit (maker),
    a stop a stop order, the rest market orders. Returns ``n_trades``."""
    units = state[S_UNITS]
    qty = abs(units)
    fee = qty * price * fee_rate
    if units > 0:
        state[S_CASH] += qty * price - fee
        side = -1.0
    else:
        state[S_CASH] -= qty * price + fee
        side = 1.0
    if reason == EXIT_TAKE_PROFIT:
        otype, maker = ORDER_LIMIT, 1.0
    elif reason == EXIT_STOP_LOSS or reason == EXIT_TRAILING_STOP:
        otype, maker = ORDER_STOP, 0.0
    else:
        otype, maker = ORDER_MARKET, 0.0
    fc[0] = record_fill_nb(fills, fc[0], t, side, qty, price, fee, otype,
                                INTENT_EXIT, reason, maker)
    n_trades = _record_close_nb(state, t, price, fee, reason, trades, n_trades)
    state[S_UNITS] = 0.0
    state[S_PENDING] = NO_ORDER
    state[S_PENDING_AT] = -1.0
    return n_trades


@njit(cache=True)
def _trade_closed_nb(t, params, state, trades, n_trades):
    """Loss streak and sizing statistics after the trade just booked (rare)."""
    row = trades[n_trades - 1]
    on_trade_closed_nb(state, t, row[T_PNL], row[T_RETURN], params, N_STATE)


@njit(cache=True)
def fill_pending_nb(t, price, atr_prev, params, state, trades, n_trades, fills, fc):
    """Fill the pending market order at this bar's open ``price`` if its time has come.
    Returns ``n_trades``; the fill is logged in ``fills`` (``fc[0]`` rows)."""
    kind = state[S_PENDING]
    if kind == NO_ORDER or state[S_PENDING_AT] != t:
        return n_trades
    slip = slip_nb(params, price, atr_prev)
    fee_rate = params[P_TAKER]
    if kind == CLOSE or kind == FLATTEN:
        why = EXIT_SIGNAL if kind == CLOSE else EXIT_BREAKER
        if state[S_UNITS] > 0:
            return _close_position_nb(state, t, price * (1.0 - slip), fee_rate, why,
                                      params, trades, n_trades, fills, fc)
        return _close_position_nb(state, t, price * (1.0 + slip), fee_rate, why,
                                  params, trades, n_trades, fills, fc)
    # Entry: size from cash (the account is flat), fee included in the budget.
    cash = state[S_CASH]
    fill = price * (1.0 + slip) if kind == BUY_LONG else price * (1.0 - slip)
    budget = entry_budget_nb(cash, fill, fee_rate, atr_prev, params, state, N_STATE)
    state[S_PENDING] = NO_ORDER
    state[S_PENDING_AT] = -1.0
    if budget <= 0.0:
        return n_trades
    units = budget / (fill * (1.0 + fee_rate))
    fee = units * fill * fee_rate
    if kind == BUY_LONG:
        state[S_CASH] = cash - units * fill - fee
        state[S_UNITS] = units
        side = 1.0
    else:
        state[S_CASH] = cash + units * fill - fee
        state[S_UNITS] = -units
        side = -1.0
    state[S_ENTRY_PRICE] = fill
    state[S_ENTRY_FEE] = fee
    state[S_ENTRY_IDX] = t
    state[S_EXTREME] = fill
    fc[0] = record_fill_nb(fills, fc[0], t, side, units, fill, fee, ORDER_MARKET,
                                INTENT_ENTRY, -1.0, 0.0)
    return n_trades


@njit(cache=True)
def check_stops_nb(t, o, h, lo, atr_prev, params, state, trades, n_trades, fills, fc):
    """Stop-loss, trailing stop and take-profit inside bar ``t`` (stop first).

    ``o``/``h``/``lo`` are the bar's open, high and low. Returns ``n_trades``. The stop
    level and the fill prices come from :mod:`tradebot.engine.stops_nb`; a stop exit pays
    slippage and the taker fee, a take-profit the maker fee.
    """
    units = state[S_UNITS]
    if units == 0.0:
        return n_trades
    sl, tp, trail = params[P_SL], params[P_TP], params[P_TRAIL]
    entry = state[S_ENTRY_PRICE]
    entry_bar = state[S_ENTRY_IDX] == t  # entered at this open: the open is the entry
    if units > 0:
        stop, reason = stop_level_nb(entry, state[S_EXTREME], sl, trail, True)
        if lo <= stop:
            px = level_fill_px_nb(stop, o, entry_bar, True)
            slip = slip_nb(params, px, atr_prev)
            return _close_position_nb(state, t, px * (1.0 - slip), params[P_TAKER], reason,
                                      params, trades, n_trades, fills, fc)
        if tp == tp:
            target = entry * (1.0 + tp)
            if h >= target:
                px = level_fill_px_nb(target, o, entry_bar, False)
                return _close_position_nb(state, t, px, params[P_MAKER], EXIT_TAKE_PROFIT,
                                          params, trades, n_trades, fills, fc)
        track_extreme_nb(state, h, True)
    else:
        stop, reason = stop_level_nb(entry, state[S_EXTREME], sl, trail, False)
        if h >= stop:
            px = level_fill_px_nb(stop, o, entry_bar, False)
            slip = slip_nb(params, px, atr_prev)
            return _close_position_nb(state, t, px * (1.0 + slip), params[P_TAKER], reason,
                                      params, trades, n_trades, fills, fc)
        if tp == tp:
            target = entry * (1.0 - tp)
            if lo <= target:
                px = level_fill_px_nb(target, o, entry_bar, True)
                return _close_position_nb(state, t, px, params[P_MAKER], EXIT_TAKE_PROFIT,
                                          params, trades, n_trades, fills, fc)
        track_extreme_nb(state, lo, False)
    return n_trades


@njit(cache=True)
def decide_nb(t, entry, exit_, short_entry, short_exit, params, state):
    """At bar ``t``'s close, turn this bar's signals into a pending market order."""
    if state[S_PENDING] != NO_ORDER:
        return  # an order is in flight: one at a time
    units = state[S_UNITS]
    at = t + params[P_LATENCY]
    if units == 0.0:
        if entry:
            state[S_PENDING] = BUY_LONG
            state[S_PENDING_AT] = at
        elif short_entry and params[P_SHORT] != 0.0:
            state[S_PENDING] = SELL_SHORT
            state[S_PENDING_AT] = at
    elif (units > 0.0 and exit_) or (units < 0.0 and short_exit):
        state[S_PENDING] = CLOSE
        state[S_PENDING_AT] = at


@njit(cache=True)
def decide_risk_nb(t, entry, exit_, short_entry, short_exit, params, state, eq, blocked,
                   n_blocked):
    """:func:`decide_nb` with the risk limits: an entry they forbid is recorded in
    ``blocked`` (bar, reason) instead. Returns ``n_blocked``.
    """
    if state[S_PENDING] != NO_ORDER:
        return n_blocked  # an order is in flight: one at a time
    units = state[S_UNITS]
    at = t + params[P_LATENCY]
    if units == 0.0:
        kind = NO_ORDER
        if entry:
            kind = BUY_LONG
        elif short_entry and params[P_SHORT] != 0.0:
            kind = SELL_SHORT
        if kind != NO_ORDER:
            reason = entry_block_reason_nb(t, eq, params, state)
            if reason >= 0:
                blocked[n_blocked, 0] = t
                blocked[n_blocked, 1] = reason
                return n_blocked + 1
            state[S_TRADES_TODAY] += 1.0
            state[S_PENDING] = kind
            state[S_PENDING_AT] = at
    elif (units > 0.0 and exit_) or (units < 0.0 and short_exit):
        state[S_PENDING] = CLOSE
        state[S_PENDING_AT] = at
    return n_blocked


@njit(cache=True)
def _trip_breaker_nb(t, params, state, blocked, n_blocked):
    """The drawdown breaker tripped at bar t's close: cancel a pending entry (recorded as
    blocked) and, with ``flatten_on_breaker``, close the position with a market order."""
    kind = state[S_PENDING]
    if kind == BUY_LONG or kind == SELL_SHORT:
        state[S_PENDING] = NO_ORDER
        state[S_PENDING_AT] = -1.0
        blocked[n_blocked, 0] = t
        blocked[n_blocked, 1] = BLOCK_BREAKER
        n_blocked += 1
    elif kind == NO_ORDER and state[S_UNITS] != 0.0 and params[P_FLATTEN] != 0.0:
        state[S_PENDING] = FLATTEN
        state[S_PENDING_AT] = t + params[P_LATENCY]
    return n_blocked


@njit(cache=True)
def _grow_nb(trades, n_trades):
    """A buffer twice as large holding the first ``n_trades`` rows (element by element:
    a slice assignment would compile numba's generic broadcasting code)."""
    grown = np.empty((trades.shape[0] * 2 + 2, trades.shape[1]), dtype=np.float64)
    for i in range(n_trades):
        for j in range(trades.shape[1]):
            grown[i, j] = trades[i, j]
    return grown


@njit(cache=True)
def _run_chunk_nb(start, stop, open_, high, low, close, atr, entries, exits, short_entries,
                  short_exits, params, state, trades, n_trades, fills, fc, equity):
    """The loop body over ``[start, stop)`` without risk limits; stops early when
    ``trades`` or ``fills`` is nearly full. Returns ``(next_bar, n_trades)``; the fill
    count is kept in ``fc[0]`` (an array: the fill helpers stay lean for the loop).
    Kept free of array reassignment so numba keeps reference counting out of the loop.
    """
    has_atr = atr.shape[0] > 0
    has_se = short_entries.shape[0] > 0
    has_sx = short_exits.shape[0] > 0
    has_stops = params[P_HAS_STOPS] != 0.0
    has_stats = params[P_SIZE_MODE] >= SIZE_KELLY  # sizing from the closed trades
    capacity = trades.shape[0]
    fill_capacity = fills.shape[0]
    for t in range(start, stop):
        fill_now = state[S_PENDING] != NO_ORDER and state[S_PENDING_AT] == t
        stops_now = has_stops and (state[S_UNITS] != 0.0 or fill_now)
        if fill_now or stops_now:
            if n_trades + 2 > capacity or fc[0] + 2 > fill_capacity:
                return t, n_trades
            atr_prev = atr[t - 1] if (has_atr and t > 0) else np.nan
            n0 = n_trades
            if fill_now:
                n_trades = fill_pending_nb(t, open_[t], atr_prev, params, state, trades,
                                           n_trades, fills, fc)
            if stops_now and state[S_UNITS] != 0.0:
                n_trades = check_stops_nb(t, open_[t], high[t], low[t], atr_prev, params,
                                          state, trades, n_trades, fills, fc)
            if has_stats and n_trades > n0:  # at most one trade closes in a bar
                _trade_closed_nb(t, params, state, trades, n_trades)
        equity[t] = state[S_CASH] + state[S_UNITS] * close[t]
        if state[S_PENDING] == NO_ORDER:
            se = has_se and short_entries[t]
            sx = has_sx and short_exits[t]
            if entries[t] or exits[t] or se or sx:
                decide_nb(t, entries[t], exits[t], se, sx, params, state)
    return stop, n_trades


@njit(cache=True)
def _run_chunk_risk_nb(start, stop, timestamp, open_, high, low, close, atr, entries, exits,
                       short_entries, short_exits, params, state, trades, n_trades, blocked,
                       n_blocked, fills, fc, equity):
    """:func:`_run_chunk_nb` with the risk limits (day tracking, drawdown breaker, blocked
    entries); stops early when ``trades``, ``blocked`` or ``fills`` is nearly full.
    Returns ``(next_bar, n_trades, n_blocked)``; the fill count is ``fc[0]``.
    """
    has_atr = atr.shape[0] > 0
    has_se = short_entries.shape[0] > 0
    has_sx = short_exits.shape[0] > 0
    has_stops = params[P_HAS_STOPS] != 0.0
    has_day = params[P_HAS_DAY] != 0.0
    has_dd = params[P_MAX_DD] == params[P_MAX_DD]
    capacity = trades.shape[0]
    blocked_capacity = blocked.shape[0]
    fill_capacity = fills.shape[0]
    for t in range(start, stop):
        if n_blocked + 2 > blocked_capacity:
            return t, n_trades, n_blocked
        if has_day:  # equity before this bar: at the previous close (or this open)
            before = close[t - 1] if t > 0 else open_[t]
            new_day_nb(timestamp[t], state[S_CASH] + state[S_UNITS] * before, state)
        fill_now = state[S_PENDING] != NO_ORDER and state[S_PENDING_AT] == t
        stops_now = has_stops and (state[S_UNITS] != 0.0 or fill_now)
        if fill_now or stops_now:
            if n_trades + 2 > capacity or fc[0] + 2 > fill_capacity:
                return t, n_trades, n_blocked
            atr_prev = atr[t - 1] if (has_atr and t > 0) else np.nan
            n0 = n_trades
            if fill_now:
                n_trades = fill_pending_nb(t, open_[t], atr_prev, params, state, trades,
                                           n_trades, fills, fc)
            if stops_now and state[S_UNITS] != 0.0:
                n_trades = check_stops_nb(t, open_[t], high[t], low[t], atr_prev, params,
                                          state, trades, n_trades, fills, fc)
            if n_trades > n0:  # at most one trade closes in a bar
                _trade_closed_nb(t, params, state, trades, n_trades)
        eq = state[S_CASH] + state[S_UNITS] * close[t]
        equity[t] = eq
        if has_dd and breaker_nb(t, eq, params, state):
            n_blocked = _trip_breaker_nb(t, params, state, blocked, n_blocked)
        if state[S_PENDING] == NO_ORDER:
            se = has_se and short_entries[t]
            sx = has_sx and short_exits[t]
            if entries[t] or exits[t] or se or sx:
                n_blocked = decide_risk_nb(t, entries[t], exits[t], se, sx, params, state,
                                           eq, blocked, n_blocked)
    return stop, n_trades, n_blocked


@njit(cache=True)
def _run_chunk_match_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries,
                        exits, short_entries, short_exits, params, state, trades, n_trades,
                        blocked, n_blocked, fills, n_fills, equity):
    """The loop body with the order-matching fill model (docs/decisions/0009): the
    working order is matched against every bar from its activation on (partial fills,
    expiry), and the signals of an active order's opposite side cancel it. The risk limits
    are applied when set. Stops early when a buffer is nearly full. Returns
    ``(next_bar, n_trades, n_blocked, n_fills)``.
    """
    has_atr = atr.shape[0] > 0
    has_se = short_entries.shape[0] > 0
    has_sx = short_exits.shape[0] > 0
    has_stops = params[P_HAS_STOPS] != 0.0
    has_limits = params[P_HAS_LIMITS] != 0.0
    has_day = params[P_HAS_DAY] != 0.0
    has_dd = params[P_MAX_DD] == params[P_MAX_DD]
    mb = match_base_nb(params)
    capacity = trades.shape[0]
    blocked_capacity = blocked.shape[0]
    fill_capacity = fills.shape[0]
    for t in range(start, stop):
        if (n_trades + 2 > capacity or n_fills + 2 > fill_capacity
                or n_blocked + 2 > blocked_capacity):
            return t, n_trades, n_blocked, n_fills
        if has_day:
            before = close[t - 1] if t > 0 else open_[t]
            new_day_nb(timestamp[t], state[S_CASH] + state[S_UNITS] * before, state)
        working = state[S_PENDING] != NO_ORDER and state[S_PENDING_AT] <= t
        if working or (has_stops and state[S_UNITS] != 0.0):
            atr_prev = atr[t - 1] if (has_atr and t > 0) else np.nan
            n0 = n_trades
            intrabar_entry = False
            if working:
                n_trades, n_fills, intrabar_entry = match_order_nb(
                    t, open_[t], high[t], low[t], volume[t], atr_prev, params, state, mb,
                    trades, n_trades, fills, n_fills)
            if has_stops and state[S_UNITS] != 0.0:
                n_trades, n_fills = stops_match_nb(
                    t, open_[t], high[t], low[t], volume[t], atr_prev, intrabar_entry, params,
                    state, mb, trades, n_trades, fills, n_fills)
            if n_trades > n0:  # at most one trade closes in a bar
                _trade_closed_nb(t, params, state, trades, n_trades)
        eq = state[S_CASH] + state[S_UNITS] * close[t]
        equity[t] = eq
        if has_dd and breaker_nb(t, eq, params, state):
            n_blocked = trip_breaker_match_nb(t, close[t], params, state, mb, blocked,
                                              n_blocked)
        se = has_se and short_entries[t]
        sx = has_sx and short_exits[t]
        if entries[t] or exits[t] or se or sx:
            n_blocked = decide_match_nb(t, close[t], entries[t], exits[t], se, sx, eq,
                                        has_limits, params, state, mb, blocked, n_blocked)
    return stop, n_trades, n_blocked, n_fills


@njit(cache=True)
def run_market_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries, exits,
                  short_entries, short_exits, params, state, trades, n_trades, blocked,
                  n_blocked, fills, n_fills, equity):
    """:func:`run_bars_nb` on the market path without risk limits (nothing is blocked)."""
    t = start
    fc = np.empty(1, dtype=np.int64)  # the fill count, written by the fill helpers
    fc[0] = n_fills
    while True:
        t, n_trades = _run_chunk_nb(t, stop, open_, high, low, close, atr, entries, exits,
                                    short_entries, short_exits, params, state, trades,
                                    n_trades, fills, fc, equity)
        if t >= stop:
            return trades, n_trades, blocked, n_blocked, fills, fc[0]
        if n_trades + 2 > trades.shape[0]:
            trades = _grow_nb(trades, n_trades)
        if fc[0] + 2 > fills.shape[0]:
            fills = _grow_nb(fills, fc[0])


@njit(cache=True)
def run_risk_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries, exits,
                short_entries, short_exits, params, state, trades, n_trades, blocked,
                n_blocked, fills, n_fills, equity):
    """:func:`run_bars_nb` on the market path with the risk limits."""
    t = start
    fc = np.empty(1, dtype=np.int64)
    fc[0] = n_fills
    while True:
        t, n_trades, n_blocked = _run_chunk_risk_nb(
            t, stop, timestamp, open_, high, low, close, atr, entries, exits, short_entries,
            short_exits, params, state, trades, n_trades, blocked, n_blocked, fills, fc,
            equity)
        if t >= stop:
            return trades, n_trades, blocked, n_blocked, fills, fc[0]
        if n_trades + 2 > trades.shape[0]:
            trades = _grow_nb(trades, n_trades)
        if n_blocked + 2 > blocked.shape[0]:
            blocked = _grow_nb(blocked, n_blocked)
        if fc[0] + 2 > fills.shape[0]:
            fills = _grow_nb(fills, fc[0])


@njit(cache=True)
def run_match_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries, exits,
                 short_entries, short_exits, params, state, trades, n_trades, blocked,
                 n_blocked, fills, n_fills, equity):
    """:func:`run_bars_nb` with the order-matching fill model (limits included)."""
    t = start
    while True:
        t, n_trades, n_blocked, n_fills = _run_chunk_match_nb(
            t, stop, timestamp, open_, high, low, close, volume, atr, entries, exits,
            short_entries, short_exits, params, state, trades, n_trades, blocked,
            n_blocked, fills, n_fills, equity)
        if t >= stop:
            return trades, n_trades, blocked, n_blocked, fills, n_fills
        if n_trades + 2 > trades.shape[0]:
            trades = _grow_nb(trades, n_trades)
        if n_blocked + 2 > blocked.shape[0]:
            blocked = _grow_nb(blocked, n_blocked)
        if n_fills + 2 > fills.shape[0]:
            fills = _grow_nb(fills, n_fills)


@njit(cache=True)
def run_bars_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries, exits,
                short_entries, short_exits, params, state, trades, n_trades, blocked,
                n_blocked, fills, n_fills, equity):
    """Advance the account over bars ``[start, stop)``: the one loop of every mode.

    The backtest runs it once over the whole history; the step runner (paper, live)
    runs it over the bars that closed since its last run, with the persisted
    ``state``. Writes ``equity`` at each bar's close, appends closed trades to
    ``trades``, blocked entries (bar, reason) to ``blocked`` and every execution to
    ``fills`` (``layout.F_*`` columns; all three grown as needed). Returns ``(trades,
    n_trades, blocked, n_blocked, fills, n_fills)``. ``timestamp`` (int64 ms) is read only
    by the daily limits and ``volume`` only by the matching fill model; ``atr`` and the
    short signal arrays may be empty (unused). The guards keep the common bar (nothing to
    do) free of work.

    It runs one of three paths, chosen by ``params``: :func:`run_match_nb` (the
    order-matching fill model), :func:`run_market_nb` (no risk limits: the lean loop) or
    :func:`run_risk_nb`. Callers from Python take the path with :func:`runner_for`
    instead, so only that path is compiled.
    """
    if params[P_MATCHING] != 0.0:
        return run_match_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                            entries, exits, short_entries, short_exits, params, state, trades,
                            n_trades, blocked, n_blocked, fills, n_fills, equity)
    if params[P_HAS_LIMITS] == 0.0:
        return run_market_nb(start, stop, timestamp, open_, high, low, close, volume, atr,
                             entries, exits, short_entries, short_exits, params, state, trades,
                             n_trades, blocked, n_blocked, fills, n_fills, equity)
    return run_risk_nb(start, stop, timestamp, open_, high, low, close, volume, atr, entries,
                       exits, short_entries, short_exits, params, state, trades, n_trades,
                       blocked, n_blocked, fills, n_fills, equity)


def runner_for(params):
    """The path of :func:`run_bars_nb` that ``params`` takes (a kernel with the same
    arguments and results). Calling it from Python compiles only that path."""
    if params[P_MATCHING] != 0.0:
        return run_match_nb
    if params[P_HAS_LIMITS] == 0.0:
        return run_market_nb
    return run_risk_nb


@njit(cache=True)
def close_open_trade_nb(t, close, params, state, trades, n_trades):
    """Book a still-open position as a trade valued at ``close[t]`` without exit fee."""
    if state[S_UNITS] == 0.0:
        return n_trades
    if params[P_MATCHING] != 0.0:  # the round trip may have partial exits already
        return close_open_trade_match_nb(t, close[t], state, match_base_nb(params), trades,
                                         n_trades)
    return _record_close_nb(state, t, close[t], 0.0, EXIT_OPEN, trades, n_trades)


@njit(cache=True)
def simulate_nb(timestamp, open_, high, low, close, volume, atr, entries, exits, short_entries,
                short_exits, params):
    """Run the whole history. Returns (equity, trades[:n], blocked[:m], fills[:k]).

    The position held at each close follows from the fills (see
    :func:`positions_from_fills_nb`), so the loop does not write it.
    """
    n = close.shape[0]
    equity = np.empty(n, dtype=np.float64)
    trades = np.empty((64, N_TRADE_COLS), dtype=np.float64)
    blocked = np.empty((8, N_BLOCKED_COLS), dtype=np.float64)
    fills = np.empty((128, N_FILL_COLS), dtype=np.float64)
    state = new_state_nb(params)
    trades, n_trades, blocked, n_blocked, fills, n_fills = run_bars_nb(
        0, n, timestamp, open_, high, low, close, volume, atr, entries, exits, short_entries,
        short_exits, params, state, trades, 0, blocked, 0, fills, 0, equity)
    if n > 0:
        n_trades = close_open_trade_nb(n - 1, close, params, state, trades, n_trades)
    return equity, trades[:n_trades].copy(), blocked[:n_blocked].copy(), fills[:n_fills].copy()


def simulate(timestamp, open_, high, low, close, volume, atr, entries, exits, short_entries,
             short_exits, params):
    """:func:`simulate_nb` called from Python: the same steps, with only the path of the
    loop that ``params`` takes compiled (:func:`runner_for`)."""
    n = close.shape[0]
    equity = np.empty(n, dtype=np.float64)
    trades = np.empty((64, N_TRADE_COLS), dtype=np.float64)
    blocked = np.empty((8, N_BLOCKED_COLS), dtype=np.float64)
    fills = np.empty((128, N_FILL_COLS), dtype=np.float64)
    state = new_state_nb(params)
    trades, n_trades, blocked, n_blocked, fills, n_fills = runner_for(params)(
        0, n, timestamp, open_, high, low, close, volume, atr, entries, exits, short_entries,
        short_exits, params, state, trades, 0, blocked, 0, fills, 0, equity)
    if n > 0:
        n_trades = close_open_trade_nb(n - 1, close, params, state, trades, n_trades)
    return equity, trades[:n_trades].copy(), blocked[:n_blocked].copy(), fills[:n_fills].copy()


@njit(cache=True)
def positions_nb(n, entry_idx, exit_idx, direction, units, exit_reason):
    """Signed units held at each bar's close, from whole-quantity trades.

    A trade holds from its entry bar up to, not including, its exit bar (it left at
    that bar's open or inside it); a still-open trade holds through the last bar.
    """
    pos = np.zeros(n, dtype=np.float64)
    for k in range(entry_idx.shape[0]):
        stop = exit_idx[k] + 1 if exit_reason[k] == EXIT_OPEN else exit_idx[k]
        v = units[k] * direction[k]
        for t in range(entry_idx[k], stop):
            pos[t] = v
    return pos


@njit(cache=True)
def positions_from_fills_nb(n, bar_idx, side, qty):
    """Signed units held at each bar's close, from the fill log (in execution order).

    Adds the fills up in the order and with the arithmetic of the kernels (``units +=
    side * qty``; a closing fill takes exactly what is held), so the result equals the
    units the loop held at each close, partial fills included.
    """
    pos = np.zeros(n, dtype=np.float64)
    units = 0.0
    k = 0
    m = bar_idx.shape[0]
    for t in range(n):
        while k < m and bar_idx[k] == t:
            units = units + side[k] * qty[k]
            k += 1
        pos[t] = units
    return pos


@njit(cache=True)
def max_drawdown_nb(equity):
    """Largest ``1 - equity[t] / max(equity[:t+1])`` (a fraction), in one pass."""
    peak = -np.inf
    max_dd = 0.0
    for t in range(equity.shape[0]):
        e = equity[t]
        if e > peak:
            peak = e
        elif peak > 0.0:
            dd = 1.0 - e / peak
            if dd > max_dd:
                max_dd = dd
    return max_dd


@njit(cache=True)
def _summary_nb(timestamp, open_, high, low, close, volume, atr, entries, exits, short_entries,
                short_exits, params, out):
    """Trades, final equity and max drawdown of one run (for sweeps)."""
    equity, trades, _, _ = simulate_nb(timestamp, open_, high, low, close, volume, atr, entries,
                                       exits, short_entries, short_exits, params)
    out[0] = trades.shape[0]
    out[1] = equity[-1] if equity.shape[0] > 0 else params[P_INIT]
    out[2] = max_drawdown_nb(equity)


@njit(cache=True, parallel=True)
def sweep_nb(timestamp, open_, high, low, close, volume, atr, entries2d, exits2d,
             short_entries2d, short_exits2d, params2d):
    """Many runs over the same candles, one per row of the signal matrices.

    Signal matrices are (n_runs, n_bars), C-ordered; the short ones may have zero rows
    (no short signals). Returns (n_runs, 3): trades entered, final equity, max drawdown
    fraction. Runs are independent, so results do not depend on the number of threads.
    """
    n_runs = entries2d.shape[0]
    out = np.empty((n_runs, 3), dtype=np.float64)
    no_signal = np.zeros(0, dtype=np.bool_)
    for j in prange(n_runs):
        se = short_entries2d[j] if short_entries2d.shape[0] > 0 else no_signal
        sx = short_exits2d[j] if short_exits2d.shape[0] > 0 else no_signal
        _summary_nb(timestamp, open_, high, low, close, volume, atr, entries2d[j], exits2d[j],
                    se, sx, params2d[j], out[j])
    return out
