"""The dashboard's portfolio overview: every paper account's equity, P&L today and in total
against the daily profit target, open positions and exposure, from the account reports
(``tradebot report --account NAME``), so the page and the CLI show the same numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tradebot.services.context import Context

__all__ = ["portfolio_overview"]


def _account(rep: dict[str, Any], today: str) -> dict[str, Any]:
    daily = rep.get("daily") or []
    last = daily[-1] if daily else None
    row = last if last is not None and str(last["day"])[:10] == today else None
    summary = rep.get("daily_summary") or {}
    target = summary.get("target")
    equity = float(rep["equity"])
    initial = float(rep["initial_capital"])
    held = sum(abs(p["qty"] * p["mark_price"]) for p in rep.get("positions") or [])
    return {
        "account": rep["account"], "market": rep["market"], "strategy": rep["strategy"],
        "params": rep["params"], "equity": equity, "initial_capital": initial,
        "pnl_total": equity - initial, "return_pct": (equity / initial - 1.0) * 100.0 if initial else None,
        "pnl_today": float(row["pnl"]) if row is not None else 0.0,
        "last_day": None if last is None else str(last["day"])[:10],
        "daily_target": target, "target_met_today": bool(row is not None and target is not None
                                                         and row["pnl"] >= target),
        "target_days": summary.get("target_days"), "days": summary.get("days"),
        "positions": rep.get("positions") or [],
        "exposure_now_pct": held / equity * 100.0 if equity > 0 else None,
        "time_in_market_pct": rep.get("exposure_pct"), "last_bar_ms": rep.get("last_bar_ms"),
    }


def portfolio_overview(ctx: Context, now: dt.datetime | None = None) -> dict[str, Any]:
    """Each account's figures and the portfolio's totals; "today" is the UTC day of ``now``."""
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services.paper import account_report

    today = (now or dt.datetime.now(dt.UTC)).date().isoformat()
    with ctx.store.session() as session:
        names = [a.name for a in PaperRepository(session).all()]
    accounts = [_account(account_report(ctx, n, recent=0), today) for n in names]
    targets = [a["daily_target"] for a in accounts if a["daily_target"] is not None]
    return {
        "today": today,
        "accounts": accounts,
        "totals": {
            "accounts": len(accounts),
            "equity": sum(a["equity"] for a in accounts),
            "initial_capital": sum(a["initial_capital"] for a in accounts),
            "pnl_today": sum(a["pnl_today"] for a in accounts),
            "pnl_total": sum(a["pnl_total"] for a in accounts),
            "daily_target": sum(targets) if targets else None,
            "open_positions": sum(len(a["positions"]) for a in accounts),
        },
    }
