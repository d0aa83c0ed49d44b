"""Locating and reading the bundled configuration presets (``presets/<name>.toml``).

The presets live at the top level of the repository (``presets/``). An installed
(non-editable) package carries them as package data under ``tradebot/presets``; both
places are searched, the source tree first.

This module is deliberately free of pydantic: it only finds files and parses TOML.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from tradebot.core.errors import ConfigError

_PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)\s*$")


def preset_dir() -> Path:
    """Directory that holds the preset ``*.toml`` files.

    The repository's top-level ``presets/`` when running from a source tree (editable
    install), else the ``presets`` folder shipped as package data of ``tradebot``.
    """
    source_tree = Path(__file__).resolve().parents[2]
    candidate = source_tree / "presets"
    # Guard against picking up an unrelated ``site-packages/presets`` folder when the
    # package is installed: a source tree has a pyproject.toml next to ``presets/``.
    if candidate.is_dir() and (source_tree / "pyproject.toml").is_file():
        return candidate
    from importlib.resources import files  # only needed for installed packages

    return Path(str(files("tradebot") / "presets"))


def user_preset_dir() -> Path:
    """``$TRADEBOT_HOME/presets`` (default ``~/.tradebot/presets``): presets the user wrote,
    e.g. with ``tradebot optimize --export-preset NAME``."""
    return Path(os.environ.get("TRADEBOT_HOME") or "~/.tradebot").expanduser() / "presets"


def valid_preset_name(name: str) -> bool:
    return isinstance(name, str) and bool(_PRESET_NAME.match(name))


def _names(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return [p.stem for p in directory.glob("*.toml") if _PRESET_NAME.match(p.stem)]


def bundled_presets() -> list[str]:
    return sorted(_names(preset_dir()))


def list_presets() -> list[str]:
    """Names of the available presets (bundled and the user's), sorted."""
    return sorted(set(_names(preset_dir())) | set(_names(user_preset_dir())))


def preset_path(name: str) -> Path:
    """Path of preset ``name`` (bundled first, then the user's);
    :class:`ConfigError` listing the choices if unknown."""
    available = list_presets()
    if not valid_preset_name(name) or name not in available:
        choices = ", ".join(available) if available else f"none found in {preset_dir()}"
        raise ConfigError(f"unknown preset {name!r} (available: {choices})")
    bundled = preset_dir() / f"{name}.toml"
    return bundled if bundled.is_file() else user_preset_dir() / f"{name}.toml"


def load_preset(name: str) -> dict[str, Any]:
    """The raw (unvalidated) settings of preset ``name`` as a nested dict."""
    path = preset_path(name)
    data = read_toml(path, label=f"preset {name!r} ({path})")
    if "preset" in data:
        raise ConfigError(f"preset {name!r} ({path}): a preset cannot name another preset")
    return data


def read_toml(path: Path, label: str | None = None) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a one-line :class:`ConfigError`.

    ``label`` names the file in messages (default ``"config file <path>"``); syntax
    errors read ``<label>: line 3: <what tomllib says> (column 9)``.
    """
    label = label or f"config file {path}"
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, not a file") from None
    except OSError as e:
        raise ConfigError(f"{label}: cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(f"{label}: line {line}: not valid UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{label}: {_describe_toml_error(str(e), text)}") from None


def _describe_toml_error(message: str, text: str) -> str:
    """``"Invalid value (at line 3, column 9)"`` -> ``"line 3: Invalid value (column 9)"``."""
    match = _TOML_POSITION.search(message)
    if match is None:
        return message
    what = message[: match.start()]
    if match.group(1) is None:  # "(at end of document)"
        last_line = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        return f"line {max(last_line, 1)}: {what} (at end of file)"
    return f"line {match.group(1)}: {what} (column {match.group(2)})"
