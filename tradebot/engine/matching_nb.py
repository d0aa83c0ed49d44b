"""Order matching: the fill model of limit, stop and stop-limit orders, spread, market
impact, volume-capped partial fills and the touch probability.

Compiled helpers of the matching loop of :mod:`tradebot.engine.kernels`
(``run_bars_nb`` picks it once per call when ``params[P_MATCHING]`` is set; the market
path never reaches this module's matching code). The working order lives in the state
vector (``layout.M_*`` from :func:`match_base_nb`), so the step runner resumes it. The
rules are written down in docs/decisions/0009-order-matching.md; in short, for the one
working order at bar ``t`` (active from ``decision + latency_bars``):

1. an order past its expiry (``order_ttl_bars``) is cancelled;
2. a market order (or a triggered stop's remainder) fills at the open; a stop triggers
   when the bar reaches its trigger (at the open when it gaps through) and fills there;
   a stop-limit triggers the same way and fills like a stop but never beyond its limit,
   or, when the bar opened beyond the limit, rests as a limit; a limit fills at the open
   when the bar opens through it, at the limit when the bar crosses it, and with
   probability ``touch_fill_prob`` when the bar only touches it;
3. market and stop fills pay slippage + half the spread + the impact
   ``impact_coef * sqrt(min(qty / bar volume, 1))`` and the taker fee; limit fills pay
   the maker fee only;
4. with ``max_volume_share`` a bar fills at most that share of its volume; the rest keeps
   working on the next bars.
"""

from __future__ import annotations

import math

import numpy as np

from tradebot._jit import njit
from tradebot.engine.config import (
    P_ENTRY_ORDER,
    P_EXIT_ORDER,
    P_FILL_SEED,
    P_FLATTEN,
    P_HALF_SPREAD,
    P_IMPACT,
    P_LATENCY,
    P_LIMIT_OFF,
    P_MAKER,
    P_SHORT,
    P_SIZE_MODE,
    P_SL,
    P_SLIP,
    P_SLIP_ATR,
    P_STOP_LIMIT_OFF,
    P_STOP_OFF,
    P_TAKER,
    P_TOUCH_PROB,
    P_TP,
    P_TRAIL,
    P_TTL,
    P_VOL_SHARE,
    SIZE_OPTIMAL_F,
)
from tradebot.engine.layout import (
    BUY_LONG,
    CLOSE,
    F_BAR,
    F_FEE,
    F_INTENT,
    F_MAKER,
    F_PRICE,
    F_QTY,
    F_REASON,
    F_SIDE,
    F_TYPE,
    FLATTEN,
    M_BUDGET,
    M_EXIT_FEE,
    M_EXIT_PRICE,
    M_EXIT_QTY,
    M_EXPIRY,
    M_LIMIT,
    M_STOP,
    M_TRADE_UNITS,
    M_TRIGGERED,
    M_TYPE,
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
    T_DIR,
    T_ENTRY_FEE,
    T_ENTRY_IDX,
    T_ENTRY_PRICE,
    T_EXIT_FEE,
    T_EXIT_IDX,
    T_EXIT_PRICE,
    T_PNL,
    T_REASON,
    T_RETURN,
    T_UNITS,
)
from tradebot.engine.result import (
    EXIT_BREAKER,
    EXIT_OPEN,
    EXIT_SIGNAL,
    EXIT_TAKE_PROFIT,
    INTENT_ENTRY,
    INTENT_EXIT,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    ORDER_STOP_LIMIT,
)
from tradebot.engine.risk_nb import (
    BLOCK_BREAKER,
    N_STATE,
    OPTF_WINDOW,
    S_TRADES_TODAY,
    entry_block_reason_nb,
    entry_budget_nb,
)
from tradebot.engine.stops_nb import level_fill_px_nb, stop_level_nb, track_extreme_nb

_U53 = 1.0 / 9007199254740992.0  # 2 ** -53


# -- shared by both paths -------------------------------------------------------------


