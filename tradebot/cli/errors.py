"""``tradebot errors`` (recorded failures and incidents) and ``tradebot watch`` (one pass of
the unattended checks: heartbeats and stale data, alerting once per incident)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, console, context, print_json


def errors(
    account: str = typer.Option(None, "--account", "-a", help="Only this account's errors."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many (newest first)."),
    incidents: bool = typer.Option(False, "--incidents", help="List incidents instead of errors."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path = ConfigOpt,
) -> None:
    """List the errors recorded by scheduled runs (newest first), or the incidents."""
    from rich.table import Table

    from tradebot.services.incidents import list_errors, list_incidents

    ctx = context(config)
    try:
        if incidents:
            rows: list[dict[str, object]] = [{"key": i.key, "opened": i.opened_at.isoformat(timespec="seconds"),
                     "resolved": i.resolved_at.isoformat(timespec="seconds") if i.resolved_at else None,
                     "occurrences": i.occurrences, "detail": i.detail}
                    for i in list_incidents(ctx.store, limit=limit)]
            if json_out:
                print_json(json.dumps(rows, indent=2))
                return
            table = Table("incident", "opened", "state", "checks", "detail")
            for r in rows:
                table.add_row(str(r["key"]), str(r["opened"]),
                              f"resolved {r['resolved']}" if r["resolved"] else "open",
                              str(r["occurrences"]), str(r["detail"]))
            console().print(table if rows else "no incidents")
            return
        found = list_errors(ctx.store, account=account, limit=limit)
        if json_out:
            print_json(json.dumps(found, indent=2))
            return
        if not found:
            console().print("no errors recorded")
            return
        table = Table("id", "at", "command", "account", "error")
        for e in found:
            table.add_row(str(e["id"]), e["at"], e["command"], e["account"] or "",
                          f"{e['type']}: {e['message']}")
        console().print(table)
    finally:
        ctx.close()


def watch(config: Path = ConfigOpt) -> None:
    """One pass of the checks cron runs: heartbeats of paper accounts and stale [fetch] data.

    Opens an incident (one alert) for each new problem and resolves it (one recovery message)
    when it clears; exit 1 while any problem is open."""
    from tradebot.services.incidents import check_health

    ctx = context(config)
    try:
        results = check_health(ctx)
    finally:
        ctx.close()
    out = console()
    for key, failing, detail in results:
        out.print(f"{'FAIL' if failing else 'ok  '} {detail if failing else key}")
    if not results:
        out.print("nothing to watch (no paper account has reported a run; no [fetch] markets)")
    if any(f for _, f, _ in results):
        raise typer.Exit(1)
