"""Risk rules of the engine: entry sizing and the limits that block entries.

Compiled helpers of :mod:`tradebot.engine.kernels`; they only run in the
fill and decide paths (when an order or a signal exists), or behind a flag hoisted out
of the loop (day tracking, drawdown breaker), so an idle bar with risk rules off costs
nothing more. The rules are written down in docs/decisions/0008-risk-rules.md.
"""

from __future__ import annotations

import math

import numpy as np

from tradebot._jit import njit
from tradebot.engine.config import (
    P_BREAKER_COOLDOWN,
    P_KELLY_FRAC,
    P_LOSS_COOLDOWN,
    P_LOSS_N,
    P_MAX_DAILY_LOSS,
    P_MAX_DD,
    P_MAX_FRAC,
    P_MAX_POS_FRAC,
    P_MAX_TRADES_DAY,
    P_MIN_TRADES,
    P_RISK_ATR,
    P_RISK_PCT,
    P_SIZE_MODE,
    P_SIZE_VALUE,
    P_SL,
    SIZE_FIXED_AMOUNT,
    SIZE_FIXED_FRACTION,
    SIZE_FIXED_RISK,
    SIZE_KELLY,
    SIZE_OPTIMAL_F,
)

# The risk part of the state vector (slots 8..N_STATE-1), the optimal-f ring and the
# blocked-entry buffer are laid out in layout.py (plain constants: the step runner and the
# paper ledger read them without importing numba); re-exported here.
from tradebot.engine.layout import (
    BLOCK_BREAKER,
    BLOCK_DAILY_LOSS,
    BLOCK_LOSS_COOLDOWN,
    BLOCK_TRADES_PER_DAY,
    FOREVER,
    N_BLOCKED_COLS,  # noqa: F401 - re-exported
    N_STATE,  # noqa: F401 - re-exported
    OPTF_WINDOW,
    S_CONSEC_LOSSES,
    S_COOL_UNTIL,
    S_DAY,
    S_DAY_START_EQ,
    S_HALT_UNTIL,
    S_N_CLOSED,
    S_N_WINS,
    S_PEAK,
    S_SUM_LOSS,
    S_SUM_WIN,
    S_TRADES_TODAY,
)

OPTF_STEP = 1e-4  # optimal f is rounded to this
DAY_MS = 86_400_000

GOLDEN = 0.6180339887498949
GOLDEN_ITERS = 60


@njit(cache=True)
def kelly_f_nb(state):
    """W - (1 - W) / R from the closed trades (wins: return > 0), >= 0."""
    n = state[S_N_CLOSED]
    nw = state[S_N_WINS]
    if nw == 0.0:
        return 0.0
    w = nw / n
    if state[S_SUM_LOSS] == 0.0:
        return w
    r = (state[S_SUM_WIN] / nw) / (state[S_SUM_LOSS] / (n - nw))
    f = w - (1.0 - w) / r
    return f if f > 0.0 else 0.0


@njit(cache=True)
def optimal_f_nb(state, base):
    """Vince's optimal f over the returns kept in the ring at ``state[base:]``.

    The f in (0, 1) maximizing sum(log(1 + f * (r_i / |worst|))), found by golden-section
    search (the function is concave in f) and rounded to OPTF_STEP (the search is only
    exact to ~sqrt(eps): rounding keeps the answer a function of the returns, not of
    their last bits); 1 when no trade lost, 0 when the returns do not sum to > 0 (the
    slope at f = 0).
    """
    m = int(min(state[S_N_CLOSED], OPTF_WINDOW))
    worst = 0.0
    total = 0.0
    for i in range(m):
        total += state[base + i]
        if state[base + i] < worst:
            worst = state[base + i]
    if worst >= 0.0:
        return 1.0
    if total <= 0.0:
        return 0.0
    aw = -worst
    a, b = 0.0, 1.0
    c = b - GOLDEN * (b - a)
    d = a + GOLDEN * (b - a)
    for _ in range(GOLDEN_ITERS):
        gc = 0.0
        gd = 0.0
        for i in range(m):
            x = state[base + i] / aw
            tc = 1.0 + c * x
            td = 1.0 + d * x
            gc += math.log(tc) if tc > 0.0 else -np.inf
            gd += math.log(td) if td > 0.0 else -np.inf
        if gc > gd:
            b = d
        else:
            a = c
        c = b - GOLDEN * (b - a)
        d = a + GOLDEN * (b - a)
    return math.floor((a + b) / 2.0 / OPTF_STEP + 0.5) * OPTF_STEP


