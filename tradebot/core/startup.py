"""The garbage collector while a ``tradebot`` process starts (decision 0029).

Starting a command imports about a thousand modules (numpy, SQLAlchemy, pydantic, ccxt, ...),
which allocate hundreds of thousands of long-lived objects and no cyclic garbage worth
collecting. CPython's cyclic collector, triggered by those allocations, walks the growing
heap again and again: about a tenth of a second of a cold start. ``pause_gc`` (the console
script's first act) switches it off; ``resume_gc`` moves everything allocated so far into
the permanent generation (``gc.freeze``, never scanned again) and switches it back on. The
root command resumes it before any command runs, except a one-shot ``tradebot live``
step, which resumes it once its orders are sent (the time from candle close to order is
that command's budget); every later allocation is collected as usual.
"""

from __future__ import annotations

import gc

_paused = [False]


def pause_gc() -> None:
    """Switch the cyclic collector off for the start of the process (idempotent)."""
    if gc.isenabled():
        gc.disable()
        _paused[0] = True


def resume_gc() -> None:
    """Freeze what the start allocated and switch the collector back on, if :func:`pause_gc`
    switched it off (a collector disabled by someone else stays off)."""
    if _paused[0]:
        _paused[0] = False
        gc.freeze()
        gc.enable()
