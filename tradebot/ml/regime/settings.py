"""Regime settings: the names (their order gives their meaning), windows and rule thresholds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from tradebot.core.errors import UsageError

#: default names, in the order of their meaning: up, down, range(s)…, high volatility
DEFAULT_NAMES = ("trend_up", "trend_down", "range", "high_vol")
METHODS = ("rules", "learned")


def default_names(count: int) -> tuple[str, ...]:
    """The default names of ``count`` regimes: 2 → up/down; 3 → + range; 4 → + high_vol;
    more → extra ranges ``range_2``… between range and high_vol."""
    check_count(count)
    if count <= 3:
        return DEFAULT_NAMES[:count]
    return ("trend_up", "trend_down", "range", *[f"range_{i}" for i in range(2, count - 2)], "high_vol")


def check_count(count: object) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise UsageError(f"regime count must be at least 2 (up and down), got {count!r}")
    if count > 8:
        raise UsageError(f"regime count must be at most 8, got {count!r}")
    return count


def check_method(method: str) -> str:
    if method not in METHODS:
        raise UsageError(f"unknown regime method {method!r} (methods: {', '.join(METHODS)})")
    return method


@dataclass(frozen=True)
class RegimeSettings:
    """Names and windows (in bars). ``names`` are read by position: ``[0]`` trending up,
    ``[1]`` trending down, ``[2:-1]`` ranging (``[2]`` alone with 3 names), ``[-1]`` high
    volatility with 4 or more names. The rule thresholds apply to the rule-based method."""

    names: tuple[str, ...] = DEFAULT_NAMES
    adx_period: int = 14
    vol_window: int = 24  # realised volatility: std of log returns
    pct_window: int = 2000  # percentile of the volatility among (up to) this many bars ...
    pct_min: int = 250  # ... once it has at least this many
    horizons: tuple[int, ...] = (12, 48)  # returns over these horizons; the last is the trend horizon
    range_window: int = 48  # high-low range width
    # rules
    adx_min: float = 25.0  # trending when ADX >= this ...
    er_min: float = 0.15  # ... or the efficiency ratio over the trend horizon >= this
    vol_pct_high: float = 0.7  # high volatility when the volatility's percentile >= this
    # learned
    components_init: int = 3  # GaussianMixture n_init
    covariance: str = "diag"  # GaussianMixture covariance_type: diag, full, tied, spherical
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        names = tuple(self.names)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "horizons", tuple(int(h) for h in self.horizons))
        check_count(len(names))
        if len(set(names)) != len(names) or not all(isinstance(x, str) and x.strip() for x in names):
            raise UsageError(f"regime names must be distinct non-empty words, got {list(names)}")
        for key in ("adx_period", "vol_window", "pct_window", "pct_min", "range_window"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise UsageError(f"regime {key} must be a whole number of bars >= 2, got {v!r}")
        if not self.horizons or min(self.horizons) < 1:
            raise UsageError(f"regime horizons must be positive numbers of bars, got {list(self.horizons)}")
        if self.covariance not in ("diag", "full", "tied", "spherical"):
            raise UsageError(f"regime covariance must be diag, full, tied or spherical, got {self.covariance!r}")
        if self.pct_min > self.pct_window:
            raise UsageError(f"regime pct_min ({self.pct_min}) must not exceed pct_window ({self.pct_window})")
        if not 0.0 < self.vol_pct_high < 1.0:
            raise UsageError(f"regime vol_pct_high must be in (0, 1), got {self.vol_pct_high!r}")

    @classmethod
    def with_count(cls, count: int, **kw: Any) -> RegimeSettings:
        return cls(names=default_names(count), **kw)

    @property
    def count(self) -> int:
        return len(self.names)

    @property
    def has_high_vol(self) -> bool:
        return len(self.names) >= 4

    @property
    def trend_horizon(self) -> int:
        return self.horizons[-1]

    @property
    def warmup_bars(self) -> int:
        """Bars before the first classified one (every feature defined)."""
        return max(2 * self.adx_period, self.vol_window + self.pct_min, max(self.horizons) + 1,
                   self.range_window)

    @property
    def lag(self) -> int:
        """The recognition lag: bars after a change of regime before the windows that
        recognise it are mostly inside the new regime (half the longest trend window)."""
        return max(self.trend_horizon, self.range_window, self.vol_window, 2 * self.adx_period) // 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        d["names"] = list(self.names)
        d["horizons"] = list(self.horizons)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegimeSettings:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "extra"}
        return cls(**known)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()
