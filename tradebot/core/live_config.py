"""Live trading (issue 15): the switches, limits and kill switch of live accounts (the `[live]`
section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LiveSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
