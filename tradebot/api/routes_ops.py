"""Operations routes: /health (public liveness). Included by ``tradebot.api.app.create_app``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["ops"])


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers. Public (no token)."""
    return {"status": "ok"}
