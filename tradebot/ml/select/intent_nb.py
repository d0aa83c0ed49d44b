"""What a strategy's signals hold, bar by bar: the engine's decision rule without fills.

:func:`intent_nb` replays :func:`tradebot.engine.kernels.decide_nb` on signals alone: flat →
long on an entry (else short on a short entry when shorts are allowed); long → flat on an exit;
short → flat on a short exit. ``out[t]`` (1 long, -1 short, 0 flat) is the position the
strategy wants after its decision at bar ``t``'s close. Stops and risk limits are not
replayed (docs/decisions/0024-strategy-selector.md).
"""

from __future__ import annotations

import numpy as np

from tradebot._jit import njit


@njit(cache=True)
def intent_nb(entries, exits, short_entries, short_exits, allow_short):
    n = entries.shape[0]
    shorts = allow_short and short_entries.shape[0] == n
    out = np.zeros(n, dtype=np.int8)
    s = 0
    for t in range(n):
        if s == 0:
            if entries[t]:
                s = 1
            elif shorts and short_entries[t]:
                s = -1
        elif s == 1:
            if exits[t]:
                s = 0
        elif shorts and short_exits[t]:
            s = 0
        out[t] = s
    return out


def intent_py(entries: np.ndarray, exits: np.ndarray, short_entries: np.ndarray, short_exits: np.ndarray,
              allow_short: bool) -> np.ndarray:
    """:func:`intent_nb` in plain Python (the reference of its test)."""
    n = len(entries)
    shorts = allow_short and len(short_entries) == n
    out = np.zeros(n, dtype=np.int8)
    s = 0
    for t in range(n):
        if s == 0:
            s = 1 if entries[t] else (-1 if shorts and short_entries[t] else 0)
        elif s == 1:
            s = 0 if exits[t] else 1
        else:
            s = 0 if short_exits[t] else -1
        out[t] = s
    return out
