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
# Risk (docs/decisions/0008-risk-rules.md). NaN or 0 marks a disabled limit.
P_RISK_PCT, P_RISK_ATR, P_KELLY_FRAC, P_MAX_FRAC, P_MIN_TRADES = 13, 14, 15, 16, 17
P_MAX_TRADES_DAY, P_MAX_DAILY_LOSS, P_MAX_DD, P_FLATTEN, P_BREAKER_COOLDOWN = 18, 19, 20, 21, 22
P_LOSS_N, P_LOSS_COOLDOWN, P_MAX_POS_FRAC, P_HAS_DAY, P_HAS_LIMITS = 23, 24, 25, 26, 27
N_PARAMS = 28

SIZE_FIXED_FRACTION = 0.0
SIZE_FIXED_AMOUNT = 1.0
SIZE_FIXED_RISK = 2.0
SIZE_KELLY = 3.0
SIZE_OPTIMAL_F = 4.0
SIZE_MODES = {
    "fixed_fraction": SIZE_FIXED_FRACTION,
    "fixed_amount": SIZE_FIXED_AMOUNT,
    "fixed_risk": SIZE_FIXED_RISK,
    "kelly": SIZE_KELLY,
    "optimal_f": SIZE_OPTIMAL_F,
}
SizingMode = Literal["fixed_fraction", "fixed_amount", "fixed_risk", "kelly", "optimal_f"]


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
    - ``fixed_risk`` risks ``risk_pct`` % of equity down to the stop (``stop_loss_pct``,
      else ``risk_atr_mult`` × ATR); ``kelly`` and ``optimal_f`` size from the run's
      closed trades (× ``kelly_fraction``, capped at ``max_fraction``; ``size_value``
      is the fraction used before ``min_trades`` trades).
    - Stops are percentages of the entry price; when a bar touches both the stop and
      the take-profit, the stop is assumed to have filled first (conservative).
    - Limits (None/0 = off) block entries at the close; see docs/decisions/0008.
    """

    initial_capital: float = 10_000.0
    maker_fee: float = 0.001
    taker_fee: float = 0.001
    slippage_bps: float = 0.0
    slippage_atr_mult: float = 0.0
    atr_period: int = 14
    latency_bars: int = 1
    sizing: SizingMode = "fixed_fraction"
    size_value: float = 1.0
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None
    trailing_stop_pct: float | None = None
    allow_short: bool = False
    # sizing modes fixed_risk / kelly / optimal_f
    risk_pct: float = 1.0  # % of equity lost if the stop is hit (fixed_risk)
    risk_atr_mult: float = 2.0  # stop distance in ATRs when there is no stop-loss
    kelly_fraction: float = 0.5
    max_fraction: float = 1.0
    min_trades: int = 10
    # limits (None or 0 = off)
    max_position_fraction: float | None = None
    max_trades_per_day: int | None = None
    max_daily_loss: float | None = None  # quote currency
    max_drawdown_pct: float | None = None
    flatten_on_breaker: bool = False
    breaker_cooldown_bars: int = 0  # 0: halted for the rest of the run
    cooldown_after_losses: int | None = None
    cooldown_bars: int = 0

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
        if self.sizing not in SIZE_MODES:
            raise bad("sizing", "must be one of " + ", ".join(SIZE_MODES))
        if self.sizing != "fixed_amount" and self.size_value > 1:
            raise bad("size_value", f"must be in (0, 1] for {self.sizing} sizing")
        for name in ("risk_pct", "max_drawdown_pct"):
            v = getattr(self, name)
            if (v is not None or name == "risk_pct") and not (
                    isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 100):
                raise bad(name, "must be in (0, 100)" + ("" if name == "risk_pct" else " or None"))
        v = self.risk_atr_mult
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise bad("risk_atr_mult", "must be > 0")
        for name in ("kelly_fraction", "max_fraction"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1):
                raise bad(name, "must be in (0, 1]")
        v = self.max_position_fraction
        if v is not None and not (isinstance(v, int | float) and not isinstance(v, bool)
                                  and 0 < v <= 1):
            raise bad("max_position_fraction", "must be in (0, 1] or None")
        v = self.max_daily_loss
        if v is not None and not (isinstance(v, int | float) and not isinstance(v, bool)
                                  and math.isfinite(v) and v > 0):
            raise bad("max_daily_loss", "must be > 0 or None")
        for name in ("max_trades_per_day", "cooldown_after_losses"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise bad(name, "must be an integer >= 1 or None")
        for name in ("min_trades", "breaker_cooldown_bars", "cooldown_bars"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise bad(name, "must be an integer >= 0")
        if not isinstance(self.flatten_on_breaker, bool):
            raise bad("flatten_on_breaker", "must be true or false")
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
        p[P_SIZE_MODE] = SIZE_MODES[self.sizing]
        p[P_SIZE_VALUE] = self.size_value
        p[P_SL] = pct(self.stop_loss_pct)
        p[P_TP] = pct(self.take_profit_pct)
        p[P_TRAIL] = pct(self.trailing_stop_pct)
        p[P_SHORT] = 1.0 if self.allow_short else 0.0
        p[P_HAS_STOPS] = 0.0 if np.isnan(p[[P_SL, P_TP, P_TRAIL]]).all() else 1.0
        p[P_RISK_PCT] = self.risk_pct / 100.0
        p[P_RISK_ATR] = self.risk_atr_mult
        p[P_KELLY_FRAC] = self.kelly_fraction
        p[P_MAX_FRAC] = self.max_fraction
        p[P_MIN_TRADES] = self.min_trades
        p[P_MAX_TRADES_DAY] = self.max_trades_per_day or 0
        p[P_MAX_DAILY_LOSS] = math.nan if self.max_daily_loss is None else self.max_daily_loss
        p[P_MAX_DD] = pct(self.max_drawdown_pct)
        p[P_FLATTEN] = 1.0 if self.flatten_on_breaker else 0.0
        p[P_BREAKER_COOLDOWN] = self.breaker_cooldown_bars
        p[P_LOSS_N] = self.cooldown_after_losses or 0
        p[P_LOSS_COOLDOWN] = self.cooldown_bars
        p[P_MAX_POS_FRAC] = (math.nan if self.max_position_fraction is None
                             else self.max_position_fraction)
        p[P_HAS_DAY] = 1.0 if (self.max_trades_per_day or self.max_daily_loss) else 0.0
        p[P_HAS_LIMITS] = 1.0 if (p[P_HAS_DAY] or self.max_drawdown_pct is not None
                                  or self.cooldown_after_losses) else 0.0
        return p

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
