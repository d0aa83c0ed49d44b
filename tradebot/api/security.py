"""Authentication, CSRF, login rate limiting, security headers, body limit and audit.

* ``Authorization: Bearer <token>`` or the session cookie of POST /api/login.
* With the cookie, a state-changing request must carry the session's CSRF token in the
  ``X-CSRF-Token`` header (synchronizer token: an HMAC of the session id).
* Scopes are ordered read < trade < admin; a route asks for the least it needs.
* Every state-changing request (POST, PUT, PATCH, DELETE) is audited in the store with the
  token that made it (id and name, never the secret) and its outcome."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request

from tradebot.api.problems import ApiError, problem

if TYPE_CHECKING:
    from tradebot.services.api_tokens import TokenInfo
    from tradebot.services.bots import BotScheduler
    from tradebot.services.context import Context
    from tradebot.services.jobs import JobRunner

SESSION_COOKIE = "tradebot_session"
CSRF_COOKIE = "tradebot_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the only routes of the OpenAPI schema that answer without a token (tests/api check it);
#: a public route added elsewhere must be listed here
PUBLIC_PATHS = frozenset({"/health", "/api/login"})
#: request bodies larger than this are refused with 413
MAX_BODY_BYTES = 1 << 20

#: no inline or foreign script or style; a response that sets its own policy keeps it
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class LoginLimiter:
    """Failed logins per client: at most ``limit`` in ``window_s`` seconds, then 429 until
    the oldest failure leaves the window. In memory (one server process)."""

    def __init__(self, limit: int = 5, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str) -> collections.deque[float]:
        q = self._failures.setdefault(client, collections.deque())
        cutoff = self.clock() - self.window_s
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, None if it may now."""
        with self._lock:
            q = self._recent(client)
            if len(q) < self.limit:
                return None
            return max(1, int(q[0] + self.window_s - self.clock()) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(self.clock())
            if len(self._failures) > 10_000:  # forget idle clients
                for c in [c for c, q in self._failures.items() if not q]:
                    del self._failures[c]


@dataclass
class ApiState:
    """What the routes share: the server's Context, job pool, bot scheduler, limiter."""

    ctx: Context
    jobs: JobRunner
    scheduler: BotScheduler | None = None
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    secure_cookies: bool = False


def api_state(request: Request) -> ApiState:
    return request.app.state.api  # type: ignore[no-any-return]


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def authenticate_request(request: Request) -> TokenInfo:
    from tradebot.services.api_tokens import authenticate, check_csrf, session_token

    store = api_state(request).ctx.store
    header = request.headers.get("authorization")
    if header is not None:
        kind, _, secret = header.partition(" ")
        token = authenticate(store, secret.strip()) if kind.lower() == "bearer" else None
        if token is None:
            raise ApiError(401, "invalid, expired or revoked API token", {"WWW-Authenticate": "Bearer"})
        return token
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        token = session_token(store, cookie)
        if token is None:
            raise ApiError(401, "the session has ended (log in again)", {"WWW-Authenticate": "Bearer"})
        if request.method not in SAFE_METHODS and not check_csrf(cookie, request.headers.get(CSRF_HEADER)):
            raise ApiError(403, "missing or wrong CSRF token (send the X-CSRF-Token header from the login)")
        return token
    raise ApiError(401, "authentication required: send Authorization: Bearer <token>",
                   {"WWW-Authenticate": "Bearer"})


def require(scope: str) -> Callable[[Request], Awaitable[TokenInfo]]:
    """A dependency: the request's token, which must allow ``scope``."""

    async def dependency(request: Request) -> TokenInfo:
        # in the event loop, not a worker thread: a remembered token costs microseconds, and
        # a database look-up (once a second per token) is one indexed read
        token = authenticate_request(request)
        request.state.token = token
        if not token.allows(scope):
            raise ApiError(403, f"token {token.name!r} has scope {token.scope}; this needs {scope}")
        return token

    return dependency


ReadToken = Depends(require("read"))
TradeToken = Depends(require("trade"))
AdminToken = Depends(require("admin"))


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class GuardMiddleware:
    """Security headers on every response, the body size limit, and the audit log of every
    state-changing request (pure ASGI: nothing buffered but the limit's byte count)."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES, docs_csp: str = CSP) -> None:
        self.app = app
        self.max_body = max_body
        self.docs_csp = docs_csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = (self.docs_csp if path == "/docs" else CSP).encode()
        status_box = [500]
        audited = [False]
        too_large = [False]
        too_large_detail = f"the request body is larger than {self.max_body} bytes"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", csp))
                message["headers"] = headers
            if message["type"] == "http.response.body" and not message.get("more_body") and not audited[0]:
                audited[0] = True  # recorded before the client has the whole answer
                await self._audit(scope, status_box[0])
            await send(message)

        async def refuse_send(message: Message) -> None:
            """Past the limit: whatever the app answers (it saw a cut body) becomes a 413."""
            if message["type"] == "http.response.start":
                await self._reply(scope, receive, send_wrapper, 413, too_large_detail)

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._reply(scope, receive, send_wrapper, 413, too_large_detail)
            return
        seen = [0]

        async def limited_receive() -> Message:
            if too_large[0]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen[0] += len(message.get("body", b""))
                if seen[0] > self.max_body:
                    too_large[0] = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def choose_send(message: Message) -> None:
            await (refuse_send if too_large[0] else send_wrapper)(message)

        try:
            await self.app(scope, limited_receive, choose_send)
        finally:
            if not audited[0]:
                audited[0] = True
                await self._audit(scope, status_box[0])

    async def _reply(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        await problem(status, detail, instance=scope.get("path"))(scope, receive, send)

    async def _audit(self, scope: Scope, status: int) -> None:
        if scope.get("method", "GET") in SAFE_METHODS:
            return
        from starlette.concurrency import run_in_threadpool

        from tradebot.services.api_tokens import audit

        app = scope.get("app")
        state = getattr(getattr(app, "state", None), "api", None)
        if state is None:
            return
        token = (scope.get("state") or {}).get("token")
        client = scope.get("client") or ("unknown", 0)
        try:
            await run_in_threadpool(audit, state.ctx.store, token=token, client=str(client[0]),
                                    method=scope["method"], path=scope.get("path", ""), status=status)
        except Exception:  # the audit must not turn a response into an error; the log says so
            import logging

            logging.getLogger("tradebot.api").error("audit write failed for %s %s", scope["method"],
                                                    scope.get("path", ""))
