"""``tradebot report ... --html FILE``: the pages of a backtest run and a paper account.

The figures are drawn from the same dicts the terminal and JSON reports print
(:func:`tradebot.analysis.report.build_report`, the paper account report) plus, where the
page needs them, the series behind those numbers (equity per bar or per day, candles).
Whatever could not be had is listed at the top of the page, and the rest still renders.
Studies are in :mod:`tradebot.analysis.html_study`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go

from tradebot.analysis.html_charts import (
    candles_figure,
    daily_pnl_figure,
    equity_figure,
    line_figure,
    monthly_heatmap,
    pnl_histogram,
)
from tradebot.analysis.html_downsample import group_candles, line_indices, line_note
from tradebot.analysis.html_page import Page, table
from tradebot.core.candles import Candles

__all__ = ["AccountSeries", "RunSeries", "account_page", "run_page"]

#: The summary table of a run: (key of ``report["summary"]``, label).
SUMMARY_ROWS = (
    ("initial_capital", "Initial capital"), ("final_equity", "Final equity"),
    ("total_return_pct", "Total return %"), ("cagr_pct", "CAGR %"),
    ("buy_and_hold_return_pct", "Buy & hold %"), ("max_drawdown_pct", "Max drawdown %"),
    ("max_drawdown_duration_s", "Longest drawdown (days)"), ("volatility_pct", "Volatility %"),
    ("sharpe", "Sharpe"), ("sortino", "Sortino"), ("calmar", "Calmar"),
    ("var_95_pct", "VaR 95 % (daily)"), ("cvar_95_pct", "CVaR 95 % (daily)"),
    ("trades", "Trades"), ("open_trades", "Open trades"), ("win_rate_pct", "Win rate %"),
    ("profit_factor", "Profit factor"), ("expectancy", "Expectancy"),
    ("best_trade_pct", "Best trade %"), ("worst_trade_pct", "Worst trade %"),
    ("avg_trade_duration_s", "Avg trade duration (h)"), ("max_consecutive_losses", "Max consecutive losses"),
    ("exposure_pct", "Exposure %"), ("total_fees", "Fees paid"),
    ("avg_daily_pnl", "Avg daily P&L"), ("target_days_pct", "Days target met %"),
)


@dataclass(frozen=True)
class RunSeries:
    """The series behind a run's numbers: equity (per bar after a re-run, else per stored day)
    and, per bar only, the share of equity held in the market."""

    timestamp: np.ndarray
    equity: np.ndarray
    exposure_pct: np.ndarray | None
    label: str


@dataclass(frozen=True)
class AccountSeries:
    """A paper account's stored equity and position at each processed close."""

    timestamp: np.ndarray
    equity: np.ndarray
    position: np.ndarray


@dataclass
class Extras:
    """What the caller could not load (shown at the top) and notes to add."""

    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
    rows = []
    for key, label in SUMMARY_ROWS:
        v = summary.get(key)
        if v is not None and key.endswith("_duration_s"):
            v = v / (86400.0 if "drawdown" in key else 3600.0)
        rows.append((label, v))
    return rows


def _header_rows(h: Mapping[str, Any]) -> list[tuple[str, Any]]:
    rng = h.get("data_range") or {}
    return [("Run", h.get("run_id")), ("Strategy", f"{h.get('strategy')} v{h.get('version')}"),
            ("Parameters", h.get("params") or {}), ("Market", f"{h.get('exchange')} {h.get('symbol')} "
                                                    f"{h.get('timeframe')} ({h.get('market_type') or 'spot'})"),
            ("Data", h.get("data_source")), ("Range", f"{rng.get('start')} → {rng.get('end')}"),
            ("Bars", h.get("rows")), ("Fees", h.get("fees")), ("Execution", h.get("execution")),
            ("Code version", h.get("code_version")), ("Seed", h.get("seed")),
            ("Data SHA-256", h.get("data_sha256")), ("Stored at", h.get("created_at"))]


