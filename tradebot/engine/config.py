"""Engine configuration: the execution rules shared by backtest, paper and live."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

# Layout of the float64 parameter vector the kernels read (see kernels.py).
P_INIT, P_MAKER, P_TAKER, P_SLIP, P_SLIP_ATR, P_LATENCY = 0, 1, 2, 3, 4, 5
P_SIZE_MODE, P_SIZE_VALUE, P_SL, P_TP, P_TRAIL, P_SHORT = 6, 7, 8, 9, 10, 11
P_HAS_STOPS = 12
N_PARAMS = 13

SIZE_FIXED_FRACTION = 0.0
SIZE_FIXED_AMOUNT = 1.0


@dataclass(frozen=True)
class EngineConfig:
    """How orders are sized, filled and charged.

    - Decisions are taken at a bar's close; market orders fill at the open
      ``latency_bars`` bars later (1 = next bar's open).
    - Market orders and stops pay ``taker_fee``; take-profit (a resting limit) pays
      ``maker_fee``. Fees are fractions of traded value.
    - Slippage moves market and stop fills against the trader by ``slippage_bps``
      basis points plus ``slippage_atr_mult`` × ATR(previous bar) / price.
    - ``fixed_fraction`` sizing spends that fraction of equity (fees included);
      ``fixed_amount`` spends that much quote currency (capped by cash).
    - Stops are percentages of the entry price; when a bar touches both the stop and
      the take-profit, the stop is assumed to have filled first (conservative).
    """

    initial_capital: float = 10_000.0
    maker_fee: float = 0.001
    taker_fee: float = 0.001
    slippage_bps: float = 0.0
    slippage_atr_mult: float = 0.0
    atr_period: int = 14
    latency_bars: int = 1
    sizing: Literal["fixed_fraction", "fixed_amount"] = "fixed_fraction"
    size_value: float = 1.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_stop_pct: float | None = None
    allow_short: bool = False

    def __post_init__(self) -> None:
        from tradebot.core.errors import ConfigError

        def bad(field: str, why: str) -> ConfigError:
            return ConfigError(f"engine config: {field}={getattr(self, field)!r} {why}")

        for name in ("initial_capital", "size_value"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise bad(name, "must be a positive number")
        for name in ("maker_fee", "taker_fee"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0 <= v < 1):
                raise bad(name, "must be a fraction in [0, 1)")
        for name in ("slippage_bps", "slippage_atr_mult"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise bad(name, "must be >= 0")
        for name in ("latency_bars", "atr_period"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(name, "must be an integer >= 1")
        if self.sizing not in ("fixed_fraction", "fixed_amount"):
            raise bad("sizing", "must be fixed_fraction or fixed_amount")
        if self.sizing == "fixed_fraction" and self.size_value > 1:
            raise bad("size_value", "must be in (0, 1] for fixed_fraction sizing")
        for name in ("stop_loss_pct", "trailing_stop_pct"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and 0 < v < 100):
                raise bad(name, "must be in (0, 100) or None")
        v = self.take_profit_pct
        if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise bad("take_profit_pct", "must be > 0 or None")

    def to_vector(self) -> np.ndarray:
        """The parameter vector the kernels take (NaN marks a disabled stop)."""
        def pct(v: float | None) -> float:
            return math.nan if v is None else v / 100.0

        p = np.empty(N_PARAMS, dtype=np.float64)
        p[P_INIT] = self.initial_capital
        p[P_MAKER] = self.maker_fee
        p[P_TAKER] = self.taker_fee
        p[P_SLIP] = self.slippage_bps / 10_000.0
        p[P_SLIP_ATR] = self.slippage_atr_mult
        p[P_LATENCY] = self.latency_bars
        p[P_SIZE_MODE] = SIZE_FIXED_AMOUNT if self.sizing == "fixed_amount" else SIZE_FIXED_FRACTION
        p[P_SIZE_VALUE] = self.size_value
        p[P_SL] = pct(self.stop_loss_pct)
        p[P_TP] = pct(self.take_profit_pct)
        p[P_TRAIL] = pct(self.trailing_stop_pct)
        p[P_SHORT] = 1.0 if self.allow_short else 0.0
        p[P_HAS_STOPS] = 0.0 if np.isnan(p[[P_SL, P_TP, P_TRAIL]]).all() else 1.0
        return p

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
