"""``tradebot live stop|resume|reconcile``: the kill switch and the reconciliation view of
live accounts (registered on ``tradebot live`` by :func:`register`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt

__all__ = ["reconcile_command", "register"]

_ACCOUNT = typer.Option(..., "--account", "-a", help="Live account name.")
_TESTNET = typer.Option(False, "--testnet", help="The exchange's sandbox/testnet (as the account's runs).")
_JSON = typer.Option(False, "--json", help="Print JSON.")


def stop(
    account: str = _ACCOUNT,
    flatten: bool = typer.Option(False, "--flatten", help="Also sell every position with market orders."),
    reason: str = typer.Option(None, "--reason", help="Why (stored and notified)."),
    testnet: bool = _TESTNET,
    json_out: bool = _JSON,
    config: Path = ConfigOpt,
    preset: str = PresetOpt,
) -> None:
    """Kill switch: cancel the account's open orders on the exchange, optionally flatten, and
    refuse new entries until `tradebot live resume`."""
    from tradebot.cli.common import console, context
    from tradebot.services.live_admin import stop as stop_service

    ctx = context(config, preset)
    try:
        result = stop_service(ctx, account, flatten=flatten, reason=reason, testnet=testnet)
    finally:
        ctx.close()
    if json_out:
        typer.echo(json.dumps(result.to_dict(), default=str))
    else:
        console().print(result.render(), markup=False, highlight=False)
    if result.errors:
        raise typer.Exit(1)


def resume(
    account: str = _ACCOUNT,
    config: Path = ConfigOpt,
    preset: str = PresetOpt,
) -> None:
    """Lift the kill switch: the account's next run may enter positions again."""
    from tradebot.cli.common import console, context
    from tradebot.services.live_admin import resume as resume_service

    ctx = context(config, preset)
    try:
        resume_service(ctx, account)
    finally:
        ctx.close()
    console().print(f"live account {account}: resumed; its next run may enter positions again", markup=False)


def reconcile_command(ctx: Any, account: str, *, adopt: bool = False, testnet: bool = False,
                      json_out: bool = False) -> None:
    """Print the reconciliation of ``account`` (``--adopt``: take the exchange's view); exit 1
    while differences remain unadopted. For ``tradebot live --reconcile``."""
    from tradebot.cli.common import console
    from tradebot.services.live_admin import reconcile_view

    report = reconcile_view(ctx, account, adopt=adopt, testnet=testnet)
    if json_out:
        typer.echo(json.dumps({**report.to_dict(), "adopted": adopt and not report.ok}, default=str))
    else:
        out = console()
        out.print(report.render(), markup=False, highlight=False)
        if adopt and not report.ok:
            out.print(f"adopted the exchange's view ({len(report.differences)} difference(s)); recorded as an "
                      "event", markup=False)
    if not report.ok and not adopt:
        raise typer.Exit(1)


def reconcile(
    account: str = _ACCOUNT,
    adopt: bool = typer.Option(False, "--adopt", help="Take the exchange's view (recorded as an event)."),
    testnet: bool = _TESTNET,
    json_out: bool = _JSON,
    config: Path = ConfigOpt,
    preset: str = PresetOpt,
) -> None:
    """Compare the exchange's balances, open orders and positions with the ledger, without
    trading (exit 1 when they differ beyond dust)."""
    from tradebot.cli.common import context

    ctx = context(config, preset)
    try:
        reconcile_command(ctx, account, adopt=adopt, testnet=testnet, json_out=json_out)
    finally:
        ctx.close()


def register(live_app: typer.Typer) -> None:
    """Add ``stop``, ``resume`` and ``reconcile`` to ``tradebot live``."""
    live_app.command("stop")(stop)
    live_app.command("resume")(resume)
    live_app.command("reconcile")(reconcile)
