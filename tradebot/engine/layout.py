"""Layouts of the float64 arrays the compiled kernels share: the state vector, the trade
buffer and the fill buffer, and the order kinds.

Plain constants (no numba), imported by :mod:`tradebot.engine.kernels`,
:mod:`tradebot.engine.matching_nb` and :mod:`tradebot.engine.risk_nb` alike, and by the
step runner and the paper ledger without loading numba.
"""

from __future__ import annotations

# State vector (float64): everything the step runner must persist.
S_CASH, S_UNITS, S_ENTRY_PRICE, S_ENTRY_FEE, S_ENTRY_IDX = 0, 1, 2, 3, 4
S_EXTREME, S_PENDING, S_PENDING_AT = 5, 6, 7
# Risk part of the state (the rules are in risk_nb.py): slots 8..N_STATE-1.
S_DAY, S_DAY_START_EQ, S_TRADES_TODAY, S_PEAK, S_HALT_UNTIL = 8, 9, 10, 11, 12
S_CONSEC_LOSSES, S_COOL_UNTIL, S_N_CLOSED, S_N_WINS, S_SUM_WIN, S_SUM_LOSS = (
    13, 14, 15, 16, 17, 18)
N_STATE = 19
#: optimal f looks at the returns of the last OPTF_WINDOW closed trades, kept in a ring
#: after the fixed state slots (only when the sizing mode is optimal_f)
OPTF_WINDOW = 256
FOREVER = 1e300  # halted for good (finite: the state is persisted as JSON)
# The working order of the matching fill model follows (M_* offsets from match_base():
# docs/decisions/0009-order-matching.md).

# Blocked-entry reasons (``BLOCKED_DTYPE['reason']``, see result.py) and buffer columns.
BLOCK_TRADES_PER_DAY, BLOCK_DAILY_LOSS, BLOCK_BREAKER, BLOCK_LOSS_COOLDOWN = 0, 1, 2, 3
N_BLOCKED_COLS = 2  # bar index, reason

# Working-order part of the state, as offsets from the matching base.
M_TYPE = 0  # order type of the working order (result.ORDER_*)
M_LIMIT = 1  # limit price (NaN: none)
M_STOP = 2  # stop trigger price (NaN: none)
M_TRIGGERED = 3  # 1 once a stop / stop-limit has triggered
M_EXPIRY = 4  # first bar at which the order no longer works (-1: good till filled)
M_BUDGET = 5  # entry: quote currency still to spend (-1: not sized yet)
M_TRADE_UNITS = 6  # units entered in the current round trip (sum of the entry fills)
M_EXIT_QTY = 7  # units exited so far in the current round trip
M_EXIT_PRICE = 8  # volume-weighted price of those exit fills
M_EXIT_FEE = 9  # fees of those exit fills
N_MATCH = 10

# Pending / working order kinds (``state[S_PENDING]``).
NO_ORDER, BUY_LONG, SELL_SHORT, CLOSE, FLATTEN = 0.0, 1.0, -1.0, 2.0, 3.0

# Trade buffer columns (float64 rows; converted to TRADE_DTYPE by the runner).
T_ENTRY_IDX, T_EXIT_IDX, T_DIR, T_UNITS, T_ENTRY_PRICE, T_EXIT_PRICE = 0, 1, 2, 3, 4, 5
T_ENTRY_FEE, T_EXIT_FEE, T_PNL, T_RETURN, T_REASON = 6, 7, 8, 9, 10
N_TRADE_COLS = 11

# Fill buffer columns (float64 rows; converted to FILL_DTYPE by the runner).
F_BAR, F_SIDE, F_QTY, F_PRICE, F_FEE, F_TYPE, F_INTENT, F_REASON, F_MAKER = range(9)
N_FILL_COLS = 9
