"""Paper accounts (read): status, balances, position, orders, trades, equity, risk events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from tradebot.api.responses import SafeJSON
from tradebot.api.security import ReadToken, api_state
from tradebot.services.api_tokens import TokenInfo

router = APIRouter(prefix="/api/accounts", tags=["accounts"])


def _report(request: Request, name: str, recent: int = 20) -> dict[str, Any]:
    """``tradebot report --account NAME --json``; an unknown account is a 404."""
    from tradebot.api.problems import ApiError
    from tradebot.core.errors import UsageError
    from tradebot.services.paper import account_report

    try:
        return account_report(api_state(request).ctx, name, recent)
    except UsageError as e:
        if str(e).startswith("no paper account named"):
            raise ApiError(404, str(e)) from e
        raise


@router.get("")
async def accounts(request: Request, token: TokenInfo = ReadToken) -> SafeJSON:
    """Every paper account with its market, strategy and last processed candle."""
    from tradebot.data.paper_repository import PaperRepository

    with api_state(request).ctx.store.session() as session:
        rows = PaperRepository(session).all()
    return SafeJSON({"accounts": [{"account": a.name, "market": f"{a.exchange} {a.symbol} {a.timeframe}",
                                   "strategy": a.strategy, "initial_capital": a.initial_capital,
                                   "last_bar_ms": a.last_bar_ms} for a in rows]})


_STATUS = ("account", "market", "strategy", "params", "initial_capital", "last_bar_ms", "equity", "position",
           "entry_price", "var_95_pct", "cvar_95_pct", "exposure_pct", "daily_summary", "blocked_entries",
           "risk_counts", "psr", "ci95")


@router.get("/{name}")
def account(request: Request, name: str, token: TokenInfo = ReadToken) -> SafeJSON:
    """Status of a paper account: equity, position, risk figures (the report without lists)."""
    rep = _report(request, name)
    return SafeJSON({k: rep.get(k) for k in _STATUS})


@router.get("/{name}/balances")
def balances(request: Request, name: str, token: TokenInfo = ReadToken) -> SafeJSON:
    return SafeJSON({"account": name, "balances": _report(request, name)["balances"]})


@router.get("/{name}/position")
def position(request: Request, name: str, token: TokenInfo = ReadToken) -> SafeJSON:
    rep = _report(request, name)
    return SafeJSON({"account": name, "position": rep["position"], "entry_price": rep["entry_price"],
                     "positions": rep["positions"]})


@router.get("/{name}/orders")
def orders(request: Request, name: str, last: int = Query(50, ge=1, le=10_000),
           token: TokenInfo = ReadToken) -> SafeJSON:
    rep = _report(request, name, last)
    return SafeJSON({"account": name, "orders": rep["orders"], "fills": rep["fills"]})


@router.get("/{name}/trades")
def trades(request: Request, name: str, token: TokenInfo = ReadToken) -> SafeJSON:
    return SafeJSON({"account": name, "trades": _report(request, name)["trades"]})


@router.get("/{name}/risk-events")
def risk_events(request: Request, name: str, last: int = Query(50, ge=1, le=10_000),
                token: TokenInfo = ReadToken) -> SafeJSON:
    rep = _report(request, name, last)
    return SafeJSON({"account": name, "risk_events": rep["risk_events"], "counts": rep["risk_counts"]})


@router.get("/{name}/equity")
def equity(request: Request, name: str, max_points: int = Query(4000, ge=10, le=100_000),
           token: TokenInfo = ReadToken) -> SafeJSON:
    """The account's equity per processed candle, downsampled above ``max_points``."""
    from tradebot.api.problems import ApiError
    from tradebot.api.routes_runs import _line
    from tradebot.data.paper_repository import PaperRepository

    with api_state(request).ctx.store.session() as session:
        repo = PaperRepository(session)
        acct = repo.get(name)
        if acct is None:
            raise ApiError(404, f"no paper account named {name!r}")
        rows = repo.equity(acct.id)
    return SafeJSON(_line(name, [r[0] for r in rows], [r[1] for r in rows], max_points, "per candle"))
