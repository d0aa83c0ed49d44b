"""Live trading (issue 15): the switches, limits, kill switch and reconciliation tolerance of
live accounts (the ``[live]`` section).

Example (TOML)::

    [live]
    enabled = false               # real orders need this AND keys AND the first-run confirmation
    testnet = false               # ccxt sandbox mode (binance's testnet URLs); --testnet too
    confirm_first_run = true      # the first real run of an account asks for the typed symbol
                                  # (or --yes-i-understand-real-money)
    max_order_notional = 500      # quote currency; an order above it is refused (none: no limit)
    max_daily_notional = 5000     # traded + committed notional of the UTC day (none: no limit)
    max_open_orders = 4           # open orders of an account at once
    max_price_deviation_pct = 2.0 # refuse when the last price is more than 2 % from the signal's close
    kill_file = "STOP"            # its existence stops every live account; relative to
                                  # $TRADEBOT_HOME; "{account}" is replaced by the account name
    flatten_on_kill = false       # the kill file also sells the positions (market orders)
    recv_window_ms = 5000         # binance's recvWindow for signed requests (default: the adapter's)
    markets_ttl_s = 3600          # a step reuses the markets (rules, precision) loaded this long ago
                                  # ($TRADEBOT_HOME/cache/markets); 0: download them every run

    [live.dust]                   # reconciliation: a difference within the tolerance is dust
    abs = 1e-8                    # default absolute tolerance, in units of the asset
    rel = 0.001                   # relative tolerance (of the account's ledger amount)
    assets = { USDT = 0.01, BNB = 0.001 }   # per-asset absolute tolerance

A limit refuses an order *before* anything is written as sent: the intent is stored as
``rejected`` with the reason, and a ``reject`` event/notification goes out. The kill switch
(``tradebot live stop`` or the kill file) cancels the account's open orders and refuses new
entries until ``tradebot live resume`` (or until the file is removed).
"""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["DustSettings", "LiveSettings"]


def _finite_positive(name: str, v: float | None) -> float | None:
    if v is None:
        return None
    if not math.isfinite(float(v)) or float(v) <= 0:
        raise ValueError(f"live.{name} must be a positive number (or left out for no limit), got {v!r}")
    return float(v)


class DustSettings(BaseModel):
    """How far the ledger and the exchange may differ before reconciliation stops trading:
    ``max(assets.get(asset, abs), rel * |ledger|)``."""

    model_config = ConfigDict(extra="forbid")

    abs: float = Field(default=1e-8)
    rel: float = Field(default=0.001)
    assets: dict[str, float] = Field(default_factory=dict)

    @field_validator("abs")
    @classmethod
    def _abs(cls, v: float) -> float:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"live.dust.abs must be a number >= 0, got {v!r}")
        return v

    @field_validator("rel")
    @classmethod
    def _rel(cls, v: float) -> float:
        if not math.isfinite(v) or not 0 <= v < 1:
            raise ValueError(f"live.dust.rel must be in [0, 1), got {v!r}")
        return v

    @field_validator("assets")
    @classmethod
    def _assets(cls, v: dict[str, float]) -> dict[str, float]:
        out: dict[str, float] = {}
        for asset, tol in v.items():
            if not asset or not asset.strip():
                raise ValueError("live.dust.assets: an asset name is empty")
            if not math.isfinite(float(tol)) or float(tol) < 0:
                raise ValueError(f"live.dust.assets.{asset} must be a number >= 0, got {tol!r}")
            out[asset.strip().upper()] = float(tol)
        return out

    def tolerance(self, asset: str, ledger: float) -> float:
        """The largest difference that still counts as dust for ``asset`` when the account's
        ledger holds ``ledger`` of it (the relative part is of the account's own amount, not
        of whatever else the exchange account holds)."""
        base = self.assets.get(asset.upper(), self.abs)
        return max(base, self.rel * abs(ledger))


class LiveSettings(BaseModel):
    """The ``[live]`` section: see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    testnet: bool = False
    confirm_first_run: bool = True
    max_order_notional: float | None = None
    max_daily_notional: float | None = None
    max_open_orders: int = Field(default=4)
    max_price_deviation_pct: float | None = Field(default=2.0)
    kill_file: str | None = "STOP"
    flatten_on_kill: bool = False
    recv_window_ms: int | None = None
    markets_ttl_s: float = Field(default=3600.0)
    dust: DustSettings = Field(default_factory=DustSettings)

    @field_validator("max_order_notional")
    @classmethod
    def _max_order(cls, v: float | None) -> float | None:
        return _finite_positive("max_order_notional", v)

    @field_validator("max_daily_notional")
    @classmethod
    def _max_daily(cls, v: float | None) -> float | None:
        return _finite_positive("max_daily_notional", v)

    @field_validator("max_price_deviation_pct")
    @classmethod
    def _deviation(cls, v: float | None) -> float | None:
        v = _finite_positive("max_price_deviation_pct", v)
        if v is not None and v >= 100:
            raise ValueError(f"live.max_price_deviation_pct must be below 100 (a percentage), got {v!r}")
        return v

    @field_validator("max_open_orders")
    @classmethod
    def _open(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"live.max_open_orders must be at least 1, got {v!r}")
        return v

    @field_validator("markets_ttl_s")
    @classmethod
    def _markets_ttl(cls, v: float) -> float:
        if not math.isfinite(v) or not 0 <= v <= 7 * 86_400:
            raise ValueError(f"live.markets_ttl_s must be between 0 (no cache) and 604800 (a week), got {v!r}")
        return float(v)

    @field_validator("recv_window_ms")
    @classmethod
    def _recv(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v <= 60_000:
            raise ValueError(f"live.recv_window_ms must be between 1 and 60000 (binance's limit), got {v!r}")
        return v

    @field_validator("kill_file")
    @classmethod
    def _kill_file(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not v.strip():
            raise ValueError("live.kill_file must be a path (or left out), got an empty string")
        if "{" in v.replace("{account}", ""):
            raise ValueError(f"live.kill_file may only hold the placeholder {{account}}, got {v!r}")
        return v

    def kill_path(self, home: Path, account: str) -> Path | None:
        """The kill file for ``account`` (relative paths under ``home``), or None when unset."""
        if self.kill_file is None:
            return None
        path = Path(self.kill_file.replace("{account}", account)).expanduser()
        return path if path.is_absolute() else home / path
