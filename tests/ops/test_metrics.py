"""/metrics parses with the Prometheus text parser and its values match the store; /ready
reports the store's migration and needs a token like every non-public route."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from tests.ops.conftest import cache_market, paper_args

pytest.importorskip("prometheus_client")
pytest.importorskip("httpx")


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_metrics_parse_and_match_the_store(home: Path, run) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from tradebot.api.app import create_app
    from tradebot.core.config import load_settings
    from tradebot.core.errors import InvalidOrder
    from tradebot.services.api_tokens import create_token
    from tradebot.services.context import Context
    from tradebot.services.incidents import run_failed

    cache_market(home, 400)
    assert run(*paper_args("a1", "macd"), "--since", "2024-01-01").code == 0
    assert run(*paper_args("a1", "macd")).code == 0
    assert run("paper", "-a", "s2", "--source", "sim").code == 0
    assert run("backtest", "--strategy", "rsi", "--exchange", "testex", "--symbol", "TEST/USDT",
               "--timeframe", "1h").code == 0
    ctx = Context(load_settings())
    try:
        run_failed(ctx, "paper", "a1", InvalidOrder("order rejected: size too small"))
        token = create_token(ctx.store, "prom", "read", None)[1]
        with TestClient(create_app(ctx)) as client:
            assert client.get("/metrics").status_code == 401
            res = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            scraped = time.time()
            assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
            m = _families(res.text)
            ready = client.get("/ready", headers={"Authorization": f"Bearer {token}"})
            assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    finally:
        ctx.close()

    con = sqlite3.connect(home / "tradebot.db")
    q = lambda sql, *a: con.execute(sql, a).fetchall()  # noqa: E731
    assert m["tradebot_backtest_runs"][()] == q("SELECT count(*) FROM backtest_runs")[0][0] == 1
    assert m["tradebot_paper_accounts"][()] == 2
    for (name, acct_id, initial, trades, last_bar) in q(
            "SELECT name, id, initial_capital, trades_count, last_bar_ms FROM paper_accounts"):
        series = [e for (e,) in q("SELECT equity FROM paper_equity WHERE account_id=? ORDER BY ts_ms", acct_id)]
        peak = max([initial, *series])
        assert m["tradebot_account_equity"][(("account", name), ("quote", "USDT"))] == pytest.approx(series[-1])
        drawdown = (peak - series[-1]) / peak
        assert m["tradebot_account_drawdown_ratio"][(("account", name),)] == pytest.approx(drawdown)
        assert m["tradebot_account_trades"][(("account", name),)] == trades
        (age_key,) = [k for k in m["tradebot_last_candle_age_seconds"] if ("account", name) in k]
        tf_s = 3600 if name == "a1" else None
        if tf_s:
            assert m["tradebot_last_candle_age_seconds"][age_key] == pytest.approx(
                scraped - (last_bar / 1000 + tf_s), abs=5)
    a1_trades = q("SELECT count(*) FROM paper_trades t JOIN paper_accounts a ON a.id=t.account_id WHERE a.name='a1'")
    assert a1_trades[0][0] > 0  # the drawdown and trade figures are not trivially zero
    assert m["tradebot_runs_total"][(("job", "paper:a1"), ("outcome", "ok"))] == 2
    assert m["tradebot_runs_total"][(("job", "paper:a1"), ("outcome", "failed"))] == 1
    assert m["tradebot_errors_total"][(("command", "paper"), ("type", "InvalidOrder"))] == 1
    assert m["tradebot_order_errors_total"][(("account", "a1"),)] == 1
    open_incidents = q("SELECT count(*) FROM ops_incidents WHERE resolved_at IS NULL")[0][0]
    assert m["tradebot_open_incidents"][()] == open_incidents == 1
    assert m["tradebot_step_duration_seconds"][(("job", "paper:a1"),)] > 0
    (ok_at,) = q("SELECT last_ok_at FROM ops_heartbeats WHERE name='paper:a1'")[0]
    stored = dt.datetime.fromisoformat(ok_at).replace(tzinfo=dt.UTC).timestamp()
    assert m["tradebot_last_success_timestamp_seconds"][(("job", "paper:a1"),)] == pytest.approx(stored)
    con.close()


def test_ready_reports_a_store_behind_the_latest_migration(home: Path, run) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from tradebot.api.app import create_app
    from tradebot.core.config import load_settings
    from tradebot.services.api_tokens import create_token
    from tradebot.services.context import Context

    ctx = Context(load_settings())
    try:
        token = create_token(ctx.store, "probe", "read", None)[1]
        with TestClient(create_app(ctx)) as client:
            con = sqlite3.connect(home / "tradebot.db")
            con.execute("UPDATE alembic_version SET version_num='0007'")
            con.commit()
            con.close()
            res = client.get("/ready", headers={"Authorization": f"Bearer {token}"})
    finally:
        ctx.close()
    assert res.status_code == 503 and "at migration 0007" in res.json()["checks"]["store"], res.text
