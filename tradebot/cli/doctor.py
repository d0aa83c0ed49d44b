"""``tradebot doctor``: is this installation healthy? One line per check; exit 1 on a failure."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, console, print_json

_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def doctor(
    quick: bool = typer.Option(False, "--quick", help="Only config, store and disk (container HEALTHCHECK)."),
    offline: bool = typer.Option(False, "--offline", help="Skip the checks that need the network."),
    send_test: bool = typer.Option(False, "--send-test", help="Send a test message to every channel."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path = ConfigOpt,
) -> None:
    """Check the config, store, cache, disk, clock, TA-Lib, kernels, notifier and paper accounts."""
    from tradebot.services.doctor import run_checks

    checks = run_checks(config, quick=quick, offline=offline, send_test=send_test)
    failed = [c for c in checks if c.verdict == "fail"]
    if json_out:
        print_json(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        out = console()
        width = max(len(c.name) for c in checks)
        for c in checks:
            out.print(f"{_MARK[c.verdict]} {c.name:<{width}}  {c.detail}", markup=False, soft_wrap=True)
        out.print(f"{len(failed)} problem(s): {', '.join(c.name for c in failed)}" if failed else "healthy",
                  markup=False)
    if failed:
        raise typer.Exit(1)
