"""``tradebot live``: a strategy's decisions as orders on an exchange (dry run by default)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, StrategyPathOpt
from tradebot.cli.portfolio import MaxOpenOpt, PairsFileOpt, RankOpt, StakeOpt, SymbolsOpt

if TYPE_CHECKING:
    from rich.console import Console

    from tradebot.services.live import LiveResult

#: after a candle closes, wait this long before asking the exchange for it
LOOP_DELAY_S = 0.2
#: --loop: while the closed candle is not served yet, ask again this often, at most this many times
RETRY_S, RETRIES = 0.5, 20

app = typer.Typer(help="Trade a strategy on an exchange: dry run unless live.enabled, API keys and a "
                       "confirmation say otherwise.", no_args_is_help=False, invoke_without_command=True)


@app.callback(invoke_without_command=True)
def live(
    typer_ctx: typer.Context,
    account: str = typer.Option(None, "--account", "-a", help="Live account name."),
    strategy: str = typer.Option(None, "--strategy", "-s", help="Strategy for a new account."),
    symbol: str = typer.Option(None, "--symbol", help="Symbol for a new account (one market)."),
    exchange: str = typer.Option(None, "--exchange", help="Exchange id for a new account (spot)."),
    timeframe: str = typer.Option(None, "--timeframe", "-t", help="Timeframe for a new account."),
    param: list[str] = typer.Option([], "--param", "-p", help="Strategy parameter NAME=VALUE."),
    loop: bool = typer.Option(False, "--loop", help="Stay up: one step at each candle close."),
    wait: bool = typer.Option(False, "--wait", help="Wait for a running run of the account instead of exiting."),
    testnet: bool = typer.Option(False, "--testnet", help="The exchange's sandbox/testnet (ccxt sandbox mode)."),
    yes: bool = typer.Option(False, "--yes-i-understand-real-money",
                             help="Confirm real orders without the typed symbol (unattended use)."),
    json_out: bool = typer.Option(False, "--json", help="Print the run's result as JSON."),
    reconcile: bool = typer.Option(False, "--reconcile", help="Only show the reconciliation of the exchange "
                                   "against the ledger (no trading; exit 1 on differences)."),
    adopt: bool = typer.Option(False, "--adopt", help="With --reconcile: take the exchange's view (recorded "
                               "as an event)."),
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    strategy_path: Path = StrategyPathOpt,
    symbols: str = SymbolsOpt,
    pairs_file: Path = PairsFileOpt,
    max_open_positions: int = MaxOpenOpt,
    stake: str = StakeOpt,
    rank: str = RankOpt,
) -> None:
    """Process every candle closed since the account's last run and send its orders (cron-safe)."""
    if typer_ctx.invoked_subcommand is not None or reconcile or adopt:
        from tradebot.core.startup import resume_gc

        resume_gc()  # only a trading step keeps it paused until its orders are out (core/startup.py)
    if typer_ctx.invoked_subcommand is not None:
        return
    from tradebot.cli.common import context, interrupt_note
    from tradebot.cli.portfolio import account_overrides
    from tradebot.core.errors import UsageError
    from tradebot.strategies.params import parse_assignments

    if not account:
        raise UsageError("tradebot live needs --account NAME")
    if symbol and (symbols or pairs_file):
        raise UsageError("give --symbol (one market) or --symbols/--pairs-file (a pair list), not both")
    overrides = account_overrides(strategy, symbol, exchange, timeframe, parse_assignments(param),
                                  max_open_positions, stake, rank)
    ctx = context(config, preset, overrides, strategy_path)
    from tradebot.core.logging_setup import set_context

    set_context(account=account)
    interrupt_note(f"live stopped; every order sent is in the store and the next run adopts it; run the same "
                   f"command again to go on (account {account!r})")
    try:
        if reconcile or adopt:
            if not reconcile:
                raise UsageError("--adopt goes with --reconcile (tradebot live --reconcile --adopt --account NAME)")
            from tradebot.cli.live_guard import reconcile_command

            reconcile_command(ctx, account, adopt=adopt, testnet=testnet, json_out=json_out)
            return
        pairs = _pairs(ctx, symbol, symbols, pairs_file)
        _run(ctx, account, pairs, loop=loop, wait=wait, testnet=testnet, yes=yes, json_out=json_out,
             requested={"strategy": strategy, "exchange": exchange, "timeframe": timeframe})
    finally:
        ctx.close()


def _pairs(ctx: Any, symbol: str | None, symbols: str | None, pairs_file: Path | None) -> Any:
    from tradebot.cli.portfolio import pair_list
    from tradebot.core.pairs import PairList, check_pairs

    if symbol:
        return PairList(check_pairs([symbol], "--symbol"), "command line")
    if symbols or pairs_file:
        return pair_list(ctx, symbols, pairs_file)
    return None


