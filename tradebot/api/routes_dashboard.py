"""Web dashboard routes (owned by the dashboard feature); included by ``tradebot.api.app.create_app``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
