"""The notifier port: what a run calls, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from tradebot.core.events import Event

__all__ = ["ChannelResult", "DeliveryReport", "Notifier", "NullNotifier"]

Status = Literal["sent", "failed", "skipped"]


@dataclass(frozen=True)
class ChannelResult:
    """One channel's outcome. ``url`` is masked (scheme and host only); ``reason`` is secret-free."""

    channel: str
    url: str
    status: Status
    reason: str = ""


@dataclass(frozen=True)
class DeliveryReport:
    """Which channels got an event, which failed and why, which skipped it (rules)."""

    kind: str
    results: tuple[ChannelResult, ...] = field(default_factory=tuple)

    def _names(self, status: Status) -> list[str]:
        return [r.channel for r in self.results if r.status == status]

    @property
    def sent(self) -> list[str]:
        return self._names("sent")

    @property
    def failed(self) -> dict[str, str]:
        return {r.channel: r.reason for r in self.results if r.status == "failed"}

    @property
    def skipped(self) -> dict[str, str]:
        return {r.channel: r.reason for r in self.results if r.status == "skipped"}

    @property
    def ok(self) -> bool:
        """No channel failed (skipped ones do not count)."""
        return not self.failed


@runtime_checkable
class Notifier(Protocol):
    """Delivers events. ``send`` never raises: failures are logged and in the report."""

    def send(self, event: Event) -> DeliveryReport: ...


class NullNotifier:
    """No channels configured: every event goes nowhere."""

    def send(self, event: Event) -> DeliveryReport:
        return DeliveryReport(event.kind)
