"""Strategy selection (issue 14): the candidates a selector chooses among, its windows and
method (the `[selector]` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SelectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