@njit(cache=True)
def slip_nb(params, price, atr_prev):
    """Adverse price move (fraction) of a market or stop order: ``slippage_bps`` plus
    ``slippage_atr_mult`` × ATR known at the previous close / price (NaN: unknown)."""
    slip = params[P_SLIP]
    if params[P_SLIP_ATR] > 0.0 and atr_prev == atr_prev:
        slip += params[P_SLIP_ATR] * atr_prev / price
    return slip


@njit(cache=True)
def record_fill_nb(fills, n_fills, t, side, qty, price, fee, otype, intent, reason, maker):
    """Append one execution to the fill log (``layout.F_*`` columns). Returns n_fills."""
    row = fills[n_fills]
    row[F_BAR] = t
    row[F_SIDE] = side
    row[F_QTY] = qty
    row[F_PRICE] = price
    row[F_FEE] = fee
    row[F_TYPE] = otype
    row[F_INTENT] = intent
    row[F_REASON] = reason
    row[F_MAKER] = maker
    return n_fills + 1


@njit(cache=True)
def match_base_nb(params):
    """First slot of the working order in the state vector: after the risk slots and,
    with optimal f sizing, its ring of returns (so older persisted states stay valid)."""
    return N_STATE + (OPTF_WINDOW if params[P_SIZE_MODE] == SIZE_OPTIMAL_F else 0)


@njit(cache=True)
def init_match_state_nb(state, mb):
    """The working-order slots of an account without an order."""
    for k in range(M_TYPE, M_EXIT_FEE + 1):
        state[mb + k] = 0.0
    state[mb + M_EXPIRY] = -1.0
    state[mb + M_BUDGET] = -1.0


# -- matching -------------------------------------------------------------------------


@njit(cache=True)
def touch_u01_nb(seed, t):
    """A uniform draw in [0, 1) from (seed, bar index): output ``t + 1`` of splitmix64
    seeded with ``seed``. A function of its arguments only, so a backtest and a chunked
    paper replay draw the same numbers."""
    z = np.uint64(seed) + np.uint64(t + 1) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * _U53


@njit(cache=True)
def impact_nb(params, qty, vol):
    """Market impact as a price fraction: ``impact_coef * sqrt(min(qty / volume, 1))``
    (a bar without volume counts as fully taken)."""
    coef = params[P_IMPACT]
    if coef == 0.0:
        return 0.0
    part = qty / vol if vol > 0.0 else 1.0
    if part > 1.0:
        part = 1.0
    return coef * math.sqrt(part)


@njit(cache=True)
def reset_order_nb(state, mb):
    """No working order (filled, cancelled or expired)."""
    state[S_PENDING] = NO_ORDER
    state[S_PENDING_AT] = -1.0
    state[mb + M_TYPE] = ORDER_MARKET
    state[mb + M_LIMIT] = 0.0
    state[mb + M_STOP] = 0.0
    state[mb + M_TRIGGERED] = 0.0
    state[mb + M_EXPIRY] = -1.0
    state[mb + M_BUDGET] = -1.0


@njit(cache=True)
def place_order_nb(t, kind, otype, c, params, state, mb):
    """Place an order decided at bar ``t``'s close ``c``; it works from ``t + latency``.

    Prices: a buy limit ``c * (1 - limit_off)`` (a sell's above), a buy stop
    ``c * (1 + stop_off)`` (a sell's below), a stop-limit's limit ``stop_limit_off``
    beyond its trigger. Expires ``order_ttl_bars`` after it becomes active (0: never;
    a breaker flatten never expires).
    """
    at = t + params[P_LATENCY]
    if kind == CLOSE or kind == FLATTEN:
        side = -1.0 if state[S_UNITS] > 0.0 else 1.0
    else:
        side = 1.0 if kind == BUY_LONG else -1.0
    limit = 0.0
    stop = 0.0
    if otype == ORDER_LIMIT:
        limit = c * (1.0 - side * params[P_LIMIT_OFF])
    elif otype == ORDER_STOP or otype == ORDER_STOP_LIMIT:
        stop = c * (1.0 + side * params[P_STOP_OFF])
        if otype == ORDER_STOP_LIMIT:
            limit = stop * (1.0 + side * params[P_STOP_LIMIT_OFF])
    ttl = params[P_TTL]
    state[S_PENDING] = kind
    state[S_PENDING_AT] = at
    state[mb + M_TYPE] = otype
    state[mb + M_LIMIT] = limit
    state[mb + M_STOP] = stop
    state[mb + M_TRIGGERED] = 0.0
    state[mb + M_EXPIRY] = at + ttl if (ttl > 0.0 and kind != FLATTEN) else -1.0
    state[mb + M_BUDGET] = -1.0