def _typed_confirmation(symbol: str) -> bool:
    """On a terminal: the user types the symbol to confirm real orders."""
    import sys

    if not sys.stdin.isatty():
        return False
    answer = typer.prompt(f"REAL MONEY: this account will place real orders. Type {symbol} to confirm",
                          default="", show_default=False)
    return answer.strip().upper() == symbol.upper()


def _run(ctx: Any, account: str, pairs: Any, *, loop: bool, wait: bool, testnet: bool, yes: bool, json_out: bool,
         requested: dict[str, str | None]) -> None:
    import time

    from tradebot.cli.common import console  # Rich is imported by the call
    from tradebot.core.startup import resume_gc
    from tradebot.core.timeframes import timeframe_ms
    from tradebot.services.live import open_exchange, run_live
    from tradebot.services.paper import AccountBusy

    out: Console | None = None  # made (Rich imported) once there is something to print: after the orders
    ex = open_exchange(ctx, account, testnet=testnet) if loop else None  # --loop: markets loaded once
    try:
        woken = False
        retries = 0
        while True:
            try:
                r = run_live(ctx, account, pairs, testnet=testnet, yes=yes, confirm=_typed_confirmation, wait=wait,
                             requested=requested, exchange=ex)
            except AccountBusy:
                console().print(f"live account {account!r} is being run by another process; exiting")
                return
            except Exception as e:
                resume_gc()
                from tradebot.services.incidents import run_failed

                run_failed(ctx, "live", account, e)
                raise
            resume_gc()  # paused since the process started (tradebot.core.startup): the orders are out
            from tradebot.services.incidents import run_succeeded

            out = out or console()
            if woken and r.processed == 0 and not r.intents and retries < RETRIES:
                retries += 1  # the candle that just closed is not served yet: ask again shortly
                time.sleep(RETRY_S)
                continue
            run_succeeded(ctx, "live", account, f"live {account} ({r.mode}): {r.processed} bar(s), {r.intents} "
                          f"intent(s), {r.sent} sent, {r.fills} fill(s), equity {r.equity:.2f}")
            if json_out:
                import json

                typer.echo(json.dumps(r.to_dict(), default=str))
            else:
                render(r, out)
            if not loop:
                return
            pairs = None  # the account exists now: it keeps its pairs
            tf = timeframe_ms(_account_timeframe(ctx, account))
            now = time.time() * 1000
            time.sleep(max(((now // tf) + 1) * tf - now, 0) / 1000 + LOOP_DELAY_S)
            woken, retries = True, 0
    finally:
        if ex is not None:
            ex.close()


def _account_timeframe(ctx: Any, account: str) -> str:
    from tradebot.services.paper_portfolio import get_account

    acct = get_account(ctx, account)
    return acct.timeframe if acct is not None else ctx.settings.market.timeframe


def render(r: LiveResult, out: Console) -> None:
    """The run's summary: the mode in capitals, bars, intents and what became of them, fills, equity."""
    from rich.table import Table

    from tradebot.data.validation import format_ts

    mode = "LIVE" + (" (TESTNET)" if r.testnet else "") if r.mode == "live" else "DRY RUN"
    span = f" {format_ts(r.first_ms)} .. {format_ts(r.last_ms)}" if r.first_ms is not None and r.last_ms else ""
    out.print(f"[bold]{mode}[/bold] {r.account}: {', '.join(r.symbols)}; {r.processed} bar(s) processed{span}")
    out.print(f"intents {r.intents}: {r.sent} {'simulated' if r.mode != 'live' else 'sent'}, {r.adopted} adopted, "
              f"{r.pending} pending, {r.rejected} rejected; {r.fills} fill(s); equity {r.equity:,.2f} "
              f"(engine), cash {r.cash:,.2f}")
    if r.stopped:
        out.print(f"[bold]KILL SWITCH[/bold]: {r.stopped} (new entries refused; tradebot live resume)")
    if r.orders:
        table = Table(show_header=True, header_style="bold")
        for col in ("client id", "symbol", "side", "amount", "state", "action", "engine price", "fill price",
                    "reason"):
            table.add_column(col)
        for o in r.orders:
            table.add_row(o.client_order_id, o.symbol, o.side, f"{o.amount:g}", o.state, o.action,
                          "" if o.signal_close is None else f"{o.signal_close:,.2f}",
                          "" if o.average is None else f"{o.average:,.2f}", o.reason or "")
        out.print(table)


def _register_guards() -> None:
    """The guards' subcommands: stop, resume, reconcile."""
    from tradebot.cli.live_guard import register

    register(app)


_register_guards()
