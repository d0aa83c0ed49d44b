"""Login (token -> session cookie + CSRF token), logout, who am I, the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tradebot.api.problems import ApiError
from tradebot.api.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AdminToken,
    ReadToken,
    api_state,
    client_of,
)
from tradebot.services.api_tokens import TokenInfo

router = APIRouter(prefix="/api", tags=["auth"])


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=200, description="An API token (tradebot api token create).")


def _token_dict(t: TokenInfo) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "scope": t.scope,
            "expires_at": None if t.expires_at is None else t.expires_at.isoformat()}


@router.post("/login")
def login(body: Login, request: Request) -> JSONResponse:
    """Exchange a token for an HttpOnly, SameSite=Strict session cookie; the response holds
    the CSRF token to send as X-CSRF-Token on state-changing requests. Failed logins are
    limited per client (5 a minute, then 429)."""
    from tradebot.services.api_tokens import authenticate, create_session

    state = api_state(request)
    client = client_of(request)
    wait = state.limiter.retry_after(client)
    if wait is not None:
        raise ApiError(429, f"too many failed logins from {client}; try again in {wait} s",
                       {"Retry-After": str(wait)})
    token = authenticate(state.ctx.store, body.token)
    if token is None:
        state.limiter.failed(client)
        raise ApiError(401, "invalid, expired or revoked API token")
    request.state.token = token
    secret, csrf, expires = create_session(state.ctx.store, token, client)
    response = JSONResponse({"token": _token_dict(token), "csrf_token": csrf,
                             "expires_at": expires.isoformat()})
    max_age = max(1, int((expires - _now()).total_seconds()))
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, httponly=True, samesite="strict",
                        secure=state.secure_cookies, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict",
                        secure=state.secure_cookies, path="/")
    return response


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


@router.post("/logout")
def logout(request: Request, token: TokenInfo = ReadToken) -> JSONResponse:
    """End this session (the cookie); a bearer token stays valid."""
    from tradebot.services.api_tokens import end_session

    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        end_session(api_state(request).ctx.store, cookie)
    response = JSONResponse({"logged_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me")
def me(token: TokenInfo = ReadToken) -> dict[str, Any]:
    """The token this request is made with."""
    return _token_dict(token)


@router.get("/audit")
def audit_log(request: Request, limit: int = Query(100, ge=1, le=1000),
              token: TokenInfo = AdminToken) -> dict[str, Any]:
    """The newest state-changing requests: who, what, when, outcome (admin)."""
    from tradebot.services.api_tokens import audit_log as read

    return {"entries": read(api_state(request).ctx.store, limit)}
