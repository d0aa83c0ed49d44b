"""Bad input gets the right 4xx as a problem detail with the CLI's message, and stores nothing."""

from __future__ import annotations

import sqlite3


def _count(server, table: str) -> int:  # type: ignore[no-untyped-def]
    con = sqlite3.connect(server.home / "tradebot.db")
    try:
        return int(con.execute(f"select count(*) from {table}").fetchone()[0])
    finally:
        con.close()


def _problem(r, status: int) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body  # type: ignore[no-any-return]


def test_bad_requests_are_problems_and_store_nothing(server) -> None:  # type: ignore[no-untyped-def]
    with server.client(server.tokens.trade) as c:
        before = {t: _count(server, t) for t in ("api_jobs", "api_bots", "backtest_runs", "paper_accounts")}
        r = c.post("/api/jobs", content=b'{"kind": "backtest", ', headers={"content-type": "application/json"})
        assert _problem(r, 400)["detail"] == "the request body is not valid JSON"
        assert _problem(c.get("/api/runs/987654"), 404)["detail"] == "no stored run with id 987654"  # the CLI's words
        _problem(c.get("/api/runs/abc"), 422)
        _problem(c.get("/api/jobs/5"), 404)
        _problem(c.get("/api/bots/nobody"), 404)
        _problem(c.get("/api/accounts/nobody"), 404)
        _problem(c.get("/api/studies/S99"), 404)
        _problem(c.get("/api/strategies/nope"), 404)
        # a backtest job with an invalid parameter: refused before anything is stored
        d = _problem(c.post("/api/jobs", json={"kind": "backtest", "strategy": "rsi", "exchange": "sim",
                                               "params": {"period": -3}}), 422)["detail"]
        assert "period" in d and "rsi" in d
        d = _problem(c.post("/api/jobs", json={"kind": "backtest", "strategy": "rsi", "exchange": "sim",
                                               "params": {"nonsense": 1}}), 422)["detail"]
        assert "nonsense" in d
        _problem(c.post("/api/jobs", json={"kind": "backtest", "strategy": "nope"}), 422)
        _problem(c.post("/api/jobs", json={"kind": "backtest", "exchange": "sim", "since": "2024-03-01",
                                           "until": "2024-01-01"}), 422)
        _problem(c.post("/api/jobs", json={"kind": "backtest", "exchange": "sim", "since": "yesterday-ish"}), 422)
        _problem(c.post("/api/jobs", json={"kind": "backtest", "exchange": "nowhere", "symbol": "BTC/USDT"}), 422)
        d = _problem(c.post("/api/jobs", json={"kind": "optimize", "strategy": "rsi", "exchange": "sim",
                                               "space": ["nonsense=1:2"]}), 422)["detail"]
        assert "nonsense" in d
        _problem(c.post("/api/jobs", json={"kind": "optimize", "exchange": "sim", "objectives": "luck"}), 422)
        _problem(c.post("/api/jobs", json={"kind": "dance"}), 422)
        _problem(c.post("/api/jobs", json={"kind": "backtest", "surprise": True}), 422)  # unknown field
        _problem(c.post("/api/jobs", json={"kind": "backtest", "capital": -5}), 422)
        _problem(c.post("/api/bots", json={"name": "a/b", "exchange": "sim"}), 422)
        _problem(c.post("/api/bots", json={"name": "ok", "strategy": "rsi", "params": {"period": "x"}}), 422)
        _problem(c.post("/api/bots", json={"name": "ok", "timeframe": "7q"}), 422)
        # oversized bodies: declared, and streamed without a length
        big = b'{"kind": "backtest", "strategy": "' + b"x" * (2 << 20) + b'"}'
        _problem(c.post("/api/jobs", content=big, headers={"content-type": "application/json"}), 413)

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(40):
                yield b"x" * 65536

        _problem(c.post("/api/jobs", content=chunks(), headers={"content-type": "application/json"}), 413)
        after = {t: _count(server, t) for t in before}
        assert after == before
        # the refusals are audited with their status
        with server.client(server.tokens.admin) as a:
            entries = a.get("/api/audit", params={"limit": 50}).json()["entries"]
        assert {e["status"] for e in entries} >= {400, 413, 422}
        assert {e["token"] for e in entries if e["status"] != 413} == {"trader"}
