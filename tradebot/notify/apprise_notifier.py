"""The apprise adapter of the :class:`~tradebot.notify.port.Notifier` port.

One ``apprise.Apprise`` object per channel, so a dead channel cannot hide the others.
``send`` never raises: a failing channel is logged (masked) and reported. Apprise's own
log records are captured while it works (they may quote parts of a URL), scrubbed of the
URL's secrets, and used as the failure reason; they do not reach the application's logs.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tradebot.core.events import Event
from tradebot.core.notify_config import ChannelConfig, NotifyConfig
from tradebot.notify.port import ChannelResult, DeliveryReport
from tradebot.notify.rules import Clock, skip_reason, utc_now
from tradebot.notify.templates import Templates

__all__ = ["AppriseNotifier", "mask_apprise_url"]

log = logging.getLogger("tradebot.notify")
_APPRISE_LOCK = threading.Lock()  # apprise's logger is global; one delivery at a time
_MASK = "***"


def _host_like(host: str) -> bool:
    """A real host name or IP address (not a token sitting in the host slot)."""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        labels = host.split(".")
        return len(labels) >= 2 and labels[-1].isalpha() and all(labels)


def mask_apprise_url(url: str) -> str:
    """``json://u:tok@example.com:8080/x?k=v`` -> ``json://example.com:8080``.

    Only the scheme and a real host name or IP address are shown; many apprise URLs carry a
    token where the host goes (``tgram://TOKEN/CHAT``), which is shown as ``***``.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        return _MASK
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{scheme}://{_MASK}"
    if not _host_like(host):
        return f"{scheme}://{_MASK}"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def _secret_fragments(url: str) -> list[str]:
    """Pieces of ``url`` that may be secret, longest first (for scrubbing free text)."""
    frags = {url}
    try:
        parts = urlsplit(url)
        frags.update(x for x in (parts.username, parts.password) if x)
        if parts.hostname and not _host_like(parts.hostname):
            frags.add(parts.hostname)
        frags.update(seg for seg in parts.path.split("/") if seg)
        frags.update(v for _, v in parse_qsl(parts.query) if v)
        frags.add(parts.netloc.rpartition("@")[0])
    except ValueError:
        frags.update(seg for seg in url.split("://", 1)[-1].split("/") if seg)
    frags |= {unquote(f) for f in frags}
    return sorted((f for f in frags if len(f) >= 3), key=len, reverse=True)


def _scrub(text: str, fragments: list[str]) -> str:
    for frag in fragments:
        text = text.replace(frag, _MASK)
    return text


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a malformed record must not break delivery
            self.messages.append(str(record.msg))


class _ScrubFilter(logging.Filter):
    """Removes a URL's secrets from records of the HTTP libraries apprise uses (they log paths)."""

    def __init__(self, fragments: list[str]):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg, record.args = _scrub(record.getMessage(), self.fragments), None
        except Exception:
            return False
        return True


_HTTP_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests", "httpx", "httpcore")


@contextmanager
def _apprise_logs(fragments: list[str]) -> Iterator[_Capture]:
    logger = logging.getLogger("apprise")
    capture = _Capture()
    scrub = _ScrubFilter(fragments)
    with _APPRISE_LOCK:
        propagate = logger.propagate
        logger.addHandler(capture)
        logger.propagate = False
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(scrub)
        try:
            yield capture
        finally:
            for name in _HTTP_LOGGERS:
                logging.getLogger(name).removeFilter(scrub)
            logger.removeHandler(capture)
            logger.propagate = propagate


@dataclass
class _Channel:
    name: str
    config: ChannelConfig
    masked: str
    fragments: list[str]
    apprise: Any | None  # apprise.Apprise, None when the URL was rejected
    error: str = ""


class AppriseNotifier:
    """Sends events to the channels of a :class:`NotifyConfig` through apprise."""

    def __init__(self, config: NotifyConfig, clock: Clock = utc_now, templates: Templates | None = None):
        self.config = config
        self.clock = clock
        self.templates = templates or Templates(config.templates_dir)
        self.channels = {name: self._build(name, ch) for name, ch in config.channels.items()}

    def _build(self, name: str, channel: ChannelConfig) -> _Channel:
        import apprise

        url = channel.url.get_secret_value()
        entry = _Channel(name, channel, mask_apprise_url(url), _secret_fragments(url), None)
        with _apprise_logs(entry.fragments) as capture:
            plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            why = _scrub("; ".join(capture.messages), entry.fragments) or "unsupported or malformed"
            entry.error = f"invalid apprise URL ({why})"
            log.warning("notify: channel %s (%s): %s", name, entry.masked, entry.error)
            return entry
        plugin.socket_connect_timeout = self.config.timeout_s
        plugin.socket_read_timeout = self.config.timeout_s
        entry.apprise = apprise.Apprise()
        entry.apprise.add(plugin)
        return entry

    @property
    def config_errors(self) -> dict[str, str]:
        """Channels whose URL apprise rejected: name -> reason (secret-free)."""
        return {c.name: c.error for c in self.channels.values() if c.error}

    def send(self, event: Event) -> DeliveryReport:
        """Deliver ``event`` to every channel whose rules accept it. Never raises."""
        try:
            now = self.clock()
            wanted: list[_Channel] = []
            results: list[ChannelResult] = []
            for ch in self.channels.values():
                reason = skip_reason(ch.config, event, now)
                if reason is None:
                    wanted.append(ch)
                else:
                    results.append(ChannelResult(ch.name, ch.masked, "skipped", reason))
            if wanted:
                title, body = self.templates.render(event)
                results.extend(self.deliver(ch.name, title, body, _notify_type(event.kind)) for ch in wanted)
            return DeliveryReport(event.kind, tuple(results))
        except Exception as e:  # a notification must never break a run
            log.error("notify: %s not delivered: %s", event.kind, type(e).__name__)
            failed = tuple(ChannelResult(c.name, c.masked, "failed", f"internal error: {type(e).__name__}")
                           for c in self.channels.values())
            return DeliveryReport(event.kind, failed)

    def deliver(self, name: str, title: str, body: str, notify_type: str = "info") -> ChannelResult:
        """Send one message to channel ``name``. Never raises."""
        ch = self.channels[name]
        if ch.apprise is None:
            return ChannelResult(name, ch.masked, "failed", ch.error)
        ok = False
        detail = ""
        with _apprise_logs(ch.fragments) as capture:
            try:
                ok = bool(ch.apprise.notify(title=title, body=body, notify_type=notify_type, body_format="text"))
            except Exception as e:  # apprise plugins may raise on odd input
                detail = type(e).__name__
        if ok:
            log.info("notify: %s -> %s (%s) sent", title[:60], name, ch.masked)
            return ChannelResult(name, ch.masked, "sent")
        reason = _scrub("; ".join(m for m in [*capture.messages, detail] if m), ch.fragments) or "delivery failed"
        log.warning("notify: channel %s (%s) failed: %s", name, ch.masked, reason)
        return ChannelResult(name, ch.masked, "failed", reason)


def _notify_type(kind: str) -> str:
    return {"run_failed": "failure", "risk_tripped": "warning", "live_error": "failure",
            "live_reject": "warning", "live_reconcile_difference": "failure",
            "live_kill_switch": "warning"}.get(kind, "info")
