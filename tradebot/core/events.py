"""Events a run can report. Frozen dataclasses, each with a ``kind`` name used in config and templates."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, TypeAlias

from tradebot.core.event_kinds import CRITICAL_KINDS, EVENT_KINDS, EventKind  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class OrderFilled:
    kind: ClassVar[str] = "order_filled"
    account: str
    symbol: str
    side: str
    amount: float
    price: float
    fee: float
    ts_ms: int


@dataclass(frozen=True)
class TradeClosed:
    kind: ClassVar[str] = "trade_closed"
    account: str
    symbol: str
    direction: str
    entry_price: float
    exit_price: float
    pnl: float
    return_pct: float
    exit_reason: str
    ts_ms: int


@dataclass(frozen=True)
class DailySummary:
    kind: ClassVar[str] = "daily_summary"
    account: str
    day: str  # YYYY-MM-DD (UTC)
    pnl: float
    target: float
    target_met: bool
    equity: float
    trades: int


@dataclass(frozen=True)
class RiskTripped:
    kind: ClassVar[str] = "risk_tripped"
    account: str
    rule: str
    detail: str
    ts_ms: int


@dataclass(frozen=True)
class RunFailed:
    kind: ClassVar[str] = "run_failed"
    account: str
    command: str
    error: str
    ts_ms: int


@dataclass(frozen=True)
class LiveNotice:
    """What happened on a live account (issue 15): ``summary`` is one line built from the
    event's detail (never a secret); the subclasses only name the kind."""

    kind: ClassVar[str] = "live"
    account: str
    summary: str
    ts_ms: int


@dataclass(frozen=True)
class LiveOrderSent(LiveNotice):
    kind: ClassVar[str] = "live_order_sent"


@dataclass(frozen=True)
class LiveFill(LiveNotice):
    kind: ClassVar[str] = "live_fill"


@dataclass(frozen=True)
class LiveReject(LiveNotice):
    kind: ClassVar[str] = "live_reject"


@dataclass(frozen=True)
class LiveReconcileDifference(LiveNotice):
    kind: ClassVar[str] = "live_reconcile_difference"


@dataclass(frozen=True)
class LiveKillSwitch(LiveNotice):
    kind: ClassVar[str] = "live_kill_switch"


@dataclass(frozen=True)
class LiveError(LiveNotice):
    kind: ClassVar[str] = "live_error"


LIVE_NOTICES: tuple[type[LiveNotice], ...] = (LiveOrderSent, LiveFill, LiveReject, LiveReconcileDifference,
                                              LiveKillSwitch, LiveError)


@dataclass(frozen=True)
class SelectorSwitched:
    """A selector paper account follows another candidate from window ``window`` on."""

    kind: ClassVar[str] = "selector_switched"
    account: str
    symbol: str
    window: int
    previous: str
    chosen: str
    ts_ms: int  # the window's first bar


Event: TypeAlias = OrderFilled | TradeClosed | DailySummary | RiskTripped | RunFailed | LiveNotice | SelectorSwitched
_CLASSES: tuple[Any, ...] = (OrderFilled, TradeClosed, DailySummary, RiskTripped, RunFailed, *LIVE_NOTICES,
                             SelectorSwitched)
EVENT_TYPES: dict[str, type[Any]] = {cls.kind: cls for cls in _CLASSES}


def event_fields(event: Event) -> dict[str, Any]:
    """The event's fields plus ``kind`` (the variables a template sees)."""
    return {"kind": event.kind, **asdict(event)}


_TS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def sample_event(kind: str) -> Event:
    """A made-up event of ``kind``, used to check templates and by ``notify test``."""
    samples: dict[str, Event] = {
        "order_filled": OrderFilled("demo", "BTC/USDT", "buy", 0.01, 42_000.0, 0.42, _TS),
        "trade_closed": TradeClosed("demo", "BTC/USDT", "long", 42_000.0, 43_050.0, 10.08, 2.5, "signal", _TS),
        "daily_summary": DailySummary("demo", "2024-01-01", 6.5, 5.0, True, 10_006.5, 3),
        "risk_tripped": RiskTripped("demo", "max_drawdown", "drawdown 12.0% above 10.0%", _TS),
        "run_failed": RunFailed("demo", "paper", "exchange unavailable", _TS),
        "live_order_sent": LiveOrderSent("demo", "BUY 0.01 BTC/USDT market (tb-lx2f3k-0a1b2c3d4e5f60718293)", _TS),
        "live_fill": LiveFill("demo", "BUY 0.01 BTC/USDT at 42000 (fee 0.00001 BTC)", _TS),
        "live_reject": LiveReject("demo", "BUY BTC/USDT refused: order notional 600 above live.max_order_notional "
                                          "500", _TS),
        "live_reconcile_difference": LiveReconcileDifference("demo", "USDT: ledger 1000, exchange 900 (dust 1)",
                                                             _TS),
        "live_kill_switch": LiveKillSwitch("demo", "stopped by command: manual; 1 open order cancelled", _TS),
        "live_error": LiveError("demo", "exchange unavailable: binance timed out", _TS),
        "selector_switched": SelectorSwitched("demo", "BTC/USDT", 12, "rsi", "macd:fast=8", _TS),
    }
    return samples[kind]
