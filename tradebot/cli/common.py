"""Shared pieces of the commands: loading settings, consoles, errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from tradebot.services.context import Context

ConfigOpt = typer.Option(None, "--config", "-c", help="Config file (TOML); default $TRADEBOT_HOME/config.toml.")
PresetOpt = typer.Option(None, "--preset", help="Preset: conservative, balanced, aggressive.")
StrategyPathOpt = typer.Option(None, "--strategy-path", help="Folder with user strategy files.")


def context(config: Path | None = None, preset: str | None = None,
            overrides: dict[str, Any] | None = None,
            strategy_path: Path | None = None) -> Context:
    """Settings from every layer (CLI overrides on top) wrapped in a Context."""
    from tradebot.core.config import build_overrides, load_settings
    from tradebot.services.context import Context

    settings = load_settings(config, preset, build_overrides(overrides or {}))
    settings_logging(settings)
    return Context(settings, strategy_path)


_LOG_OPTIONS: dict[str, Any] = {}


def start_logging(level: str | None, json_lines: bool, command: str | None) -> None:
    """The root callback's logging (stderr, the home's log file); refined by :func:`settings_logging`."""
    from tradebot.core.errors import UsageError
    from tradebot.core.logging_setup import LEVELS, mark_step_start, new_run_id, set_context, setup_logging

    if level is not None and level.upper() not in LEVELS:
        raise UsageError(f"invalid --log-level {level!r}: expected one of {', '.join(LEVELS)}")
    _LOG_OPTIONS.update(level=level, json_lines=json_lines or None)
    set_context(run=new_run_id(), command=command)
    mark_step_start()
    setup_logging(**_LOG_OPTIONS)


def settings_logging(settings: Any) -> None:
    """Logging from loaded settings: their home, [logging] section and secrets to scrub."""
    from tradebot.core.logging_setup import setup_logging

    setup_logging(settings=settings, **_LOG_OPTIONS)


def console(stderr: bool = False) -> Console:
    """A Rich console; when writing to a file or pipe, 140 columns (no terminal to fit)."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 140
    return Console(stderr=stderr, highlight=False, width=width)


def print_json(text: str) -> None:
    typer.echo(text)


# ----------------------------------------------------------------- interrupts

_INTERRUPT_NOTE: list[str | None] = [None]


def interrupt_note(text: str | None) -> None:
    """What a Ctrl-C at this moment keeps and how to go on, in one line; ``main`` prints
    it as ``interrupted: TEXT`` (exit 130). Commands update it as their work is stored."""
    _INTERRUPT_NOTE[0] = text


def current_interrupt_note() -> str | None:
    return _INTERRUPT_NOTE[0]


# ----------------------------------------------------------------- progress

QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress display (bars or lines).")

#: plain progress lines: at most one every this many seconds (first and last always)
LINE_EVERY_S = 2.0


def progress_style(json_out: bool = False, quiet: bool = False) -> str | None:
    """How long work shows progress, always on stderr: ``"rich"`` (bars, spinners) when
    stderr is a terminal, ``"lines"`` (plain lines, for logs and pipes) when it is not or
    with ``--json`` (its stdout stays JSON only), ``None`` with ``--quiet``."""
    import sys

    if quiet:
        return None
    if json_out or not sys.stderr.isatty():
        return "lines"
    return "rich"


def write_line(text: str) -> None:
    """One line on stderr, unbuffered and without Python's I/O locks (safe from a signal
    handler, never interleaved with a half-written line of ours)."""
    import os
    import sys

    data = (" ".join(text.split()) + "\n").encode(sys.stderr.encoding or "utf-8", "replace")
    try:
        sys.stderr.flush()
    except (OSError, ValueError, RuntimeError):
        pass
    try:
        fd = sys.stderr.fileno()
    except (OSError, ValueError, AttributeError):  # captured (tests): an ordinary write
        sys.stderr.write(data.decode(sys.stderr.encoding or "utf-8", "replace"))
        return
    while data:
        try:
            n = os.write(fd, data)
        except InterruptedError:
            continue
        except OSError:
            return
        data = data[n:]


class ProgressLines:
    """Plain progress lines on stderr, at most one every ``every_s`` seconds unless forced."""

    def __init__(self, every_s: float = LINE_EVERY_S) -> None:
        import time

        self.every_s = every_s
        self._clock = time.monotonic
        self._last: float | None = None
        self.started = self._clock()

    def elapsed(self) -> str:
        s = int(self._clock() - self.started)
        return f"{s} s" if s < 120 else f"{s // 60} min {s % 60:02d} s"

    def __call__(self, text: str, force: bool = False) -> bool:
        now = self._clock()
        if not force and self._last is not None and now - self._last < self.every_s:
            return False
        self._last = now
        write_line(text)
        return True


def compile_notice(write: Any, command: str = "backtest", settings: Any = None) -> None:
    """Before work that may compile the engine's kernels: ``write("compiling the engine's
    kernels once (about N s…)…")`` when ``command`` (backtest, paper, optimize) is about to
    compile (nothing cached yet for its engine path under ``settings``), else nothing.
    Best effort: a settings problem is reported by the command itself, not here."""
    try:
        from tradebot.engine.jit import compile_notice as notice

        config = None
        if settings is not None:
            from tradebot.services.backtest import engine_config

            config = engine_config(settings)
        text = notice(command, config)
    except Exception:
        return
    if text:
        write(text)


def notice_writer() -> Any:
    """Where a one-line notice goes: the Rich stderr console on a terminal, else a plain line."""
    import sys

    if sys.stderr.isatty():
        return console(stderr=True).print
    return write_line