@njit(cache=True)
def record_trade_nb(trades, n_trades, t, direction, qty, entry_idx, entry_price, entry_fee,
                    exit_price, exit_fee, reason):
    """Append one round trip (``layout.T_*`` columns). Returns n_trades."""
    if direction > 0:
        pnl = qty * (exit_price - entry_price) - entry_fee - exit_fee
    else:
        pnl = qty * (entry_price - exit_price) - entry_fee - exit_fee
    row = trades[n_trades]
    row[T_ENTRY_IDX] = entry_idx
    row[T_EXIT_IDX] = t
    row[T_DIR] = direction
    row[T_UNITS] = qty
    row[T_ENTRY_PRICE] = entry_price
    row[T_EXIT_PRICE] = exit_price
    row[T_ENTRY_FEE] = entry_fee
    row[T_EXIT_FEE] = exit_fee
    row[T_PNL] = pnl
    row[T_RETURN] = pnl / (qty * entry_price + entry_fee) * 100.0
    row[T_REASON] = reason
    return n_trades + 1


@njit(cache=True)
def entry_fill_nb(t, side, q, price, fee, otype, maker, state, mb, fills, n_fills):
    """Book an entry fill of ``q`` units: the position's entry price is the
    volume-weighted average of its fills, its entry fee their sum."""
    cash = state[S_CASH]
    if side > 0.0:
        state[S_CASH] = cash - q * price - fee
    else:
        state[S_CASH] = cash + q * price - fee
    units = state[S_UNITS]
    if units == 0.0:
        state[S_ENTRY_PRICE] = price
        state[S_ENTRY_FEE] = fee
        state[S_ENTRY_IDX] = t
        state[S_EXTREME] = price
        state[mb + M_TRADE_UNITS] = q
    else:
        tu = state[mb + M_TRADE_UNITS]
        state[S_ENTRY_PRICE] = (tu * state[S_ENTRY_PRICE] + q * price) / (tu + q)
        state[S_ENTRY_FEE] += fee
        state[mb + M_TRADE_UNITS] = tu + q
    state[S_UNITS] = units + side * q
    return record_fill_nb(fills, n_fills, t, side, q, price, fee, otype, INTENT_ENTRY, -1.0,
                          maker)


@njit(cache=True)
def exit_fill_nb(t, q, price, fee, otype, maker, reason, state, mb, trades, n_trades, fills,
                 n_fills):
    """Book an exit fill of ``q <= |units|`` units; the last one closes the round trip
    (one trade row: the exit price is the volume-weighted average of the exit fills,
    the exit fee their sum) and cancels whatever order is still working."""
    units = state[S_UNITS]
    if units > 0.0:
        side = -1.0
        state[S_CASH] += q * price - fee
    else:
        side = 1.0
        state[S_CASH] -= q * price + fee
    n_fills = record_fill_nb(fills, n_fills, t, side, q, price, fee, otype, INTENT_EXIT,
                             reason, maker)
    done = state[mb + M_EXIT_QTY]
    if done == 0.0:
        state[mb + M_EXIT_PRICE] = price
    else:
        state[mb + M_EXIT_PRICE] = (done * state[mb + M_EXIT_PRICE] + q * price) / (done + q)
    state[mb + M_EXIT_QTY] = done + q
    state[mb + M_EXIT_FEE] += fee
    if q < abs(units):
        state[S_UNITS] = units + side * q
        return n_trades, n_fills
    n_trades = record_trade_nb(trades, n_trades, t, -side, state[mb + M_TRADE_UNITS],
                               state[S_ENTRY_IDX], state[S_ENTRY_PRICE], state[S_ENTRY_FEE],
                               state[mb + M_EXIT_PRICE], state[mb + M_EXIT_FEE], reason)
    state[S_UNITS] = 0.0
    state[mb + M_TRADE_UNITS] = 0.0
    state[mb + M_EXIT_QTY] = 0.0
    state[mb + M_EXIT_PRICE] = 0.0
    state[mb + M_EXIT_FEE] = 0.0
    reset_order_nb(state, mb)
    return n_trades, n_fills


