"""``tradebot fetch`` and ``tradebot markets``."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, console, context


def fetch(
    exchange: str = typer.Argument(None, help="ccxt exchange id, e.g. binance (default: config fetch.markets)."),
    symbols: list[str] = typer.Argument(None, help="Symbols, e.g. BTC/USDT ETH/USDT (BTC/USDT:USDT for futures)."),
    timeframe: list[str] = typer.Option(None, "--timeframe", "-t", help="Timeframe(s), repeatable (default: config)."),
    since: str = typer.Option(None, "--since", help="First candle (YYYY-MM-DD or ISO, UTC); prepends older history."),
    until: str = typer.Option(None, "--until", help="End, exclusive (default: the last closed candle)."),
    config: Path = ConfigOpt,
) -> None:
    """Download candles into the cache: only what is missing, resumable, gaps reported."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from tradebot.core.config import parse_date_ms
    from tradebot.core.errors import UsageError
    from tradebot.services.fetch import plan_jobs, run_fetch

    since_ms = parse_date_ms(since) if since else None
    until_ms = parse_date_ms(until) if until else None
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise UsageError(f"--since {since} is not before --until {until}")
    ctx = context(config)
    jobs = plan_jobs(ctx, exchange, list(symbols or []), list(timeframe or []) or None)
    import sys

    out = console()
    err = console(stderr=True)
    # bars on a terminal only (cron logs and pipes get the summary lines alone)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err, disable=not sys.stderr.isatty()) as bars:
        def progress_for(job):  # type: ignore[no-untyped-def]
            task = None

            def update(done: int, total: int) -> None:
                nonlocal task
                if task is None:  # shown once the first page arrived
                    task = bars.add_task(f"{job.exchange} {job.symbol} {job.timeframe}", total=total)
                bars.update(task, completed=done, total=max(total, 1))
            return update

        try:
            results = run_fetch(ctx, jobs, since_ms, until_ms, progress_for)
        finally:
            ctx.close()
    for r in results:
        state = "up to date" if r.up_to_date else f"+{r.downloaded:,} candles in {r.requests} requests"
        out.print(f"{r.exchange} {r.symbol} {r.timeframe}: {state}; {r.gap_summary}")
        out.print(f"  {r.path}")


def markets(
    exchange: str = typer.Argument(..., help="ccxt exchange id, e.g. binance."),
    futures: bool = typer.Option(False, "--futures", help="USDT-margined perpetuals instead of spot."),
    quote: str = typer.Option(None, "--quote", help="Only markets quoted in this currency, e.g. USDT."),
    config: Path = ConfigOpt,
) -> None:
    """List an exchange's markets with precision and limits."""
    from rich.table import Table

    from tradebot.services.fetch import list_markets

    ctx = context(config)
    rows = list_markets(ctx, exchange, "futures" if futures else "spot", quote)
    table = Table(title=f"{exchange} {'futures' if futures else 'spot'} markets ({len(rows)})")
    for col in ("symbol", "type", "active", "price step", "amount step", "min amount", "min cost"):
        table.add_column(col, justify="left" if col in ("symbol", "type") else "right")

    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:g}"

    for m in rows:
        table.add_row(m.symbol, m.type, "yes" if m.active else "no", num(m.price_precision),
                      num(m.amount_precision), num(m.min_amount), num(m.min_cost))
    console().print(table)
