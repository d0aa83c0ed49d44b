"""The engine's loop without numba: the same kernel sources, run by the Python interpreter.

A cron ``paper`` step usually has one new candle. Running the loop compiled means
importing numba and loading its cached kernels (its target initialisation alone is most
of a second of CPU), while that one bar interpreted takes some tens of microseconds. So
the step runner (:func:`tradebot.engine.step.advance`) and the portfolio step
(:func:`tradebot.engine.portfolio.advance_portfolio`: paper portfolio and live accounts)
run a few bars through this module when numba is not loaded yet in the process, and the
compiled loop otherwise.

The code is not a copy: :func:`module` executes the source files of the kernel modules
(engine/kernels.py and the helpers it imports) into separate module objects in which
``njit`` leaves functions as they are and ``prange`` is ``range``. The arithmetic is the
same IEEE double arithmetic (the kernels use no fast-math), so the results are the same
bit for bit; tests/engine/test_interpreted.py replays histories both ways. The
order-matching model is always run compiled (its fill-probability hash relies on
64-bit integer wrap-around).
"""

from __future__ import annotations

import builtins
import sys
import types
from importlib.machinery import SourceFileLoader
from pathlib import Path
from typing import Any

import numpy as np

# The kernel modules of the loop: the interpreted copies import each other.
LOOP_MODULES = ("tradebot.engine.kernels", "tradebot.engine.matching_nb",
                "tradebot.engine.risk_nb", "tradebot.engine.stops_nb",
                "tradebot.engine.portfolio_nb")
# Up to this many new bars a step runs interpreted (when numba is not loaded yet): about
# 35 microseconds a bar interpreted (0.2 s for 5,000), against about a second of CPU to
# import numba and load the compiled loop.
MAX_BARS = 5_000

_ROOT = Path(__file__).resolve().parent.parent
_modules: dict[str, types.ModuleType] = {}


def _identity_njit(*args: Any, **options: Any) -> Any:
    if args and callable(args[0]):
        return args[0]
    return lambda fn: fn


_JIT = types.SimpleNamespace(njit=_identity_njit)
_NUMBA = types.SimpleNamespace(prange=range, njit=_identity_njit)


def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
            level: int = 0) -> Any:
    if level == 0:
        if name in LOOP_MODULES and fromlist:
            return module(name)
        if name == "tradebot._jit" and fromlist:
            return _JIT
        if name == "numba" and fromlist:
            return _NUMBA
    return builtins.__import__(name, globals, locals, fromlist, level)


def module(name: str) -> types.ModuleType:
    """The interpreted copy of kernel module ``name`` (one of :data:`LOOP_MODULES`)."""
    if name not in LOOP_MODULES:
        raise ValueError(f"{name} is not a module of the engine's loop")
    got = _modules.get(name)
    if got is None:
        path = _ROOT.joinpath(*name.split(".")[1:]).with_suffix(".py")
        got = types.ModuleType(f"{name}[interpreted]")
        got.__file__ = str(path)
        got.__dict__["__builtins__"] = {**builtins.__dict__, "__import__": _import}
        _modules[name] = got  # before exec: the helpers import each other
        # the module's own bytecode cache (__pycache__): the same code object as compiling the source
        code = SourceFileLoader(name, str(path)).get_code(name)
        if code is None:  # a source file always has code; this satisfies the loader's signature
            raise ImportError(f"no code for {path}")
        exec(code, got.__dict__)  # noqa: S102
    return got


def available(params: np.ndarray, n_bars: int) -> bool:
    """Whether a step of ``n_bars`` under ``params`` should run interpreted: few bars,
    numba not loaded yet (then loading it would cost more than the bars), and not the
    order-matching model."""
    from tradebot.engine.config import P_MATCHING

    return n_bars <= MAX_BARS and "numba" not in sys.modules and params[P_MATCHING] == 0.0


def kernels() -> types.ModuleType:
    """The interpreted engine/kernels.py (``runner_for``, ``new_state_nb``...)."""
    return module("tradebot.engine.kernels")