@njit(cache=True)
def match_order_nb(t, o, h, lo, vol, atr_prev, params, state, mb, trades, n_trades, fills,
                   n_fills):
    """Match the working order (active: ``t >= state[S_PENDING_AT]``) against bar ``t``.

    Returns ``(n_trades, n_fills, intrabar_entry)``; ``intrabar_entry`` is True when an
    entry filled inside the bar rather than at its open (the take-profit then waits for
    the next bar: which came first inside the bar is unknown).
    """
    exp = state[mb + M_EXPIRY]
    if exp >= 0.0 and t >= exp:  # time in force over: cancel what is left
        reset_order_nb(state, mb)
        return n_trades, n_fills, False
    kind = state[S_PENDING]
    units = state[S_UNITS]
    is_exit = kind == CLOSE or kind == FLATTEN
    if is_exit:
        if units == 0.0:
            reset_order_nb(state, mb)
            return n_trades, n_fills, False
        side = -1.0 if units > 0.0 else 1.0
    else:
        side = 1.0 if kind == BUY_LONG else -1.0
    otype = state[mb + M_TYPE]
    px = np.nan
    bound = np.nan  # a triggered stop-limit fills like a stop, never beyond its limit
    as_limit = otype == ORDER_LIMIT
    if otype == ORDER_MARKET:
        px = o
    elif otype == ORDER_STOP or otype == ORDER_STOP_LIMIT:
        if state[mb + M_TRIGGERED] == 0.0:
            s = state[mb + M_STOP]
            if side > 0.0:
                trig = o if o >= s else (s if h >= s else np.nan)
            else:
                trig = o if o <= s else (s if lo <= s else np.nan)
            if trig != trig:
                return n_trades, n_fills, False  # not triggered in this bar
            state[mb + M_TRIGGERED] = 1.0
            if otype == ORDER_STOP:
                px = trig
            else:
                lim = state[mb + M_LIMIT]
                if (side > 0.0 and trig <= lim) or (side < 0.0 and trig >= lim):
                    px = trig
                    bound = lim
                else:  # opened beyond the limit: a resting limit from here on
                    as_limit = True
        elif otype == ORDER_STOP:
            px = o  # triggered earlier: the remainder is a market order
        else:
            as_limit = True
    if as_limit:
        lim = state[mb + M_LIMIT]
        touched = False
        if side > 0.0:
            if o < lim:
                px = o  # opened through the limit
            elif lo < lim:
                px = lim
            elif lo == lim:
                touched = True
        else:
            if o > lim:
                px = o
            elif h > lim:
                px = lim
            elif h == lim:
                touched = True
        if touched:
            prob = params[P_TOUCH_PROB]
            if prob >= 1.0 or (prob > 0.0 and touch_u01_nb(params[P_FILL_SEED], t) < prob):
                px = lim
        if px != px:
            return n_trades, n_fills, False
    cap = np.inf
    share = params[P_VOL_SHARE]
    if share == share:
        cap = share * vol if vol > 0.0 else 0.0
        if cap <= 0.0:
            return n_trades, n_fills, False  # no volume to trade against: keep working
    if as_limit:
        fee_rate = params[P_MAKER]
        base = 0.0
        maker = 1.0
    else:
        fee_rate = params[P_TAKER]
        base = slip_nb(params, px, atr_prev) + params[P_HALF_SPREAD]
        maker = 0.0
    if is_exit:
        avail = abs(units)
        q = avail if avail <= cap else cap
        frac = base
        if not as_limit:
            frac += impact_nb(params, q, vol)
        price = px * (1.0 + side * frac)
        fee = q * price * fee_rate
        reason = EXIT_SIGNAL if kind == CLOSE else EXIT_BREAKER
        n_trades, n_fills = exit_fill_nb(t, q, price, fee, otype, maker, reason, state, mb,
                                         trades, n_trades, fills, n_fills)
        return n_trades, n_fills, False
    # Entry: sized at its first fill from the cash (the account is flat), fee included;
    # later fills spend what is left of that budget.
    price = px * (1.0 + side * base)
    budget = state[mb + M_BUDGET]
    if budget < 0.0:
        budget = entry_budget_nb(state[S_CASH], price, fee_rate, atr_prev, params, state,
                                 N_STATE)
        if budget <= 0.0:
            reset_order_nb(state, mb)
            return n_trades, n_fills, False
    if not as_limit and params[P_IMPACT] > 0.0:  # impact of the size at the pre-impact price
        q0 = budget / (price * (1.0 + fee_rate))
        if q0 > cap:
            q0 = cap
        price = px * (1.0 + side * (base + impact_nb(params, q0, vol)))
    if bound == bound and side * (price - bound) > 0.0:
        price = bound
    q = budget / (price * (1.0 + fee_rate))
    whole = q <= cap
    if not whole:
        q = cap
    fee = q * price * fee_rate
    n_fills = entry_fill_nb(t, side, q, price, fee, otype, maker, state, mb, fills, n_fills)
    if whole:
        reset_order_nb(state, mb)
    else:
        state[mb + M_BUDGET] = budget - (q * price + fee)
    return n_trades, n_fills, px != o


