"""Monitoring: a scheduled account whose runs start failing sends exactly one alert per
incident and one recovery message (a local HTTP receiver counts them); errors are stored with
their context and listed by ``tradebot errors``; heartbeats and stale data open incidents."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ops.conftest import cache_market, paper_args, write_config


def _channel(receiver) -> str:  # type: ignore[no-untyped-def]
    return f'[notify.channels.ops]\nurl = "{receiver.url()}"\nevents = ["run_failed"]\n'


def _titles(receiver) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.json()["title"] for r in receiver.requests]


def test_failing_runs_alert_once_per_incident_and_recover_once(home: Path, run, http_receiver) -> None:  # type: ignore[no-untyped-def]
    write_config(home, _channel(http_receiver))
    data = cache_market(home)
    assert run(*paper_args()).code == 0
    assert http_receiver.requests == []  # a healthy run alerts nobody
    good = data.read_bytes()
    data.write_bytes(b"not a parquet file")
    for _ in range(3):  # the cache file is corrupt: every run fails
        res = run(*paper_args())
        assert res.code == 2 and "corrupt" in res.err, res
        assert len(res.err.strip().splitlines()) == 1, res  # the one error line, as before
    assert _titles(http_receiver) == ["tradebot alert: paper:a1 failing"]
    assert "paper:a1: run failed: DataValidationError" in http_receiver.requests[0].json()["message"]
    data.write_bytes(good)
    assert run(*paper_args()).code == 0
    assert run(*paper_args()).code == 0
    assert _titles(http_receiver) == ["tradebot alert: paper:a1 failing", "tradebot recovered: paper:a1 failing"]
    data.write_bytes(b"broken again")
    assert run(*paper_args()).code == 2  # a new incident: one more alert
    assert len(http_receiver.requests) == 3

    res = run("errors", "--json")
    assert res.code == 0, res
    errors = json.loads(res.out)
    assert len(errors) == 4 and {e["type"] for e in errors} == {"DataValidationError"}
    assert errors[0]["account"] == "a1" and errors[0]["command"] == "paper" and errors[0]["context"]["run"]
    incidents = run("errors", "--incidents")
    assert "paper:a1:failing" in incidents.out and "open" in incidents.out, incidents
    watch = run("watch")  # a1 ran successfully minutes ago: its heartbeat is fine
    assert watch.code == 0 and "ok   paper:a1:stopped" in watch.out, watch


def test_a_failed_backup_alerts_once_and_recovers(home: Path, run, http_receiver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write_config(home, _channel(http_receiver))
    assert run("paper", "-a", "a1", "--source", "sim").code == 0
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    for _ in range(2):
        res = run("db", "backup", blocker / "backups")
        assert res.code == 2 and "cannot write" in res.err, res
    assert _titles(http_receiver) == ["tradebot alert: backup failing"]
    assert run("db", "backup", tmp_path / "ok").code == 0
    assert _titles(http_receiver) == ["tradebot alert: backup failing", "tradebot recovered: backup failing"]


def test_a_refused_run_stores_no_error(home: Path, run) -> None:  # type: ignore[no-untyped-def]
    cache_market(home)
    assert run(*paper_args()).code == 0
    res = run(*paper_args(), "--since", "2030-01-01")  # refused: exit 2
    assert res.code == 2, res
    assert json.loads(run("errors", "--json").out) == []


def test_stopped_heartbeat_and_stale_data_open_then_resolve(tmp_path: Path, http_receiver) -> None:  # type: ignore[no-untyped-def]
    from tradebot.core.config import load_settings
    from tradebot.services.context import Context
    from tradebot.services.incidents import check_health, list_incidents, run_succeeded

    home = tmp_path / "h"
    last = cache_market(home)
    cfg = write_config(home, _channel(http_receiver) + '[fetch]\nmarkets = ["testex:TEST/USDT"]\n'
                       'timeframes = ["1h"]\n[ops]\nheartbeat_candles = 2\nstale_candles = 2\n')
    market = {"exchange": "testex", "symbol": "TEST/USDT", "timeframe": "1h"}
    ctx = Context(load_settings(cfg, overrides={"market": market, "strategy": {"name": "rsi"}},
                                env={"TRADEBOT_HOME": str(home)}))
    try:
        from tradebot.services.paper import run_paper

        end = 1_704_067_200_000 + 300 * 3_600_000  # just after the last cached candle
        run_paper(ctx, "a1", source="cache", now_ms=end,
                  requested={"strategy": "rsi", "exchange": "testex", "symbol": "TEST/USDT", "timeframe": "1h"})
        run_succeeded(ctx, "paper", "a1", now_ms=end)
        assert [f for _, f, _ in check_health(ctx, now_ms=end)] == [False, False]
        late = end + 3 * 3_600_000  # 3 candles without a run and without new data
        checks = check_health(ctx, now_ms=late)
        assert [(k, f) for k, f, _ in checks] == [("paper:a1:stopped", True),
                                                  ("data:testex:TEST/USDT:1h:stale", True)]
        check_health(ctx, now_ms=late + 60_000)  # still broken: no new alert
        assert len(http_receiver.requests) == 2
        assert len(list_incidents(ctx.store, open_only=True)) == 2
        run_succeeded(ctx, "paper", "a1", now_ms=late + 120_000)  # the bot runs again
        assert _titles(http_receiver)[-1] == "tradebot recovered: paper:a1 stopped"
        assert len(list_incidents(ctx.store, open_only=True)) == 1  # the data is still stale
        assert last.exists()
    finally:
        ctx.close()
