"""The ``[logging]`` and ``[ops]`` config sections.

Example (TOML)::

    [logging]
    level = "INFO"          # the log file's level (stderr follows --log-level, default WARNING)
    json_lines = false      # JSON lines in the file (and on stderr with --log-json)
    max_bytes = 10485760    # rotate the file at this size ...
    backups = 5             # ... keeping this many old files (tradebot.log.1 ... .5)

    [ops]
    heartbeat_candles = 3   # an account with no successful run for this many candles: alert
    stale_candles = 3       # a cached market this many candles behind: alert
    backup_keep = 7         # `db backup --keep` default
    min_free_mb = 500       # doctor: less free disk than this under the home fails
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LEVELS", "LoggingConfig", "OpsConfig"]

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
Level = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LoggingConfig(BaseModel):
    """Where logs go: stderr (human) and a rotating file under ``$TRADEBOT_HOME/logs/``."""

    model_config = ConfigDict(extra="forbid")

    level: Level = "INFO"
    json_lines: bool = False
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    backups: int = Field(5, ge=0, le=1000)
    file: bool = True


class OpsConfig(BaseModel):
    """Monitoring thresholds and backup defaults."""

    model_config = ConfigDict(extra="forbid")

    heartbeat_candles: int = Field(3, ge=1)
    stale_candles: int = Field(3, ge=1)
    backup_keep: int = Field(7, ge=1)
    min_free_mb: int = Field(500, ge=0)
