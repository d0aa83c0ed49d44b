"""The ``tradebot`` command: sub-commands are thin wrappers over tradebot.services."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import typer

#: Every sub-command: name -> (module, attribute, a group of sub-commands?). ``main`` builds
#: the app with only the command the arguments name (plus the root options), so a cron
#: step imports and converts one command, not all of them (decision 0029); anything else
#: (no command, --help, a mistyped name) gets the whole app, with every name to suggest.
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "backtest": ("tradebot.cli.backtest", "backtest", False),
    "report": ("tradebot.cli.report", "report", False),
    "optimize": ("tradebot.cli.optimize", "optimize", False),
    "fetch": ("tradebot.cli.fetch", "fetch", False),
    "markets": ("tradebot.cli.fetch", "markets", False),
    "paper": ("tradebot.cli.paper", "paper", False),
    "paper-select": ("tradebot.cli.paper_select", "paper_select", False),
    "replay-exchange": ("tradebot.cli.replay", "replay_exchange", False),
    "train": ("tradebot.cli.train", "train", False),
    "errors": ("tradebot.cli.errors", "errors", False),
    "watch": ("tradebot.cli.errors", "watch", False),
    "doctor": ("tradebot.cli.doctor", "doctor", False),
    "serve": ("tradebot.cli.serve", "serve", False),
    "strategies": ("tradebot.cli.strategies", "app", True),
    "data": ("tradebot.cli.data", "app", True),
    "config": ("tradebot.cli.config", "app", True),
    "db": ("tradebot.cli.db", "app", True),
    "schedule": ("tradebot.cli.schedule", "app", True),
    "notify": ("tradebot.cli.notify", "app", True),
    "models": ("tradebot.cli.models", "app", True),
    "api": ("tradebot.cli.api", "app", True),
    "regime": ("tradebot.cli.regime", "app", True),
    "select": ("tradebot.cli.select", "app", True),
    "live": ("tradebot.cli.live", "app", True),
    "agent": ("tradebot.cli.agent", "app", True),
}

#: root options that take a value (to find the command name after them)
_VALUE_OPTIONS = frozenset({"--log-level"})


def build_app(only: str | None = None) -> typer.Typer:
    """The ``tradebot`` app: every command, or only ``only`` (a name of :data:`COMMANDS`)."""
    import importlib

    root = typer.Typer(
        name="tradebot",
        help="Crypto trading toolkit: data, backtests, optimization, models, paper trading and the server.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for name, (module, attr, group) in COMMANDS.items():
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(module), attr)
        if group:
            root.add_typer(target, name=name)
        else:
            root.command(name)(target)
    root.callback(invoke_without_command=True)(_root)
    return root


def command_named(args: list[str]) -> str | None:
    """The sub-command ``args`` name, when it is one of :data:`COMMANDS` (else None)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
        elif arg in ("-h", "--help", "--version"):
            return None
    return None


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole app, built on first use (tests, docs, completion)
        whole = build_app()
        globals()["app"] = whole
        return whole
    raise AttributeError(name)


