"""The live order state machine: states, the transitions allowed between them, and the
deterministic client order id of an intent.

Every order the engine wants is first an *intent* (account, symbol, bar, intent name). Its
client order id is a pure function of those (:func:`client_order_id`), so a restarted
process computes the same id and can ask the exchange whether that intent was already
sent. A record (:class:`OrderRecord`) is written *before* each step that talks to the
exchange (write-ahead): ``intended`` before anything, ``sent`` before the request leaves.

::

    intended ──► sent ──► acknowledged ──► partially_filled ──► filled
       │          │  ╲          │                │  ╲
       │          │   ╲         └──► cancelled ◄─┘   └──► expired
       │          │    ╲─► unknown (answer lost) ──► (any exchange state, or sent again)
       └──► rejected ◄──┘

* ``intended``: stored, not sent. May become ``sent``, or ``rejected`` when it is refused
  before sending (market rules, limits) — the reason is kept.
* ``sent``: the request may have left. The exchange's answer moves it on; a timeout, a
  dropped connection or a lost answer makes it ``unknown``.
* ``unknown``: sent, fate not known. A lookup by client id adopts whatever the exchange
  has; ``unknown -> sent`` (sending again, same client id) only once the exchange can no
  longer accept the earlier request (its receive window has passed, see
  :func:`tradebot.engine.orders.submit_or_adopt`).
* ``filled``, ``cancelled``, ``rejected``, ``expired`` are terminal. The filled amount
  never goes down; ``partially_filled -> partially_filled`` is legal when it goes up.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tradebot.core.errors import OrderStateError, UsageError

__all__ = [
    "CLIENT_ID_MAX",
    "TERMINAL",
    "TRANSITIONS",
    "OrderRecord",
    "OrderState",
    "client_order_id",
    "state_from_exchange",
]

CLIENT_ID_MAX = 36  # Binance: ^[a-zA-Z0-9-_]{1,36}$
_CLIENT_ID = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")


class OrderState(StrEnum):
    INTENDED = "intended"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


S = OrderState
TERMINAL = frozenset({S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
_EXCHANGE_STATES = frozenset({S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
#: state -> the states it may move to
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.INTENDED: frozenset({S.SENT, S.REJECTED}),
    S.SENT: _EXCHANGE_STATES | {S.UNKNOWN},
    S.UNKNOWN: _EXCHANGE_STATES | {S.SENT},
    S.ACKNOWLEDGED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


def client_order_id(account: str, symbol: str, bar_ms: int, intent: str, *, prefix: str = "tb",
                    scope: str = "") -> str:
    """The client order id of an intent: ``<prefix>-<bar, base 36>-<hash>``, at most 36
    characters of ``[a-zA-Z0-9_-]``, the same for the same (account, symbol, bar, intent)
    in any process. The hash (80 bits of SHA-256) covers all four, so ids of other
    accounts, symbols or intents of the same bar differ; the bar in clear helps a human
    match an exchange order to a candle. ``scope`` (a random token stored with the account
    when it is created) is hashed in too, so two stores that each hold an account of the same
    name trading one exchange account never take each other's orders for their own."""
    if not account or not symbol or not intent:
        raise UsageError("a client order id needs an account, a symbol and an intent name")
    if not re.fullmatch(r"[a-zA-Z0-9]{1,6}", prefix):
        raise UsageError(f"invalid client order id prefix {prefix!r}: 1 to 6 letters or digits")
    if bar_ms < 0:
        raise UsageError(f"invalid bar time {bar_ms}: expected milliseconds since the epoch")
    key = f"{account}\x1f{symbol}\x1f{int(bar_ms)}\x1f{intent}"
    digest = hashlib.sha256((f"{scope}\x1e{key}" if scope else key).encode()).hexdigest()[:20]
    cid = f"{prefix}-{_base36(int(bar_ms) // 1000)}-{digest}"
    assert len(cid) <= CLIENT_ID_MAX and _CLIENT_ID.match(cid), cid
    return cid


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def state_from_exchange(status: str, filled: float) -> OrderState:
    """The state of an order as the exchange reports it (ccxt's unified ``status``)."""
    s = (status or "").lower()
    if s in ("open", "new", "partially_filled"):
        return S.PARTIALLY_FILLED if filled > 0 else S.ACKNOWLEDGED
    if s in ("closed", "filled"):
        return S.FILLED
    if s in ("canceled", "cancelled"):
        return S.CANCELLED
    if s in ("expired",):
        return S.EXPIRED
    if s in ("rejected",):
        return S.REJECTED
    raise OrderStateError(f"unknown exchange order status {status!r}")