def run_page(report: Mapping[str, Any], series: RunSeries | None, candles: Candles | None,
             stops: Mapping[str, float | None], extras: Extras) -> str:
    """The page of one backtest run; ``report`` is the stored report with its trades."""
    h = report["header"]
    s = report["summary"]
    trades = [_with_ms(t) for t in report.get("trades") or []]
    page = Page(f"Backtest run {h.get('run_id')}: {h.get('strategy')} on {h.get('symbol')} {h.get('timeframe')}",
                f"{h.get('data_source')} · final equity {s.get('final_equity'):,.2f} · "
                f"return {s.get('total_return_pct') or 0:+.2f} % · {s.get('trades')} trades")
    page.missing += extras.missing
    page.notes += extras.notes
    notes: list[str] = []
    if series is not None:
        page.figure("equity", f"Equity and drawdown ({series.label}; max drawdown "
                              f"{s.get('max_drawdown_pct') or 0:.2f} %)",
                    equity_figure(series.timestamp, series.equity, s.get("initial_capital"), notes), 480)
    _candles_section(page, candles, trades, stops, notes)
    if report.get("monthly"):
        page.figure("monthly", "Monthly returns %", monthly_heatmap(report["monthly"]),
                    140 + 40 * len({r["year"] for r in report["monthly"]}))
    page.figure("pnl", _pnl_title(trades), pnl_histogram(trades), 320)
    if series is not None and series.exposure_pct is not None:
        page.figure("exposure", f"Exposure: share of equity in the market ({s.get('exposure_pct') or 0:.1f} % "
                                "of closes held a position)",
                    line_figure(series.timestamp, series.exposure_pct, "exposure %", "% of equity", notes,
                                fill=True), 260)
    page.tables("Summary", [("Performance", table(_summary_rows(s))), ("Run", table(_header_rows(h)))])
    extra = []
    if report.get("exit_reasons"):
        rows = [(r.get("reason"), r.get("count"), r.get("avg_return_pct"), r.get("total_pnl"))
                for r in report["exit_reasons"]]
        extra.append(("Exit reasons", table(rows, ["reason", "trades", "avg return %", "P&L"])))
    if report.get("blocked_entries"):
        extra.append(("Entries blocked by risk rules",
                      table([(r["reason"], r["count"]) for r in report["blocked_entries"]], ["rule", "count"])))
    if extra:
        page.tables("Exits and risk", extra)
    _regime_section(page, report.get("by_regime"))
    page.notes += notes
    return page.render()


def _regime_section(page: Page, section: Mapping[str, Any] | None) -> None:
    """Performance by market regime (the same table as the terminal and JSON reports)."""
    if not section:
        return
    if not section.get("available"):
        page.note(f"No performance by regime: {section.get('reason')}")
        return

    def pct(v: float | None) -> float | None:
        return None if v is None else round(v * 100.0, 2)

    rows = [(r["regime"], pct(r["share"]), r["trades"], pct(r["win_rate"]), r["pnl"],
             r["mean_trade_return_pct"], r["return_pct"], r["market_return_pct"])
            for r in section.get("rows") or []]
    head = ["regime", "time %", "trades", "win rate %", "P&L", "avg trade %", "strategy %", "market %"]
    page.tables("Performance by regime", [(f"{section.get('method')} regimes, recognised about "
                                           f"{section.get('lag_bars')} bars after a change", table(rows, head))])


