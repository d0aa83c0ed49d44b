"""``tradebot regime``: the current market regime and its history; ``regime train`` fits a
learned classifier and stores it in the model registry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, console, context

app = typer.Typer(help="Market regimes: trending up/down, ranging, high volatility (rule-based or learned).",
                  invoke_without_command=True)

ExchangeOpt = typer.Option(None, "--exchange", help="Exchange id of the cached candles (or sim).")
SymbolOpt = typer.Option(None, "--symbol", help="Market symbol, e.g. BTC/USDT.")
TimeframeOpt = typer.Option(None, "--timeframe", "-t", help="Candle timeframe, e.g. 5m, 1h.")
SinceOpt = typer.Option(None, "--since", help="First candle (YYYY-MM-DD or ISO, UTC).")
UntilOpt = typer.Option(None, "--until", help="End, exclusive (YYYY-MM-DD or ISO, UTC).")
CountOpt = typer.Option(None, "--regimes", "-k", help="Number of regimes (2-8; default 4: up, down, range, "
                        "high volatility).")
NamesOpt = typer.Option(None, "--names", help="Comma-separated regime names, in the order up, down, "
                        "range(s), high volatility.")


def _overrides(exchange: str | None, symbol: str | None, timeframe: str | None, since: str | None,
               until: str | None) -> dict[str, object]:
    return {"market.exchange": exchange, "market.symbol": symbol, "market.timeframe": timeframe,
            "backtest.since": since, "backtest.until": until}


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",")]


@app.callback()
def regime(
    tctx: typer.Context,
    method: str = typer.Option(None, "--method", help="rules (thresholds) or learned (a registry model; "
                               "default when --model is given)."),
    model: str = typer.Option(None, "--model", help="Learned regime model NAME[:VERSION] from the registry."),
    count: int = CountOpt,
    names: str = NamesOpt,
    exchange: str = ExchangeOpt,
    symbol: str = SymbolOpt,
    timeframe: str = TimeframeOpt,
    since: str = SinceOpt,
    until: str = UntilOpt,
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The current regime of a market with its probability, and the history: time in each
    regime, mean duration, transition matrix."""
    if tctx.invoked_subcommand is not None:
        return
    from tradebot.services.regime import current_regime

    ctx = context(config, preset, _overrides(exchange, symbol, timeframe, since, until))
    try:
        out = current_regime(ctx, method, model, count, _names(names))
    finally:
        ctx.close()
    if json_out:
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    render_regime(out)


@app.command("train")
def train(
    name: str = typer.Option(..., "--name", "-n", help="Model name in the registry (letters, digits, _ . -)."),
    count: int = CountOpt,
    names: str = NamesOpt,
    seed: int = typer.Option(None, "--seed", help="Random seed (default: the settings' seed)."),
    if_older: str = typer.Option(None, "--if-older", help="Cron: fit only if the newest version of this "
                                 "model is older than this (90m, 12h, 7d); else say so and exit 0."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another fit of the same model to end."),
    exchange: str = ExchangeOpt,
    symbol: str = SymbolOpt,
    timeframe: str = TimeframeOpt,
    since: str = SinceOpt,
    until: str = UntilOpt,
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    json_out: bool = typer.Option(False, "--json", help="Print the stored record as JSON."),
) -> None:
    """Fit a learned regime classifier (Gaussian mixture, stable names) and store it."""
    from tradebot.ml.retrain import ModelBusy, parse_age
    from tradebot.services.regime import train_regime

    age = None if if_older is None else parse_age(if_older)
    ctx = context(config, preset, _overrides(exchange, symbol, timeframe, since, until))
    try:
        outcome = train_regime(ctx, name, count, _names(names), seed, age, wait)
    except ModelBusy as e:
        if if_older is None:
            raise
        console().print(f"{e.args[0].split(';')[0]}: not retrained")
        return
    finally:
        ctx.close()
    rec = outcome.record
    if json_out:
        body = {"skipped": outcome.skipped, "newest": rec} if outcome.skipped else rec
        typer.echo(json.dumps(body, indent=2, sort_keys=True))
        return
    if outcome.skipped:
        console().print(outcome.skipped)
        return
    render_regime_record(rec, "Stored regime model")


def render_regime_record(rec: Mapping[str, Any], what: str = "Regime model") -> None:
    """A learned regime model's record (``regime train``, ``models show``)."""
    out = console()
    sc = rec["scores"]
    out.print(f"{what} {rec['name']}:{rec['version']} ({rec['status']}): {rec['model']['components']} "
              f"regimes ({', '.join(rec['label']['names'])}) on {rec['exchange']} {rec['symbol']} "
              f"{rec['timeframe']}, {rec['samples']:,} bars, created {rec['created_at']}", soft_wrap=True)
    agree = sc.get("agreement_with_rules")
    out.print(f"log-likelihood {sc['log_likelihood']:.3f} per bar, BIC {sc['bic']:.0f}"
              + ("" if agree is None else f", agrees with the rules on {agree:.1%} of bars"), soft_wrap=True)
    _history(sc["history"], list(rec["label"]["names"]))


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):.1%}"


def render_regime(out: Mapping[str, Any]) -> None:
    from rich.panel import Panel
    from rich.table import Table

    c = console()
    head = Table.grid(padding=(0, 2))
    head.add_row("Market", str(out["market"]))
    head.add_row("Method", str(out["method"]) + (f" ({out['model']})" if out.get("model") else ""))
    head.add_row("Last bar", f"opened {out['as_of']}, regime as of its close ({out['bars']:,} bars from "
                 f"{out['first']})")
    if out["regime"] is None:
        head.add_row("Regime", "not classified yet (warm-up)")
    else:
        head.add_row("Regime", f"[bold]{out['regime']}[/bold] (probability {_pct(out['probability'])})")
        head.add_row("Probabilities", ", ".join(f"{k} {_pct(v)}" for k, v in out["probabilities"].items()))
    head.add_row("Recognition lag", f"about {out['lag_bars']} bars after a change")
    c.print(Panel(head, title="Market regime", expand=False))
    _history(out["history"], list(out["names"]))


def _history(h: Mapping[str, Any], names: list[str]) -> None:
    from rich import box
    from rich.table import Table

    c = console()
    t = Table(title=f"History ({h['classified_bars']:,} bars classified, {h['switches']:,} switches)",
              box=box.SIMPLE_HEAVY, title_style="bold")
    for col in ("Regime", "Bars", "Time", "Spells", "Mean duration (bars)"):
        t.add_column(col, justify="left" if col == "Regime" else "right")
    for r in h["regimes"]:
        dur = r["mean_duration_bars"]
        t.add_row(r["regime"], f"{r['bars']:,}", _pct(r["share"]), f"{r['spells']:,}",
                  "n/a" if dur is None else f"{dur:.1f}")
    c.print(t)
    m = Table(title="Transitions (next bar, by row)", box=box.SIMPLE_HEAVY, title_style="bold")
    m.add_column("from \\ to")
    for n in names:
        m.add_column(n, justify="right")
    for n, row in zip(names, h["transitions"], strict=True):
        m.add_row(n, *[_pct(v) for v in row])
    c.print(m)
