"""``tradebot notify test``: send a test message to each configured channel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from tradebot.cli.common import ConfigOpt, context

if TYPE_CHECKING:
    from tradebot.core.notify_config import NotifyConfig

app = typer.Typer(help="Notifications (apprise channels).", no_args_is_help=True)

TEST_TITLE = "tradebot: test notification"


@app.callback()
def _group() -> None:
    """Notifications (apprise channels)."""


def _fail_config(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command("test")
def test(
    channel: str = typer.Option(None, "--channel", help="Only this channel (default: every channel)."),
    config: Path = ConfigOpt,
) -> None:
    """Check the templates, then send a test message to each channel. Exit 1 if any failed, 2 on config errors."""
    from tradebot.core.errors import ConfigError

    try:
        settings = context(config).settings
    except ConfigError as e:
        _fail_config(str(e))
    notify: NotifyConfig = settings.notify
    if not notify.channels:
        _fail_config("no notification channels configured: add [notify.channels.NAME] with url = \"...\"")
    if channel is not None and channel not in notify.channels:
        _fail_config(f"unknown channel {channel!r} (configured: {', '.join(sorted(notify.channels))})")
    run(notify, channel)


def run(notify: NotifyConfig, channel: str | None = None) -> None:
    """The body of ``notify test`` for an already loaded :class:`NotifyConfig` (raises typer.Exit)."""
    from tradebot.notify.apprise_notifier import AppriseNotifier
    from tradebot.notify.templates import TemplateConfigError

    notifier = AppriseNotifier(notify)
    try:
        notifier.templates.check()
    except TemplateConfigError as e:
        _fail_config(str(e))
    bad = notifier.config_errors
    names = [channel] if channel else list(notify.channels)
    if any(n in bad for n in names):
        for n in names:
            if n in bad:
                typer.echo(f"error: notify.channels.{n}.url: {bad[n]}", err=True)
        raise typer.Exit(2)
    failed = 0
    for name in names:
        body = f"If you can read this, channel {name!r} works."
        result = notifier.deliver(name, TEST_TITLE, body)
        if result.status == "sent":
            typer.echo(f"{name}: OK      {result.url}")
        else:
            failed += 1
            typer.echo(f"{name}: FAILED  {result.url}  {result.reason}")
    if failed:
        raise typer.Exit(1)
