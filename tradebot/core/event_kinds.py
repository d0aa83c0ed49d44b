"""The names of the events a run can report (:mod:`tradebot.core.events` has the events
themselves): the settings validate ``[notify]`` rules against these without creating the
event classes (decision 0029: a cold start pays only for what it uses)."""

from __future__ import annotations

from typing import Literal, TypeAlias, get_args

EventKind: TypeAlias = Literal["order_filled", "trade_closed", "daily_summary", "risk_tripped", "run_failed",
                               "live_order_sent", "live_fill", "live_reject", "live_reconcile_difference",
                               "live_kill_switch", "live_error", "selector_switched"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)  # the same names, in order
#: Kinds that are always delivered, even during a channel's quiet hours.
CRITICAL_KINDS: frozenset[str] = frozenset({"risk_tripped", "run_failed", "live_reject",
                                            "live_reconcile_difference", "live_kill_switch", "live_error"})
