"""The ``tradebot`` command: sub-commands are thin wrappers over tradebot.services."""

from __future__ import annotations

import os
import signal
import sys
import threading

import typer

from tradebot.cli import agent as agent_cmd
from tradebot.cli import api as api_cmd
from tradebot.cli import config as config_cmd
from tradebot.cli import data as data_cmd
from tradebot.cli import db as db_cmd
from tradebot.cli import errors as errors_cmd
from tradebot.cli import live as live_cmd
from tradebot.cli import models as models_cmd
from tradebot.cli import notify as notify_cmd
from tradebot.cli import regime as regime_cmd
from tradebot.cli import schedule as schedule_cmd
from tradebot.cli import select as select_cmd
from tradebot.cli import strategies as strategies_cmd
from tradebot.cli.backtest import backtest
from tradebot.cli.doctor import doctor
from tradebot.cli.fetch import fetch, markets
from tradebot.cli.optimize import optimize
from tradebot.cli.paper import paper
from tradebot.cli.paper_select import paper_select
from tradebot.cli.replay import replay_exchange
from tradebot.cli.report import report
from tradebot.cli.serve import serve
from tradebot.cli.train import train

app = typer.Typer(
    name="tradebot",
    help="Crypto trading toolkit: data, backtests, optimization, models, paper trading and the server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("backtest")(backtest)
app.command("report")(report)
app.command("optimize")(optimize)
app.command("fetch")(fetch)
app.command("markets")(markets)
app.command("paper")(paper)
app.command("paper-select")(paper_select)
app.command("replay-exchange")(replay_exchange)
app.command("train")(train)
app.command("errors")(errors_cmd.errors)
app.command("watch")(errors_cmd.watch)
app.command("doctor")(doctor)
app.command("serve")(serve)
app.add_typer(strategies_cmd.app, name="strategies")
app.add_typer(data_cmd.app, name="data")
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(schedule_cmd.app, name="schedule")
app.add_typer(notify_cmd.app, name="notify")
app.add_typer(models_cmd.app, name="models")
app.add_typer(api_cmd.app, name="api")
app.add_typer(regime_cmd.app, name="regime")
app.add_typer(select_cmd.app, name="select")
app.add_typer(live_cmd.app, name="live")
app.add_typer(agent_cmd.app, name="agent")


@app.callback(invoke_without_command=True)
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


def _on_sigint(signum: int, frame: object) -> None:
    _SIGINT.set()
    raise KeyboardInterrupt


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

    interrupt_note(None)
    try:
        _main(args, debug)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _main(args: list[str], debug: bool) -> None:
    from typer._click import exceptions as click_errors  # typer vendors click

    from tradebot.core.errors import Interrupted, TradebotError, caused_by_interrupt

    try:
        code = app(args=args, prog_name="tradebot", standalone_mode=False)
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