def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    log_level: str = typer.Option(None, "--log-level", envvar="TRADEBOT_LOG_LEVEL",
                                  help="Log to stderr at this level (DEBUG, INFO, WARNING, ERROR)."),
    log_json: bool = typer.Option(False, "--log-json", help="Log JSON lines (stderr and the log file)."),
) -> None:
    if version:
        from tradebot.services.provenance import code_version

        typer.echo(f"tradebot {code_version()}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()
    from tradebot.cli.common import interrupt_note, start_logging
    from tradebot.core.startup import resume_gc

    if ctx.invoked_subcommand != "live":  # a live step resumes it once its orders are sent
        resume_gc()
    start_logging(log_level, log_json, ctx.invoked_subcommand)
    interrupt_note(_INTERRUPT_NOTES.get(ctx.invoked_subcommand,
                                        f"{ctx.invoked_subcommand} stopped before it finished; files and "
                                        "the database keep only completed writes"))


#: What an interrupt keeps, by command, until the command says more (common.interrupt_note).
_INTERRUPT_NOTES = {
    "backtest": "backtest stopped; nothing was stored (run it again to start over)",
    "optimize": "optimize stopped before its study was stored; nothing was stored (run it again to start over)",
    "fetch": "fetch stopped; no candles saved yet; run the same `tradebot fetch` again to resume",
    "paper": "paper stopped; the account is as of its last finished run (nothing of an unfinished run "
             "was stored); run the same command again to go on",
}

#: set by the SIGINT handler: an error raised after it is an interrupt, not a bug
_SIGINT = threading.Event()


#: Python code that C calls back through ctypes: llvmlite's object-cache callbacks, which run
#: while numba loads a cached kernel. An exception raised in a ctypes callback is printed as
#: "Exception ignored on calling ctypes callback function" with a traceback and dropped (and
#: the C caller gets a garbage answer), so an interrupt there is delivered again a moment later.
_CALLBACK_CODE = ("/llvmlite/",)
#: The import machinery's frames that run a C extension's initialisation. Many extensions import
#: Python modules while they initialise and print any error they get (numpy's ``import_array``:
#: ``PyErr_Print()``, then "ImportError: ... failed to import"; numba._dispatcher imports
#: numba._devicearray that way), so an interrupt there is delivered again a moment later too.
_EXTENSION_INIT = ("ExtensionFileLoader.create_module", "ExtensionFileLoader.exec_module")
#: Finalizers: an exception raised in ``__del__`` is printed ("Exception ignored in ...") and lost.
_FINALIZERS = ("__del__",)
REDELIVER_S = 0.05


def _on_sigint(signum: int, frame: Any) -> None:
    _SIGINT.set()
    if _must_wait(frame):
        timer = threading.Timer(REDELIVER_S, signal.raise_signal, (signal.SIGINT,))
        timer.daemon = True
        timer.start()
        return
    raise KeyboardInterrupt


def _must_wait(frame: Any) -> bool:
    """Whether an interrupt raised now would be printed and dropped by the code around it: code
    of :data:`_CALLBACK_CODE`, anything a C extension's initialisation called, or a finalizer."""
    while frame is not None:
        code = frame.f_code
        name = code.co_filename.replace("\\", "/")
        if any(part in name for part in _CALLBACK_CODE) or \
                getattr(code, "co_qualname", code.co_name) in _EXTENSION_INIT or code.co_name in _FINALIZERS:
            return True
        frame = frame.f_back
    return False


def _interrupted(error: BaseException | None = None) -> None:
    """The one line of an interrupted command: what was kept and how to go on; exit 130."""
    from tradebot.cli.common import current_interrupt_note, write_line
    from tradebot.core.errors import Interrupted

    note = str(error) if isinstance(error, Interrupted) else current_interrupt_note()
    write_line(f"interrupted: {note}" if note else "interrupted")
    sys.exit(130)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one-line errors with exit codes, tracebacks only with --debug.

    Ctrl-C (SIGINT) ends any command with one line saying what was kept and how to go on,
    exit code 130; long commands stop at a safe point (optimize: a batch boundary).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("TRADEBOT_DEBUG", "") not in ("", "0")
    if "--debug" in args:
        args.remove("--debug")
    previous = None
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored (nohup, &)
        previous = signal.signal(signal.SIGINT, _on_sigint)
    _SIGINT.clear()
    from tradebot.cli.common import interrupt_note

    interrupt_note("tradebot was still starting; nothing was done")  # the command says more
    try:
        _main(args, debug)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _main(args: list[str], debug: bool) -> None:
    from typer._click import exceptions as click_errors  # typer vendors click

    from tradebot.core.errors import Interrupted, TradebotError, caused_by_interrupt

    try:
        code = build_app(command_named(args))(args=args, prog_name="tradebot", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        print(e.format_message(), file=sys.stderr)
        sys.exit(0)
    except click_errors.UsageError as e:
        where = f"{e.ctx.command_path}: " if e.ctx is not None else ""
        print(f"error: {where}{e.format_message()}", file=sys.stderr)
        sys.exit(2)
    except click_errors.ClickException as e:
        print(f"error: {e.format_message()}", file=sys.stderr)
        sys.exit(e.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except Interrupted as e:
        if debug:
            raise
        _interrupted(e)
    except TradebotError as e:
        if debug:
            raise
        if _SIGINT.is_set() or caused_by_interrupt(e):
            _interrupted()
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        _interrupted()
    except Exception as e:  # a bug: say so in one line, traceback with --debug
        if debug:
            raise
        if _SIGINT.is_set() or caused_by_interrupt(e):  # e.g. numba's SystemError around an interrupt
            _interrupted()
        print(f"error: internal error: {type(e).__name__}: {e} (run with --debug for the "
              "traceback)", file=sys.stderr)
        sys.exit(1)
    if code == 130:  # typer turns a KeyboardInterrupt into Exit(130)
        _interrupted()
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
