"""``tradebot api token create|list|revoke``: tokens for ``tradebot serve``."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, console, context

app = typer.Typer(help="API tokens for `tradebot serve`.", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A name to recognise the token by (unique)."),
    scope: str = typer.Option("read", "--scope", help="read, trade (bots, jobs) or admin (audit log)."),
    expires: str = typer.Option("30d", "--expires", help="Lifetime: 30d, 12h, 90m, 2w, or never."),
    config: Path = ConfigOpt,
    json_out: bool = typer.Option(False, "--json", help="Print the token as JSON."),
) -> None:
    """Create a token; it is printed once and stored only as its SHA-256."""
    from tradebot.services.api_tokens import check_scope, check_token_name, create_token, parse_expires

    check_token_name(name)
    check_scope(scope)
    lifetime = parse_expires(expires)
    ctx = context(config)
    try:
        info, secret = create_token(ctx.store, name, scope, lifetime)
    finally:
        ctx.close()
    until = info.expires_at.isoformat() if info.expires_at else "never"
    if json_out:
        import json

        typer.echo(json.dumps({"id": info.id, "name": info.name, "scope": info.scope, "expires_at":
                               None if info.expires_at is None else info.expires_at.isoformat(), "token": secret}))
        return
    typer.echo(secret)
    console(stderr=True).print(f"token {info.name!r} (scope {info.scope}, expires {until}): shown once, "
                               "keep it now; `tradebot api token revoke --name "
                               f"{info.name}` ends it")


@token_app.command("list")
def list_(config: Path = ConfigOpt,
          json_out: bool = typer.Option(False, "--json", help="Print the tokens as JSON.")) -> None:
    """Every token: name, scope, state (active, expired, revoked), expiry, last use."""
    from tradebot.services.api_tokens import list_tokens
    from tradebot.services.data import read_store_if_missing

    ctx = context(config)
    try:
        read_store_if_missing(ctx)
        tokens = list_tokens(ctx.store)
    finally:
        ctx.close()

    def iso(d: object) -> str | None:
        return None if d is None else d.isoformat()  # type: ignore[attr-defined]

    rows = [{"id": t.id, "name": t.name, "scope": t.scope, "state": t.state(), "prefix": t.prefix,
             "created_at": iso(t.created_at), "expires_at": iso(t.expires_at), "last_used_at": iso(t.last_used_at)}
            for t in tokens]
    if json_out:
        import json

        typer.echo(json.dumps({"tokens": rows}, indent=2))
        return
    from rich.table import Table

    table = Table(title="API tokens")
    for col in ("id", "name", "scope", "state", "prefix", "expires_at", "last_used_at"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c] or "") for c in ("id", "name", "scope", "state", "prefix", "expires_at",
                                                   "last_used_at")))
    console().print(table)


@token_app.command("revoke")
def revoke(name: str = typer.Option(..., "--name", help="The token's name."), config: Path = ConfigOpt) -> None:
    """Revoke a token at once (and end its browser sessions)."""
    from tradebot.services.api_tokens import revoke_token

    ctx = context(config)
    try:
        info = revoke_token(ctx.store, name)
    finally:
        ctx.close()
    console().print(f"token {info.name!r} revoked")
