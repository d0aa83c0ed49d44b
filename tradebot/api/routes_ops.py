"""Operations routes: /health (public liveness), /ready (store at head, scheduler alive) and
Prometheus /metrics (values read from the store). Included by ``tradebot.api.app.create_app``.

/ready and /metrics need a read token like every other non-public route (they show account
names and equity); Prometheus sends it with ``authorization: {credentials_file: ...}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from tradebot.api.security import ReadToken, api_state

router = APIRouter(tags=["ops"])


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers. Public (no token)."""
    return {"status": "ok"}


@router.get("/ready", dependencies=[ReadToken])
def ready(request: Request, response: Response) -> dict[str, Any]:
    """Readiness: the store answers and is at the latest migration, and the bot scheduler (when
    the server runs bots) is alive. 503 with the reasons otherwise."""
    from tradebot.data.db import HEAD_REVISION, current_revision

    state = api_state(request)
    checks: dict[str, str] = {}
    try:
        revision = current_revision(state.ctx.store.url)
        checks["store"] = "ok" if revision == HEAD_REVISION else f"at migration {revision}, latest {HEAD_REVISION}"
    except Exception as e:
        checks["store"] = f"unreachable: {type(e).__name__}"
    scheduler = state.scheduler
    if scheduler is not None:
        thread = getattr(scheduler, "_thread", None)
        checks["scheduler"] = "ok" if thread is not None and thread.is_alive() else "not running"
    ok = all(v == "ok" for v in checks.values())
    if not ok:
        response.status_code = 503
    return {"status": "ready" if ok else "not ready", "checks": checks}


@router.get("/metrics", dependencies=[ReadToken], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition; every value read from the store at this scrape."""
    from tradebot.services.metrics import render_metrics

    body, content_type = render_metrics(api_state(request).ctx.store)
    return Response(content=body, media_type=content_type)
