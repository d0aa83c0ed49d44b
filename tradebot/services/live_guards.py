"""The safety rails of live accounts beyond the risk engine (issue 15, decision 0028):
order limits, the kill switch, reconciliation and notifications.

* :func:`check_intent`: the limits of ``[live]`` (maximum order notional, maximum daily
  notional, maximum open orders, price deviation from the signal's close) for one intent;
  the refusal reason, or None. A refused intent is stored ``rejected`` with the reason
  (nothing is sent) by the caller.
* :func:`kill_state`: whether the account is stopped — by ``tradebot live stop`` (the
  ``live_switches`` row) or by the kill file (``live.kill_file``). A stopped account sends
  no new entry until ``tradebot live resume`` (and the file is gone).
* :func:`reconcile_account` / :func:`adopt_exchange_view`: the exchange's balances, open
  orders and positions against the ledger (:mod:`tradebot.services.live_reconcile`).
* :func:`stop_account` / :func:`resume_account`: the kill switch's actions
  (:mod:`tradebot.services.live_kill`).
* :func:`notify_live`: one notification of a live kind through the configured channels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradebot.core.orders import OrderRecord
from tradebot.services.live_reconcile import Difference, ReconcileReport, adopt_exchange_view, reconcile_account

if TYPE_CHECKING:
    from tradebot.core.live_config import LiveSettings
    from tradebot.services.context import Context

__all__ = [
    "LIVE_KINDS",
    "Difference",
    "KillState",
    "ReconcileReport",
    "adopt_exchange_view",
    "check_intent",
    "enforce_kill",
    "kill_state",
    "notify_live",
    "reconcile_account",
    "resume_account",
    "stop_account",
    "utc_day_start_ms",
]

log = logging.getLogger("tradebot.live")

#: the short kinds :func:`notify_live` takes (``live_`` + kind is the notification's kind)
LIVE_KINDS = ("order_sent", "fill", "reject", "reconcile_difference", "kill_switch", "error")
_DAY_MS = 86_400_000


def utc_day_start_ms(now_ms: int) -> int:
    """The start of ``now_ms``'s UTC day: the daily notional limit counts from there."""
    return (int(now_ms) // _DAY_MS) * _DAY_MS


def _fmt(x: float) -> str:
    return f"{x:.8g}"


def check_intent(settings: LiveSettings, intent: OrderRecord, *, last_price: float, signal_close: float,
                 open_orders: int, traded_today: float) -> str | None:
    """Why ``intent`` must not be sent under ``settings``' limits, or None.

    ``last_price``: the market's last price now; ``signal_close``: the close of the bar the
    engine decided on; ``open_orders``: the account's open orders now; ``traded_today``:
    the notional traded (and committed by open orders) since the start of the UTC day.

    Every intent is checked against the price deviation and the open-order count. The
    notional limits apply to buys only: a sell reduces a spot position, and refusing it
    would keep the risk the limits are there to cap.
    """
    price = intent.price if intent.price is not None else last_price
    if not (price is not None and price > 0):
        return f"no price for {intent.symbol} to value the order at"
    notional = float(intent.amount) * float(price)
    if open_orders >= settings.max_open_orders:
        return (f"{open_orders} open order{'' if open_orders == 1 else 's'}: live.max_open_orders is "
                f"{settings.max_open_orders}")
    dev = settings.max_price_deviation_pct
    if dev is not None:
        if not (signal_close > 0 and last_price > 0):
            return f"no last price or signal close for {intent.symbol} to check the price deviation against"
        moved = abs(last_price / signal_close - 1.0) * 100.0
        if moved > dev:
            return (f"last price {_fmt(last_price)} is {moved:.2f}% from the signal's close {_fmt(signal_close)}: "
                    f"above live.max_price_deviation_pct {_fmt(dev)}")
    if intent.side == "buy":
        cap = settings.max_order_notional
        if cap is not None and notional > cap:
            return f"order notional {_fmt(notional)} above live.max_order_notional {_fmt(cap)}"
        day = settings.max_daily_notional
        if day is not None and traded_today + notional > day:
            return (f"daily notional {_fmt(traded_today)} + {_fmt(notional)} would pass live.max_daily_notional "
                    f"{_fmt(day)}")
    return None


@dataclass(frozen=True)
class KillState:
    """Whether an account is stopped, why, whether its stop flattens, since when (ms) and by
    what (``command``, ``file``)."""

    stopped: bool
    reason: str | None
    flatten: bool
    since_ms: int | None
    by: str | None = None


RUNNING = KillState(False, None, False, None, None)


def kill_state(ctx: Context, session: Any, account_id: int) -> KillState:
    """The account's kill switch: the ``live_switches`` row (``tradebot live stop``), then
    the kill file (``live.kill_file``, ``{account}`` replaced by the account's name)."""
    from tradebot.data.live_guard_models import LiveSwitch
    from tradebot.data.portfolio_models import PortfolioAccount

    row = session.get(LiveSwitch, int(account_id))
    if row is not None and row.stopped:
        return KillState(True, row.reason, bool(row.flatten), int(row.since_ms), row.by)
    acct = session.get(PortfolioAccount, int(account_id))
    name = acct.name if acct is not None else str(account_id)
    path = ctx.settings.live.kill_path(ctx.home, name)
    if path is not None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return RUNNING
        except OSError as e:  # unreadable: stopped, to be safe
            return KillState(True, f"kill file {path} cannot be read ({e.strerror or e})",
                             ctx.settings.live.flatten_on_kill, int(time.time() * 1000), "file")
        return KillState(True, f"kill file {path} exists", ctx.settings.live.flatten_on_kill,
                         int(st.st_mtime * 1000), "file")
    return RUNNING


def _summary(kind: str, detail: dict[str, Any]) -> str:
    """One line for a notification from an event's detail (known keys first)."""
    if detail.get("summary"):
        return str(detail["summary"])
    parts = []
    side, symbol = detail.get("side"), detail.get("symbol")
    if side and symbol:
        amount = detail.get("amount")
        head = f"{str(side).upper()} {'' if amount is None else _fmt(float(amount)) + ' '}{symbol}"
        if detail.get("price") is not None:
            head += f" at {_fmt(float(detail['price']))}"
        if detail.get("fee_cost") and detail.get("fee_currency"):
            head += f" (fee {_fmt(float(detail['fee_cost']))} {detail['fee_currency']})"
        parts.append(("dry run: " if detail.get("dry_run") else "") + head)
    for key in ("reason", "error", "note"):
        if detail.get(key):
            parts.append(str(detail[key]))
    if detail.get("client_order_id"):
        parts.append(f"({detail['client_order_id']})")
    if not parts:
        parts = [f"{k}={v}" for k, v in sorted(detail.items()) if isinstance(v, str | int | float | bool)][:6]
    return " ".join(parts) or kind


def notify_live(ctx: Context, account: str, kind: str, detail: dict[str, Any]) -> None:
    """Send a ``live_<kind>`` notification (``kind``: one of :data:`LIVE_KINDS`) through the
    configured channels and rules. Never raises: a failed delivery is logged."""
    from tradebot.core.events import EVENT_TYPES

    full = kind if kind.startswith("live_") else f"live_{kind}"
    cls = EVENT_TYPES.get(full)
    if cls is None:
        raise ValueError(f"unknown live notification kind {kind!r} (expected one of {', '.join(LIVE_KINDS)})")
    try:
        from tradebot.notify import build_notifier

        notifier = build_notifier(ctx.settings.notify)
        report = notifier.send(cls(account, _summary(kind, detail), int(detail.get("ts_ms") or time.time() * 1000)))
        for name, why in report.failed.items():
            log.warning("live %s: notification %s to %s failed: %s", account, full, name, why)
    except Exception as e:  # a notification never stops the rails
        log.warning("live %s: notification %s failed: %s", account, full, type(e).__name__)


def stop_account(ctx: Context, account: str, exchange: Any, *, flatten: bool = False, reason: str | None = None,
                 by: str = "command", now_ms: int | None = None, locked: bool = False) -> Any:
    """Stop ``account`` (see :func:`tradebot.services.live_kill.stop_account`)."""
    from tradebot.services import live_kill

    return live_kill.stop_account(ctx, account, exchange, flatten=flatten, reason=reason, by=by, now_ms=now_ms,
                                  locked=locked)


def enforce_kill(ctx: Context, account: str, exchange: Any, *, locked: bool = False) -> KillState:
    """The kill state for a run about to trade; a kill file no stop has handled yet stops
    the account now (cancels its orders, flattens when ``live.flatten_on_kill``). A live run
    calls it with ``locked=True`` (it holds the account's lock); see
    :func:`tradebot.services.live_kill.enforce_kill`."""
    from tradebot.services import live_kill

    return live_kill.enforce_kill(ctx, account, exchange, locked=locked)


def resume_account(ctx: Context, account: str, *, now_ms: int | None = None) -> Any:
    """Resume ``account`` (see :func:`tradebot.services.live_kill.resume_account`)."""
    from tradebot.services import live_kill

    return live_kill.resume_account(ctx, account, now_ms=now_ms)