@njit(cache=True)
def entry_budget_nb(cash, fill, fee_rate, atr_prev, params, state, base):
    """Quote currency to spend on an entry at ``fill`` (fee included); <= 0: no entry.

    The account is flat, so equity = cash. The two plain modes are computed here; the
    others in :func:`risk_budget_nb` (entries are rare).
    """
    mode = params[P_SIZE_MODE]
    if mode == SIZE_FIXED_AMOUNT:
        budget = min(params[P_SIZE_VALUE], cash)
    elif mode == SIZE_FIXED_FRACTION:
        budget = cash * params[P_SIZE_VALUE]
    else:
        budget = risk_budget_nb(cash, fill, fee_rate, atr_prev, params, state, base)
    cap = params[P_MAX_POS_FRAC]
    if cap == cap and budget > cash * cap:
        budget = cash * cap
    return budget


@njit(cache=True)
def risk_budget_nb(cash, fill, fee_rate, atr_prev, params, state, base):
    """The budget of the fixed_risk, kelly and optimal_f modes (before the position cap)."""
    mode = params[P_SIZE_MODE]
    if mode == SIZE_FIXED_RISK:
        sl = params[P_SL]
        if sl == sl:
            dist = sl
        elif atr_prev == atr_prev and atr_prev > 0.0:
            dist = params[P_RISK_ATR] * atr_prev / fill
        else:
            return 0.0  # no stop distance known yet (ATR warming up): no entry
        units = cash * params[P_RISK_PCT] / (fill * dist)
        budget = min(units * fill * (1.0 + fee_rate), cash)
    else:
        if state[S_N_CLOSED] < params[P_MIN_TRADES]:
            f = params[P_SIZE_VALUE]
        else:
            if mode == SIZE_KELLY:
                f = kelly_f_nb(state)
            else:
                f = optimal_f_nb(state, base)
            f = min(f * params[P_KELLY_FRAC], params[P_MAX_FRAC])
        budget = cash * f
    return budget


@njit(cache=True)
def on_trade_closed_nb(state, t, pnl, ret, params, base):
    """Update the loss streak and the sizing statistics after a closed trade at bar t."""
    n = state[S_N_CLOSED]
    if params[P_SIZE_MODE] == SIZE_OPTIMAL_F:  # the ring exists: optimal f sizing
        state[base + int(n % OPTF_WINDOW)] = ret
    state[S_N_CLOSED] = n + 1.0
    if ret > 0.0:
        state[S_N_WINS] += 1.0
        state[S_SUM_WIN] += ret
    else:
        state[S_SUM_LOSS] -= ret
    if pnl < 0.0:
        state[S_CONSEC_LOSSES] += 1.0
        k = params[P_LOSS_N]
        if k > 0.0 and state[S_CONSEC_LOSSES] >= k:
            state[S_COOL_UNTIL] = t + params[P_LOSS_COOLDOWN]
            state[S_CONSEC_LOSSES] = 0.0
    else:
        state[S_CONSEC_LOSSES] = 0.0


@njit(cache=True)
def new_day_nb(ts, eq_before, state):
    """At the first bar of a new UTC day: remember the equity before it, reset the count."""
    day = float(ts // DAY_MS)
    if day != state[S_DAY]:
        state[S_DAY] = day
        state[S_DAY_START_EQ] = eq_before
        state[S_TRADES_TODAY] = 0.0


@njit(cache=True)
def breaker_nb(t, eq, params, state):
    """Track the equity peak at bar t's close; True when the breaker trips at this bar."""
    hu = state[S_HALT_UNTIL]
    if hu >= 0.0:
        if t >= hu:  # resume: the peak restarts from the current equity
            state[S_PEAK] = eq
            state[S_HALT_UNTIL] = -1.0
        return False
    if eq > state[S_PEAK]:
        state[S_PEAK] = eq
        return False
    if eq <= state[S_PEAK] * (1.0 - params[P_MAX_DD]):
        cd = params[P_BREAKER_COOLDOWN]
        state[S_HALT_UNTIL] = t + cd if cd > 0.0 else FOREVER
        return True
    return False


@njit(cache=True)
def entry_block_reason_nb(t, eq, params, state):
    """Why an entry decided at bar t's close (equity ``eq``) is blocked; -1 if it is not."""
    if state[S_HALT_UNTIL] >= 0.0:
        return BLOCK_BREAKER
    if t < state[S_COOL_UNTIL]:
        return BLOCK_LOSS_COOLDOWN
    mdl = params[P_MAX_DAILY_LOSS]
    if mdl == mdl and state[S_DAY_START_EQ] - eq >= mdl:
        return BLOCK_DAILY_LOSS
    mtd = params[P_MAX_TRADES_DAY]
    if mtd > 0.0 and state[S_TRADES_TODAY] >= mtd:
        return BLOCK_TRADES_PER_DAY
    return -1
