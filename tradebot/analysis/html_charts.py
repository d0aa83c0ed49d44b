"""The figures of the HTML report (plotly), each from data the JSON report also holds.

Times are epoch milliseconds on date axes (plotly.js reads numbers on a date axis as ms),
sent as float64 so that plotly encodes them compactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tradebot.analysis.html_downsample import CandleSample, line_indices, line_note

__all__ = ["candles_figure", "daily_pnl_figure", "drawdown", "equity_figure", "line_figure",
           "monthly_heatmap", "pnl_histogram"]

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GREEN, RED, BLUE, GREY = "#2f9e44", "#e03131", "#1c7ed6", "#868e96"


def _ms(ts: np.ndarray) -> np.ndarray:
    return np.asarray(ts, dtype=np.float64)


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown in percent at each point: ``(1 - equity / running max) * 100``."""
    eq = np.asarray(equity, dtype=np.float64)
    if eq.size == 0:
        return eq
    peak = np.maximum.accumulate(eq)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - eq / peak, 0.0)
    return dd * 100.0


def equity_figure(ts: np.ndarray, equity: np.ndarray, initial: float | None,
                  notes: list[str]) -> go.Figure:
    """Equity over time above its drawdown (both min/max-downsampled)."""
    ts, eq = np.asarray(ts, dtype=np.int64), np.asarray(equity, dtype=np.float64)
    dd = drawdown(eq)
    i_eq, i_dd = line_indices(eq), line_indices(-dd)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    fig.add_trace(go.Scatter(x=_ms(ts[i_eq]), y=eq[i_eq], name="equity", mode="lines",
                             line={"color": BLUE, "width": 1.5}, meta={"role": "equity"}), 1, 1)
    if initial is not None:
        fig.add_hline(y=initial, line={"color": GREY, "dash": "dot", "width": 1}, row=1, col=1)
    fig.add_trace(go.Scatter(x=_ms(ts[i_dd]), y=-dd[i_dd], name="drawdown %", mode="lines",
                             fill="tozeroy", line={"color": RED, "width": 1}, meta={"role": "drawdown"}), 2, 1)
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    for n in (line_note("equity", eq.size, i_eq.size), line_note("drawdown", dd.size, i_dd.size)):
        if n:
            notes.append(n)
    return fig


def line_figure(ts: np.ndarray, values: np.ndarray, name: str, ytitle: str, notes: list[str],
                *, fill: bool = False, color: str = BLUE, step: bool = False) -> go.Figure:
    ts, v = np.asarray(ts, dtype=np.int64), np.asarray(values, dtype=np.float64)
    idx = line_indices(v)
    shape = "hv" if step and idx.size == v.size else "linear"
    fig = go.Figure(go.Scatter(x=_ms(ts[idx]), y=v[idx], name=name, mode="lines",
                               line={"color": color, "width": 1.2, "shape": shape},
                               fill="tozeroy" if fill else None, meta={"role": name}))
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text=ytitle)
    n = line_note(name, v.size, idx.size)
    if n:
        notes.append(n)
    return fig


def _trade_text(t: Mapping[str, Any]) -> str:
    side = t.get("direction")
    side = side if isinstance(side, str) else ("long" if (side or 0) >= 0 else "short")
    return (f"{side} {t.get('units', 0):.6g} @ {t.get('entry_price', 0):,.2f} → "
            f"{t.get('exit_price', 0):,.2f} ({t.get('exit_reason')})<br>P&L {t.get('pnl', 0):,.2f} "
            f"({t.get('return_pct', 0):+.2f} %)")


def _is_long(t: Mapping[str, Any]) -> bool:
    d = t.get("direction")
    return d != "short" if isinstance(d, str) else (d or 0) >= 0


