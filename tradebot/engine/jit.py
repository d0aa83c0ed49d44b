"""Is a one-time compile about to run? A cheap check for a notice before it starts.

The first command after an install or an upgrade compiles the kernels it uses and caches
them (:mod:`tradebot._jit`); later commands load them in a fraction of a second. This
module looks only at the cache's file names: importing and calling it imports neither
numba nor the kernels.

    from tradebot.engine.jit import compile_notice
    notice = compile_notice("backtest", config)   # None when everything is cached
    if notice:
        print(notice, file=sys.stderr)

    notice_to(write)   # paper: the step runner writes it, only when it compiles
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tradebot import _jit

if TYPE_CHECKING:
    from tradebot.engine.config import EngineConfig

# The kernels each path of the engine's loop compiles (index files per module.function).
_LOOP = {
    "market": ("engine/kernels.run_market_nb",),
    "risk": ("engine/kernels.run_risk_nb",),
    "match": ("engine/kernels.run_match_nb",),
}
_STATE = ("engine/kernels.new_state_nb",)
_CLOSE = ("engine/kernels.close_open_trade_nb",)  # the backtest books a still-open trade
_OPTIMIZE = {
    "market": ("optimize/kernels.eval_rows_market_nb",),
    "risk": ("optimize/kernels.eval_rows_risk_nb",),
    "match": ("optimize/kernels.eval_rows_match_nb",),
}
# Rough compile times on a 2-core machine (seconds): shown to the user, not relied upon.
_SECONDS = {"market": 15, "risk": 20, "match": 35, "optimize": 5}


def _path(config: EngineConfig | None) -> str:
    if config is None:
        return "market"
    if config.matching:
        return "match"
    vector = config.to_vector()
    from tradebot.engine.config import P_HAS_LIMITS

    return "market" if vector[P_HAS_LIMITS] == 0.0 else "risk"


def pending(command: str = "backtest", config: EngineConfig | None = None) -> list[str]:
    """The kernels ``command`` (``backtest``, ``paper`` or ``optimize``) would compile
    under ``config`` (default settings when None) that are not cached yet."""
    path = _path(config)
    needed = [*_STATE, *_LOOP[path]]
    if command == "backtest":
        needed += _CLOSE
    if command == "optimize":
        needed = [*needed, *_OPTIMIZE[path]]
    return [k for k in needed if not _jit.is_compiled(k)]


def compile_notice(command: str = "backtest", config: EngineConfig | None = None) -> str | None:
    """One line for stderr when ``command`` is about to compile kernels, else None.

    ``command``: ``backtest`` (the engine's loop) or ``optimize`` (the loop and the
    optimizer's batch kernel). For ``paper`` it is None: a paper step with a few new
    candles runs the loop interpreted and compiles nothing (:mod:`tradebot.engine.
    interpreted`); a long catch-up compiles, and the step runner then announces it
    itself through the writer given to :func:`notice_to`."""
    if command == "paper":
        return None
    return _notice(command, config)


_writer: Callable[[str], Any] | None = None


def notice_to(write: Callable[[str], Any] | None) -> None:
    """Where the step runner writes its compile notice (a paper catch-up that compiles
    the loop); None: nowhere (the default)."""
    global _writer
    _writer = write


def announce_step(config: EngineConfig | None) -> None:
    """Called by the step runner before it runs the compiled loop: writes the notice
    when that compiles (once per process)."""
    global _writer
    if _writer is None:
        return
    text = _notice("paper", config)
    if text:
        write, _writer = _writer, None
        write(text)


def _notice(command: str, config: EngineConfig | None) -> str | None:
    missing = pending(command, config)
    if not missing:
        return None
    path = _path(config)
    seconds = 0
    if any(k.startswith("engine/") for k in missing):
        seconds += _SECONDS[path]
    if any(k.startswith("optimize/") for k in missing):
        seconds += _SECONDS["optimize"]
    what = "the engine's kernels" if command != "optimize" else "the engine's and optimizer's kernels"
    return (f"compiling {what} once (about {seconds} s on 2 cores; cached in "
            f"{_jit.cache_dir()})…")