def _candles_section(page: Page, candles: Candles | None, trades: Sequence[Mapping[str, Any]],
                     stops: Mapping[str, float | None], notes: list[str],
                     positions: Sequence[Mapping[str, Any]] = ()) -> None:
    sample = None
    if candles is not None and len(candles):
        sample = group_candles(candles.timestamp, candles.open, candles.high, candles.low, candles.close)
        if sample.note:
            notes.append(sample.note)
    title = "Price with entries (▲ long, ▼ short) and exits (✕)"
    if any(stops.get(k) for k in ("stop_loss_pct", "take_profit_pct")):
        title += ", fixed stop levels dotted"
    if stops.get("trailing_stop_pct"):
        notes.append(f"the trailing stop ({stops['trailing_stop_pct']:g} %) moves with the price and is "
                     "not drawn")
    if sample is None:
        title += " (candles unavailable: markers only)"
    fig = candles_figure(sample, trades, stops)
    opened = [p for p in positions if p.get("entry_ms") is not None and p.get("qty")]
    if opened:
        title += "; the open position ◆"
        fig.add_trace(go.Scatter(x=[float(p["entry_ms"]) for p in opened], y=[p["avg_entry_price"] for p in opened],
                                 mode="markers", name="open position", meta={"role": "open"},
                                 marker={"symbol": "diamond", "size": 11, "color": "#f08c00"},
                                 text=[f"open {p['qty']:.6g} @ {p['avg_entry_price']:,.2f}, unrealized "
                                       f"{p.get('unrealized_pnl') or 0:,.2f}" for p in opened], hoverinfo="text+x"))
    page.figure("candles", title, fig, 480)


def account_page(rep: Mapping[str, Any], series: AccountSeries, candles: Candles | None,
                 stops: Mapping[str, float | None], extras: Extras) -> str:
    """The page of a paper account; ``rep`` is :func:`tradebot.services.paper.account_report`."""
    page = Page(f"Paper account {rep['account']}: {rep['strategy']} on {rep['market']}",
                f"equity {rep['equity']:,.2f} (from {rep['initial_capital']:,.2f}) · position "
                f"{rep['position']:.6g} · {len(rep.get('trades') or [])} trades")
    page.missing += extras.missing
    page.notes += extras.notes
    notes: list[str] = []
    trades = list(rep.get("trades") or [])
    if series.timestamp.size:
        fig = equity_figure(series.timestamp, series.equity, rep["initial_capital"], notes)
        events = rep.get("risk_events") or []
        if events:
            fig.add_trace(_event_markers(events, series), 1, 1)
        page.figure("equity", "Equity and drawdown (per processed candle)"
                    + (f"; the latest {len(events)} risk events marked" if events else ""), fig, 480)
        title = "Position (units held at each close)"
        if rep.get("exposure_pct") is not None:
            title += f"; a position was held at {rep['exposure_pct']:.1f} % of closes"
        fig = line_figure(series.timestamp, series.position, "position", "units", notes, fill=True, step=True)
        exposure = _exposure(series, candles)
        if exposure is not None:
            fig.add_trace(_exposure_trace(series.timestamp, exposure, notes))
            fig.update_layout(yaxis2={"title": {"text": "% of equity"}, "overlaying": "y", "side": "right",
                                      "rangemode": "tozero", "showgrid": False})
            title += "; exposure (% of equity in the market) on the right"
        page.figure("exposure", title, fig, 280)
    else:
        page.missing.append("the account has processed no candle yet: no equity to draw")
    _candles_section(page, candles, trades, stops, notes, rep.get("positions") or [])
    daily = rep.get("daily") or []
    if daily:
        ds = rep.get("daily_summary") or {}
        page.figure("daily", f"Daily P&L against the target ({ds.get('target_days', 0)} of {ds.get('days', 0)} "
                             "days met it)", daily_pnl_figure(daily, ds.get("target")), 320)
    if trades:
        page.figure("pnl", _pnl_title(trades), pnl_histogram(trades), 300)
    blocks = [("Balances", table([(b["asset"], b["amount"]) for b in rep.get("balances") or []],
                                 ["asset", "amount"])),
              ("Account", table([("Strategy", rep["strategy"]), ("Parameters", rep.get("params") or {}),
                                 ("Market", rep["market"]), ("Initial capital", rep["initial_capital"]),
                                 ("Equity", rep["equity"]), ("Position", rep["position"]),
                                 ("Entry price", rep.get("entry_price")), ("VaR 95 % (daily)", rep.get("var_95_pct")),
                                 ("CVaR 95 % (daily)", rep.get("cvar_95_pct")),
                                 ("Exposure %", rep.get("exposure_pct"))]))]
    if rep.get("positions"):
        blocks.append(("Open positions", table([(p["symbol"], p["qty"], p["avg_entry_price"], p["mark_price"],
                                                 p["unrealized_pnl"]) for p in rep["positions"]],
                                               ["symbol", "qty", "entry", "mark", "unrealized"])))
    page.tables("Balances and position", blocks)
    events = [(_iso(e["ts_ms"]), e["kind"], e["rule"], e.get("detail")) for e in rep.get("risk_events") or []]
    risk = [("Risk events (latest)", table(events, ["time", "kind", "rule", "detail"]) if events else "none")]
    if rep.get("blocked_entries"):
        risk.append(("Entries blocked by risk rules",
                     table([(r["reason"], r["count"]) for r in rep["blocked_entries"]], ["rule", "count"])))
    counts = [(kind, rule, n) for kind, rules in (rep.get("risk_counts") or {}).items() for rule, n in rules.items()]
    risk.append(("Risk events (all, by rule)", table(counts, ["kind", "rule", "count"]) if counts else "none"))
    page.tables("Risk", risk)
    _regime_section(page, rep.get("by_regime"))
    page.notes += notes
    return page.render()