@njit(cache=True)
def stops_match_nb(t, o, h, lo, vol, atr_prev, skip_tp, params, state, mb, trades, n_trades,
                   fills, n_fills):
    """Stop-loss, trailing stop and take-profit inside bar ``t`` (stop first), with the
    matching costs: a stop exit is a stop order (slippage + half spread + impact of the
    whole position, taker fee), a take-profit a resting limit (maker fee). Neither is
    capped by ``max_volume_share``: a protective exit closes the whole position. Closing
    cancels the working order. The stop level and the fill prices come from
    :mod:`tradebot.engine.stops_nb`."""
    units = state[S_UNITS]
    sl, tp, trail = params[P_SL], params[P_TP], params[P_TRAIL]
    entry = state[S_ENTRY_PRICE]
    entry_bar = state[S_ENTRY_IDX] == t
    q = abs(units)
    if units > 0.0:
        stop, reason = stop_level_nb(entry, state[S_EXTREME], sl, trail, True)
        if lo <= stop:
            px = level_fill_px_nb(stop, o, entry_bar, True)
            frac = slip_nb(params, px, atr_prev) + params[P_HALF_SPREAD] + impact_nb(params, q,
                                                                                      vol)
            price = px * (1.0 - frac)
            return exit_fill_nb(t, q, price, q * price * params[P_TAKER], ORDER_STOP, 0.0,
                                reason, state, mb, trades, n_trades, fills, n_fills)
        if tp == tp and not skip_tp:
            target = entry * (1.0 + tp)
            if h >= target:
                px = level_fill_px_nb(target, o, entry_bar, False)
                return exit_fill_nb(t, q, px, q * px * params[P_MAKER], ORDER_LIMIT, 1.0,
                                    EXIT_TAKE_PROFIT, state, mb, trades, n_trades, fills,
                                    n_fills)
        track_extreme_nb(state, h, True)
    else:
        stop, reason = stop_level_nb(entry, state[S_EXTREME], sl, trail, False)
        if h >= stop:
            px = level_fill_px_nb(stop, o, entry_bar, False)
            frac = slip_nb(params, px, atr_prev) + params[P_HALF_SPREAD] + impact_nb(params, q,
                                                                                      vol)
            price = px * (1.0 + frac)
            return exit_fill_nb(t, q, price, q * price * params[P_TAKER], ORDER_STOP, 0.0,
                                reason, state, mb, trades, n_trades, fills, n_fills)
        if tp == tp and not skip_tp:
            target = entry * (1.0 - tp)
            if lo <= target:
                px = level_fill_px_nb(target, o, entry_bar, True)
                return exit_fill_nb(t, q, px, q * px * params[P_MAKER], ORDER_LIMIT, 1.0,
                                    EXIT_TAKE_PROFIT, state, mb, trades, n_trades, fills,
                                    n_fills)
        track_extreme_nb(state, lo, False)
    return n_trades, n_fills


