"""The ``tradebot`` console script: imports the app inside a guard, so a Ctrl-C while Python
is still loading it ends with the same one line and exit code 130 as one during a command."""

from __future__ import annotations

import sys


def main() -> None:
    from tradebot.core.startup import freeze_for_exit, pause_gc

    pause_gc()  # resumed by the root command (tradebot.core.startup)
    try:
        from tradebot.cli.app import main as app_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: tradebot was still starting; nothing was done\n")
        raise SystemExit(130) from None
    try:
        app_main()
    finally:
        freeze_for_exit()  # the interpreter's exit does not collect the heap again (core.startup)
