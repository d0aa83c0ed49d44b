"""Notifications delivered through apprise to real local HTTP and SMTP receivers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tradebot.cli import notify as notify_cli
from tradebot.core.events import OrderFilled, sample_event
from tradebot.core.notify_config import ChannelConfig
from tradebot.notify import (
    EVENT_KINDS,
    DailySummary,
    NotifyConfig,
    NullNotifier,
    RiskTripped,
    RulesConfig,
    RunFailed,
    TradeClosed,
    build_notifier,
    threshold_alerts,
)
from tradebot.notify.apprise_notifier import AppriseNotifier, mask_apprise_url
from tradebot.notify.rules import in_quiet_hours, skip_reason
from tradebot.notify.templates import TemplateConfigError, Templates

from .conftest import HttpReceiver, SmtpReceiver, free_port

TS = 1_704_110_400_000  # 2024-01-01T12:00:00Z
WIN = TradeClosed("demo", "BTC/USDT", "long", 42_000.0, 43_000.0, 12.5, 2.38, "take_profit", TS)
SMALL = TradeClosed("demo", "BTC/USDT", "long", 42_000.0, 42_010.0, 0.4, 0.02, "signal", TS)
RISK = RiskTripped("demo", "max_drawdown", "drawdown 11% above 10%", TS)
NOON = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2024, 1, 1, 23, 30, tzinfo=UTC)


def cfg(channels: dict[str, dict[str, object]], **kw: object) -> NotifyConfig:
    return NotifyConfig.model_validate({"channels": channels, "timeout_s": 3, **kw})


def notifier(config: NotifyConfig, now: datetime = NOON) -> AppriseNotifier:
    return AppriseNotifier(config, clock=lambda: now)


# ------------------------------------------------------------------ delivery


def test_json_channel_receives_rendered_message(http_receiver: HttpReceiver) -> None:
    config = cfg({"hook": {"url": http_receiver.url("/hook")}})
    report = notifier(config).send(WIN)
    assert report.sent == ["hook"] and report.ok
    [req] = http_receiver.requests
    assert req.path == "/hook"
    payload = req.json()
    title, body = Templates().render_default(WIN)
    assert payload["title"] == title == "[demo] BTC/USDT long closed: +12.50"
    assert payload["message"] == body
    assert "42000.0 -> 43000.0" in body and "take_profit" in body


def test_form_channel(http_receiver: HttpReceiver) -> None:
    report = notifier(cfg({"form": {"url": http_receiver.url("/f", scheme="form")}})).send(RISK)
    assert report.sent == ["form"]
    assert b"max_drawdown" in http_receiver.requests[0].body


def test_email_channel_receives_subject(smtp_receiver: SmtpReceiver) -> None:
    report = notifier(cfg({"mail": {"url": smtp_receiver.url()}})).send(RISK)
    assert report.sent == ["mail"], report
    [msg] = smtp_receiver.messages
    assert msg["Subject"] == "[demo] RISK: max_drawdown tripped"
    assert smtp_receiver.envelopes[0] == ("bot@example.com", ["ops@example.com"])
    assert smtp_receiver.logins == ["bot"]
    text = msg.get_payload(decode=True) if not msg.is_multipart() else msg.get_payload(0).get_payload(decode=True)
    assert b"drawdown 11% above 10%" in text


def test_dead_channel_is_reported_and_others_still_delivered(
    http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver
) -> None:
    dead = f"json://127.0.0.1:{free_port()}/x"
    config = cfg({"dead": {"url": dead}, "hook": {"url": http_receiver.url()}, "mail": {"url": smtp_receiver.url()}})
    report = notifier(config).send(WIN)  # must not raise
    assert sorted(report.sent) == ["hook", "mail"]
    assert list(report.failed) == ["dead"] and report.failed["dead"]
    assert not report.ok
    assert len(http_receiver.requests) == 1 and len(smtp_receiver.messages) == 1


def test_invalid_url_is_a_failed_channel_not_an_exception(http_receiver: HttpReceiver) -> None:
    n = notifier(cfg({"bad": {"url": "nosuchscheme://whatever/tok"}, "hook": {"url": http_receiver.url()}}))
    assert "bad" in n.config_errors and "invalid apprise URL" in n.config_errors["bad"]
    report = n.send(RISK)
    assert report.sent == ["hook"] and "invalid apprise URL" in report.failed["bad"]


def test_build_notifier_without_channels_is_a_noop() -> None:
    assert isinstance(build_notifier(None), NullNotifier)
    assert build_notifier(NotifyConfig()).send(RISK).results == ()


# ------------------------------------------------------------------ rules


def test_event_filter_and_min_pnl(http_receiver: HttpReceiver) -> None:
    config = cfg({
        "trades": {"url": http_receiver.url("/trades"), "events": ["trade_closed"], "min_pnl_abs": 5},
        "risk": {"url": http_receiver.url("/risk"), "events": ["risk_tripped", "run_failed"]},
    })
    n = notifier(config)
    big, small, risk = n.send(WIN), n.send(SMALL), n.send(RISK)
    assert big.sent == ["trades"] and "not in this channel's events" in big.skipped["risk"]
    assert small.sent == [] and "below min_pnl_abs" in small.skipped["trades"]
    assert risk.sent == ["risk"]
    loss = TradeClosed("demo", "BTC/USDT", "short", 1.0, 1.1, -7.0, -10.0, "stop_loss", TS)
    assert n.send(loss).sent == ["trades"]  # |pnl| counts losses too
    assert [r.path for r in http_receiver.requests] == ["/trades", "/risk", "/trades"]


def test_quiet_hours_suppress_only_non_critical(http_receiver: HttpReceiver) -> None:
    config = cfg({"phone": {"url": http_receiver.url(), "quiet_hours": "22:00-07:00"}})
    night = notifier(config, MIDNIGHT)
    assert "quiet hours" in night.send(WIN).skipped["phone"]
    summary = DailySummary("demo", "2024-01-01", 3.0, 5.0, False, 10_003.0, 2)
    assert night.send(summary).sent == []
    assert night.send(RISK).sent == ["phone"]
    assert night.send(RunFailed("demo", "paper", "boom", TS)).sent == ["phone"]
    assert notifier(config, NOON).send(WIN).sent == ["phone"]
    assert len(http_receiver.requests) == 3


def test_quiet_hours_window_and_time_zone() -> None:
    assert in_quiet_hours("22:00-07:00", "UTC", datetime(2024, 1, 1, 22, 0, tzinfo=UTC))
    assert in_quiet_hours("22:00-07:00", "UTC", datetime(2024, 1, 1, 6, 59, tzinfo=UTC))
    assert not in_quiet_hours("22:00-07:00", "UTC", datetime(2024, 1, 1, 7, 0, tzinfo=UTC))
    assert in_quiet_hours("01:00-03:00", "UTC", datetime(2024, 1, 1, 2, 0))  # naive = UTC
    assert not in_quiet_hours(None, "UTC", MIDNIGHT)
    # 21:30 UTC is 22:30 in Berlin (winter)
    assert in_quiet_hours("22:00-07:00", "Europe/Berlin", datetime(2024, 1, 1, 21, 30, tzinfo=UTC))
    ch = ChannelConfig.model_validate({"url": "json://localhost/x", "quiet_hours": "22:00-07:00",
                                       "tz": "Europe/Berlin"})
    assert skip_reason(ch, WIN, datetime(2024, 1, 1, 21, 30, tzinfo=UTC)) is not None


@pytest.mark.parametrize("bad", [{"quiet_hours": "22-07"}, {"quiet_hours": "25:00-07:00"}, {"tz": "Mars/Base"},
                                 {"events": ["trade_opened"]}, {"min_pnl_abs": -1}, {"colour": "red"},
                                 {"url": "not a url"}])
def test_channel_config_rejects_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ChannelConfig.model_validate({"url": "json://localhost/x", **bad})


def test_threshold_alerts() -> None:
    rules = RulesConfig(drawdown_above_pct=10, loss_above=50)
    assert threshold_alerts(rules, "demo", 9_500, 10_000, -20, TS) == []
    alerts = threshold_alerts(rules, "demo", 8_900, 10_000, -60, TS)
    assert [a.rule for a in alerts] == ["drawdown_above_pct", "loss_above"]
    assert "11.00%" in alerts[0].detail and all(a.kind == "risk_tripped" for a in alerts)
    assert threshold_alerts(RulesConfig(), "demo", 1, 10_000, -1e9, TS) == []


# ------------------------------------------------------------------ templates


@pytest.mark.parametrize("kind", EVENT_KINDS)
def test_default_templates_render_every_event(kind: str) -> None:
    title, body = Templates().render(sample_event(kind))
    assert title and body and "\n" not in title
    assert "demo" in title


def test_user_template_overrides_default(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    (tmp_path / "trade_closed.j2").write_text("{{ symbol }} {{ '%+.1f'|format(pnl) }} USDT\nvia {{ exit_reason }}\n")
    config = cfg({"hook": {"url": http_receiver.url()}}, templates_dir=str(tmp_path))
    Templates(tmp_path).check()
    n = notifier(config)
    assert n.send(WIN).sent == ["hook"]
    assert n.send(RISK).sent == ["hook"]  # no override for risk_tripped: default
    first, second = (r.json() for r in http_receiver.requests)
    assert (first["title"], first["message"]) == ("BTC/USDT +12.5 USDT", "via take_profit")
    assert second["title"] == "[demo] RISK: max_drawdown tripped"


@pytest.mark.parametrize("text, expect", [
    ("{{ symbol }\n", "line 1"),                        # syntax error
    ("{{ no_such_field }}\nbody\n", "no_such_field"),   # StrictUndefined
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}\n", "SecurityError"),  # sandbox
    ("\n\n", "empty title"),
])
def test_broken_user_template(tmp_path: Path, http_receiver: HttpReceiver, caplog: pytest.LogCaptureFixture,
                              text: str, expect: str) -> None:
    path = tmp_path / "trade_closed.j2"
    path.write_text(text)
    with pytest.raises(TemplateConfigError) as info:
        Templates(tmp_path).check()
    assert str(path) in str(info.value) and expect in str(info.value)
    # at run time: logged, default used, message still delivered
    caplog.set_level(logging.WARNING, logger="tradebot.notify")
    report = notifier(cfg({"hook": {"url": http_receiver.url()}}, templates_dir=str(tmp_path))).send(WIN)
    assert report.sent == ["hook"]
    assert http_receiver.requests[0].json()["title"] == Templates().render_default(WIN)[0]
    assert str(path) in caplog.text and "using the default template" in caplog.text


def test_unknown_template_name_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "_macros.j2").write_text("{% macro x() %}x{% endmacro %}")
    Templates(tmp_path).check()  # partials are fine
    (tmp_path / "trade_close.j2").write_text("x\n")
    with pytest.raises(TemplateConfigError, match="trade_close.j2.*unknown event kind"):
        Templates(tmp_path).check()
    with pytest.raises(TemplateConfigError, match="not a directory"):
        Templates(tmp_path / "missing").check()


# ------------------------------------------------------------------ secrets


def test_mask_apprise_url() -> None:
    assert mask_apprise_url("json://u:pw@127.0.0.1:8080/x?token=abc") == "json://127.0.0.1:8080"
    assert mask_apprise_url("mailtos://me:pw@smtp.example.com?to=a@b.c") == "mailtos://smtp.example.com"
    assert mask_apprise_url("tgram://123456789:AAbbCCdd/987654") == "tgram://***"
    assert mask_apprise_url("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js") == "discord://***"
    assert mask_apprise_url("garbage") == "***"


def test_secrets_never_in_logs_or_reports(
    http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = ["hunter2pw", "tok3nABCDEF", "mailpw9876", "qsecret55"]
    dead = f"json://alice:hunter2pw@127.0.0.1:{free_port()}/hooks/tok3nABCDEF?key=qsecret55"
    config = cfg({
        "dead": {"url": dead},
        "hook": {"url": http_receiver.url("/hooks/tok3nABCDEF").replace("json://", "json://bob:hunter2pw@")},
        "mail": {"url": smtp_receiver.url(password="mailpw9876")},
        "bogus": {"url": "nosuchscheme://tok3nABCDEF/qsecret55"},
    })
    n = notifier(config)
    report = n.send(RISK)
    assert sorted(report.sent) == ["hook", "mail"] and sorted(report.failed) == ["bogus", "dead"]
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))  # receiver's
    texts = [logged, repr(report), repr(config), str(config.model_dump()), *n.config_errors.values()]
    for secret in secrets:
        for text in texts:
            assert secret not in text
    assert "json://127.0.0.1" in caplog.text  # masked URL is logged


# ------------------------------------------------------------------ notify test


def test_notify_test_run_ok_and_failed(http_receiver: HttpReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    ok = cfg({"hook": {"url": http_receiver.url("/t")}})
    notify_cli.run(ok)
    assert "hook: OK" in capsys.readouterr().out
    assert http_receiver.requests[0].json()["title"] == notify_cli.TEST_TITLE
    mixed = cfg({"hook": {"url": http_receiver.url()}, "dead": {"url": f"json://u:pw999@127.0.0.1:{free_port()}/"}})
    with pytest.raises(typer.Exit) as info:
        notify_cli.run(mixed)
    out = capsys.readouterr().out
    assert info.value.exit_code == 1
    assert "hook: OK" in out and "dead: FAILED  json://127.0.0.1:" in out and "pw999" not in out
    notify_cli.run(mixed, "hook")  # only the named channel


def test_notify_test_config_errors(tmp_path: Path, http_receiver: HttpReceiver,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "daily_summary.j2").write_text("{% if %}\n")
    with pytest.raises(typer.Exit) as info:
        notify_cli.run(cfg({"hook": {"url": http_receiver.url()}}, templates_dir=str(tmp_path)))
    assert info.value.exit_code == 2 and "daily_summary.j2" in capsys.readouterr().err
    with pytest.raises(typer.Exit) as info:
        notify_cli.run(cfg({"bad": {"url": "nosuchscheme://x"}}))
    assert info.value.exit_code == 2 and "notify.channels.bad.url" in capsys.readouterr().err
    assert http_receiver.requests == []




def _invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("TRADEBOT_HOME", str(tmp_path / "home"))
    config = tmp_path / "config.toml"
    config.write_text(toml)
    result = CliRunner().invoke(notify_cli.app, ["test", "--config", str(config), *args])
    return result.exit_code, result.output




def test_cli_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_receiver: HttpReceiver) -> None:
    code, out = _invoke(tmp_path, monkeypatch, "")
    assert code == 2 and "no notification channels configured" in out
    dead = f"json://127.0.0.1:{free_port()}/"
    toml = f'[notify.channels.hook]\nurl = "{http_receiver.url()}"\n[notify.channels.dead]\nurl = "{dead}"\n'
    code, out = _invoke(tmp_path, monkeypatch, toml, "--channel", "hook")
    assert code == 0 and "hook: OK" in out
    code, out = _invoke(tmp_path, monkeypatch, toml)
    assert code == 1 and "dead: FAILED" in out
    code, out = _invoke(tmp_path, monkeypatch, toml, "--channel", "nope")
    assert code == 2 and "unknown channel 'nope'" in out


def test_events_are_frozen_with_kind() -> None:
    fill = OrderFilled("demo", "BTC/USDT", "buy", 1.0, 2.0, 0.1, TS)
    assert [sample_event(k).kind for k in EVENT_KINDS] == list(EVENT_KINDS)
    with pytest.raises(AttributeError):
        fill.price = 3.0  # type: ignore[misc]