@njit(cache=True)
def trip_breaker_match_nb(t, c, params, state, mb, blocked, n_blocked):
    """The drawdown breaker tripped at bar t's close: cancel a working entry (recorded as
    blocked; a part already filled stays) and, with ``flatten_on_breaker``, close the
    position with a market order (replacing a working limit exit)."""
    kind = state[S_PENDING]
    if kind == BUY_LONG or kind == SELL_SHORT:
        reset_order_nb(state, mb)
        blocked[n_blocked, 0] = t
        blocked[n_blocked, 1] = BLOCK_BREAKER
        n_blocked += 1
        kind = NO_ORDER
    if state[S_UNITS] != 0.0 and params[P_FLATTEN] != 0.0:
        market_exit = kind == FLATTEN or (kind == CLOSE and state[mb + M_TYPE] == ORDER_MARKET)
        if not market_exit:
            place_order_nb(t, FLATTEN, ORDER_MARKET, c, params, state, mb)
    return n_blocked


@njit(cache=True)
def decide_match_nb(t, c, entry, exit_, short_entry, short_exit, eq, has_limits, params, state,
                    mb, blocked, n_blocked):
    """At bar ``t``'s close (price ``c``), turn this bar's signals into orders.

    Without a working order: as the market path (entries when flat, through the risk
    limits when ``has_limits``; exits when holding). An order still in flight (not yet
    active) ignores the signals, as in the market path. An active order is cancelled by
    the opposite signal: an entry by its exit signal (then a part already filled gets an
    exit order), an exit by a new entry signal in the position's direction.
    Returns ``n_blocked``.
    """
    kind = state[S_PENDING]
    units = state[S_UNITS]
    if kind != NO_ORDER:
        if t < state[S_PENDING_AT]:
            return n_blocked
        if kind == BUY_LONG:
            if exit_ and not entry:
                reset_order_nb(state, mb)
                if units > 0.0:
                    place_order_nb(t, CLOSE, params[P_EXIT_ORDER], c, params, state, mb)
        elif kind == SELL_SHORT:
            if short_exit and not short_entry:
                reset_order_nb(state, mb)
                if units < 0.0:
                    place_order_nb(t, CLOSE, params[P_EXIT_ORDER], c, params, state, mb)
        elif kind == CLOSE:
            if (units > 0.0 and entry and not exit_) or (units < 0.0 and short_entry
                                                          and not short_exit):
                reset_order_nb(state, mb)
        return n_blocked
    if units == 0.0:
        kind = NO_ORDER
        if entry:
            kind = BUY_LONG
        elif short_entry and params[P_SHORT] != 0.0:
            kind = SELL_SHORT
        if kind != NO_ORDER:
            if has_limits:
                reason = entry_block_reason_nb(t, eq, params, state)
                if reason >= 0:
                    blocked[n_blocked, 0] = t
                    blocked[n_blocked, 1] = reason
                    return n_blocked + 1
                state[S_TRADES_TODAY] += 1.0
            place_order_nb(t, kind, params[P_ENTRY_ORDER], c, params, state, mb)
    elif (units > 0.0 and exit_) or (units < 0.0 and short_exit):
        place_order_nb(t, CLOSE, params[P_EXIT_ORDER], c, params, state, mb)
    return n_blocked


@njit(cache=True)
def close_open_trade_match_nb(t, close_t, state, mb, trades, n_trades):
    """Book a still-open position as a trade: the units left valued at ``close_t`` without
    exit fee, averaged with the exit fills already made."""
    units = state[S_UNITS]
    if units == 0.0:
        return n_trades
    q = abs(units)
    done = state[mb + M_EXIT_QTY]
    if done == 0.0:
        exit_price = close_t
    else:
        exit_price = (done * state[mb + M_EXIT_PRICE] + q * close_t) / (done + q)
    return record_trade_nb(trades, n_trades, t, 1.0 if units > 0.0 else -1.0,
                           state[mb + M_TRADE_UNITS], state[S_ENTRY_IDX],
                           state[S_ENTRY_PRICE], state[S_ENTRY_FEE], exit_price,
                           state[mb + M_EXIT_FEE], EXIT_OPEN)
