"""Bots live in the database and survive a restart; the server runs them through the paper
service under the same per-account lock as cron; the kill switch; background jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.api.conftest import ServerThread, make_ctx, make_tokens  # noqa: I001

BOT = {"name": "b1", "strategy": "rsi", "exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1m", "source": "sim"}


def _wait(fn, done, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Poll ``fn()`` until ``done(value)``; the last value is in the failure message."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {value!r}")
        time.sleep(0.2)


def test_bots_survive_a_restart_and_run_at_start(home) -> None:  # type: ignore[no-untyped-def]
    from tradebot.api.app import create_app

    ctx = make_ctx(home)
    tokens = make_tokens(ctx)
    try:
        with ServerThread(create_app(ctx, run_bots=False)) as url:
            import httpx

            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens.trade}"}) as c:
                assert c.post("/api/bots", json=BOT).status_code == 201
                assert c.post("/api/bots", json={**BOT, "name": "b2", "account": "b2"}).status_code == 201
                assert c.post("/api/bots", json=BOT).status_code == 422  # the name is taken
                assert c.post("/api/bots/b1/start").json()["status"] == "running"
                assert c.post("/api/bots/b2/pause").status_code == 422  # only a running bot pauses
                assert c.get("/api/bots/b1").json()["last_run_at"] is None  # no scheduler in this one
    finally:
        ctx.close()
    ctx = make_ctx(home)  # a new process would see only the store
    try:
        with ServerThread(create_app(ctx, run_bots=True)) as url:
            import httpx

            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens.read}"}) as c:
                bots = {b["name"]: b for b in c.get("/api/bots").json()["bots"]}
                assert bots["b1"]["status"] == "running" and bots["b2"]["status"] == "stopped"
                assert bots["b1"]["config"]["params"]  # the full parameters were stored
                b1 = _wait(lambda: c.get("/api/bots/b1").json(), lambda b: b["last_run_at"] is not None)
                assert b1["last_result"]["outcome"] == "ran", b1
                assert b1["last_result"]["processed"] >= 1
                acct = c.get("/api/accounts/b1").json()
                assert acct["strategy"] == "rsi" and acct["last_bar_ms"] == b1["last_result"]["last_ms"]
                assert c.get("/api/bots/b2").json()["last_run_at"] is None  # stopped bots do not run
                assert c.get("/api/accounts/b2").status_code == 404
    finally:
        ctx.close()


def test_server_and_cron_never_run_one_account_at_once(server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tradebot.services import paper
    from tradebot.services.paper import account_lock

    with server.client(server.tokens.trade) as c:
        assert c.post("/api/bots", json=BOT).status_code == 201
        first = c.post("/api/bots/b1/run").json()
        assert first["outcome"] == "ran"
        # cron holds the account: the server's run is refused and changes nothing
        with account_lock(server.home, "b1", wait=False):
            busy = c.post("/api/bots/b1/run").json()
        assert busy["outcome"] == "busy"
        assert c.get("/api/accounts/b1").json()["last_bar_ms"] == first["last_ms"]
        assert c.get("/api/bots/b1").json()["last_result"]["outcome"] == "busy"

        # the server holds the account: a `tradebot paper` cron line for it exits without running
        inside = threading.Event()
        cron_done = threading.Event()
        real = paper.load_closed_candles

        def slow(*a, **kw):  # type: ignore[no-untyped-def]
            inside.set()
            cron_done.wait(90)
            return real(*a, **kw)

        monkeypatch.setattr(paper, "load_closed_candles", slow)
        result: dict[str, object] = {}
        t = threading.Thread(target=lambda: result.update(c.post("/api/bots/b1/run").json()))
        t.start()
        assert inside.wait(30)
        env = {**os.environ, "TRADEBOT_HOME": str(server.home)}
        cron = subprocess.run([str(Path(sys.executable).parent / "tradebot"), "paper", "--account", "b1",
                               "--source", "sim"], env=env, capture_output=True, text=True, timeout=120)
        cron_done.set()
        t.join(60)
        assert cron.returncode == 0, cron.stderr
        assert "being run by another process" in cron.stdout
        assert result["outcome"] == "ran"


def test_kill_switch_stops_every_bot(server) -> None:  # type: ignore[no-untyped-def]
    with server.client(server.tokens.trade) as c:
        for name in ("k1", "k2"):
            assert c.post("/api/bots", json={**BOT, "name": name}).status_code == 201
            assert c.post(f"/api/bots/{name}/start").status_code == 200
        assert sorted(c.post("/api/bots/kill-switch").json()["killed"]) == ["k1", "k2"]
        assert {b["status"] for b in c.get("/api/bots").json()["bots"]} == {"killed"}
        assert c.post("/api/bots/k1/start").json()["status"] == "running"  # started again explicitly
        assert c.post("/api/bots/k1/stop").json()["status"] == "stopped"


def test_backtest_job_runs_in_the_background(server) -> None:  # type: ignore[no-untyped-def]
    with server.client(server.tokens.trade) as c:
        r = c.post("/api/jobs", json={"kind": "backtest", "strategy": "rsi", "exchange": "sim", "symbol": "BTC/USDT",
                                      "timeframe": "1h", "since": "2024-01-01", "until": "2024-02-01"})
        assert r.status_code == 202 and r.json()["status"] == "queued"
        job_id = r.json()["id"]
        job = _wait(lambda: c.get(f"/api/jobs/{job_id}").json(), lambda j: j["status"] in ("done", "failed"), 120)
        assert job["status"] == "done", job
        assert job["created_by"] == "trader"
        run_id = job["result"]["run_id"]
        runs = c.get("/api/runs", params={"strategy": "rsi"}).json()["runs"]
        assert [r["id"] for r in runs] == [run_id]
        assert c.get("/api/runs", params={"strategy": "macd"}).json()["runs"] == []
        rep = c.get(f"/api/runs/{run_id}").json()
        assert rep["summary"]["trades"] == job["result"]["metrics"]["trades"]
        eq = c.get(f"/api/runs/{run_id}/equity").json()
        assert eq["points"] == 31 and len(eq["equity"]) == 31
        assert eq["equity"][-1] == pytest.approx(rep["summary"]["final_equity"])
        small = c.get(f"/api/runs/{run_id}/equity", params={"max_points": 10}).json()
        assert small["returned"] <= 12 and max(small["equity"]) == max(eq["equity"])
        assert len(c.get(f"/api/runs/{run_id}/trades").json()["trades"]) == rep["summary"]["trades"]
        bars = c.get(f"/api/runs/{run_id}/equity", params={"resolution": "bar", "max_points": 100}).json()
        assert bars["points"] == 31 * 24 and bars["returned"] <= 102  # every bar of January, downsampled
        assert bars["equity"][-1] == pytest.approx(rep["summary"]["final_equity"])
        assert min(bars["equity"]) <= min(eq["equity"])  # the lowest bar is kept


def test_optimize_job_stores_a_study(server) -> None:  # type: ignore[no-untyped-def]
    with server.client(server.tokens.trade) as c:
        r = c.post("/api/jobs", json={"kind": "optimize", "strategy": "rsi", "exchange": "sim", "symbol": "BTC/USDT",
                                      "timeframe": "1h", "since": "2024-01-01", "until": "2024-02-01",
                                      "method": "random", "trials": 4, "space": ["period=5:30"], "seed": 3})
        assert r.status_code == 202
        job = _wait(lambda: c.get(f"/api/jobs/{r.json()['id']}").json(), lambda j: j["status"] in ("done", "failed"),
                    120)
        assert job["status"] == "done", job
        sid = job["result"]["study_id"]
        assert [s["study_id"] for s in c.get("/api/studies").json()["studies"]] == [sid]
        assert c.get(f"/api/studies/S{sid}").status_code == 200


def test_jobs_left_running_by_a_stopped_server_are_failed_at_start(home) -> None:  # type: ignore[no-untyped-def]
    from tradebot.api.app import create_app
    from tradebot.data.api_models import Job
    from tradebot.data.models import utcnow

    ctx = make_ctx(home)
    tokens = make_tokens(ctx)
    with ctx.store.session() as session:
        session.add(Job(kind="backtest", status="running", request={}, created_at=utcnow()))
    try:
        with ServerThread(create_app(ctx)) as url:
            import httpx

            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens.read}"}) as c:
                job = c.get("/api/jobs/1").json()
        assert job["status"] == "failed" and "server stopped" in job["error"]
    finally:
        ctx.close()


def test_flatten_closes_the_position_through_the_engine_and_stops_the_bot(server) -> None:  # type: ignore[no-untyped-def]
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services.bots import bot_context
    from tradebot.services.paper import run_paper

    cfg = {"strategy": "rsi", "exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1h", "params": {}}
    since, h = 1_704_067_200_000, 3_600_000
    probe = run_paper(bot_context(server.ctx, cfg), "probe", source="sim", since_ms=since, now_ms=since + 40 * 24 * h)
    with server.ctx.store.session() as session:
        repo = PaperRepository(session)
        rows = repo.equity(repo.get("probe").id)
    held = next(i for i, r in enumerate(rows) if r[2] != 0 and i > 0)  # the first bar in a position
    assert probe.processed == len(rows)
    r = run_paper(bot_context(server.ctx, cfg), "f", source="sim", since_ms=since, now_ms=rows[held][0] + h)
    assert r.position != 0  # the account holds a position
    with server.client(server.tokens.trade) as c:
        assert c.post("/api/bots", json={**BOT, "name": "f", "timeframe": "1h"}).status_code == 201
        out = c.post("/api/bots/f/flatten").json()
        assert out["run"]["outcome"] == "ran" and out["run"]["position"] == 0 and out["run"]["flattened"]
        assert out["bot"]["status"] == "stopped"
        trades = c.get("/api/accounts/f/trades").json()["trades"]
        assert trades[-1]["exit_reason"] == "exit_signal"
        # the first new candle's close signals the exit; it fills at the open of the one after
        assert trades[-1]["exit_ts_ms"] == rows[held][0] + 2 * h
        assert c.get("/api/accounts/f/position").json()["position"] == 0
