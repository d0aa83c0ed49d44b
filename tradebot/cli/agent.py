"""``tradebot agent``: create a selection agent (bandit or Q-learner) and show its stored state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from tradebot.cli.common import ConfigOpt, console, context

app = typer.Typer(help="Selection agents (thompson, linucb, qlearn) that choose a candidate per window; "
                       "their state is versioned in the database.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="Print JSON.")
SHOWN_VERSIONS = 10


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True))


@app.command("create")
def create_cmd(
    name: str = typer.Argument(..., help="The agent's name (letters, digits, _ . -)."),
    method: str = typer.Option(..., "--method", "-m", help="thompson, linucb or qlearn."),
    candidate: list[str] = typer.Option([], "--candidate",
                                        help="A candidate spec (repeatable): STRATEGY[:k=v,...], S<study>[:best|"
                                             "pareto|topN], ml:MODEL; flat is always added first."),
    feature: list[str] = typer.Option([], "--feature", "-f",
                                      help="A context feature the agent reads (repeatable; default: all)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the agent's random choices."),
    param: list[str] = typer.Option([], "--param", "-p", help="Agent parameter NAME=VALUE (repeatable), e.g. "
                                    "alpha=0.5, epsilon=0.1, switch_cost=0.002."),
    config: Path = ConfigOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Store a new agent (version 1 of its state); `tradebot paper-select --agent NAME` trades it."""
    from tradebot.services.agents import create_agent_from_specs, parse_agent_params

    params = parse_agent_params(param)
    ctx = context(config)
    try:
        info = create_agent_from_specs(ctx, name, method, candidate, feature or None, seed, params)
    finally:
        ctx.close()
    if json_out:
        _echo_json(info.to_dict())
        return
    console().print(f"agent {info.name} ({info.method}, seed {info.seed}) stored as version {info.version}: "
                    f"{len(info.candidates)} candidates ({', '.join(info.candidates)}), "
                    f"{len(info.features)} features")


@app.command("show")
def show_cmd(
    name: str = typer.Argument(..., help="The agent's name."),
    version: int = typer.Option(None, "--version", help="This state version (default: the latest)."),
    config: Path = ConfigOpt,
    json_out: bool = JsonOpt,
) -> None:
    """The agent, its candidates with how often each was learnt, and its state versions."""
    from tradebot.services.agents import agent_summary

    ctx = context(config)
    try:
        rep = agent_summary(ctx, name, version)
    finally:
        ctx.close()
    if json_out:
        _echo_json(rep)
        return
    from rich.table import Table

    out = console()
    params = ", ".join(f"{k}={v}" for k, v in sorted(rep["params"].items())) or "defaults"
    out.print(f"agent {rep['name']} ({rep['method']}, seed {rep['seed']}, {params}); version {rep['version']} "
              f"sha256 {rep['sha256'][:12]} ({rep['reason']}); features: {', '.join(rep['features']) or 'none'}")
    t = Table(title="Candidates")
    for col in ("candidate", "updates", "held"):
        t.add_column(col, justify="right" if col == "updates" else "left")
    for a in rep["arms"]:
        t.add_row(a["candidate"], f"{a['updates']:,}", "yes" if a["held"] else "")
    out.print(t)
    versions = rep["versions"]
    shown = versions[-SHOWN_VERSIONS:]
    title = "State versions" if len(shown) == len(versions) else \
        f"State versions (the last {len(shown)} of {len(versions)}; --json lists all)"
    v = Table(title=title)
    for col in ("version", "created (UTC)", "reason", "sha256"):
        v.add_column(col)
    for r in shown:
        v.add_row(str(r["version"]), r["created_at"][:19].replace("T", " "), r["reason"], r["sha256"][:12])
    out.print(v)
