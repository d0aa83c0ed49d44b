"""``tradebot config``: show the resolved settings, validate a file."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, StrategyPathOpt, console

app = typer.Typer(help="Show or validate configuration.", no_args_is_help=True)


@app.command("show")
def show(config: Path = ConfigOpt, preset: str = PresetOpt,
         json_out: bool = typer.Option(False, "--json", help="Print JSON instead of TOML.")) -> None:
    """Print the resolved settings (all layers), secrets masked."""
    import json

    from tradebot.core.config import load_settings, settings_to_dict

    settings = load_settings(config, preset)
    data = settings_to_dict(settings, mask_secrets=True)
    if json_out:
        typer.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    out = console()
    for f in settings.source_files:
        out.print(f"# from {f}")
    typer.echo(_to_toml(data))


@app.command("validate")
def validate(file: Path = typer.Argument(..., help="Config file to check."),
             strategy_path: Path = StrategyPathOpt) -> None:
    """Check a config file, including its strategy and parameters; exit 2 if invalid."""
    from tradebot.core.config import validate_config_file
    from tradebot.core.errors import UsageError
    from tradebot.strategies.registry import Registry

    settings = validate_config_file(file)
    try:
        Registry(strategy_path).create(settings.strategy.name, dict(settings.strategy.params))
    except UsageError as e:
        raise type(e)(f"config file {file}: {e}") from e
    console().print(f"{file}: valid")


def _to_toml(data: dict, prefix: str = "") -> str:  # type: ignore[type-arg]
    """A small TOML writer for the settings dict (scalars, then tables)."""
    lines: list[str] = []
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for k, v in data.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {_toml_value(v)}")
    for k, v in tables.items():
        name = f"{prefix}{k}"
        scalars = {kk: vv for kk, vv in v.items() if not isinstance(vv, dict)}
        if scalars or not v:
            lines.append("")
            lines.append(f"[{name}]")
            for kk, vv in scalars.items():
                lines.append(f"{kk} = {_toml_value(vv)}")
        nested = {kk: vv for kk, vv in v.items() if isinstance(vv, dict)}
        if nested:
            lines.append(_to_toml(nested, prefix=f"{name}."))
    return "\n".join(lines).strip("\n") + "\n"


def _toml_value(v: object) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))
