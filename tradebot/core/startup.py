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

At the end, ``freeze_for_exit`` freezes the heap once more. CPython's finalization runs full
collections while it tears the modules down, and after a command that loaded numba's kernels
(with llvmlite's objects behind them) those took about 0.35 s of every ``tradebot backtest``'s
wall time, after its last line was printed and everything was stored. Frozen objects are
still freed by reference counting as the modules go; only reference cycles are left to the
operating system, which CPython never promised to finalize at exit. Everything tradebot
writes is closed (files atomically replaced, transactions committed) before its command
returns, and ``atexit`` handlers (logging's flush among them) run before the finalization.
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


def freeze_for_exit() -> None:
    """Move every object into the permanent generation, so the interpreter's finalization
    does not walk them again (the console script's last act, whatever the command did)."""
    gc.freeze()
