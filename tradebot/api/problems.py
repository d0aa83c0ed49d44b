"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error a user can cause is a :class:`~tradebot.core.errors.TradebotError` whose
one-line message is the CLI's; it becomes ``detail`` with a status chosen by its class. No
stack trace ever leaves the server: anything else is a 500 with a fixed sentence."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tradebot.core import errors as E

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tradebot.api")


def problem(status: int, detail: str, *, instance: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail}
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_for(error: BaseException) -> int:
    """The HTTP status of a tradebot error (the CLI's exit code says usage or runtime)."""
    from tradebot.data.model_registry import ModelNotFoundError
    from tradebot.services.bots import BotNotFoundError
    from tradebot.services.jobs import JobNotFoundError
    from tradebot.services.paper import AccountBusy

    if isinstance(error, E.RunNotFoundError | ModelNotFoundError | BotNotFoundError | JobNotFoundError
                  | E.DataNotFoundError):
        return 404
    if isinstance(error, AccountBusy):
        return 409
    if isinstance(error, E.ExchangeRateLimited):
        return 503
    if isinstance(error, E.ExchangeAuthError):
        return 502
    if isinstance(error, E.UsageError):
        return 422
    if isinstance(error, E.ExchangeUnavailable | E.ClusterUnavailable | E.StoreError | E.Interrupted):
        return 503
    if isinstance(error, E.ExchangeError):
        return 502
    return 500


class ApiError(Exception):
    """An error raised by the API layer itself (auth, limits) with its status."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def install(app: FastAPI) -> None:
    """Exception handlers: every error response is a problem detail."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.detail, instance=request.url.path, headers=exc.headers)

    @app.exception_handler(E.TradebotError)
    async def _tradebot(request: Request, exc: E.TradebotError) -> JSONResponse:
        return problem(status_for(exc), str(exc), instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the body is parsed before the route's token check: check the token first, so an
        # anonymous client learns nothing from validation and the audit log names who it was
        from starlette.concurrency import run_in_threadpool

        from tradebot.api.security import PUBLIC_PATHS, authenticate_request

        if request.url.path not in PUBLIC_PATHS:
            try:
                request.state.token = await run_in_threadpool(authenticate_request, request)
            except ApiError as e:
                return problem(e.status, e.detail, instance=request.url.path, headers=e.headers)
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]  # never the input (may be a secret)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(400, "the request body is not valid JSON", instance=request.url.path)
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p != "body") or "request"
        return problem(422, f"{where}: {first['msg']}", instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem(exc.status_code, detail, instance=request.url.path,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        from tradebot.services.paper import AccountBusy

        if isinstance(exc, AccountBusy):
            return problem(409, f"paper account {exc} is being run by another process", instance=request.url.path)
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        return problem(500, "internal error (see the server log)", instance=request.url.path)
