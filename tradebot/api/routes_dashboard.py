"""The web dashboard: its page and static files (no build step, plain JS modules), plotly.js
served from the plotly package (never a CDN), the market view it draws, and the live
activity stream (``routes_events``).

The page and its files are public (the login form is part of them) and left out of the
OpenAPI schema; everything they show comes from the authenticated API."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from tradebot.api.problems import ApiError
from tradebot.api.routes_events import router as events_router
from tradebot.api.security import CSP, ReadToken, api_state

router = APIRouter()
router.include_router(events_router)

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboard"
_NAME = re.compile(r"^[a-z_]+\.(js|css|html)$")
#: The dashboard page's policy: the API's (scripts only from this server, no inline script,
#: no framing), except that inline *styles* are allowed: plotly.js styles its SVG with
#: <style> elements and style attributes, which a strict style-src blocks (charts lose their
#: layout and every draw logs a violation). Scripts stay 'self' only.
DASHBOARD_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8"}


@lru_cache(maxsize=1)
def plotly_js_path() -> Path:
    """plotly.min.js as the plotly Python package ships it."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/", include_in_schema=False)
def dashboard_page() -> FileResponse:
    return FileResponse(DASHBOARD_DIR / "index.html", media_type=_TYPES[".html"],
                        headers={"Content-Security-Policy": DASHBOARD_CSP})


@router.get("/dashboard/vendor/plotly.min.js", include_in_schema=False)
def plotly_js() -> Response:
    try:
        path = plotly_js_path()
    except (ImportError, FileNotFoundError) as e:
        raise ApiError(404, f"plotly.js is not installed with the plotly package ({e})") from e
    return FileResponse(path, media_type=_TYPES[".js"], headers={"Cache-Control": "public, max-age=86400"})


@router.get("/dashboard/{name}", include_in_schema=False)
def dashboard_file(name: str) -> FileResponse:
    """One file of the dashboard folder; names are checked, nothing outside it is served."""
    path = DASHBOARD_DIR / name
    if not _NAME.match(name) or not path.is_file():
        raise ApiError(404, f"no dashboard file {name!r}")
    return FileResponse(path, media_type=_TYPES[path.suffix])


@router.get("/api/dashboard/overview", tags=["dashboard"], dependencies=[ReadToken])
def overview(request: Request) -> dict[str, object]:
    """Every paper account's equity, P&L today (UTC) and in total against the daily target,
    open positions and exposure, with the portfolio's totals."""
    from tradebot.services.dashboard_overview import portfolio_overview

    return portfolio_overview(api_state(request).ctx)


@router.get("/api/dashboard/market/account/{name}", tags=["dashboard"], dependencies=[ReadToken])
def market_account(request: Request, name: str) -> dict[str, object]:
    """A paper account's candles (grouped to at most 1,500), its trades and its strategy's
    indicators, for the dashboard's market view."""
    from tradebot.services.market_view import account_market

    return account_market(api_state(request).ctx, name)


@router.get("/api/dashboard/market/run/{run_id}", tags=["dashboard"], dependencies=[ReadToken])
def market_run(request: Request, run_id: int) -> dict[str, object]:
    """A stored run's candles (re-run from its stored config; nothing stored), trades and
    its strategy's indicators."""
    from tradebot.services.market_view import run_market

    return run_market(api_state(request).ctx, run_id)
