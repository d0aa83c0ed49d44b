"""The HTML page of a portfolio (a pair list sharing one wallet): a stored portfolio run or a
portfolio paper account.

Drawn from the report dicts (:mod:`tradebot.services.portfolio_runs`,
:func:`tradebot.services.paper_portfolio.portfolio_account_report`): the portfolio equity
and drawdown, exposure by asset over time (stacked, % of equity at each day's last bar),
the correlation of the pairs' daily returns, the per-pair table, monthly returns and the
trade P&L; plus the usual summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from tradebot.analysis.html_charts import equity_figure, monthly_heatmap, pnl_histogram
from tradebot.analysis.html_page import Page, table
from tradebot.analysis.html_report import SUMMARY_ROWS

PAIR_COLUMNS = (("pair", "pair"), ("trades", "trades"), ("win_rate_pct", "win %"), ("profit", "profit"),
                ("avg_profit_pct", "avg profit %"), ("contribution_pct", "contribution %"),
                ("share_pct", "share %"), ("exposure_pct", "exposure %"))


def exposure_figure(exposure: Mapping[str, Any]) -> go.Figure:
    """Exposure by asset over time, stacked (each asset's % of equity at each day's close)."""
    fig = go.Figure()
    days = np.asarray(exposure.get("days") or [], dtype=np.float64)
    for asset, series in (exposure.get("assets") or {}).items():
        fig.add_trace(go.Scatter(x=days, y=np.asarray(series, dtype=np.float64), name=asset, mode="lines",
                                 stackgroup="exposure", meta={"role": "exposure", "asset": asset}))
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="% of equity")
    return fig


def correlation_figure(corr: Mapping[str, Any], key: str = "markets") -> go.Figure:
    """A heatmap of a correlation matrix (None cells blank)."""
    syms = list(corr.get("symbols") or [])
    z = [[np.nan if v is None else v for v in row] for row in (corr.get(key) or [])]
    fig = go.Figure(go.Heatmap(z=z, x=syms, y=syms, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                               texttemplate="%{z:.2f}", meta={"role": "correlation"}))
    fig.update_yaxes(autorange="reversed")
    return fig


def pair_rows(pairs: Sequence[Mapping[str, Any]]) -> str:
    return table([[p.get(k) for k, _ in PAIR_COLUMNS] for p in pairs], [h for _, h in PAIR_COLUMNS])


def portfolio_page(title: str, subtitle: str, *, section: Mapping[str, Any], summary: Mapping[str, Any] | None,
                   equity: tuple[np.ndarray, np.ndarray, str] | None, initial: float | None,
                   monthly: Sequence[Mapping[str, Any]] = (), trades: Sequence[Mapping[str, Any]] = (),
                   info: Sequence[tuple[str, Any]] = (), missing: Sequence[str] = ()) -> str:
    """The page; ``equity`` is (timestamps ms, equity, label) or None when it could not be had."""
    page = Page(title, subtitle)
    page.missing += list(missing)
    notes: list[str] = []
    if equity is not None:
        page.figure("equity", f"Portfolio equity and drawdown ({equity[2]})",
                    equity_figure(equity[0], equity[1], initial, notes), 480)
    exp = section.get("exposure")
    if exp and exp.get("days"):
        page.figure("exposure-assets", "Exposure by asset (% of equity, each day's last bar; stacked)",
                    exposure_figure(exp), 320)
    corr = section.get("correlation")
    if corr and corr.get("markets") and len(corr.get("symbols") or []) > 1:
        page.figure("correlation", f"Correlation of the pairs' daily returns ({corr.get('days')} days)",
                    correlation_figure(corr), 120 + 50 * len(corr["symbols"]))
    page.section("Per pair", pair_rows(section.get("pairs") or []))
    if monthly:
        page.figure("monthly", "Monthly returns %", monthly_heatmap(monthly),
                    140 + 40 * len({r["year"] for r in monthly}))
    if trades:
        page.figure("pnl", f"P&L of {len(trades)} trades", pnl_histogram(trades), 320)
    blocks = []
    if summary:
        blocks.append(("Performance", table([(label, summary.get(k)) for k, label in SUMMARY_ROWS
                                             if k in summary])))
    if info:
        blocks.append(("Portfolio", table(list(info))))
    if blocks:
        page.tables("Summary", blocks)
    page.notes += notes
    return page.render()
