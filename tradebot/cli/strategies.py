"""``tradebot strategies``: what can run, and its parameters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tradebot.cli.common import StrategyPathOpt, console

if TYPE_CHECKING:
    from tradebot.services.context import Context

app = typer.Typer(help="List and describe strategies.", no_args_is_help=True)


@app.command("list")
def list_(strategy_path: Path = StrategyPathOpt) -> None:
    """List every registered strategy with its version and description."""
    from rich.table import Table

    from tradebot.strategies.registry import Registry

    table = Table(title="Strategies")
    for col in ("name", "version", "origin", "description"):
        table.add_column(col)
    for info in Registry(strategy_path).all().values():
        origin = Path(info.origin).name if info.origin.endswith(".py") else info.origin
        table.add_row(info.name, info.version, origin, info.description)
    console().print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="Strategy name."),
         strategy_path: Path = StrategyPathOpt) -> None:
    """Describe a strategy: idea, failure modes, parameters with types and ranges."""
    import inspect

    from rich.table import Table

    from tradebot.strategies.registry import Registry

    info = Registry(strategy_path).get(name)
    out = console()
    out.print(f"[bold]{info.name}[/bold] v{info.version} ({info.origin})")
    out.print(info.description)
    doc = inspect.getdoc(info.cls)
    if doc:
        out.print()
        out.print(doc)
    table = Table(title="Parameters")
    for col in ("name", "type", "default", "range / choices", "description"):
        table.add_column(col)
    for pname, p in info.cls.params.items():
        rng = ", ".join(p.choices) if p.choices else (
            f"[{p.low}, {p.high}]" if p.low is not None or p.high is not None else "")
        table.add_row(pname, p.kind, str(p.default), rng, p.description)
    out.print(table)


@app.command("check")
def check(
    name: str = typer.Argument(None, help="Strategy name (or --spec for a feature spec)."),
    spec: str = typer.Option(None, "--spec", help="Check a feature spec instead (built-in name or TOML file)."),
    param: list[str] = typer.Option([], "--param", "-p", help="Parameter NAME=VALUE (repeatable)."),
    exchange: str = typer.Option(None, "--exchange", help="Cached candles' exchange (default: config; sim if none)."),
    symbol: str = typer.Option(None, "--symbol", help="Symbol, e.g. BTC/USDT."),
    timeframe: str = typer.Option(None, "--timeframe", "-t", help="Timeframe, e.g. 1h."),
    points: int = typer.Option(20, "--points", min=1, max=500, help="How many truncation points to test."),
    strategy_path: Path = StrategyPathOpt,
) -> None:
    """Look-ahead check: recompute signals (or a feature spec's columns) on truncated histories;
    exit 1 if any change."""
    from tradebot.cli.common import context
    from tradebot.core.errors import UsageError
    from tradebot.services.strategies import lookahead
    from tradebot.strategies.params import parse_assignments

    if (name is None) == (spec is None):
        raise UsageError("strategies check: give a strategy NAME or --spec NAME|FILE (one of them)")
    if spec is not None and param:
        raise UsageError("strategies check --spec: --param applies to strategies, not feature specs")
    ctx = context(None, None, {"market.exchange": exchange, "market.symbol": symbol,
                               "market.timeframe": timeframe}, strategy_path)
    if spec is not None:
        _check_spec(ctx, spec, points)
        return
    try:
        report = lookahead(ctx, name, parse_assignments(param), points)
    finally:
        ctx.close()
    out = console()
    out.print(f"{report.strategy} {report.params}: {report.bars:,} bars, "
              f"{len(report.cuts)} truncation points")
    if report.ok:
        out.print("[green]no look-ahead: every signal and indicator is the same on truncated "
                  "histories[/green]")
        return
    for ind, bar in sorted(report.leaking_indicators.items()):
        out.print(f"[red]indicator {ind} changes when future candles are removed (first at bar "
                  f"{bar})[/red]")
    from tradebot.data.validation import format_ts

    for c in report.changes[:50]:
        out.print(f"[red]bar {c.bar} ({format_ts(c.timestamp_ms)}): {c.signal} is {c.full} with the "
                  f"full history but {c.truncated} when cut after {c.cut} bars[/red]")
    if len(report.changes) > 50:
        out.print(f"... and {len(report.changes) - 50} more")
    raise typer.Exit(1)


def _check_spec(ctx: Context, spec: str, points: int) -> None:
    """``strategies check --spec``: the feature look-ahead check (tradebot.ml.lookahead)."""
    from tradebot.data.validation import format_ts
    from tradebot.services.strategies import feature_lookahead

    try:
        report = feature_lookahead(ctx, spec, points)
    finally:
        ctx.close()
    out = console()
    out.print(f"feature spec {report.spec} ({report.spec_hash[:12]}): {report.bars:,} bars, "
              f"{len(report.cuts)} truncation points")
    if report.ok:
        out.print("[green]no look-ahead: every feature value is the same on truncated histories, and the "
                  "newest-bar path matches[/green]")
        return
    for col, bar in sorted(report.leaking_columns.items(), key=lambda kv: (kv[1], kv[0])):
        out.print(f"[red]feature {col} changes when future candles are removed (first at bar {bar})[/red]")
    for col, cut in sorted(report.tail_mismatches.items()):
        out.print(f"[red]feature {col}: the newest-bar value differs from the whole-history value at cut {cut} "
                  "(warm-up declared too short)[/red]")
    for c in report.changes[:20]:
        out.print(f"[red]bar {c.bar} ({format_ts(c.timestamp_ms)}): {c.column} is {c.full} with the full "
                  f"history but {c.truncated} when cut after {c.cut} bars[/red]")
    if len(report.changes) > 20:
        out.print(f"... and {len(report.changes) - 20} more")
    raise typer.Exit(1)