def candles_figure(c: CandleSample | None, trades: Sequence[Mapping[str, Any]],
                   stops: Mapping[str, float | None]) -> go.Figure:
    """Candles (or nothing, when unavailable) with one entry marker and one exit marker per
    trade (``entry_ts_ms``/``exit_ts_ms``), and the fixed stop-loss / take-profit levels of
    each trade when those stops were set (``stops``: ``stop_loss_pct``, ``take_profit_pct``)."""
    fig = go.Figure()
    if c is not None:
        fig.add_trace(go.Candlestick(x=_ms(c.timestamp), open=c.open, high=c.high, low=c.low, close=c.close,
                                     name="price", increasing={"line": {"color": GREEN, "width": 1}},
                                     decreasing={"line": {"color": RED, "width": 1}}, meta={"role": "candles"}))
    t_in = [float(t["entry_ts_ms"]) for t in trades]
    t_out = [float(t["exit_ts_ms"]) for t in trades]
    text = [_trade_text(t) for t in trades]
    symbols = ["triangle-up" if _is_long(t) else "triangle-down" for t in trades]
    fig.add_trace(go.Scatter(x=t_in, y=[t["entry_price"] for t in trades], mode="markers", name="entries",
                             marker={"symbol": symbols, "size": 9, "color": BLUE, "line": {"width": 0.5}},
                             text=text, hoverinfo="text+x", meta={"role": "entries"}))
    closed = [i for i, t in enumerate(trades) if t.get("exit_reason") != "still_open"]
    fig.add_trace(go.Scatter(x=[t_out[i] for i in closed], y=[trades[i]["exit_price"] for i in closed],
                             mode="markers", name="exits", text=[text[i] for i in closed], hoverinfo="text+x",
                             marker={"symbol": "x", "size": 8, "color": [
                                 GREEN if trades[i].get("pnl", 0) > 0 else RED for i in closed]},
                             meta={"role": "exits"}))
    for key, sign, label, color in (("stop_loss_pct", -1.0, "stop-loss", RED),
                                    ("take_profit_pct", 1.0, "take-profit", GREEN)):
        pct = stops.get(key)
        if not pct or not trades:
            continue
        xs: list[float | None] = []
        ys: list[float | None] = []
        for t, a, b in zip(trades, t_in, t_out, strict=True):
            d = 1.0 if _is_long(t) else -1.0
            level = float(t["entry_price"]) * (1.0 + sign * d * float(pct) / 100.0)
            xs += [a, b, None]
            ys += [level, level, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{label} ({pct:g} %)",
                                 line={"color": color, "dash": "dot", "width": 1}, hoverinfo="y",
                                 meta={"role": label}))
    fig.update_xaxes(type="date", rangeslider={"visible": False})
    fig.update_yaxes(title_text="price")
    return fig


def monthly_heatmap(monthly: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Months (columns) by years (rows), the colour the month's return in percent."""
    years = sorted({int(r["year"]) for r in monthly})
    z: list[list[float | None]] = [[None] * 12 for _ in years]
    for r in monthly:
        v = r.get("return_pct")
        z[years.index(int(r["year"]))][int(r["month"]) - 1] = None if v is None else float(v)
    text = [["" if v is None else f"{v:+.1f} %" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=list(MONTHS), y=[str(y) for y in years], text=text,
                               texttemplate="%{text}", colorscale="RdYlGn", zmid=0, hoverongaps=False,
                               colorbar={"title": {"text": "%"}}, meta={"role": "monthly"}))
    fig.update_yaxes(type="category", autorange="reversed")
    return fig


def pnl_histogram(trades: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Distribution of the closed trades' returns (percent)."""
    r = [float(t["return_pct"]) for t in trades if t.get("exit_reason") != "still_open"]
    wins = [x for x in r if x > 0]
    losses = [x for x in r if x <= 0]
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=losses, name=f"losing or flat ({len(losses)})", marker={"color": RED},
                               opacity=0.8, meta={"role": "losses"}))
    fig.add_trace(go.Histogram(x=wins, name=f"winning ({len(wins)})", marker={"color": GREEN},
                               opacity=0.8, meta={"role": "wins"}))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title_text="trade return %")
    fig.update_yaxes(title_text="trades")
    return fig


def daily_pnl_figure(daily: Sequence[Mapping[str, Any]], target: float | None) -> go.Figure:
    """Each day's P&L, green on days the target was met, with the target as a line."""
    days = [str(d["day"]) for d in daily]
    pnl = [float(d["pnl"]) for d in daily]
    colors = [GREEN if d.get("target_met") else (RED if p < 0 else GREY) for d, p in zip(daily, pnl, strict=True)]
    fig = go.Figure(go.Bar(x=days, y=pnl, marker={"color": colors}, name="daily P&L",
                           meta={"role": "daily_pnl"}))
    if target:
        fig.add_hline(y=float(target), line={"color": BLUE, "dash": "dash", "width": 1},
                      annotation_text=f"target {target:,.2f}", annotation_position="top left")
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="P&L")
    return fig
