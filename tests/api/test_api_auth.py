"""Authentication and authorization over every route of the OpenAPI schema, sessions with
CSRF, the login rate limit, security headers, and no secret in any response, log or row."""

from __future__ import annotations

import logging
import re
import sqlite3

import pytest

from tradebot.api.security import PUBLIC_PATHS

SCOPES = ("read", "trade", "admin")
#: the least scope each route needs: GET read, POST trade, but for these
LEAST = {("GET", "/api/audit"): "admin", ("POST", "/api/logout"): "read"}


def _endpoints(client) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    schema = client.get("/openapi.json").json()
    out = []
    for path, ops in schema["paths"].items():
        for method in ops:
            out.append((method.upper(), path))
    return sorted(out)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _call(client, method: str, path: str, token: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "GET":
        return client.get(_concrete(path), params={"exchange": "x", "symbol": "y", "timeframe": "1h"},
                          headers=headers)
    return client.request(method, _concrete(path), json={}, headers=headers)


def test_every_route_but_health_and_login_needs_a_valid_token_of_its_scope(server) -> None:  # type: ignore[no-untyped-def]
    t = server.tokens
    with server.client() as c:
        endpoints = _endpoints(c)
        public = {p for _, p in endpoints if p in PUBLIC_PATHS}
        assert public == {"/health", "/api/login"}  # the schema has exactly these public routes
        checked = 0
        for method, path in endpoints:
            if path in PUBLIC_PATHS:
                continue
            r = _call(c, method, path)
            assert r.status_code == 401, (method, path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers.get("www-authenticate") == "Bearer"
            for bad in (t.expired, t.revoked, "tb_" + "A" * 43, "not-a-token"):
                r = _call(c, method, path, bad)
                assert r.status_code == 401, (method, path, r.text)
            least = LEAST.get((method, path), "read" if method == "GET" else "trade")
            for scope in SCOPES:
                r = _call(c, method, path, getattr(t, scope))
                if SCOPES.index(scope) < SCOPES.index(least):
                    assert r.status_code == 403, (method, path, scope, r.text)
                    assert "scope" in r.json()["detail"]
                else:
                    assert r.status_code not in (401, 403), (method, path, scope, r.text)
            checked += 1
        assert checked >= 30  # the walk really covered the API


def test_public_routes_answer_without_a_token(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as c:
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/openapi.json").status_code == 200
        docs = c.get("/docs")
        assert docs.status_code == 200
        assert "'unsafe-inline'" not in docs.headers["content-security-policy"].split("script-src")[1].split(";")[0]


def test_login_sets_a_strict_httponly_session_and_csrf_is_required(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as c:
        r = c.post("/api/login", json={"token": server.tokens.trade})
        assert r.status_code == 200
        csrf = r.json()["csrf_token"]
        cookies = r.headers.get_list("set-cookie")
        session = next(h for h in cookies if h.startswith("tradebot_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
        assert server.tokens.trade not in " ".join(cookies)  # the cookie is a session id, not the token
        assert c.get("/api/me").json()["name"] == "trader"  # reads need no CSRF token
        r = c.post("/api/bots/kill-switch")
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = c.post("/api/bots/kill-switch", headers={"X-CSRF-Token": "0" * 64})
        assert r.status_code == 403
        r = c.post("/api/bots/kill-switch", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200
        assert c.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        c.cookies.set("tradebot_session", session.split(";")[0].split("=", 1)[1])
        assert c.get("/api/me").status_code == 401  # the session ended on the server


def test_revoking_a_token_ends_its_sessions(server) -> None:  # type: ignore[no-untyped-def]
    from tradebot.services.api_tokens import revoke_token

    with server.client() as c:
        assert c.post("/api/login", json={"token": server.tokens.read}).status_code == 200
        assert c.get("/api/runs").status_code == 200
        revoke_token(server.ctx.store, "reader")
        assert c.get("/api/runs").status_code == 401
    with server.client(server.tokens.read) as c:
        assert c.get("/api/runs").status_code == 401


def test_failed_logins_are_limited_per_client(server) -> None:  # type: ignore[no-untyped-def]
    codes = []
    with server.client() as c:
        for i in range(100):
            codes.append(c.post("/api/login", json={"token": f"tb_wrong{i}"}).status_code)
        assert codes[:5] == [401] * 5
        assert set(codes[5:]) == {429}
        r = c.post("/api/login", json={"token": server.tokens.admin})  # even a good token waits
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    from tradebot.services.api_tokens import audit_log

    refused = [e for e in audit_log(server.ctx.store, 1000) if e["path"] == "/api/login"]
    assert len(refused) == 101 and {e["outcome"] for e in refused} == {"refused"}


def test_security_headers_on_every_answer(server) -> None:  # type: ignore[no-untyped-def]
    with server.client(server.tokens.read) as c:
        for r in (c.get("/api/runs"), c.get("/api/runs/999"), c.get("/nowhere"), c.get("/health")):
            h = r.headers
            assert "script-src 'self'" in h["content-security-policy"]
            assert "frame-ancestors 'none'" in h["content-security-policy"]
            assert h["x-frame-options"] == "DENY"
            assert h["x-content-type-options"] == "nosniff"
            assert h["referrer-policy"] == "no-referrer"
            assert "access-control-allow-origin" not in h  # CORS closed
        r = c.options("/api/runs", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in r.headers


def test_no_secret_in_any_response_log_line_or_stored_row(server, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    t = server.tokens
    seen: list[str] = []
    with server.client() as c:
        r = c.post("/api/login", json={"token": t.admin})
        session_secret = r.cookies["tradebot_session"]
        csrf = r.json()["csrf_token"]
        seen.append(r.text)
        for path in ("/api/me", "/api/audit", "/api/runs", "/api/bots", "/api/jobs"):
            seen.append(c.get(path).text + str(dict(c.get(path).headers)))
        seen.append(c.post("/api/jobs", json={"kind": "backtest", "strategy": "nope"},
                           headers={"X-CSRF-Token": csrf}).text)
        seen.append(c.post("/api/login", json={"token": t.trade + "x"}).text)
        seen.append(c.post("/api/login", content=b'{"token": "' + t.read.encode() + b'"',
                           headers={"content-type": "application/json"}).text)
    with server.client(t.admin) as c:
        seen.append(c.get("/api/audit").text)
    secrets = [t.read, t.trade, t.admin, t.expired, t.revoked, session_secret]
    server_log = "\n".join(r.getMessage() for r in caplog.records
                           if not r.name.startswith(("httpx", "httpcore")))  # not the test's own client
    assert "/api/login" in server_log  # uvicorn's access log was captured
    text = "\n".join(seen) + "\n" + server_log
    for s in secrets:
        assert s not in text
    con = sqlite3.connect(server.home / "tradebot.db")
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    assert "api_tokens" in dump and "api_audit" in dump
    for s in secrets:
        assert s not in dump


@pytest.mark.parametrize("expires", ["30d", "12h", "2w", "90m", "never"])
def test_expiry_parsing(expires: str) -> None:
    from tradebot.services.api_tokens import parse_expires

    d = parse_expires(expires)
    assert (d is None) == (expires == "never")
