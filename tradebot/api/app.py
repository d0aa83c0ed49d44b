"""The FastAPI application of ``tradebot serve``: ``create_app(ctx)``.

Routes are thin: each calls one service function (the CLI's own) and returns its JSON. The
OpenAPI schema is at /openapi.json and its page at /docs; both are public, every /api route
but POST /api/login needs a token. Errors are problem details (:mod:`tradebot.api.problems`)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from tradebot.api import problems
from tradebot.api.security import CSP, MAX_BODY_BYTES, ApiState, GuardMiddleware

if TYPE_CHECKING:
    from tradebot.services.context import Context


def _docs_page() -> tuple[str, str]:
    """Swagger UI's page and a CSP that allows its CDN and exactly its one inline script."""
    from fastapi.openapi.docs import get_swagger_ui_html

    html = bytes(get_swagger_ui_html(openapi_url="/openapi.json", title="tradebot API").body).decode()
    hashes = [base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()
              for m in re.findall(r"<script>(.*?)</script>", html, flags=re.S)]
    cdn = "https://cdn.jsdelivr.net"
    script = " ".join(["'self'", cdn] + [f"'sha256-{h}'" for h in hashes])
    csp = CSP.replace("script-src 'self'", f"script-src {script}").replace(
        "style-src 'self'", f"style-src 'self' {cdn}").replace("img-src 'self' data:",
                                                                "img-src 'self' data: https://fastapi.tiangolo.com")
    return html, csp


def create_app(ctx: Context, *, run_bots: bool = False, workers: int = 1, secure_cookies: bool = False,
               max_body: int = MAX_BODY_BYTES) -> FastAPI:
    """The API over ``ctx`` (settings, store, cache). ``run_bots``: start the bot scheduler
    with the app (``tradebot serve``); jobs left by a previous server are recovered at start."""
    from tradebot.api import routes_accounts, routes_auth, routes_bots, routes_dashboard, routes_ops, routes_runs
    from tradebot.services.bots import BotScheduler
    from tradebot.services.jobs import JobRunner

    state = ApiState(ctx=ctx, jobs=JobRunner(ctx, workers), secure_cookies=secure_cookies)
    if run_bots:
        state.scheduler = BotScheduler(ctx)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.store  # noqa: B018 - open (and migrate) the store before the first request
        state.jobs.recover()
        if state.scheduler is not None:
            state.scheduler.start()
        try:
            yield
        finally:
            if state.scheduler is not None:
                state.scheduler.stop()
            state.jobs.shutdown()

    from tradebot.services.provenance import code_version

    app = FastAPI(title="tradebot API", version=code_version(), docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    app.state.api = state
    problems.install(app)
    html, docs_csp = _docs_page()

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html)

    app.include_router(routes_ops.router)
    app.include_router(routes_auth.router)
    app.include_router(routes_runs.router)
    app.include_router(routes_accounts.router)
    app.include_router(routes_bots.router)
    app.include_router(routes_dashboard.router)
    app.add_middleware(GuardMiddleware, max_body=max_body, docs_csp=docs_csp)  # type: ignore[arg-type]
    return app
