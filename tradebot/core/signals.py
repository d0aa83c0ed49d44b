"""Signals: what a strategy wants at each bar's close, as boolean arrays."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.bool_)


@dataclass(frozen=True)
class Signals:
    """Per-bar intentions, evaluated at the bar's close.

    ``entries``/``exits`` open and close a long position; ``short_entries``/
    ``short_exits`` do the same for a short one (empty arrays when the strategy
    never shorts). The engine acts on them only when they apply (an entry while
    flat, an exit while holding).
    """

    entries: np.ndarray
    exits: np.ndarray
    short_entries: np.ndarray = field(default_factory=_empty)
    short_exits: np.ndarray = field(default_factory=_empty)

    def last(self) -> int:
        """The signal of the last bar: 1 enter long, -1 exit long / enter short, 0 hold."""
        if self.entries.size and self.entries[-1]:
            return 1
        if self.exits.size and self.exits[-1]:
            return -1
        if self.short_entries.size and self.short_entries[-1]:
            return -1
        return 0
