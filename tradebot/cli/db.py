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


@app.command("backup")
def backup_cmd(
    file: Path = typer.Argument(None, help="Archive file (*.tar.gz) or folder (default $TRADEBOT_HOME/backups/)."),
    keep: int = typer.Option(None, "--keep", min=1, help="Keep only the newest N archives in that folder."),
    config: Path = ConfigOpt,
) -> None:
    """One consistent archive of the store, model artifacts and the config (secrets removed)."""
    from tradebot.cli.common import context
    from tradebot.services.backup import backup
    from tradebot.services.incidents import run_failed, run_succeeded

    ctx = context(config)
    try:
        try:
            result = backup(ctx.settings, file, keep=keep)
        except Exception as e:
            run_failed(ctx, "backup", None, e, count_refusals=True)
            raise
        run_succeeded(ctx, "backup", None, f"backup written: {result.path} ({result.size} bytes)")
    finally:
        ctx.close()
    rotated = f"; removed {len(result.removed)} older" if result.removed else ""
    console().print(f"{result.path}: {result.backend} store at revision {result.revision}, "
                    f"{result.files} file(s), {result.size / 1e6:.1f} MB{rotated}")


@app.command("restore")
def restore_cmd(
    file: Path = typer.Argument(..., help="Archive written by `tradebot db backup`."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty home (backed up first)."),
    config: Path = ConfigOpt,
) -> None:
    """Verify an archive and restore it into an empty home, migrating it to the current schema."""
    from tradebot.cli.common import settings_logging
    from tradebot.core.config import load_settings
    from tradebot.services.backup import restore

    settings = load_settings(config)
    settings_logging(settings)
    result = restore(settings, file, force=force)
    before = f" (migrated from {result.revision_before})" if result.revision_before != result.revision_after else ""
    saved = f"; the previous data is in {result.previous_backup}" if result.previous_backup else ""
    console().print(f"restored {result.files} file(s) from {result.archive} into {result.home} at revision "
                    f"{result.revision_after}{before}{saved}")
