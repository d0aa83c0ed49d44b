"""``tradebot fetch`` and ``tradebot markets``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tradebot.cli.common import (
    ConfigOpt,
    ProgressLines,
    QuietOpt,
    console,
    context,
    interrupt_note,
    progress_style,
    write_line,
)

if TYPE_CHECKING:
    from tradebot.exchanges.retry import RetryNotice
    from tradebot.services.fetch import FetchJob


def fetch(
    exchange: str = typer.Argument(None, help="ccxt exchange id, e.g. binance (default: config fetch.markets)."),
    symbols: list[str] = typer.Argument(None, help="Symbols, e.g. BTC/USDT ETH/USDT (BTC/USDT:USDT for futures)."),
    timeframe: list[str] = typer.Option(None, "--timeframe", "-t", help="Timeframe(s), repeatable (default: config)."),
    since: str = typer.Option(None, "--since", help="First candle (YYYY-MM-DD or ISO, UTC); prepends older history."),
    until: str = typer.Option(None, "--until", help="End, exclusive (default: the last closed candle)."),
    config: Path = ConfigOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Download candles into the cache: only what is missing, resumable, gaps reported."""
    from tradebot.core.config import parse_date_ms
    from tradebot.core.errors import UsageError
    from tradebot.services.fetch import plan_jobs, run_fetch

    since_ms = parse_date_ms(since) if since else None
    until_ms = parse_date_ms(until) if until else None
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        raise UsageError(f"--since {since} is not before --until {until}")
    ctx = context(config)
    jobs = plan_jobs(ctx, exchange, list(symbols or []), list(timeframe or []) or None)
    out = console()
    saved = _Saved()
    interrupt_note(saved.note())
    try:
        with _FetchProgress(progress_style(quiet=quiet)) as shown:
            results = run_fetch(ctx, jobs, since_ms, until_ms, shown.progress_for if shown.style else None,
                                on_saved=saved.update, on_retry=shown.retry if shown.style else None)
    finally:
        ctx.close()
    for r in results:
        state = "up to date" if r.up_to_date else f"+{r.downloaded:,} candles in {r.requests} requests"
        out.print(f"{r.exchange} {r.symbol} {r.timeframe}: {state}; {r.gap_summary}")
        out.print(f"  {r.path}")


class _Saved:
    """New candles this call wrote to the cache, per market (what an interrupt keeps)."""

    def __init__(self) -> None:
        self.new: dict[str, int] = {}

    def update(self, job: FetchJob, new: int, rows: int) -> None:
        self.new[f"{job.exchange} {job.symbol} {job.timeframe}"] = new
        interrupt_note(self.note())

    def note(self) -> str:
        total = sum(self.new.values())
        if not total:
            kept = "no new candles were saved yet"
        else:
            where = ", ".join(f"{k} +{v:,}" for k, v in self.new.items() if v)
            kept = f"{total:,} new candle{'s' if total != 1 else ''} saved to the cache ({where})"
        return f"fetch stopped; {kept}; run the same `tradebot fetch` again to resume"


class _FetchProgress:
    """Progress on stderr: a bar per market on a terminal, plain lines otherwise (candles
    downloaded, at most one line every few seconds; every retry with its wait)."""

    def __init__(self, style: str | None) -> None:
        self.style = style
        self._bars: Any = None
        self._lines: ProgressLines | None = None

    def __enter__(self) -> _FetchProgress:
        if self.style == "rich":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeRemainingColumn(), console=console(stderr=True))
            self._bars.__enter__()
        elif self.style == "lines":
            self._lines = ProgressLines()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.__exit__(None, None, None)

    def progress_for(self, job: FetchJob) -> Callable[[int, int], None]:
        name = f"{job.exchange} {job.symbol} {job.timeframe}"
        task = None
        pages = 0

        def update(done: int, total: int) -> None:
            nonlocal task, pages
            pages += 1
            if self._bars is not None:
                if task is None:  # shown once the first page arrived
                    task = self._bars.add_task(name, total=total)
                self._bars.update(task, completed=done, total=max(total, 1))
            elif self._lines is not None:
                self._lines(f"fetch {name}: {done:,}/{total:,} candles, {pages:,} "
                            f"request{'s' if pages != 1 else ''} ({self._lines.elapsed()})",
                            force=pages == 1 or done >= total)
        return update

    def retry(self, notice: RetryNotice) -> None:
        if self._bars is not None:
            self._bars.console.print(notice.line(), markup=False, highlight=False)
        else:
            write_line(notice.line())


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
    show = _FetchProgress(progress_style())
    with show:
        rows = list_markets(ctx, exchange, "futures" if futures else "spot", quote, on_retry=show.retry)
    table = Table(title=f"{exchange} {'futures' if futures else 'spot'} markets ({len(rows)})")
    for col in ("symbol", "type", "active", "price step", "amount step", "min amount", "min cost"):
        table.add_column(col, justify="left" if col in ("symbol", "type") else "right")

    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:g}"

    for m in rows:
        table.add_row(m.symbol, m.type, "yes" if m.active else "no", num(m.price_precision),
                      num(m.amount_precision), num(m.min_amount), num(m.min_cost))
    console().print(table)
