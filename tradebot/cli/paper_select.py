"""``tradebot paper-select``: a paper account traded by a stored agent's choice of candidate per
window, learning from its own results (services/paper_selector.py). Made for cron, like ``paper``."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, StrategyPathOpt, console, context

#: switches listed after a run (a catch-up over many windows: the last ones; `report --account` has all)
_SHOWN = 5


def paper_select(
    account: str = typer.Option("default", "--account", "-a", help="Paper account name."),
    agent: str = typer.Option(None, "--agent", help="Stored agent that chooses the candidate of each window "
                              "(new account; an existing one keeps its agent)."),
    candidate: list[str] = typer.Option([], "--candidate", help="Candidate spec, one per agent arm in order "
                                        "(repeatable; default: the config's selector.candidates, else the agent's)."),
    window: str = typer.Option(None, "--window", help="Window: a duration (1d, 7d) or bars "
                               "(default: the config's selector.window)."),
    exchange: str = typer.Option(None, "--exchange", help="Exchange id for a new account."),
    symbol: str = typer.Option(None, "--symbol", help="Symbol for a new account."),
    timeframe: str = typer.Option(None, "--timeframe", "-t", help="Timeframe for a new account."),
    source: str = typer.Option("auto", "--source", help="Prices: auto, cache, sim, exchange."),
    since: str = typer.Option(None, "--since", help="New account only: replay from this date."),
    wait: bool = typer.Option(False, "--wait", help="Wait for a running run instead of exiting."),
    json_out: bool = typer.Option(False, "--json", help="Print the run's result as JSON."),
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    strategy_path: Path = StrategyPathOpt,
) -> None:
    """Advance a selector paper account: at each window end the agent learns from the account's
    realised return and the other candidates' shadow returns, then chooses the next candidate."""
    from tradebot.core.config import parse_date_ms
    from tradebot.core.logging_setup import set_context
    from tradebot.services.paper import AccountBusy
    from tradebot.services.paper_selector import run_selector_paper

    overrides: dict[str, object] = {"market.symbol": symbol, "market.exchange": exchange,
                                    "market.timeframe": timeframe}
    since_ms = parse_date_ms(since) if since else None
    ctx = context(config, preset, overrides, strategy_path)
    set_context(account=account)
    out = console()
    try:
        try:
            r = run_selector_paper(ctx, account, agent=agent, candidates=candidate or None, window=window,
                                   source=source, since_ms=since_ms, wait=wait)
        except AccountBusy:
            out.print(f"paper account {account!r} is being run by another process; exiting")
            return
        except Exception as e:
            from tradebot.services.incidents import run_failed

            run_failed(ctx, "paper", account, e)
            raise
        from tradebot.services.incidents import run_succeeded

        run_succeeded(ctx, "paper", account, f"paper-select {account}: {r.processed} candle(s), "
                      f"{r.windows_closed} window(s) closed, equity {r.equity:.2f}")
    finally:
        ctx.close()
    if json_out:
        import json
        from dataclasses import asdict

        typer.echo(json.dumps(asdict(r), indent=2, sort_keys=True))
        return
    if r.processed:
        out.print(f"{r.account}: {r.processed} candle(s) via {r.source}, {r.fills} fill(s), {r.trades_closed} "
                  f"trade(s) closed, equity {r.equity:,.2f}, position {r.position:g}; agent {r.agent}: "
                  f"{r.windows_closed} window(s) learnt, following {r.arm}"
                  + (f" (state v{r.agent_version})" if r.agent_version is not None else ""))
    else:
        out.print(f"{r.account}: up to date (equity {r.equity:,.2f}, following {r.arm})")
    shown = r.switches[-_SHOWN:]
    if len(r.switches) > len(shown):
        out.print(f"{r.account}: {len(r.switches)} switches; the last {len(shown)}:")
    for sw in shown:
        out.print(f"{r.account}: window {sw.window}: switched from {sw.previous} to {sw.chosen}")
    for c in r.changed:
        out.print(f"{r.account}: candidate changed since the last choice: {c}")


def render_selector(sel: dict[str, object], out: object) -> None:
    """``report --account`` of a selector account: its agent, arm statistics, switching history."""
    from typing import Any

    from rich import box
    from rich.table import Table

    from tradebot.cli.render import _ms_iso

    s: dict[str, Any] = dict(sel)
    con: Any = out
    con.print(f"Agent {s['agent']} ({s['method']}, state v{s['agent_version']}): {s['windows']} windows of "
              f"{s['window_bars']} bars; following {s['current']}")
    t = Table(title="Arms (realised: the account's own return while chosen; shadow: the candidate's "
                    "engine return on the same candles, every finished window)",
              box=box.SIMPLE_HEAVY, title_style="bold")
    for col in ("Arm", "Candidate", "Plays", "Finished", "Mean realised %", "Shadow mean %", "Last chosen"):
        t.add_column(col, justify="left" if col == "Candidate" else "right")

    def pct(v: object) -> str:
        return "-" if v is None else f"{float(v) * 100:+.3f}"  # type: ignore[arg-type]

    for a in s["arms"]:
        last = "-" if a["last_chosen_window"] is None else \
            f"window {a['last_chosen_window']} ({_ms_iso(a['last_chosen_ms'])})"
        t.add_row(str(a["arm"]), a["name"], str(a["plays"]), str(a["closed"]), pct(a["mean_reward"]),
                  pct(a["shadow_mean"]), last)
    con.print(t)
    switches = s["switches"]
    if not switches:
        con.print("No switches yet.")
        return
    h = Table(title=f"Switches ({len(switches)}; the last {min(len(switches), 20)})", box=box.SIMPLE_HEAVY,
              title_style="bold")
    for col in ("Window", "Starts", "From", "To"):
        h.add_column(col, justify="right" if col == "Window" else "left")
    for sw in switches[-20:]:
        h.add_row(str(sw["window"]), _ms_iso(sw["ts_ms"]) or "-", sw["from"], sw["to"])
    con.print(h)