def _event_markers(events: Sequence[Mapping[str, Any]], series: AccountSeries) -> go.Scatter:
    """Risk events at the account's equity of their candle."""
    ts = np.array([int(e["ts_ms"]) for e in events], dtype=np.int64)
    at = np.clip(np.searchsorted(series.timestamp, ts, side="right") - 1, 0, series.timestamp.size - 1)
    return go.Scatter(x=ts.astype(np.float64), y=series.equity[at], mode="markers", name="risk events",
                      marker={"symbol": "diamond", "size": 10, "color": "#f08c00"},
                      text=[f"{e['kind']}: {e['rule']}<br>{e.get('detail') or ''}" for e in events],
                      hoverinfo="text+x", meta={"role": "risk_events"})


def _exposure(series: AccountSeries, candles: Candles | None) -> np.ndarray | None:
    """Share of equity in the market at each stored close (needs that close's candle)."""
    if candles is None or not len(candles):
        return None
    idx = np.clip(np.searchsorted(candles.timestamp, series.timestamp), 0, len(candles) - 1)
    if not np.array_equal(candles.timestamp[idx], series.timestamp):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.abs(series.position * candles.close[idx]) / series.equity * 100.0
    return np.where(series.equity > 0, out, 0.0)


def _exposure_trace(ts: np.ndarray, exposure: np.ndarray, notes: list[str]) -> go.Scatter:
    keep = line_indices(exposure)
    note = line_note("exposure %", exposure.size, keep.size)
    if note:
        notes.append(note)
    return go.Scatter(x=ts[keep].astype(np.float64), y=exposure[keep], name="exposure %", yaxis="y2",
                      mode="lines", line={"color": "#f08c00", "width": 1}, meta={"role": "exposure %"})


def _pnl_title(trades: Sequence[Mapping[str, Any]]) -> str:
    closed = sum(1 for t in trades if t.get("exit_reason") != "still_open")
    return f"Trade P&L distribution ({closed} closed trade{'s' if closed != 1 else ''})"


def _with_ms(trade: Mapping[str, Any]) -> dict[str, Any]:
    """A report's trade (ISO ``entry_time``/``exit_time``) with epoch-ms times for the charts."""
    out = dict(trade)
    for key in ("entry", "exit"):
        if out.get(f"{key}_ts_ms") is None:
            out[f"{key}_ts_ms"] = _iso_ms(out[f"{key}_time"])
    return out


def _iso_ms(text: str) -> int:
    t = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return round(t.timestamp() * 1000)


def _iso(ms: int | None) -> str:
    if ms is None:
        return "–"
    return str(np.datetime64(int(ms), "ms")).replace("T", " ")[:16]
