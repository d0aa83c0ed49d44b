"""``tradebot db``: database migrations."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, console

app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(config: Path = ConfigOpt) -> None:
    """Apply every pending migration to the configured database."""
    from tradebot.core.config import load_settings
    from tradebot.data.db import database_url, mask_url
    from tradebot.data.db import upgrade as do_upgrade
    from tradebot.services.context import ensure_home

    settings = load_settings(config)
    if settings.database_url is None:
        ensure_home(Path(settings.home))
    url = database_url(Path(settings.home), settings.database_url)
    before, after = do_upgrade(url)
    if before == after:
        console().print(f"{mask_url(url)}: already at revision {after}")
    else:
        console().print(f"{mask_url(url)}: upgraded {before or 'empty'} -> {after}")
