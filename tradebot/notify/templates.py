"""Message templates: Jinja2 (sandboxed, StrictUndefined), one per event kind.

A template renders to text whose first line is the title and whose remaining lines are
the body. The variables are the event's fields plus ``kind``; filter ``ts`` turns
``ts_ms`` into ``YYYY-MM-DD HH:MM UTC``. A file ``<kind>.j2`` in ``templates_dir``
replaces the default for that kind; files starting with ``_`` may hold macros to import.

:meth:`Templates.check` raises :class:`TemplateConfigError` naming the file at fault
(used by ``tradebot notify test``); at run time :meth:`Templates.render` logs a broken
override (once per file) and falls back to the default so a notification still goes out.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from tradebot.core.errors import ConfigError
from tradebot.core.events import EVENT_KINDS, Event, event_fields, sample_event

__all__ = ["DEFAULT_TEMPLATES", "TemplateConfigError", "Templates"]

log = logging.getLogger("tradebot.notify")

DEFAULT_TEMPLATES: dict[str, str] = {
    "order_filled": (
        "[{{ account }}] {{ side|upper }} {{ symbol }} filled\n"
        "{{ side|upper }} {{ amount }} {{ symbol }} at {{ price }} (fee {{ fee }})\n"
        "{{ ts_ms|ts }}"
    ),
    "trade_closed": (
        "[{{ account }}] {{ symbol }} {{ direction }} closed: {{ '%+.2f'|format(pnl) }}\n"
        "{{ direction }} {{ symbol }}: {{ entry_price }} -> {{ exit_price }}, "
        "P&L {{ '%+.2f'|format(pnl) }} ({{ '%+.2f'|format(return_pct) }}%), exit: {{ exit_reason }}\n"
        "{{ ts_ms|ts }}"
    ),
    "daily_summary": (
        "[{{ account }}] {{ day }}: P&L {{ '%+.2f'|format(pnl) }} "
        "({{ 'target met' if target_met else 'below target' }})\n"
        "P&L {{ '%+.2f'|format(pnl) }} against a target of {{ '%.2f'|format(target) }}; "
        "equity {{ '%.2f'|format(equity) }}; {{ trades }} trade{{ '' if trades == 1 else 's' }}"
    ),
    "risk_tripped": (
        "[{{ account }}] RISK: {{ rule }} tripped\n"
        "{{ detail }}\n"
        "{{ ts_ms|ts }}"
    ),
    "run_failed": (
        "[{{ account }}] {{ command }} run FAILED\n"
        "{{ error }}\n"
        "{{ ts_ms|ts }}"
    ),
    "live_order_sent": "[{{ account }}] LIVE order sent\n{{ summary }}\n{{ ts_ms|ts }}",
    "live_fill": "[{{ account }}] LIVE fill\n{{ summary }}\n{{ ts_ms|ts }}",
    "live_reject": "[{{ account }}] LIVE order REFUSED\n{{ summary }}\n{{ ts_ms|ts }}",
    "live_reconcile_difference": (
        "[{{ account }}] LIVE reconciliation: trading STOPPED\n{{ summary }}\n{{ ts_ms|ts }}"
    ),
    "live_kill_switch": "[{{ account }}] LIVE kill switch\n{{ summary }}\n{{ ts_ms|ts }}",
    "live_error": "[{{ account }}] LIVE ERROR\n{{ summary }}\n{{ ts_ms|ts }}",
    "selector_switched": (
        "[{{ account }}] {{ symbol }}: now following {{ chosen }}\n"
        "window {{ window }}: switched from {{ previous }} to {{ chosen }}\n"
        "{{ ts_ms|ts }}"
    ),
}


class TemplateConfigError(ConfigError):
    """A user template cannot be loaded or rendered (the message names the file)."""


def _ts(value: int) -> str:
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _environment(loader: jinja2.BaseLoader) -> SandboxedEnvironment:
    env = SandboxedEnvironment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=False,
                               keep_trailing_newline=False)
    env.filters["ts"] = _ts
    return env


def _split(text: str) -> tuple[str, str]:
    title, _, body = text.strip().partition("\n")
    return title.strip(), body.strip()


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


class Templates:
    """Renders events to (title, body), user overrides first, package defaults behind."""

    def __init__(self, templates_dir: Path | None = None):
        self.templates_dir = templates_dir
        self._default = _environment(jinja2.DictLoader(DEFAULT_TEMPLATES))
        self._user = _environment(jinja2.FileSystemLoader(str(templates_dir))) if templates_dir else None
        self._warned: set[Path] = set()  # broken overrides already logged (once each)

    def override_path(self, kind: str) -> Path | None:
        """The user's file for ``kind`` if there is one."""
        if self.templates_dir is None:
            return None
        path = self.templates_dir / f"{kind}.j2"
        return path if path.is_file() else None

    def check(self) -> None:
        """Load and render every user override on a sample event; raise naming the first bad file."""
        if self.templates_dir is None:
            return
        if not self.templates_dir.is_dir():
            raise TemplateConfigError(f"notify.templates_dir {self.templates_dir}: not a directory")
        for path in sorted(self.templates_dir.glob("*.j2")):
            stem = path.stem
            if stem.startswith("_"):
                continue
            if stem not in EVENT_KINDS:
                raise TemplateConfigError(
                    f"template {path}: unknown event kind {stem!r} (expected one of {', '.join(EVENT_KINDS)}, "
                    "or a name starting with '_' for shared macros)"
                )
            try:
                title, _ = self._render_user(sample_event(stem))
            except Exception as e:
                raise TemplateConfigError(f"template {path}: {_describe(e)}") from None
            if not title:
                raise TemplateConfigError(f"template {path}: renders an empty title (the first line is the title)")

    def render(self, event: Event) -> tuple[str, str]:
        """(title, body) for ``event``; a broken override is logged and the default used."""
        path = self.override_path(event.kind)
        if path is not None:
            try:
                title, body = self._render_user(event)
                if title:
                    return title, body
                raise ValueError("empty title (the first line is the title)")
            except Exception as e:
                if path not in self._warned:
                    self._warned.add(path)
                    log.warning("notify: template %s failed (%s); using the default template", path,
                                _describe(e))
        return self.render_default(event)

    def render_default(self, event: Event) -> tuple[str, str]:
        return _split(self._default.get_template(event.kind).render(event_fields(event)))

    def _render_user(self, event: Event) -> tuple[str, str]:
        assert self._user is not None
        return _split(self._user.get_template(f"{event.kind}.j2").render(event_fields(event)))
