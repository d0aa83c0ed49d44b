"""``tradebot models``: list, show, promote and retire trained models (the registry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from tradebot.cli.common import ConfigOpt, console, context

app = typer.Typer(help="The model registry: trained models, their out-of-sample scores and status.",
                  no_args_is_help=True)

RefArg = typer.Argument(..., help="NAME or NAME:VERSION.")
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True))


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):+.2%}"


@app.command("list")
def list_cmd(
    name: str = typer.Argument(None, help="Only this model's versions."),
    config: Path = ConfigOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Every stored model version with its status and out-of-sample summary."""
    from tradebot.services.train import list_models

    ctx = context(config)
    try:
        rows = list_models(ctx, name)
    finally:
        ctx.close()
    if json_out:
        _echo_json(rows)
        return
    out = console()
    if not rows:
        out.print("No models stored yet: `tradebot train --name NAME` trains one.")
        return
    from rich.table import Table

    t = Table(title="Models (AUC and return: out of sample, cross-validated)")
    for col in ("model", "status", "created (UTC)", "estimator", "market", "samples", "AUC", "return", "verdict"):
        t.add_column(col, justify="right" if col in ("samples", "AUC", "return") else "left")
    for r in rows:
        auc = "n/a" if r["oos_auc"] is None else f"{r['oos_auc']:.3f}"
        t.add_row(f"{r['name']}:{r['version']}", r["status"], r["created_at"][:19].replace("T", " "), r["model"],
                  r["market"], f"{r['samples']:,}", auc, _pct(r["oos_return"]), r["verdict"])
    out.print(t)


@app.command("show")
def show_cmd(ref: str = RefArg, config: Path = ConfigOpt, json_out: bool = JsonOpt) -> None:
    """One model's record (NAME alone: its champion, else its newest version); its artifact's
    sha256 is checked first."""
    from tradebot.services.train import show_model

    ctx = context(config)
    try:
        record = show_model(ctx, ref)
    finally:
        ctx.close()
    if json_out:
        _echo_json(record)
        return
    if (record.get("model") or {}).get("kind") == "regime":
        from tradebot.cli.regime import render_regime_record

        render_regime_record(record)
        return
    from tradebot.cli.train import render_training

    out = console()
    render_training(record, out)
    from tradebot.services.model_report import challenge_line

    line = challenge_line(record)
    if line:
        out.print(line, soft_wrap=True)
    out.print(f"Status {record['status']}, created {record['created_at']}, seed {record['seed']}, "
              f"data sha256 {record['data_sha256'][:12]}, artifact {record['artifact_path']} "
              f"(sha256 {record['artifact_sha256'][:12]}, verified)")


@app.command("promote")
def promote_cmd(ref: str = RefArg, config: Path = ConfigOpt, json_out: bool = JsonOpt) -> None:
    """Make NAME:VERSION (NAME alone: its newest version) the champion; the old champion is retired."""
    from tradebot.services.train import promote

    ctx = context(config)
    try:
        new, old = promote(ctx, ref)
    finally:
        ctx.close()
    if json_out:
        _echo_json({"champion": new, "retired": old})
        return
    extra = f"; {old['name']}:{old['version']} retired" if old else ""
    console().print(f"{new['name']}:{new['version']} is the champion{extra}.")


@app.command("retire")
def retire_cmd(ref: str = RefArg, config: Path = ConfigOpt, json_out: bool = JsonOpt) -> None:
    """Retire NAME:VERSION (NAME alone: its champion, else its newest version)."""
    from tradebot.services.train import retire

    ctx = context(config)
    try:
        row = retire(ctx, ref)
    finally:
        ctx.close()
    if json_out:
        _echo_json(row)
        return
    console().print(f"{row['name']}:{row['version']} retired.")
