"""``tradebot strategies``: what can run, and its parameters."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import StrategyPathOpt, console

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
