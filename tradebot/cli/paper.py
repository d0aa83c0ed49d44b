"""``tradebot paper``: run a strategy on a simulated account, made for cron."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, StrategyPathOpt, console, context
from tradebot.cli.portfolio import MaxOpenOpt, PairsFileOpt, RankOpt, StakeOpt, SymbolsOpt

#: a run with at least this many new candles says so on stderr before the engine starts
CATCH_UP_LINE = 10_000


def paper(
    account: str = typer.Option("default", "--account", "-a", help="Paper account name."),
    strategy: str = typer.Option(None, "--strategy", "-s", help="Strategy for a new account."),
    symbol: str = typer.Option(None, "--symbol", help="Symbol for a new account."),
    exchange: str = typer.Option(None, "--exchange", help="Exchange id for a new account."),
    timeframe: str = typer.Option(None, "--timeframe", "-t", help="Timeframe for a new account."),
    param: list[str] = typer.Option([], "--param", "-p", help="Strategy parameter NAME=VALUE."),
    source: str = typer.Option("auto", "--source", help="Prices: auto (the cache; sim only if no market is given "
                               "and nothing is cached), cache, sim, exchange."),
    since: str = typer.Option(None, "--since", help="New account only: replay from this date."),
    wait: bool = typer.Option(False, "--wait", help="Wait for a running run instead of exiting."),
    loop: bool = typer.Option(False, "--loop", help="Keep running: wake at each candle close."),
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    strategy_path: Path = StrategyPathOpt,
    symbols: str = SymbolsOpt,
    pairs_file: Path = PairsFileOpt,
    max_open_positions: int = MaxOpenOpt,
    stake: str = StakeOpt,
    rank: str = RankOpt,
) -> None:
    """Process every candle closed since the account's last run, then exit (cron-safe)."""
    import time

    from tradebot.cli.common import write_line
    from tradebot.cli.portfolio import account_overrides, run_paper_pairs
    from tradebot.core.config import parse_date_ms
    from tradebot.core.timeframes import timeframe_ms
    from tradebot.services.paper import AccountBusy, run_paper
    from tradebot.strategies.params import parse_assignments

    params = parse_assignments(param)
    overrides = account_overrides(strategy, symbol, exchange, timeframe, params, max_open_positions, stake, rank)
    ctx = context(config, preset, overrides, strategy_path)
    from tradebot.core.logging_setup import set_context

    set_context(account=account)
    out = console()
    since_ms = parse_date_ms(since) if since else None
    try:  # a portfolio account (an existing one, or a new one over a pair list)
        if run_paper_pairs(ctx, account, symbols, pairs_file, source=source, since_ms=since_ms, wait=wait,
                           loop=loop, requested={"strategy": strategy, "exchange": exchange,
                                                 "timeframe": timeframe}, out=out):
            ctx.close()
            return
    except Exception as e:
        _report_failure(ctx, account, e)
        ctx.close()
        raise
    err = console(stderr=True)
    write = err.print if err.is_terminal else write_line

    from tradebot.engine.jit import notice_to

    notice_to(write)  # the step runner says so when a long catch-up compiles the loop

    def before_engine(n: int) -> None:
        if n >= CATCH_UP_LINE:
            write(f"{account}: catching up {n:,} candles…")

    try:
        while True:
            try:
                r = run_paper(ctx, account, source=source, since_ms=since_ms, wait=wait,
                              requested={"strategy": strategy, "exchange": exchange,
                                         "symbol": symbol, "timeframe": timeframe},
                              requested_params=params, progress=before_engine)
            except AccountBusy:
                out.print(f"paper account {account!r} is being run by another process; exiting")
                return
            except Exception as e:  # tell the channels, then fail as usual
                _report_failure(ctx, account, e)
                raise
            since_ms = None
            _report_success(ctx, account, r)
            if r.processed:
                gaps = f", {r.missing} missing candles (not invented)" if r.missing else ""
                blocked = f", {r.blocked} entr{'y' if r.blocked == 1 else 'ies'} blocked by risk rules" \
                    if r.blocked else ""
                model = f", model {r.model}" if r.model else ""
                out.print(f"{r.account}: {r.processed} candle(s) via {r.source}{model}, {r.fills} fill(s), "
                          f"{r.trades_closed} trade(s) closed, equity {r.equity:,.2f}, position "
                          f"{r.position:g}{blocked}{gaps}")
                if r.trips:
                    out.print(f"{r.account}: risk: {', '.join(r.trips)} tripped")
            else:
                out.print(f"{r.account}: up to date (equity {r.equity:,.2f})")
            if not loop:
                return
            tf = timeframe_ms(ctx.settings.market.timeframe)
            now = time.time() * 1000
            time.sleep(max(((now // tf) + 1) * tf - now, 0) / 1000 + 2.0)
    finally:
        ctx.close()


def _report_failure(ctx, account: str, error: Exception) -> None:  # type: ignore[no-untyped-def]
    """Log and store the error; one alert per incident (tradebot.services.incidents)."""
    from tradebot.services.incidents import run_failed

    run_failed(ctx, "paper", account, error)


def _report_success(ctx, account: str, r) -> None:  # type: ignore[no-untyped-def]
    from tradebot.services.incidents import run_succeeded

    run_succeeded(ctx, "paper", account, f"paper {account}: {r.processed} candle(s) via {r.source}, "
                  f"{r.fills} fill(s), {r.trades_closed} trade(s) closed, equity {r.equity:.2f}")
