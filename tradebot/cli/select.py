"""``tradebot select``: evaluate a strategy selector walk-forward against its baselines
(``evaluate``), show a stored evaluation (``report``), list them (``list``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, StrategyPathOpt, console, context

app = typer.Typer(help="Strategy selection: follow, window by window, the candidate a model predicts will do "
                  "best in the market's current regime; compared with every candidate alone.")


@app.command("evaluate")
def evaluate(
    candidate: list[str] = typer.Option([], "--candidate", help="A candidate (repeatable): NAME[:key=value,...] "
                                        "(rsi:period=14,lower=30), S<study>[:top3|:pareto], ml:MODEL; flat is "
                                        "always added. Default: [selector] candidates."),
    window: str = typer.Option(None, "--window", help="Window length: a duration (7d, 12h) or N bars "
                               "(default [selector] window, 7d)."),
    method: str = typer.Option(None, "--method", help="Selection method: model (default) or an agent "
                               "(thompson, linucb, qlearn)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default: [selector] seed, else the settings' seed)."),
    min_train: int = typer.Option(None, "--min-train-windows", help="Windows before the first choice (flat "
                                  "until then; default [selector] min_train_windows, 8)."),
    regimes: int = typer.Option(None, "--regimes", "-k", help="Regimes of the context's rule-based "
                                "probabilities (2-4, default 4)."),
    exchange: str = typer.Option(None, "--exchange", help="Exchange id of the cached candles (or sim)."),
    symbol: str = typer.Option(None, "--symbol", help="Market symbol, e.g. BTC/USDT."),
    timeframe: str = typer.Option(None, "--timeframe", "-t", help="Candle timeframe, e.g. 5m, 1h."),
    since: str = typer.Option(None, "--since", help="First candle (YYYY-MM-DD or ISO, UTC)."),
    until: str = typer.Option(None, "--until", help="End, exclusive (YYYY-MM-DD or ISO, UTC)."),
    fee: float = typer.Option(None, "--fee", help="Fee per side as a fraction (maker and taker), e.g. 0.001."),
    slippage: float = typer.Option(None, "--slippage", help="Slippage in basis points."),
    no_save: bool = typer.Option(False, "--no-save", help="Do not store the evaluation."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    strategy_path: Path = StrategyPathOpt,
) -> None:
    """Walk-forward evaluation: the out-of-sample record of every candidate per window, the
    selector's choice per window, and the selector against each candidate, an equal-weight
    blend, a random switcher and the oracle on the same windows, after fees and slippage."""
    from tradebot.services.selector import evaluate_selector

    overrides: dict[str, object] = {
        "market.exchange": exchange, "market.symbol": symbol, "market.timeframe": timeframe,
        "backtest.since": since, "backtest.until": until, "fees.maker": fee, "fees.taker": fee,
        "slippage.bps": slippage,
    }
    ctx = context(config, preset, overrides, strategy_path)
    import sys

    # steps on a terminal only: a pipe or a log gets the report (or the one error line) alone
    progress = None if json_out or not sys.stderr.isatty() else (
        lambda msg: console(stderr=True).print(f"[dim]{msg}…[/dim]"))
    try:
        outcome = evaluate_selector(ctx, candidate, window=window, method=method, seed=seed,
                                    min_train_windows=min_train, regimes=regimes, save=not no_save,
                                    progress=progress)
    finally:
        ctx.close()
    if json_out:
        typer.echo(json.dumps(outcome.report, indent=2, sort_keys=True))
        return
    render_selector(outcome.report)


@app.command("report")
def report(
    evaluation_id: int = typer.Argument(None, help="Evaluation id (default: the latest)."),
    json_out: bool = typer.Option(False, "--json", help="Print the stored report as JSON."),
    config: Path = ConfigOpt,
) -> None:
    """Show a stored selector evaluation again, with its choice per window."""
    from tradebot.services.selector import selector_report

    ctx = context(config)
    try:
        rep = selector_report(ctx, evaluation_id)
    finally:
        ctx.close()
    if json_out:
        typer.echo(json.dumps(rep, indent=2, sort_keys=True))
        return
    render_selector(rep, choices=True)


@app.command("list")
def list_cmd(
    limit: int = typer.Option(50, "--limit", help="How many (newest first)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    config: Path = ConfigOpt,
) -> None:
    """Stored selector evaluations, newest first."""
    from rich import box
    from rich.table import Table

    from tradebot.services.selector import list_selectors

    ctx = context(config)
    try:
        rows = list_selectors(ctx, limit)
    finally:
        ctx.close()
    if json_out:
        typer.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    if not rows:
        console().print("no selector evaluations stored (tradebot select evaluate)")
        return
    t = Table(box=box.SIMPLE_HEAVY)
    for col in ("ID", "Created", "Method", "Window", "Market", "Candidates", "Return", "Verdict"):
        t.add_column(col, justify="right" if col in ("ID", "Candidates", "Return") else "left")
    for r in rows:
        ret = r["return_pct"]
        t.add_row(str(r["evaluation_id"]), r["created_at"][:19], r["method"], r["window"],
                  f"{r['symbol']} {r['timeframe']}", str(r["candidates"]),
                  "n/a" if ret is None else f"{ret:+.2f}%", r["verdict"] or "")
    console().print(t)


def _ms(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def _f(x: Any, fmt: str) -> str:
    return "n/a" if x is None else format(float(x), fmt)


def render_selector(rep: Mapping[str, Any], choices: bool = False) -> None:
    from rich import box
    from rich.panel import Panel
    from rich.table import Table

    c = console()
    m = rep["market"]
    w = rep["windows"]
    head = Table.grid(padding=(0, 2))
    if rep.get("evaluation_id") is not None:
        head.add_row("Evaluation", f"{rep['evaluation_id']}" + (f" ({rep['created_at'][:19]})" if rep.get("created_at")
                                                                else ""))
    head.add_row("Market", f"{m['exchange']} {m['symbol']} {m['timeframe']} ({m['source']}), {m['rows']:,} bars "
                 f"{_ms(m['start_ms'])} .. {_ms(m['end_ms'])}")
    head.add_row("Windows", f"{rep['window']} ({rep['window_bars']} bars): {w['total']} windows, the first "
                 f"{rep['min_train_windows']} to learn (flat), {w['evaluated']} evaluated from "
                 f"{_ms(w['first_evaluated_ms'])}")
    head.add_row("Method", f"{rep['method']} (seed {rep['seed']}, switch when the predicted gain exceeds "
                 f"{rep['switch_cost']:.3%})")
    head.add_row("Sample", "out of sample: walk-forward, each window chosen from earlier windows only")
    c.print(Panel(head, title="Strategy selector", expand=False))
    t = Table(title="Same windows, after fees and slippage", box=box.SIMPLE_HEAVY, title_style="bold")
    for col in ("", "Return", "Sharpe", "Max DD", "Switches", "Costs", "Trades"):
        t.add_column(col, justify="left" if col == "" else "right")
    for r in rep["lines"]:
        name = r["name"] if r["kind"] != "selector" else f"[bold]{r['name']}[/bold]"
        t.add_row(name, f"{r['return_pct']:+.2f}%", _f(r["sharpe"], ".2f"), f"{r['max_dd_pct']:.2f}%",
                  str(r["switches"]), f"{r['costs_pct']:.2f}%", str(r["trades"]))
    c.print(t)
    c.print("The oracle picks the best candidate of each window in hindsight: an upper bound, not a strategy.",
            style="dim")
    chosen = ", ".join(f"{x['name']} {x['windows_chosen']}" for x in rep["candidates"] if x.get("windows_chosen"))
    c.print(f"Windows per candidate: {chosen}", soft_wrap=True)
    v = rep["verdict"]
    style = "green" if v["verdict"].startswith("beats") else "yellow"
    c.print(f"[{style}]{rep['verdict_line']}[/{style}]", soft_wrap=True)
    if choices and rep.get("choices"):
        ct = Table(title="Choice per window", box=box.SIMPLE, title_style="bold")
        ct.add_column("Window", justify="right")
        ct.add_column("Starts")
        ct.add_column("Candidate")
        for row in rep["choices"]:
            ct.add_row(str(row["window"]), _ms(row["start_ms"]), row["candidate"])
        c.print(ct)
