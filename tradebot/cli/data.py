"""``tradebot data``: import candle files, list and check the cache."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, console, context

app = typer.Typer(help="Manage cached market data.", no_args_is_help=True)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "–"
    from tradebot.data.validation import format_ts

    return format_ts(ms)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="CSV file (plain or gzip): timestamp,open,high,low,close,volume."),
    exchange: str = typer.Option(..., "--exchange", help="Exchange id to file it under."),
    symbol: str = typer.Option(..., "--symbol", help="Symbol, e.g. BTC/USDT."),
    timeframe: str = typer.Option(..., "--timeframe", "-t", help="Timeframe, e.g. 1m."),
    allow_implausible: bool = typer.Option(
        False, "--allow-implausible", help="Keep prices above 1e12 (refused otherwise, with their row)."),
    config: Path = ConfigOpt,
) -> None:
    """Validate a candle file and store it in the cache (nothing is written if invalid)."""
    from tradebot.services.data import import_csv

    ctx = context(config)
    try:
        res = import_csv(ctx, file, exchange, symbol, timeframe, allow_implausible=allow_implausible)
    finally:
        ctx.close()
    out = console()
    out.print(f"Imported {res.rows:,} candles into {res.path}")
    out.print(f"  {res.gap_summary}")
    for note in res.notes:
        out.print(f"  note: {note}", markup=False, highlight=False, soft_wrap=True)


@app.command("list")
def list_(config: Path = ConfigOpt) -> None:
    """List cached datasets: range, rows and gaps."""
    from rich.table import Table

    from tradebot.services.data import list_datasets

    ctx = context(config)
    try:
        rows = list_datasets(ctx)
    finally:
        ctx.close()
    if not rows:
        console().print(f"No cached data under {ctx.cache.root}. Import with `tradebot data import`.")
        return
    table = Table(title="Cached candles")
    for col in ("exchange", "symbol", "tf", "rows", "first", "last", "gaps", "missing", "file"):
        table.add_column(col, justify="right" if col in ("rows", "gaps", "missing") else "left")
    for r in rows:
        table.add_row(r.exchange, r.symbol, r.timeframe, f"{r.rows:,}", _iso(r.start_ms),
                      _iso(r.end_ms), "–" if r.gaps is None else str(r.gaps),
                      "–" if r.missing is None else str(r.missing),
                      r.path if not r.error else f"[red]{r.path}: {r.error}[/red]")
    console().print(table)


@app.command("check")
def check(config: Path = ConfigOpt) -> None:
    """Fully validate every cached file; exit 1 if any is invalid."""
    from tradebot.services.data import check_datasets

    ctx = context(config)
    rows = check_datasets(ctx)
    out = console()
    if not rows:
        out.print(f"No cached data under {ctx.cache.root}.")
        return
    bad = 0
    for r in rows:
        mark = "[green]ok[/green]" if r.ok else "[red]INVALID[/red]"
        bad += not r.ok
        what = f"{r.exchange} {r.symbol} {r.timeframe}" if r.exchange else r.path
        out.print(f"{mark} {what}: {r.message}")
    if bad:
        raise typer.Exit(1)
