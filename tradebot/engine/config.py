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
# Order matching (docs/decisions/0009-order-matching.md). P_MATCHING = 0: the market path.
P_MATCHING, P_ENTRY_ORDER, P_EXIT_ORDER, P_LIMIT_OFF, P_STOP_OFF, P_STOP_LIMIT_OFF = (
    28, 29, 30, 31, 32, 33)
P_TTL, P_HALF_SPREAD, P_IMPACT, P_VOL_SHARE, P_TOUCH_PROB, P_FILL_SEED = 34, 35, 36, 37, 38, 39
N_PARAMS = 40

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

# Order types (the codes of result.ORDER_*).
ENTRY_ORDERS = {"market": 0.0, "limit": 1.0, "stop": 2.0, "stop_limit": 3.0}
EXIT_ORDERS = {"market": 0.0, "limit": 1.0}
EntryOrder = Literal["market", "limit", "stop", "stop_limit"]
ExitOrder = Literal["market", "limit"]
MAX_FILL_SEED = 2**32 - 1


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
    - Order matching (docs/decisions/0009): ``entry_order`` market / limit / stop /
      stop_limit and ``exit_order`` market / limit, priced from the deciding close
      (``limit_offset_bps`` below it for buys, above for sells; ``stop_offset_bps`` above
      it for buys, below for sells; a stop-limit's limit ``stop_limit_offset_bps`` beyond
      its trigger), active ``latency_bars`` later, cancelled after ``order_ttl_bars``
      bars (0: good till filled or cancelled by the opposite signal). Market and stop
      fills pay half of ``spread_bps`` and the impact ``impact_coef`` × sqrt(qty /
      bar volume) on top of slippage; limit fills pay neither. ``max_volume_share`` caps
      each bar's fill at that share of the bar's volume (the rest keeps working: partial
      fills); a limit only touched fills with probability ``touch_fill_prob``, drawn from
      (``fill_seed``, bar index). The defaults keep the market path.
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
    # order matching (docs/decisions/0009-order-matching.md); the defaults: market orders
    entry_order: EntryOrder = "market"
    exit_order: ExitOrder = "market"
    limit_offset_bps: float = 0.0
    stop_offset_bps: float = 0.0
    stop_limit_offset_bps: float = 0.0
    order_ttl_bars: int = 0  # 0: good till filled (or cancelled by the opposite signal)
    spread_bps: float = 0.0  # the full bid-ask spread; market and stop fills pay half
    impact_coef: float = 0.0  # impact = impact_coef * sqrt(qty / bar volume)
    max_volume_share: float | None = None  # None: no cap
    touch_fill_prob: float = 1.0
    fill_seed: int = 0

    @property
    def matching(self) -> bool:
        """True when the order-matching fill model is needed (anything but the defaults'
        whole market orders without spread or impact)."""
        return (self.entry_order != "market" or self.exit_order != "market"
                or self.spread_bps > 0 or self.impact_coef > 0
                or self.max_volume_share is not None)

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
        if self.entry_order not in ENTRY_ORDERS:
            raise bad("entry_order", "must be one of " + ", ".join(ENTRY_ORDERS))
        if self.exit_order not in EXIT_ORDERS:
            raise bad("exit_order", "must be one of " + ", ".join(EXIT_ORDERS))
        for name in ("limit_offset_bps", "stop_offset_bps", "stop_limit_offset_bps",
                     "spread_bps"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 10_000):
                raise bad(name, "must be in [0, 10000) basis points")
        v = self.impact_coef
        if not (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1):
            raise bad("impact_coef", "must be in [0, 1)")
        v = self.max_volume_share
        if v is not None and not (isinstance(v, int | float) and not isinstance(v, bool)
                                  and 0 < v <= 1):
            raise bad("max_volume_share", "must be in (0, 1] or None")
        v = self.touch_fill_prob
        if not (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1):
            raise bad("touch_fill_prob", "must be a probability in [0, 1]")
        v = self.order_ttl_bars
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise bad("order_ttl_bars", "must be an integer >= 0 (0: good till filled)")
        v = self.fill_seed
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_FILL_SEED:
            raise bad("fill_seed", f"must be an integer in [0, {MAX_FILL_SEED}]")

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
        p[P_MATCHING] = 1.0 if self.matching else 0.0
        p[P_ENTRY_ORDER] = ENTRY_ORDERS[self.entry_order]
        p[P_EXIT_ORDER] = EXIT_ORDERS[self.exit_order]
        p[P_LIMIT_OFF] = self.limit_offset_bps / 10_000.0
        p[P_STOP_OFF] = self.stop_offset_bps / 10_000.0
        p[P_STOP_LIMIT_OFF] = self.stop_limit_offset_bps / 10_000.0
        p[P_TTL] = self.order_ttl_bars
        p[P_HALF_SPREAD] = self.spread_bps / 20_000.0
        p[P_IMPACT] = self.impact_coef
        p[P_VOL_SHARE] = math.nan if self.max_volume_share is None else self.max_volume_share
        p[P_TOUCH_PROB] = self.touch_fill_prob
        p[P_FILL_SEED] = self.fill_seed
        return p

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
