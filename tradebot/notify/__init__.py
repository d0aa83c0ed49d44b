"""Notifications: events, alert rules, Jinja2 templates, and the apprise notifier.

Use::

    notifier = build_notifier(settings.notify)    # NullNotifier when nothing is configured
    report = notifier.send(TradeClosed(...))       # never raises; report.failed says what broke
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradebot.core.events import (
    CRITICAL_KINDS,
    EVENT_KINDS,
    DailySummary,
    Event,
    OrderFilled,
    RiskTripped,
    RunFailed,
    TradeClosed,
)
from tradebot.core.notify_config import ChannelConfig, NotifyConfig, RulesConfig
from tradebot.notify.port import ChannelResult, DeliveryReport, Notifier, NullNotifier
from tradebot.notify.rules import threshold_alerts

if TYPE_CHECKING:
    from tradebot.notify.rules import Clock

__all__ = [
    "CRITICAL_KINDS",
    "EVENT_KINDS",
    "ChannelConfig",
    "ChannelResult",
    "DailySummary",
    "DeliveryReport",
    "Event",
    "Notifier",
    "NotifyConfig",
    "NullNotifier",
    "OrderFilled",
    "RiskTripped",
    "RulesConfig",
    "RunFailed",
    "TradeClosed",
    "build_notifier",
    "threshold_alerts",
]


def build_notifier(config: NotifyConfig | None, clock: Clock | None = None) -> Notifier:
    """The notifier for ``config``: apprise when channels are configured, else a no-op.

    apprise is imported only here, so runs without notifications do not pay for it.
    """
    if config is None or not config.channels:
        return NullNotifier()
    from tradebot.notify.apprise_notifier import AppriseNotifier
    from tradebot.notify.rules import utc_now

    return AppriseNotifier(config, clock=clock or utc_now)
