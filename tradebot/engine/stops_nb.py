"""Intra-bar protective exits: where the stop-loss / trailing stop sits and at what price
a level reached inside a bar fills, before any costs.

Compiled helpers, called by both paths of :mod:`tradebot.engine.kernels`: the
market path (``check_stops_nb``) and the matching path
(:func:`tradebot.engine.matching_nb.stops_match_nb`). They differ only in how the exit
is filled (costs, order type, fee), which stays with each caller.
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit
from tradebot.engine.layout import S_EXTREME
from tradebot.engine.result import EXIT_STOP_LOSS, EXIT_TRAILING_STOP


@njit(cache=True)
def stop_level_nb(entry, extreme, sl, trail, long):
    """The stop of a position entered at ``entry`` whose best price so far is ``extreme``:
    the tighter of the stop-loss ``sl`` and the trailing stop ``trail`` (fractions, NaN
    when off). Returns ``(level, reason)``; the level is -inf (long) or +inf (short)
    when neither is set."""
    if long:
        stop = -np.inf
        reason = EXIT_STOP_LOSS
        if sl == sl:
            stop = entry * (1.0 - sl)
        if trail == trail:
            tstop = extreme * (1.0 - trail)
            if tstop > stop:
                stop = tstop
                reason = EXIT_TRAILING_STOP
        return stop, reason
    stop = np.inf
    reason = EXIT_STOP_LOSS
    if sl == sl:
        stop = entry * (1.0 + sl)
    if trail == trail:
        tstop = extreme * (1.0 + trail)
        if tstop < stop:
            stop = tstop
            reason = EXIT_TRAILING_STOP
    return stop, reason


@njit(cache=True)
def level_fill_px_nb(level, o, entry_bar, falling):
    """Price (before costs) at which a level reached inside the bar fills: the level, or
    the open ``o`` when the bar gapped through it (not on the entry bar, whose open is the
    entry). ``falling``: the level is reached from above (a long's stop, a short's
    take-profit)."""
    if falling:
        return level if (entry_bar or o > level) else o
    return level if (entry_bar or o < level) else o


@njit(cache=True)
def track_extreme_nb(state, price, long):
    """Move the position's best price so far (the trailing stop's anchor) to ``price``
    when it is better: higher for a long, lower for a short."""
    if long:
        if price > state[S_EXTREME]:
            state[S_EXTREME] = price
    elif price < state[S_EXTREME]:
        state[S_EXTREME] = price
