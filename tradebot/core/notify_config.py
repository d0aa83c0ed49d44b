"""The ``[notify]`` config section: channels (apprise URLs), alert rules, templates.

Example (TOML)::

    [notify]
    templates_dir = "~/.tradebot/templates"   # <kind>.j2 here replaces the default template
    timeout_s = 10

    [notify.rules]
    drawdown_above_pct = 10      # RiskTripped("drawdown_above_pct") when drawdown >= 10 %
    loss_above = 50              # RiskTripped("loss_above") when the day's loss >= 50 (quote)

    [notify.channels.phone]
    url = "tgram://BOT_TOKEN/CHAT_ID"
    events = ["trade_closed", "risk_tripped", "run_failed"]
    min_pnl_abs = 5              # trade_closed only when |pnl| >= 5
    quiet_hours = "22:00-07:00"  # in ``tz``; risk_tripped and run_failed still go out
    tz = "Europe/Berlin"
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from tradebot.core.event_kinds import EVENT_KINDS, EventKind

__all__ = ["ChannelConfig", "NotifyConfig", "RulesConfig", "parse_quiet_hours"]

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
Float = Annotated[float, AllowInfNan(False)]


def parse_quiet_hours(text: str) -> tuple[time, time]:
    """``"22:00-07:00"`` -> (22:00, 07:00). Raises ValueError on anything else."""
    match = _HOURS.match(text)
    if match is None:
        raise ValueError(f"invalid quiet_hours {text!r}: expected HH:MM-HH:MM, e.g. 22:00-07:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError(f"invalid quiet_hours {text!r}: hours 00-23, minutes 00-59")
    return time(h1, m1), time(h2, m2)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelConfig(_Section):
    """One destination. ``url`` is an apprise URL and may hold tokens, so it is a secret."""

    url: SecretStr
    events: list[EventKind] = Field(default_factory=lambda: list(EVENT_KINDS))  # type: ignore[arg-type]
    min_pnl_abs: Annotated[Float, Field(ge=0)] | None = None
    quiet_hours: str | None = None
    tz: str = "UTC"

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        scheme, sep, rest = text.partition("://")
        if not sep or not scheme or not rest:
            # never echo the value: it may carry a token
            raise PydanticCustomError("apprise_url", "not an apprise URL (expected scheme://..., e.g. json://host/path)")
        return SecretStr(text)

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            parse_quiet_hours(value)
        except ValueError as e:
            raise PydanticCustomError("quiet_hours", "{message}", {"message": str(e)}) from None
        return value.strip()

    @field_validator("tz")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone", "unknown time zone {value} (use an IANA name such as UTC or Europe/Berlin)",
                {"value": repr(value)},
            ) from None
        return value


class RulesConfig(_Section):
    """Thresholds that raise a ``risk_tripped`` alert (see :func:`tradebot.notify.rules.threshold_alerts`)."""

    drawdown_above_pct: Annotated[Float, Field(gt=0, le=100)] | None = None
    loss_above: Annotated[Float, Field(gt=0)] | None = None


class NotifyConfig(_Section):
    """Notifications: where they go, which go, how they read."""

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    templates_dir: Path | None = None
    timeout_s: Annotated[Float, Field(gt=0, le=300)] = 10.0

    @field_validator("templates_dir")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()
