"""Strategy selection (issue 14): the candidates a selector chooses among, its windows and
method (the `[selector]` section).

    [selector]
    candidates = ["macd", "bollinger:mode=breakout", "rsi:period=14,lower=30", "S12:top3", "ml:mymodel"]
    window = "7d"            # a duration or a number of bars
    min_train_windows = 8    # flat until the model has this many windows to learn from
    method = "model"         # or an agent of tradebot.ml.agents (thompson, linucb, qlearn)
    seed = 0                 # None: the settings' seed

    [selector.switch]
    cost = "auto"            # the return a switch must promise to be made: "auto" = one round
                             # trip's fees and slippage, or a fraction (0.002)
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SwitchSettings(BaseModel):
    """When the selector switches candidate."""

    model_config = ConfigDict(extra="forbid")

    cost: str | float = "auto"

    @field_validator("cost")
    @classmethod
    def _cost(cls, v: str | float) -> str | float:
        if isinstance(v, str):
            if v != "auto":
                try:
                    v = float(v)
                except ValueError:
                    raise ValueError(f"switch cost must be 'auto' or a fraction >= 0, got {v!r}") from None
            else:
                return v
        if not 0 <= float(v) < 1:
            raise ValueError(f"switch cost must be in [0, 1), got {v!r}")
        return float(v)


class SelectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: list[str] = Field(default_factory=list)
    window: str = "7d"
    min_train_windows: int = Field(default=8, ge=1, le=1000)
    method: str = "model"
    seed: int | None = None
    switch: SwitchSettings = Field(default_factory=SwitchSettings)
