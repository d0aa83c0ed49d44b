"""Shared pieces of the commands: loading settings, consoles, errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from tradebot.services.context import Context

ConfigOpt = typer.Option(None, "--config", "-c", help="Config file (TOML); default $TRADEBOT_HOME/config.toml.")
PresetOpt = typer.Option(None, "--preset", help="Preset: conservative, balanced, aggressive.")
StrategyPathOpt = typer.Option(None, "--strategy-path", help="Folder with user strategy files.")


def context(config: Path | None = None, preset: str | None = None,
            overrides: dict[str, Any] | None = None,
            strategy_path: Path | None = None) -> Context:
    """Settings from every layer (CLI overrides on top) wrapped in a Context."""
    from tradebot.core.config import build_overrides, load_settings
    from tradebot.services.context import Context

    settings = load_settings(config, preset, build_overrides(overrides or {}))
    return Context(settings, strategy_path)


def console(stderr: bool = False) -> Console:
    """A Rich console; when writing to a file or pipe, 140 columns (no terminal to fit)."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 140
    return Console(stderr=stderr, highlight=False, width=width)


def print_json(text: str) -> None:
    typer.echo(text)