@dataclass(frozen=True)
class Transition:
    source: OrderState
    target: OrderState
    at_ms: int
    note: str = ""


@dataclass(frozen=True)
class OrderRecord:
    """One intent and what became of it (the write-ahead row).

    ``amount``/``price`` are what was intended (after the market's rounding);
    ``filled``/``average`` what the exchange reports; ``attempts`` how many times a
    request left; ``history`` every transition with its time and note."""

    client_order_id: str
    account: str
    symbol: str
    bar_ms: int
    intent: str
    side: str
    type: str
    amount: float
    price: float | None
    state: OrderState = S.INTENDED
    created_ms: int = 0
    updated_ms: int = 0
    exchange_order_id: str | None = None
    filled: float = 0.0
    average: float | None = None
    fees: tuple[tuple[str, float], ...] = ()
    attempts: int = 0
    sent_ms: int | None = None
    reason: str | None = None
    history: tuple[Transition, ...] = field(default=(), compare=False)

    @classmethod
    def intend(cls, account: str, symbol: str, bar_ms: int, intent: str, side: str, type: str, amount: float,
               price: float | None, now_ms: int, *, scope: str = "") -> OrderRecord:
        if side not in ("buy", "sell"):
            raise UsageError(f"invalid order side {side!r}: expected buy or sell")
        if type not in ("market", "limit"):
            raise UsageError(f"invalid order type {type!r}: expected market or limit")
        if not amount > 0:
            raise UsageError(f"invalid order amount {amount!r}: expected a positive number")
        if type == "limit" and not (price is not None and price > 0):
            raise UsageError(f"a limit order needs a positive price, got {price!r}")
        return cls(client_order_id(account, symbol, bar_ms, intent, scope=scope), account, symbol, int(bar_ms),
                   intent, side, type, float(amount), None if price is None else float(price), S.INTENDED, now_ms,
                   now_ms)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def can_move_to(self, target: OrderState) -> bool:
        return target in TRANSITIONS[self.state]

    def move(self, target: OrderState, at_ms: int, note: str = "", **changes: Any) -> OrderRecord:
        """A copy in ``target`` (with ``changes``), or :class:`OrderStateError` for a move
        the machine does not allow (including a filled amount that goes down)."""
        target = OrderState(target)
        if not self.can_move_to(target):
            raise OrderStateError(
                f"order {self.client_order_id}: illegal transition {self.state.value} -> {target.value}")
        filled = changes.get("filled", self.filled)
        if filled < self.filled - 1e-12:
            raise OrderStateError(
                f"order {self.client_order_id}: filled amount cannot go down ({self.filled} -> {filled})")
        if target == S.PARTIALLY_FILLED and self.state == S.PARTIALLY_FILLED and not filled > self.filled:
            raise OrderStateError(f"order {self.client_order_id}: partially_filled again without a new fill")
        step = Transition(self.state, target, int(at_ms), note)
        return replace(self, state=target, updated_ms=int(at_ms), history=self.history + (step,), **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the stored form)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "history"}
        out["state"] = self.state.value
        out["fees"] = [list(f) for f in self.fees]
        out["history"] = [[t.source.value, t.target.value, t.at_ms, t.note] for t in self.history]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderRecord:
        values = dict(data)
        values["state"] = OrderState(values["state"])
        values["fees"] = tuple((str(c), float(a)) for c, a in values.get("fees") or ())
        values["history"] = tuple(Transition(OrderState(a), OrderState(b), int(t), str(n))
                                  for a, b, t, n in values.get("history") or ())
        return cls(**values)
