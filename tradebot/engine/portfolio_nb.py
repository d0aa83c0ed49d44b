"""The compiled portfolio loop: N aligned markets, one cash balance.

It drives the per-market helpers of :mod:`tradebot.engine.kernels` and
:mod:`tradebot.engine.matching_nb` (fills, stops, order matching, decisions) and the
account rules of :mod:`tradebot.engine.risk_nb` unchanged. Those helpers work on one state
vector (``layout.S_*``); the portfolio keeps:

- the *account* vector ``acct`` (same layout): the cash, the risk slots (day, peak,
  breaker, loss streak, sizing statistics, the optimal-f ring) shared by every market;
- one row per market in ``states`` (same layout) holding its position and its order
  (``MARKET_SLOTS``: units, entry, extreme, pending order, the matching model's working
  order).

Before a helper runs for market ``m`` its slots are copied into ``acct`` (:func:`load_nb`),
afterwards back (:func:`store_nb`): the helper sees one account holding that market, the
cash and the risk state are the account's. A new position's sizing sees its stake as the
cash (``acct[S_CASH] = stake``; the cash it did not spend is added back).

Per bar ``t`` (docs/decisions/0017-portfolio-ordering-and-alignment.md):

1. day tracking on the account equity before the bar;
2. for every market with a candle at ``t``, in pair order: its due exit order, then its
   stops;
3. the entry orders due at ``t`` in rank order (``pf[PF_RANK]``: pair order, or the key
   recorded when the entry was decided, highest first, ties in pair order): an entry with
   every slot taken is cancelled (blocked ``BLOCK_NO_SLOT``), one without free cash too
   (``BLOCK_NO_CASH``); otherwise it is sized from its stake and filled, and its stops
   are checked in the entry bar as in the single-market loop;
4. the account is marked at the close (a market without a candle at its last real close),
   the drawdown breaker runs on the account equity, and the signals of the markets with a
   candle at ``t`` become orders (through the account's risk limits).

With one market each step is the single-market loop's, in its order, with the same
arithmetic: the result is :func:`tradebot.engine.kernels.simulate`'s bit for bit.

What a bar costs when nothing happens: the loop keeps, in pair order, the markets holding
a position (``held``: the only ones marked at the close) and the markets with an order or
a position with stops (``busy``: the only ones step 2 visits), and per market the signal
bits that can make it act (``want``, :func:`_want_nb`). They change only where a fill,
a cancelled order or a decision changed a market, and are updated there (step 2 touches
only the busy markets). A market's signals at a bar are one byte of the market-major
uint8 matrix ``sig`` (``SIG_*`` bits), tested against ``want``. A market order is decided
from the market's slots in ``states`` (:func:`_market_decision_nb`, decide_nb's rule), and
the fill helpers run on ``acct`` loaded by market index: no row view is made on those
paths (a view costs reference counting inside the loop).
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit
from tradebot.engine.config import (
    P_HAS_DAY,
    P_HAS_LIMITS,
    P_HAS_STOPS,
    P_LATENCY,
    P_MATCHING,
    P_MAX_DD,
    P_SHORT,
)
from tradebot.engine.kernels import (
    _grow_nb,
    _record_close_nb,
    _trade_closed_nb,
    _trip_breaker_nb,
    check_stops_nb,
    decide_nb,
    decide_risk_nb,
    fill_pending_nb,
    new_state_nb,
)
from tradebot.engine.layout import (
    BUY_LONG,
    CLOSE,
    M_BUDGET,
    N_BLOCKED_COLS,
    N_FILL_COLS,
    N_MATCH,
    N_TRADE_COLS,
    NO_ORDER,
    S_CASH,
    S_PENDING,
    S_PENDING_AT,
    S_UNITS,
    SELL_SHORT,
)
from tradebot.engine.matching_nb import (
    close_open_trade_match_nb,
    decide_match_nb,
    match_base_nb,
    match_order_nb,
    reset_order_nb,
    stops_match_nb,
    trip_breaker_match_nb,
)
from tradebot.engine.result import EXIT_OPEN
from tradebot.engine.risk_nb import breaker_nb, new_day_nb

# Portfolio parameter vector ``pf``.
PF_MAX_OPEN, PF_STAKE, PF_STAKE_AMOUNT, PF_RANK = 0, 1, 2, 3
N_PF = 4
STAKE_FIXED, STAKE_FRACTION, STAKE_EQUAL = 0.0, 1.0, 2.0
RANK_ORDER, RANK_SCORE, RANK_SIGNAL = 0.0, 1.0, 2.0

BLOCK_NO_SLOT, BLOCK_NO_CASH = 4.0, 5.0
#: a stake at or below this fraction of the equity is a rounding residue of the shared
#: cash, not cash: the entry is refused (no_cash) rather than opening a dust position
DUST = 1e-9

#: The signal matrix ``sig`` (n_markets, n_bars) uint8: one bit per signal of a market at
#: a bar (set only where the market has a candle)
SIG_ENTRY, SIG_EXIT, SIG_SHORT_ENTRY, SIG_SHORT_EXIT = 1, 2, 4, 8
SIG_ALL = 15

KEY_LIMIT = 1e300  # rank keys are clipped to +-KEY_LIMIT; NaN (no key) becomes -KEY_LIMIT

# Portfolio state vector: a header, the account vector, the market rows, then per market
# the rank key of its pending entry, its last real close (the mark; 0 before its first
# candle; without account limits kept up to date only while a position is held, the only
# time it is read) and the index of its last real bar (-1: none yet; kept only when a
# market needs the ATR).
PS_N_MARKETS, PS_LEN, PS_EQ_PREV = 0, 1, 2
PS_HEADER = 4

# The extra column of each buffer: the market index of the row.
T_MARKET = N_TRADE_COLS
F_MARKET = N_FILL_COLS
B_MARKET = N_BLOCKED_COLS


@njit(cache=True)
def new_portfolio_state_nb(params, n_markets):
    """A flat portfolio holding the initial capital in cash (``params``: the account's
    parameter vector, i.e. market 0's)."""
    one = new_state_nb(params)
    L = one.shape[0]
    ps = np.empty(PS_HEADER + L * (n_markets + 1) + 3 * n_markets, dtype=np.float64)
    ps[PS_N_MARKETS] = n_markets
    ps[PS_LEN] = L
    ps[PS_EQ_PREV] = one[S_CASH]
    ps[3] = 0.0
    for k in range(L):
        ps[PS_HEADER + k] = one[k]
    for m in range(n_markets):
        base = PS_HEADER + L * (m + 1)
        for k in range(L):
            ps[base + k] = one[k]
    aux = PS_HEADER + L * (n_markets + 1)
    for m in range(n_markets):
        ps[aux + m] = 0.0  # rank key
        ps[aux + n_markets + m] = 0.0  # mark
        ps[aux + 2 * n_markets + m] = -1.0  # last real bar
    return ps


@njit(cache=True)
def load_nb(acct, row, mb):
    """Copy a market's slots (position, pending order, working order) into ``acct``."""
    for k in range(S_UNITS, S_PENDING_AT + 1):
        acct[k] = row[k]
    for k in range(mb, mb + N_MATCH):
        acct[k] = row[k]


@njit(cache=True)
def store_nb(acct, row, mb):
    """Copy the market's slots back from ``acct`` into its row."""
    for k in range(S_UNITS, S_PENDING_AT + 1):
        row[k] = acct[k]
    for k in range(mb, mb + N_MATCH):
        row[k] = acct[k]


@njit(cache=True)
def load_m_nb(acct, states, m, mb):
    """:func:`load_nb` from row ``m`` of ``states`` (no row view: a view costs reference
    counting in the loop)."""
    for k in range(S_UNITS, S_PENDING_AT + 1):
        acct[k] = states[m, k]
    for k in range(mb, mb + N_MATCH):
        acct[k] = states[m, k]


@njit(cache=True)
def store_m_nb(acct, states, m, mb):
    """:func:`store_nb` into row ``m`` of ``states``."""
    for k in range(S_UNITS, S_PENDING_AT + 1):
        states[m, k] = acct[k]
    for k in range(mb, mb + N_MATCH):
        states[m, k] = acct[k]


@njit(cache=True)
def _cancel_nb(acct, states, m, mb):
    """Cancel market ``m``'s order (:func:`reset_order_nb` on its slots)."""
    load_m_nb(acct, states, m, mb)
    reset_order_nb(acct, mb)
    store_m_nb(acct, states, m, mb)


@njit(cache=True)
def rank_order_nb(order, n, keys):
    """Sort ``order[:n]`` (market indices) by ``keys[market]`` highest first, ties (and
    NaN keys, last) in pair order: a stable insertion sort (n is small)."""
    for i in range(1, n):
        m = order[i]
        km = keys[m]
        j = i - 1
        while j >= 0:
            kj = keys[order[j]]
            # move order[j] right when m must come before it
            before = (km == km) and (kj != kj or km > kj)
            if not before:
                break
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = m


@njit(cache=True)
def stake_nb(pf, cash, eq_prev, free_slots):
    """The cash a new position may use: fixed, a fraction of the equity at the previous
    close, or the free cash over the free slots; never more than the free cash."""
    mode = pf[PF_STAKE]
    if mode == STAKE_FIXED:
        stake = pf[PF_STAKE_AMOUNT]
    elif mode == STAKE_FRACTION:
        stake = pf[PF_STAKE_AMOUNT] * eq_prev
    else:
        stake = cash / free_slots
    if stake > cash:
        stake = cash
    return stake


@njit(cache=True)
def _tag_nb(buf, n0, n, col, m):
    for i in range(n0, n):
        buf[i, col] = m


@njit(cache=True)
def _block_nb(blocked, n_blocked, t, reason, m):
    blocked[n_blocked, 0] = t
    blocked[n_blocked, 1] = reason
    blocked[n_blocked, B_MARKET] = m
    return n_blocked + 1


@njit(cache=True)
def _atr_prev_nb(atr, m, last):
    if atr.shape[0] > 0 and last >= 0:
        return atr[last, m]
    return np.nan


@njit(cache=True)
def _want_nb(states, m, matching, short):
    """The signal bits (``SIG_*``) that can make market ``m`` act at a close: entries when
    flat (short entries too when it may go short), the exit of the side held, none while
    an order is in flight; every bit for the matching model (a signal may cancel its
    working order). The bit test is :func:`_acts_nb`'s."""
    if matching:
        return SIG_ALL
    if states[m, S_PENDING] != NO_ORDER:
        return 0
    u = states[m, S_UNITS]
    if u == 0.0:
        return SIG_ENTRY | SIG_SHORT_ENTRY if short else SIG_ENTRY
    return SIG_EXIT if u > 0.0 else SIG_SHORT_EXIT


@njit(cache=True)
def _refresh_nb(states, stops_on, matching_on, short_on, want, held, busy):
    """Rebuild, in pair order, the markets holding a position (``held``), the markets with
    an order or a position with stops (``busy``: the only ones the exits pass visits) and
    each market's signal mask (``want``). Returns ``(n_held, n_busy)``."""
    n_held = 0
    n_busy = 0
    for m in range(states.shape[0]):
        u = states[m, S_UNITS]
        if u != 0.0:
            held[n_held] = m
            n_held += 1
        if states[m, S_PENDING] != NO_ORDER or (u != 0.0 and stops_on[m]):
            busy[n_busy] = m
            n_busy += 1
        want[m] = _want_nb(states, m, matching_on[m], short_on[m])
    return n_held, n_busy


@njit(cache=True)
def _is_busy_nb(states, m, stops_on):
    """Whether market ``m`` has an order, or a position with stops (the exits pass)."""
    return states[m, S_PENDING] != NO_ORDER or (states[m, S_UNITS] != 0.0 and stops_on[m])


@njit(cache=True)
def _held_nb(states, held):
    """Rebuild ``held``: the markets holding a position, in pair order. Returns their
    number."""
    n = 0
    for m in range(states.shape[0]):
        if states[m, S_UNITS] != 0.0:
            held[n] = m
            n += 1
    return n


@njit(cache=True)
def _set_busy_nb(busy, n_busy, m, on):
    """Add market ``m`` to (``on``) or remove it from the pair-ordered list ``busy``.
    Returns the new length."""
    i = 0
    while i < n_busy and busy[i] < m:
        i += 1
    if on:
        for j in range(n_busy, i, -1):
            busy[j] = busy[j - 1]
        busy[i] = m
        return n_busy + 1
    for j in range(i, n_busy - 1):
        busy[j] = busy[j + 1]
    return n_busy - 1


@njit(cache=True)
def _market_decision_nb(states, m, s, short):
    """The market order :func:`tradebot.engine.kernels.decide_nb` places for market
    ``m`` with signal bits ``s`` that act (``s & _want_nb(...)`` nonzero, no order in
    flight): an entry when flat (long first), else the close."""
    if states[m, S_UNITS] == 0.0:
        if s & SIG_ENTRY:
            return BUY_LONG
        return SELL_SHORT
    return CLOSE


@njit(cache=True)
def _rank_key_nb(rank_mode, keys_in, t, m, kind):
    """The rank key of an entry decided at bar ``t``: 0 for pair order, else the key at
    ``t`` (negated for a short by signal strength), clipped to +-KEY_LIMIT, NaN last."""
    k = 0.0
    if rank_mode != RANK_ORDER:
        k = keys_in[t, m]
        if rank_mode == RANK_SIGNAL and kind == SELL_SHORT:
            k = -k
        # kept finite (the state is persisted as JSON): no key ranks last
        if k != k or k < -KEY_LIMIT:
            k = -KEY_LIMIT
        elif k > KEY_LIMIT:
            k = KEY_LIMIT
    return k


@njit(cache=True)
def _chunk_nb(start, stop, timestamp, present, open_, high, low, close, volume, atr, sig,
              keys_in, params, pf, ps, trades, n_trades, blocked, n_blocked, fills, fc,
              equity, cash_out, pos_out, with_match):
    """The portfolio loop over bars ``[start, stop)``; stops early when a buffer is
    nearly full. Returns ``(next_bar, n_trades, n_blocked)``; the fill count is
    ``fc[0]``.

    The markets' bookkeeping (who holds, who is busy, which signals can act) is rebuilt
    only on bars where something happened (an order came due or a signal became an
    order): on the other bars the exits pass is skipped, the close marks only the held
    markets and a market's signals cost one byte test."""
    M = present.shape[1]
    L = int(ps[PS_LEN])
    acct = ps[PS_HEADER:PS_HEADER + L]
    states = ps[PS_HEADER + L:PS_HEADER + L * (M + 1)].reshape((M, L))
    aux = PS_HEADER + L * (M + 1)
    rank_key = ps[aux:aux + M]
    mark = ps[aux + M:aux + 2 * M]
    last_real = ps[aux + 2 * M:aux + 3 * M]
    p0 = params[0]
    mb = match_base_nb(p0)
    has_day = p0[P_HAS_DAY] != 0.0
    has_dd = p0[P_MAX_DD] == p0[P_MAX_DD]
    has_limits = p0[P_HAS_LIMITS] != 0.0
    rank_mode = pf[PF_RANK]
    max_open = pf[PF_MAX_OPEN]
    shared = M > 1
    keep_pos = pos_out.shape[0] > 0
    has_atr = atr.shape[0] > 0
    order = np.empty(M, dtype=np.int64)
    held = np.empty(M, dtype=np.int64)
    busy = np.empty(M, dtype=np.int64)
    want = np.empty(M, dtype=np.uint8)
    stops_on = np.empty(M, dtype=np.bool_)
    matching_on = np.empty(M, dtype=np.bool_)
    short_on = np.empty(M, dtype=np.bool_)
    for m in range(M):
        stops_on[m] = params[m, P_HAS_STOPS] != 0.0
        matching_on[m] = params[m, P_MATCHING] != 0.0
        short_on[m] = params[m, P_SHORT] != 0.0
    need = 2 * M + 2
    # positions held and markets with an order or a position with stops (as of the last
    # close: only the exits pass and the entries change positions)
    n_held, n_busy = _refresh_nb(states, stops_on, matching_on, short_on, want, held, busy)
    for t in range(start, stop):
        if (n_trades + need > trades.shape[0] or fc[0] + need > fills.shape[0]
                or n_blocked + 3 * M + 2 > blocked.shape[0]):
            return t, n_trades, n_blocked
        if has_day:  # the account equity before this bar (marks of the previous closes)
            before = acct[S_CASH]
            for m in range(M):
                before += states[m, S_UNITS] * mark[m]
            new_day_nb(timestamp[t], before, acct)
        # 1. exits and stops of the busy markets, in pair order (and the entries due at
        # this bar)
        n_open = n_held
        nd = 0
        busy_bar = n_busy > 0
        held_changed = False
        for k in range(n_busy):
            m = busy[k]
            if not present[t, m]:
                continue
            kind = states[m, S_PENDING]
            if kind == BUY_LONG or kind == SELL_SHORT:
                if states[m, S_PENDING_AT] <= t:
                    order[nd] = m
                    nd += 1
                continue
            was_held = states[m, S_UNITS] != 0.0
            has_stops = stops_on[m]
            if kind == NO_ORDER and (not was_held or not has_stops):
                continue
            working = kind != NO_ORDER and states[m, S_PENDING_AT] <= t
            if working or (has_stops and was_held):
                if working and states[m, S_PENDING_AT] < t:  # was due where the market had
                    states[m, S_PENDING_AT] = t  # no candle: the order fills at this open
                pm = params[m]
                atr_prev = _atr_prev_nb(atr, m, int(last_real[m]))
                load_m_nb(acct, states, m, mb)
                n0 = n_trades
                f0 = fc[0]
                done = False
                if with_match is not None:  # (compiled only when a market uses matching)
                    if pm[P_MATCHING] != 0.0:
                        nf = fc[0]
                        if working:
                            n_trades, nf, _ = match_order_nb(
                                t, open_[t, m], high[t, m], low[t, m], volume[t, m], atr_prev,
                                pm, acct, mb, trades, n_trades, fills, nf)
                        if has_stops and acct[S_UNITS] != 0.0:
                            n_trades, nf = stops_match_nb(
                                t, open_[t, m], high[t, m], low[t, m], volume[t, m], atr_prev,
                                False, pm, acct, mb, trades, n_trades, fills, nf)
                        fc[0] = nf
                        done = True
                if not done:
                    if working:
                        n_trades = fill_pending_nb(t, open_[t, m], atr_prev, pm, acct, trades,
                                                   n_trades, fills, fc)
                    if has_stops and acct[S_UNITS] != 0.0:
                        n_trades = check_stops_nb(t, open_[t, m], high[t, m], low[t, m],
                                                  atr_prev, pm, acct, trades, n_trades, fills,
                                                  fc)
                if n_trades > n0:  # at most one trade closes in a bar
                    _trade_closed_nb(t, pm, acct, trades, n_trades)
                store_m_nb(acct, states, m, mb)
                _tag_nb(trades, n0, n_trades, T_MARKET, m)
                _tag_nb(fills, f0, fc[0], F_MARKET, m)
            if states[m, S_UNITS] != 0.0:
                if not was_held:
                    n_open += 1
                    held_changed = True
            elif was_held:
                n_open -= 1
                held_changed = True
        # 2. entries due at this bar, ranked
        if nd > 1 and rank_mode != RANK_ORDER:
            rank_order_nb(order, nd, rank_key)
        for k in range(nd):
            m = order[k]
            fresh = states[m, S_UNITS] == 0.0
            cash = acct[S_CASH]
            if fresh:
                if n_open >= max_open:
                    _cancel_nb(acct, states, m, mb)
                    n_blocked = _block_nb(blocked, n_blocked, t, BLOCK_NO_SLOT, m)
                    continue
                stake = stake_nb(pf, cash, ps[PS_EQ_PREV], max_open - n_open)
                if stake <= DUST * ps[PS_EQ_PREV]:  # none, or a rounding residue
                    _cancel_nb(acct, states, m, mb)
                    n_blocked = _block_nb(blocked, n_blocked, t, BLOCK_NO_CASH, m)
                    continue
            else:  # a partly filled entry goes on spending its budget (at most the cash)
                stake = cash
                if shared and states[m, mb + M_BUDGET] > cash:
                    states[m, mb + M_BUDGET] = cash
            pm = params[m]
            has_stops = stops_on[m]
            if states[m, S_PENDING_AT] < t:  # due at a bar without a candle of this market
                states[m, S_PENDING_AT] = t
            atr_prev = _atr_prev_nb(atr, m, int(last_real[m]))
            load_m_nb(acct, states, m, mb)
            acct[S_CASH] = stake
            n0 = n_trades
            f0 = fc[0]
            done = False
            if with_match is not None:
                if pm[P_MATCHING] != 0.0:
                    nf = fc[0]
                    n_trades, nf, intrabar = match_order_nb(
                        t, open_[t, m], high[t, m], low[t, m], volume[t, m], atr_prev, pm,
                        acct, mb, trades, n_trades, fills, nf)
                    if has_stops and acct[S_UNITS] != 0.0:
                        n_trades, nf = stops_match_nb(
                            t, open_[t, m], high[t, m], low[t, m], volume[t, m], atr_prev,
                            intrabar, pm, acct, mb, trades, n_trades, fills, nf)
                    fc[0] = nf
                    done = True
            if not done:
                n_trades = fill_pending_nb(t, open_[t, m], atr_prev, pm, acct, trades,
                                           n_trades, fills, fc)
                if has_stops and acct[S_UNITS] != 0.0:
                    n_trades = check_stops_nb(t, open_[t, m], high[t, m], low[t, m], atr_prev,
                                              pm, acct, trades, n_trades, fills, fc)
            if n_trades > n0:
                _trade_closed_nb(t, pm, acct, trades, n_trades)
            acct[S_CASH] = (cash - stake) + acct[S_CASH]
            store_m_nb(acct, states, m, mb)
            _tag_nb(trades, n0, n_trades, T_MARKET, m)
            _tag_nb(fills, f0, fc[0], F_MARKET, m)
            if states[m, S_UNITS] != 0.0:
                if fresh:
                    n_open += 1
                    held_changed = True
            elif not fresh:  # a partly filled entry stopped out in this bar
                held_changed = True
        # 3. mark at the close, breaker, decisions
        cash = acct[S_CASH]
        eq = cash
        if has_limits:
            for m in range(M):
                if present[t, m]:
                    mark[m] = close[t, m]
                u = states[m, S_UNITS]
                if u != 0.0:
                    eq += u * mark[m]
        else:
            # without account limits the decisions do not read the equity: mark the held
            # markets (only a held position's mark is ever read), then the signals
            if busy_bar:  # steps 1 and 2 changed only the busy markets' rows
                if held_changed:
                    n_held = _held_nb(states, held)
                j = 0
                for k in range(n_busy):
                    m = busy[k]
                    want[m] = _want_nb(states, m, matching_on[m], short_on[m])
                    if _is_busy_nb(states, m, stops_on):
                        busy[j] = m
                        j += 1
                n_busy = j
            for k in range(n_held):
                m = held[k]
                if present[t, m]:
                    mark[m] = close[t, m]
                eq += states[m, S_UNITS] * mark[m]
            if has_atr:  # (only read for the ATR of the previous bar)
                for m in range(M):
                    if present[t, m]:
                        last_real[m] = t
            for m in range(M):
                if sig[m, t] & want[m] and present[t, m]:
                    s = sig[m, t]
                    if not matching_on[m]:
                        # a market order (the signal acts: see want), decide_nb's rule on
                        # the market's slots without building its row
                        kind = _market_decision_nb(states, m, s, short_on[m])
                        states[m, S_PENDING] = kind
                        states[m, S_PENDING_AT] = t + params[m, P_LATENCY]
                        if kind != CLOSE:
                            rank_key[m] = _rank_key_nb(rank_mode, keys_in, t, m, kind)
                        want[m] = 0
                        if not (stops_on[m] and states[m, S_UNITS] != 0.0):
                            n_busy = _set_busy_nb(busy, n_busy, m, True)
                        continue
                    was_busy = _is_busy_nb(states, m, stops_on)
                    n_blocked = _decide_nb(t, m, (s & SIG_ENTRY) != 0, (s & SIG_EXIT) != 0,
                                           (s & SIG_SHORT_ENTRY) != 0,
                                           (s & SIG_SHORT_EXIT) != 0, eq, has_limits,
                                           params[m], acct, states[m], mb, close[t, m],
                                           rank_mode, rank_key, keys_in, blocked, n_blocked,
                                           with_match)
                    want[m] = _want_nb(states, m, matching_on[m], short_on[m])
                    if _is_busy_nb(states, m, stops_on) != was_busy:
                        n_busy = _set_busy_nb(busy, n_busy, m, not was_busy)
            if keep_pos:
                for m in range(M):
                    pos_out[t, m] = states[m, S_UNITS]
        equity[t] = eq
        cash_out[t] = cash
        ps[PS_EQ_PREV] = eq
        if has_dd and breaker_nb(t, eq, p0, acct):
            for m in range(M):
                row = states[m]
                pm = params[m]
                b0 = n_blocked
                load_nb(acct, row, mb)
                done = False
                if with_match is not None:
                    if pm[P_MATCHING] != 0.0:
                        n_blocked = trip_breaker_match_nb(t, mark[m], pm, acct, mb, blocked,
                                                          n_blocked)
                        done = True
                if not done:
                    n_blocked = _trip_breaker_nb(t, pm, acct, blocked, n_blocked)
                store_nb(acct, row, mb)
                _tag_nb(blocked, b0, n_blocked, B_MARKET, m)
        if not has_limits:
            continue
        for m in range(M):
            if present[t, m]:
                last_real[m] = t
                s = sig[m, t]
                if s != 0:
                    e = (s & SIG_ENTRY) != 0
                    x = (s & SIG_EXIT) != 0
                    se = (s & SIG_SHORT_ENTRY) != 0
                    sx = (s & SIG_SHORT_EXIT) != 0
                    if _acts_nb(states, m, e, x, se, sx, matching_on[m], short_on[m]):
                        n_blocked = _decide_nb(t, m, e, x, se, sx, eq, has_limits, params[m],
                                               acct, states[m], mb, close[t, m], rank_mode,
                                               rank_key, keys_in, blocked, n_blocked,
                                               with_match)
            if keep_pos:
                pos_out[t, m] = states[m, S_UNITS]
        n_held, n_busy = _refresh_nb(states, stops_on, matching_on, short_on, want, held,
                                     busy)
    return stop, n_trades, n_blocked


@njit(cache=True)
def _acts_nb(states, m, e, x, se, sx, matching, short):
    """Whether market ``m``'s signals can do anything (scalar reads: most signal bars of a
    level strategy cannot, and a call with the row would cost reference counting). The
    matching model always looks: a signal may cancel its working order."""
    if matching:
        return True
    if states[m, S_PENDING] != NO_ORDER:
        return False
    u = states[m, S_UNITS]
    if u == 0.0:
        return e or (se and short)
    return (u > 0.0 and x) or (u < 0.0 and sx)


@njit(cache=True)
def _decide_nb(t, m, e, x, se, sx, eq, has_limits, pm, acct, row, mb, c, rank_mode, rank_key,
               keys_in, blocked, n_blocked, with_match):
    """Market ``m``'s signals at bar ``t``'s close (price ``c``, account equity ``eq``)
    become an order, through the account's risk limits; a new entry records its rank key.
    Returns ``n_blocked``."""
    was = row[S_PENDING]
    b0 = n_blocked
    done = False
    if with_match is not None:
        if pm[P_MATCHING] != 0.0:
            load_nb(acct, row, mb)
            n_blocked = decide_match_nb(t, c, e, x, se, sx, eq, has_limits, pm, acct, mb,
                                        blocked, n_blocked)
            store_nb(acct, row, mb)
            done = True
    if not done:
        if has_limits:
            if was != NO_ORDER:
                return n_blocked
            load_nb(acct, row, mb)
            n_blocked = decide_risk_nb(t, e, x, se, sx, pm, acct, eq, blocked, n_blocked)
            store_nb(acct, row, mb)
        else:
            decide_nb(t, e, x, se, sx, pm, row)
    _tag_nb(blocked, b0, n_blocked, B_MARKET, m)
    now = row[S_PENDING]
    if now != was and (now == BUY_LONG or now == SELL_SHORT):
        rank_key[m] = _rank_key_nb(rank_mode, keys_in, t, m, now)
    return n_blocked


@njit(cache=True)
def run_portfolio_nb(start, stop, timestamp, present, open_, high, low, close, volume, atr,
                     sig, keys_in, params, pf, ps,
                     trades, n_trades, blocked, n_blocked, fills, n_fills, equity, cash_out,
                     pos_out, with_match):
    """Advance the portfolio ``ps`` over bars ``[start, stop)``: the one loop of the batch
    run and the step runner.

    Market arrays are bar-major (n_bars, n_markets), C-ordered (one type for every call:
    the loop compiles once): ``present`` (bool), prices and volume (NaN where not
    present), ``atr`` ((0, n_markets) when no market needs it), ``keys_in`` (float64, the
    rank keys: scores or signal strengths; (0, n_markets) for pair order). The signals
    are one market-major (n_markets, n_bars) uint8 matrix ``sig`` (``SIG_*`` bits; a bit
    where the market has no candle is ignored). ``params`` is (n_markets,
    N_PARAMS), ``pf`` the portfolio vector (``PF_*``). Buffers carry one extra column,
    the market index (``T_MARKET``, ``F_MARKET``, ``B_MARKET``), and are grown as needed.
    Writes ``equity``/``cash_out`` at each close and, when ``pos_out`` has rows, the units
    held per market. ``with_match`` is None when no market uses the order-matching model
    (its code is then not compiled: numba prunes the ``is not None`` branches), else any
    array. Returns ``(trades, n_trades, blocked, n_blocked, fills, n_fills)``.
    """
    t = start
    fc = np.empty(1, dtype=np.int64)
    fc[0] = n_fills
    while True:
        t, n_trades, n_blocked = _chunk_nb(
            t, stop, timestamp, present, open_, high, low, close, volume, atr, sig, keys_in,
            params, pf, ps, trades, n_trades, blocked,
            n_blocked, fills, fc, equity, cash_out, pos_out, with_match)
        if t >= stop:
            return trades, n_trades, blocked, n_blocked, fills, fc[0]
        need = 2 * present.shape[1] + 2
        if n_trades + need > trades.shape[0]:
            trades = _grow_nb(trades, n_trades)
        if n_blocked + 3 * present.shape[1] + 2 > blocked.shape[0]:
            blocked = _grow_nb(blocked, n_blocked)
        if fc[0] + need > fills.shape[0]:
            fills = _grow_nb(fills, fc[0])


@njit(cache=True)
def close_open_trades_nb(t, params, ps, trades, n_trades, with_match):
    """Book every still-open position as a trade valued at its market's last real close,
    without exit fee, at bar ``t`` (the last bar). Returns ``n_trades``."""
    M = int(ps[PS_N_MARKETS])
    L = int(ps[PS_LEN])
    states = ps[PS_HEADER + L:PS_HEADER + L * (M + 1)].reshape((M, L))
    aux = PS_HEADER + L * (M + 1)
    mb = match_base_nb(params[0])
    for m in range(M):
        row = states[m]
        if row[S_UNITS] == 0.0:
            continue
        if n_trades + 1 > trades.shape[0]:
            trades = _grow_nb(trades, n_trades)
        px = ps[aux + M + m]
        n0 = n_trades
        done = False
        if with_match is not None:
            if params[m, P_MATCHING] != 0.0:
                n_trades = close_open_trade_match_nb(t, px, row, mb, trades, n_trades)
                done = True
        if not done:
            n_trades = _record_close_nb(row, t, px, 0.0, EXIT_OPEN, trades, n_trades)
        _tag_nb(trades, n0, n_trades, T_MARKET, m)
    return trades, n_trades

