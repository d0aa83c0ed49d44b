"""``tradebot report --html`` of a portfolio run or a portfolio paper account."""

from __future__ import annotations

import numpy as np

from tradebot.core.errors import Interrupted, TradebotError
from tradebot.services.context import Context
from tradebot.services.portfolio_runs import is_portfolio_run

__all__ = ["is_portfolio_run", "portfolio_account_html", "portfolio_run_html"]


def portfolio_run_html(ctx: Context, run_no: int) -> tuple[str, str, list[str]]:
    """The page of a stored portfolio run: equity per bar when a re-run reproduces it, else
    per stored day."""
    from tradebot.analysis.html_portfolio import portfolio_page
    from tradebot.data.repositories import RunRepository
    from tradebot.services.html_report import _day_ms
    from tradebot.services.portfolio_runs import rerun_portfolio, stored_portfolio_report

    rep = stored_portfolio_report(ctx, run_no, include_trades=True)
    with ctx.store.session() as session:
        daily = RunRepository(session).daily(run_no)
    missing: list[str] = []
    equity = None
    try:
        again = rerun_portfolio(ctx, run_no)
    except Interrupted:
        raise
    except TradebotError as e:
        missing.append(f"per-bar equity is not drawn: the run's data could not be loaded again ({e}); "
                       "equity is drawn per stored day")
    else:
        if again.differences:
            missing.append("per-bar equity is not drawn: re-running the run did not reproduce it "
                           f"({'; '.join(again.differences)}); equity is drawn per stored day")
        else:
            res = again.outcome.result
            equity = (res.timestamp, res.equity, "per bar, re-run with identical numbers")
    if equity is None and daily:
        equity = (np.array([_day_ms(d["day"]) for d in daily], dtype=np.int64),
                  np.array([d["equity"] for d in daily], dtype=np.float64), "per day, from the store")
    h, s = rep["header"], rep["summary"]
    rules = h.get("portfolio_rules") or {}
    info = [("pairs", ", ".join(rep["portfolio"]["symbols"])), ("strategy", f"{h.get('strategy')} {h.get('params')}"),
            ("timeframe", h.get("timeframe")), ("data", h.get("data_source"))]
    info += [(k, v) for k, v in rules.items()]
    page = portfolio_page(
        f"Portfolio run {run_no}: {h.get('strategy')} on {len(rep['portfolio']['symbols'])} pairs {h.get('timeframe')}",
        f"final equity {s.get('final_equity'):,.2f} · return {s.get('total_return_pct') or 0:+.2f} % · "
        f"{s.get('trades')} trades", section=rep["portfolio"], summary=s, equity=equity,
        initial=s.get("initial_capital"), monthly=rep.get("monthly") or [], trades=rep.get("trades") or [],
        info=info, missing=missing)
    return page, f"portfolio run {run_no}", missing


def portfolio_account_html(ctx: Context, name: str) -> tuple[str, str, list[str]] | None:
    """The page of a portfolio paper account, or None when ``name`` is not one."""
    from tradebot.analysis.html_portfolio import portfolio_page
    from tradebot.services.paper_portfolio import account_equity, portfolio_account_report

    rep = portfolio_account_report(ctx, name)
    if rep is None:
        return None
    ts, eq = account_equity(ctx, name)
    info = [("pairs", ", ".join(rep["pairs"])), ("strategy", f"{rep['strategy']} {rep['params']}"),
            ("cash", rep["cash"]), ("open positions", len(rep["positions"]))]
    info += [(k, v) for k, v in (rep.get("rules") or {}).items()]
    page = portfolio_page(f"Portfolio paper account {name}", f"{rep['market']} · equity {rep['equity']:,.2f}",
                          section=rep["portfolio"], summary=None,
                          equity=(ts, eq, "per processed bar") if ts.size else None,
                          initial=rep["initial_capital"], trades=rep["trades"], info=info)
    return page, f"portfolio paper account {name}", []
