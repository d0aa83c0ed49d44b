"""Alert rules: which event goes to which channel, and threshold alerts.

Per channel, an event is delivered unless (first match wins):

* its kind is not in ``channel.events``;
* it is a ``trade_closed`` with ``|pnl| < channel.min_pnl_abs``;
* it is not critical and ``now`` falls in ``channel.quiet_hours`` (in ``channel.tz``).

Critical kinds (``risk_tripped``, ``run_failed``) always pass quiet hours: a halted or
broken bot must wake you. ``daily_summary`` and ``order_filled`` have no threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from tradebot.core.events import CRITICAL_KINDS, Event, RiskTripped, TradeClosed
from tradebot.core.notify_config import ChannelConfig, RulesConfig, parse_quiet_hours

__all__ = ["Clock", "in_quiet_hours", "skip_reason", "threshold_alerts", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def in_quiet_hours(quiet_hours: str | None, tz: str, now: datetime) -> bool:
    """True when ``now`` (aware; naive is taken as UTC) is inside ``"HH:MM-HH:MM"`` in ``tz``.

    The window includes its start and excludes its end; it may wrap midnight
    (``22:00-07:00``). Equal start and end means no quiet hours.
    """
    if not quiet_hours:
        return False
    start, end = parse_quiet_hours(quiet_hours)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(ZoneInfo(tz))
    t = time(local.hour, local.minute, local.second)
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def skip_reason(channel: ChannelConfig, event: Event, now: datetime) -> str | None:
    """Why ``channel`` does not get ``event`` (None: it gets it)."""
    if event.kind not in channel.events:
        return f"{event.kind} not in this channel's events"
    if (
        isinstance(event, TradeClosed)
        and channel.min_pnl_abs is not None
        and abs(event.pnl) < channel.min_pnl_abs
    ):
        return f"|pnl| {abs(event.pnl):g} below min_pnl_abs {channel.min_pnl_abs:g}"
    if event.kind not in CRITICAL_KINDS and in_quiet_hours(channel.quiet_hours, channel.tz, now):
        return f"quiet hours {channel.quiet_hours} ({channel.tz})"
    return None


def threshold_alerts(
    rules: RulesConfig,
    account: str,
    equity: float,
    peak_equity: float,
    day_pnl: float,
    ts_ms: int,
) -> list[RiskTripped]:
    """``risk_tripped`` events for the thresholds in ``rules`` that the account has crossed.

    Stateless: the caller decides how often to check (e.g. once per run, and only alert
    when a rule newly trips) so a cron job does not repeat the same alert every run.
    """
    alerts: list[RiskTripped] = []
    if rules.drawdown_above_pct is not None and peak_equity > 0:
        drawdown = max(0.0, (peak_equity - equity) / peak_equity * 100.0)
        if drawdown >= rules.drawdown_above_pct:
            detail = f"drawdown {drawdown:.2f}% >= {rules.drawdown_above_pct:g}% (equity {equity:.2f})"
            alerts.append(RiskTripped(account, "drawdown_above_pct", detail, ts_ms))
    if rules.loss_above is not None and -day_pnl >= rules.loss_above:
        detail = f"daily loss {-day_pnl:.2f} >= {rules.loss_above:g}"
        alerts.append(RiskTripped(account, "loss_above", detail, ts_ms))
    return alerts
