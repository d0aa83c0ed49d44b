"""Rich rendering of report models (see :mod:`tradebot.analysis.report`) and run lists.

Pure presentation: every figure comes from the report dict; nothing is computed here except
formatting (and compounding monthly returns into a yearly column).
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from rich import box
from rich.console import Console, Group, JustifyMethod
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tradebot.analysis.report import is_synthetic_source

DASH = "–"
SYNTHETIC_WARNING = "Data: built-in synthetic market (sim) — not real prices"

__all__ = [
    "DASH",
    "SYNTHETIC_WARNING",
    "fmt_duration",
    "fmt_money",
    "fmt_num",
    "fmt_pct",
    "render_report",
    "render_run_list",
]


# --------------------------------------------------------------------------- formatting


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def fmt_pct(x: Any, digits: int = 2, sign: bool = False) -> str:
    """``12.345`` -> ``"12.35%"`` (input already in percent); None -> ``"–"``."""
    f = _num(x)
    if f is None:
        return DASH
    return f"{f:+,.{digits}f}%" if sign else f"{f:,.{digits}f}%"


def fmt_money(x: Any, currency: str | None = None, digits: int = 2) -> str:
    """``12345.678`` -> ``"12,345.68"`` (``"12,345.68 USDT"`` with a currency)."""
    f = _num(x)
    if f is None:
        return DASH
    s = f"{f:,.{digits}f}"
    return f"{s} {currency}" if currency else s


def fmt_num(x: Any, digits: int = 2) -> str:
    """Plain number with thousands separators; ints stay ints; None -> ``"–"``."""
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    f = _num(x)
    return DASH if f is None else f"{f:,.{digits}f}"


def fmt_duration(seconds: Any) -> str:
    """Seconds -> ``"2d 03:04:05"`` / ``"03:04:05"``; None -> ``"–"``."""
    f = _num(seconds)
    if f is None:
        return DASH
    total = int(round(abs(f)))
    d, rem = divmod(total, 86_400)
    h, rem = divmod(rem, 3_600)
    m, s = divmod(rem, 60)
    body = f"{h:02d}:{m:02d}:{s:02d}"
    out = f"{d}d {body}" if d else body
    return f"-{out}" if f < 0 else out


def _color(value: Any, text: str) -> Text:
    f = _num(value)
    style = "" if f is None or f == 0 else ("green" if f > 0 else "red")
    return Text(text, style=style)


def _short_iso(s: Any) -> str:
    """``2024-01-02T03:04:00Z`` -> ``2024-01-02 03:04``."""
    if not s:
        return DASH
    if isinstance(s, datetime):
        if s.tzinfo is not None:
            s = s.astimezone(UTC)
        return s.strftime("%Y-%m-%d %H:%M")
    if isinstance(s, date):
        return s.isoformat()
    s = str(s).replace("T", " ").removesuffix("Z").removesuffix("+00:00")
    if s.endswith(":00") and len(s) >= 19:
        s = s[:16]
    return s


def _quote(symbol: Any) -> str | None:
    if isinstance(symbol, str) and "/" in symbol:
        return symbol.split(",", 1)[0].split("/", 1)[1].split(":", 1)[0] or None  # a pair list: A/Q,B/Q
    return None


def _plain(v: Any) -> str:
    if v is None or v == "" or v == {}:
        return DASH
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={_plain(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return json.dumps(v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _count(v: Any) -> str:
    return fmt_num(v, 0) if isinstance(v, int | float) and not isinstance(v, bool) else _plain(v)


# --------------------------------------------------------------------------- sections


def _header_panel(header: Mapping[str, Any], summary: Mapping[str, Any]) -> Panel:
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold cyan", no_wrap=True)
    t.add_column()
    rng = header.get("data_range")
    if isinstance(rng, Mapping):
        rng_s = f"{_short_iso(rng.get('start'))} → {_short_iso(rng.get('end'))}"
    elif rng:
        rng_s = str(rng)
    else:
        rng_s = f"{_short_iso(summary.get('start'))} → {_short_iso(summary.get('end'))}"
    strategy = header.get("strategy") or DASH
    if header.get("version"):
        strategy = f"{strategy} v{header['version']}"
    market = " ".join(str(x) for x in (header.get("exchange"), header.get("symbol")) if x)
    rows = [
        ("Strategy", strategy),
        ("Parameters", _plain(header.get("params"))),
        ("Market", market or DASH),
        ("Timeframe", _plain(header.get("timeframe"))),
        ("Data source", _plain(header.get("data_source"))),
        ("Data range", rng_s),
        ("Rows / gaps", f"{_count(header.get('rows'))} / {_count(header.get('gaps'))}"),
        ("Fees / slippage", f"{_plain(header.get('fees'))} / {_plain(header.get('slippage'))}"),
        ("Execution", _plain(header.get("execution"))),
        ("Run", _plain(header.get("run_id"))),
        ("Code version", _plain(header.get("code_version"))),
        ("Seed", _plain(header.get("seed"))),
    ]
    for k, v in rows:
        t.add_row(k, v)
    parts: list[Any] = [t]
    if is_synthetic_source(header.get("data_source")):
        parts.insert(0, Text(SYNTHETIC_WARNING, style="bold black on yellow"))
    return Panel(Group(*parts), title="[bold]Backtest", box=box.ROUNDED, expand=False)


def _per_pair_table(rows: Sequence[Mapping[str, Any]], quote: str | None) -> Table:
    cur = quote or "quote"
    t = Table(title="Results per pair", box=box.SIMPLE_HEAVY, title_style="bold")
    t.add_column("Pair", no_wrap=True)
    t.add_column("Trades", justify="right")
    t.add_column("Avg Profit %", justify="right")
    t.add_column(f"Tot Profit {cur}", justify="right")
    t.add_column("Tot Profit %", justify="right")
    t.add_column("Avg Duration", justify="right")
    t.add_column("Win  Draw  Loss  Win%", justify="right")
    for r in rows:
        wdl = (
            f"{r.get('wins', 0)}  {r.get('draws', 0)}  {r.get('losses', 0)}  "
            f"{fmt_num(r.get('win_rate_pct'), 1)}"
        )
        t.add_row(
            str(r.get("pair", DASH)),
            fmt_num(r.get("trades")),
            _color(r.get("avg_profit_pct"), fmt_pct(r.get("avg_profit_pct"))),
            _color(r.get("total_profit"), fmt_money(r.get("total_profit"))),
            _color(r.get("total_profit_pct"), fmt_pct(r.get("total_profit_pct"))),
            fmt_duration(r.get("avg_duration_s")),
            wdl,
        )
    return t


TOO_FEW_DAYS = "n/a (too few days)"


def confidence_rows(s: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Rows for the PSR and block-bootstrap 95 % intervals of a report summary or an account
    report (keys ``psr``, ``ci95``, ``confidence``); none when the report predates them."""
    how = s.get("confidence")
    if not isinstance(how, Mapping):
        return []
    ci = s.get("ci95") if isinstance(s.get("ci95"), Mapping) else None
    few = ci is None and str(how.get("note") or "").startswith("too few days")
    na = TOO_FEW_DAYS if few else DASH

    def interval(key: str, fmt: Any) -> str:
        v = ci.get(key) if ci else None
        if not v:
            return na
        return f"{fmt(v[0])} to {fmt(v[1])}"

    psr = _num(s.get("psr"))
    rows = [
        ("Probabilistic Sharpe (P[SR>0])", na if psr is None else fmt_pct(psr * 100.0, 1)),
        ("Sharpe 95% CI (block bootstrap)", interval("sharpe", fmt_num)),
        ("Return 95% CI (block bootstrap)", interval("return_pct", fmt_pct)),
    ]
    has_target = "target_days_pct" in ci if ci is not None else bool(_num(s.get("daily_target")))
    if has_target:  # no daily target set: no such interval
        rows.append(("Target days 95% CI (block bootstrap)", interval("target_days_pct", fmt_pct)))
    if ci is not None:
        rows.append(("Bootstrap", f"{fmt_num(how.get('resamples'), 0)} resamples, "
                                  f"{fmt_num(how.get('block_days'), 0)}-day blocks, seed {how.get('seed')}"))
    return rows


def _summary_table(s: Mapping[str, Any], quote: str | None) -> Table:
    def money(k: str) -> str:
        return fmt_money(s.get(k), quote)

    def pct(k: str) -> str:
        return fmt_pct(s.get(k))

    def day(k: str, pk: str) -> str:
        if s.get(k) is None:
            return DASH
        return f"{s.get(k)}  ({fmt_money(s.get(pk), quote)})"

    groups: list[tuple[str, list[tuple[str, Any]]]] = [
        (
            "Returns",
            [
                ("Backtesting from", _short_iso(s.get("start"))),
                ("Backtesting to", _short_iso(s.get("end"))),
                ("Bars / days", f"{fmt_num(s.get('bars'))} / {fmt_num(s.get('days'))}"),
                ("Starting balance", money("initial_capital")),
                ("Final balance", money("final_equity")),
                ("Total return", _color(s.get("total_return_pct"), pct("total_return_pct"))),
                ("CAGR", _color(s.get("cagr_pct"), pct("cagr_pct"))),
                ("Buy & hold return", pct("buy_and_hold_return_pct")),
            ],
        ),
        (
            "Risk",
            [
                ("Volatility (ann.)", pct("volatility_pct")),
                ("Max drawdown", pct("max_drawdown_pct")),
                ("Max drawdown (abs)", money("max_drawdown_abs")),
                (
                    "Drawdown peak → trough",
                    f"{_short_iso(_ms_iso(s.get('max_drawdown_peak_ms')))} → "
                    f"{_short_iso(_ms_iso(s.get('max_drawdown_trough_ms')))}",
                ),
                (
                    "Longest drawdown",
                    f"{fmt_duration(s.get('max_drawdown_duration_s'))} "
                    f"({fmt_num(s.get('max_drawdown_duration_bars'))} bars)",
                ),
                ("VaR 95% (daily)", pct("var_95_pct")),
                ("CVaR 95% (daily)", pct("cvar_95_pct")),
                ("Sharpe", fmt_num(s.get("sharpe"))),
                ("Sortino", fmt_num(s.get("sortino"))),
                ("Calmar", fmt_num(s.get("calmar"))),
            ],
        ),
        ("Confidence (daily returns)", confidence_rows(s)),
        (
            "Trades",
            [
                ("Trades", f"{fmt_num(s.get('trades'))} ({fmt_num(s.get('open_trades'))} open)"),
                (
                    "Win / draw / loss",
                    f"{fmt_num(s.get('wins'))} / {fmt_num(s.get('draws'))} / "
                    f"{fmt_num(s.get('losses'))}",
                ),
                ("Win rate", pct("win_rate_pct")),
                ("Profit factor", fmt_num(s.get("profit_factor"))),
                (
                    "Expectancy",
                    f"{fmt_money(s.get('expectancy'), quote)} ({pct('expectancy_pct')})",
                ),
                ("Avg win / loss", f"{money('avg_win')} / {money('avg_loss')}"),
                ("Best / worst trade", f"{pct('best_trade_pct')} / {pct('worst_trade_pct')}"),
                (
                    "Avg / median duration",
                    f"{fmt_duration(s.get('avg_trade_duration_s'))} / "
                    f"{fmt_duration(s.get('median_trade_duration_s'))}",
                ),
                (
                    "Max consecutive wins / losses",
                    f"{fmt_num(s.get('max_consecutive_wins'))} / "
                    f"{fmt_num(s.get('max_consecutive_losses'))}",
                ),
                ("Exposure", pct("exposure_pct")),
                ("Fees paid", money("total_fees")),
            ],
        ),
        (
            "Daily target",
            [
                ("Daily target", money("daily_target")),
                ("Avg daily P&L", _color(s.get("avg_daily_pnl"), money("avg_daily_pnl"))),
                (
                    "Days meeting target",
                    f"{fmt_num(s.get('target_days'))} / {fmt_num(s.get('days'))} "
                    f"({pct('target_days_pct')})",
                ),
                ("Best day", day("best_day", "best_day_pnl")),
                ("Worst day", day("worst_day", "worst_day_pnl")),
            ],
        ),
    ]
    t = Table(title="Summary metrics", box=box.SIMPLE_HEAVY, title_style="bold")
    t.add_column("Metric", style="cyan", no_wrap=True)
    t.add_column("Value", justify="right")
    groups = [(name, rows) for name, rows in groups if rows]
    for gi, (name, rows) in enumerate(groups):
        if gi:
            t.add_section()
        t.add_row(Text(name, style="bold magenta"), "")
        for label, value in rows:
            t.add_row(label, value)
    return t


def _ms_iso(ms: Any) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _monthly_long_table(monthly: Sequence[Mapping[str, Any]]) -> Table:
    """One row per month: for terminals too narrow for the year × month grid."""
    t = Table(title="Monthly returns", box=box.SIMPLE_HEAVY, title_style="bold")
    t.add_column("Month", no_wrap=True)
    t.add_column("Return", justify="right")
    for r in monthly:
        v = r.get("return_pct")
        t.add_row(f"{int(r['year'])}-{int(r['month']):02d}", _color(v, fmt_pct(v, sign=True)))
    return t


def _monthly_table(monthly: Sequence[Mapping[str, Any]]) -> Table:
    t = Table(title="Monthly returns", box=box.SIMPLE_HEAVY, title_style="bold")
    t.add_column("Year", no_wrap=True)
    for m in range(1, 13):
        t.add_column(calendar.month_abbr[m], justify="right")
    t.add_column("Year", justify="right", style="bold")
    by_year: dict[int, dict[int, float | None]] = {}
    for r in monthly:
        by_year.setdefault(int(r["year"]), {})[int(r["month"])] = r.get("return_pct")
    for year in sorted(by_year):
        months = by_year[year]
        cells: list[Any] = [str(year)]
        growth = 1.0
        for m in range(1, 13):
            v = months.get(m)
            cells.append(_color(v, fmt_pct(v, sign=True)) if m in months else "")
            num = _num(v)  # float(v) when finite, else None
            if num is not None:
                growth *= 1.0 + num / 100.0
        ytd = (growth - 1.0) * 100.0
        cells.append(_color(ytd, fmt_pct(ytd, sign=True)))
        t.add_row(*cells)
    return t


def _exit_reason_table(rows: Sequence[Mapping[str, Any]], quote: str | None) -> Table:
    cur = quote or "quote"
    t = Table(title="Exit reasons", box=box.SIMPLE_HEAVY, title_style="bold")
    t.add_column("Exit reason", no_wrap=True)
    t.add_column("Exits", justify="right")
    t.add_column("Win  Draw  Loss", justify="right")
    t.add_column("Avg Profit %", justify="right")
    t.add_column(f"Tot Profit {cur}", justify="right")
    for r in rows:
        t.add_row(
            str(r.get("reason", DASH)),
            fmt_num(r.get("count")),
            f"{r.get('wins', 0)}  {r.get('draws', 0)}  {r.get('losses', 0)}",
            _color(r.get("avg_return_pct"), fmt_pct(r.get("avg_return_pct"))),
            _color(r.get("total_pnl"), fmt_money(r.get("total_pnl"))),
        )
    return t


def _trades_table(trades: Sequence[Mapping[str, Any]], quote: str | None) -> Table:
    cur = quote or "quote"
    t = Table(title=f"Trades ({len(trades)})", box=box.SIMPLE_HEAVY, title_style="bold")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("#", "right"), ("Side", "left"), ("Entry", "left"), ("Exit", "left"),
        ("Entry price", "right"), ("Exit price", "right"), ("Units", "right"),
        (f"P&L {cur}", "right"), ("P&L %", "right"), ("Exit reason", "left"),
    )
    for col, justify in columns:
        t.add_column(col, justify=justify, no_wrap=col in ("Entry", "Exit"))
    for i, tr in enumerate(trades, 1):
        t.add_row(
            str(i), str(tr.get("direction", "")), _short_iso(tr.get("entry_time")),
            _short_iso(tr.get("exit_time")), fmt_money(tr.get("entry_price")),
            fmt_money(tr.get("exit_price")), fmt_num(tr.get("units"), 6),
            _color(tr.get("pnl"), fmt_money(tr.get("pnl"))),
            _color(tr.get("return_pct"), fmt_pct(tr.get("return_pct"))),
            str(tr.get("exit_reason", "")),
        )
    return t


# --------------------------------------------------------------------------- public


def regime_table(section: Mapping[str, Any], quote: str | None) -> Table | Text:
    """Performance by market regime (rule-based, causal; tradebot.analysis.regime_report)."""
    if not section.get("available"):
        return Text(f"No performance by regime: {section.get('reason')}", style="dim")
    t = Table(title=f"Performance by regime ({section.get('method')}, recognised about "
              f"{section.get('lag_bars')} bars after a change)", box=box.SIMPLE_HEAVY, title_style="bold")
    for col in ("Regime", "Time", "Trades", "Win rate", "P&L", "Avg trade", "Strategy", "Market"):
        t.add_column(col, justify="left" if col == "Regime" else "right")
    for r in section.get("rows") or []:
        t.add_row(str(r["regime"]), fmt_pct(None if r["share"] is None else r["share"] * 100.0, 1),
                  fmt_num(r["trades"], 0), fmt_pct(None if r["win_rate"] is None else r["win_rate"] * 100.0, 1),
                  _color(r["pnl"], fmt_money(r["pnl"], quote)),
                  _color(r["mean_trade_return_pct"], fmt_pct(r["mean_trade_return_pct"], sign=True)),
                  _color(r["return_pct"], fmt_pct(r["return_pct"], sign=True)),
                  fmt_pct(r["market_return_pct"], sign=True))
    return t


def render_report(report: Mapping[str, Any], console: Console) -> None:
    """Print a report model in the spirit of freqtrade's backtest output."""
    header = report.get("header") or {}
    summary = report.get("summary") or {}
    quote = _quote(header.get("symbol"))

    console.print(_header_panel(header, summary))
    console.print(_per_pair_table(report.get("per_pair") or [], quote))
    console.print(_summary_table(summary, quote))
    monthly = report.get("monthly") or []
    if monthly:
        wide = console.width >= 120
        console.print(_monthly_table(monthly) if wide else _monthly_long_table(monthly))
    else:
        console.print(Text("No monthly returns (empty run).", style="dim"))
    reasons = report.get("exit_reasons") or []
    if reasons:
        console.print(_exit_reason_table(reasons, quote))
    else:
        console.print(Text("No trades.", style="dim"))
    blocked = report.get("blocked_entries") or []
    if blocked:
        t = Table(title="Entries blocked by risk rules", box=box.SIMPLE_HEAVY, title_style="bold")
        t.add_column("Rule")
        t.add_column("Blocked", justify="right")
        for row in blocked:
            t.add_row(str(row["reason"]), fmt_num(row["count"], 0))
        console.print(t)
    if report.get("by_regime"):
        console.print(regime_table(report["by_regime"], quote))
    trades = report.get("trades")
    if trades:
        console.print(_trades_table(trades, quote))
    if is_synthetic_source(header.get("data_source")):
        console.print(Text(SYNTHETIC_WARNING, style="bold yellow"))


def _pick(run: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if run.get(k) is not None:
            return run[k]
    return None


def render_run_list(runs: Sequence[Mapping[str, Any]], console: Console) -> None:
    """Table of stored runs for ``tradebot report --list``.

    Each run dict may use ``id``/``run_id``, ``date``/``created_at``/``started_at``,
    ``strategy``, ``symbol``, ``timeframe``, ``trades``, ``total_return_pct``/``return_pct``,
    ``max_drawdown_pct``/``max_dd_pct``, ``sharpe``, ``data_source``/``source``.
    """
    if not runs:
        console.print(Text("No stored runs.", style="dim"))
        return
    t = Table(title="Runs", box=box.SIMPLE_HEAVY, title_style="bold")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("ID", "left"),
        ("Date", "left"),
        ("Strategy", "left"),
        ("Symbol", "left"),
        ("TF", "left"),
        ("Trades", "right"),
        ("Return %", "right"),
        ("Max DD %", "right"),
        ("Sharpe", "right"),
        ("Data", "left"),
    )
    for name, just in columns:
        t.add_column(name, justify=just, no_wrap=name in ("ID", "Date"))
    for r in runs:
        ret = _pick(r, "total_return_pct", "return_pct")
        src = _pick(r, "data_source", "source")
        src_cell = (
            Text(f"{src} (synthetic)", style="yellow")
            if is_synthetic_source(src)
            else Text(_plain(src))
        )
        t.add_row(
            _plain(_pick(r, "id", "run_id")),
            _short_iso(_pick(r, "date", "created_at", "started_at")),
            _plain(r.get("strategy")),
            _plain(r.get("symbol")),
            _plain(r.get("timeframe")),
            fmt_num(r.get("trades")),
            _color(ret, fmt_pct(ret)),
            fmt_pct(_pick(r, "max_drawdown_pct", "max_dd_pct")),
            fmt_num(r.get("sharpe")),
            src_cell,
        )
    console.print(t)


def _no_dust(x: Any) -> Any:
    """Rounding residue (an account that spent all its cash holds -1e-12) shown as 0."""
    f = _num(x)
    return 0.0 if f is not None and abs(f) < 1e-9 else x


def render_account(rep: Mapping[str, Any], console: Console) -> None:
    """A paper account: balances, position, equity and risk figures, recent orders and
    fills, risk events, entries blocked by rule, closed trades, daily P&L against the target."""
    quote = _quote(str(rep.get("market", "")).split(" ")[1] if rep.get("market") else None)
    pos = rep.get("position") or 0.0
    head = Table.grid(padding=(0, 2))
    head.add_row("Account", str(rep.get("account")))
    head.add_row("Market", str(rep.get("market")))
    head.add_row("Strategy", f"{rep.get('strategy')} {rep.get('params')}")
    if rep.get("models"):  # the ml strategy: the registry versions that decided, oldest first
        head.add_row("Models", ", ".join(f"{m['model']} ({m['decisions']:,} candles from "
                                         f"{_ms_iso(m['first_ms'])})" for m in rep["models"]))
    head.add_row("Last candle", _ms_iso(rep.get("last_bar_ms")) or DASH)
    head.add_row("Equity", f"{fmt_money(rep.get('equity'), quote)} (started with "
                 f"{fmt_money(rep.get('initial_capital'), quote)})")
    head.add_row("Balances", ", ".join(
        f"{fmt_num(_no_dust(b['amount']), 8 if b['asset'] != quote else 2)} {b['asset']}"
        for b in rep.get("balances") or []) or DASH)
    head.add_row("Open position", "flat" if not pos else
                 f"{pos:g} units @ {fmt_money(rep.get('entry_price'))}")
    head.add_row("VaR / CVaR 95%", f"{fmt_pct(rep.get('var_95_pct'))} / "
                 f"{fmt_pct(rep.get('cvar_95_pct'))} of equity a day")
    head.add_row("Exposure", f"{fmt_pct(rep.get('exposure_pct'))} of closes in the market")
    target = (rep.get("daily_summary") or {}).get("target")
    for label, value in confidence_rows({**rep, "daily_target": target}):
        head.add_row(label, value)
    console.print(Panel(head, title="Paper account", expand=False))
    positions = rep.get("positions") or []
    if positions:
        p = Table(title="Open positions (marked at the last close)", box=box.SIMPLE_HEAVY,
                  title_style="bold")
        for col in ("Symbol", "Qty", "Avg entry", "Since", "Mark", "Unrealized P&L"):
            p.add_column(col, justify="left" if col in ("Symbol", "Since") else "right")
        for row in positions:
            p.add_row(str(row["symbol"]), fmt_num(row["qty"], 8), fmt_money(row["avg_entry_price"]),
                      _ms_iso(row["entry_ms"]) or DASH, fmt_money(row["mark_price"]),
                      _color(row["unrealized_pnl"], fmt_money(row["unrealized_pnl"], quote)))
        console.print(p)
    orders = rep.get("orders") or []
    if orders:
        o = Table(title=f"Recent orders ({len(orders)})", box=box.SIMPLE_HEAVY, title_style="bold")
        for col in ("#", "Time", "Intent", "Side", "Type", "Qty", "Avg price", "Fee", "Status",
                    "Exit reason"):
            o.add_column(col, justify="right" if col in ("#", "Qty", "Avg price", "Fee") else "left")
        for row in orders:
            o.add_row(str(row["seq"]), _ms_iso(row["first_fill_ms"]) or DASH, str(row["intent"]),
                      str(row["side"]), str(row["order_type"]), fmt_num(row["qty"], 8),
                      fmt_money(row["avg_price"]), fmt_money(row["fee"]), str(row["status"]),
                      str(row["exit_reason"] or DASH))
        console.print(o)
    fills = rep.get("fills") or []
    if fills:
        f = Table(title=f"Recent fills ({len(fills)})", box=box.SIMPLE_HEAVY, title_style="bold")
        for col in ("#", "Order", "Candle", "Side", "Qty", "Price", "Fee", "Maker"):
            f.add_column(col, justify="left" if col in ("Candle", "Side", "Maker") else "right")
        for row in fills:
            f.add_row(str(row["seq"]), str(row["order_seq"]), _ms_iso(row["ts_ms"]) or DASH,
                      str(row["side"]), fmt_num(row["qty"], 8), fmt_money(row["price"]),
                      fmt_money(row["fee"]), "yes" if row["maker"] else "no")
        console.print(f)
    blocked = rep.get("blocked_entries") or []
    if blocked:
        b = Table(title="Blocked entries", box=box.SIMPLE_HEAVY, title_style="bold")
        b.add_column("Risk rule")
        b.add_column("Entries blocked", justify="right")
        for row in blocked:
            b.add_row(str(row["reason"]), fmt_num(row["count"], 0))
        console.print(b)
    if rep.get("by_regime"):
        console.print(regime_table(rep["by_regime"], quote))
    events = rep.get("risk_events") or []
    if events:
        r = Table(title=f"Risk events ({len(events)} most recent, blocked entries counted above)",
                  box=box.SIMPLE_HEAVY, title_style="bold")
        for col in ("Candle", "Event", "Rule", "Detail"):
            r.add_column(col)
        for row in events:
            r.add_row(_ms_iso(row["ts_ms"]) or DASH, str(row["kind"]), str(row["rule"]),
                      str(row["detail"]))
        console.print(r)
    trades = rep.get("trades") or []
    t = Table(title=f"Closed trades ({len(trades)})", box=box.SIMPLE_HEAVY, title_style="bold")
    for col in ("#", "Entry", "Exit", "Side", "P&L", "P&L %", "Exit reason"):
        t.add_column(col, justify="right" if col in ("#", "P&L", "P&L %") else "left")
    for tr in trades[-50:]:
        t.add_row(str(tr["seq"]), _ms_iso(tr["entry_ts_ms"]) or DASH, _ms_iso(tr["exit_ts_ms"]) or DASH,
                  "long" if tr["direction"] > 0 else "short", _color(tr["pnl"], fmt_money(tr["pnl"])),
                  _color(tr["return_pct"], fmt_pct(tr["return_pct"])), str(tr["exit_reason"]))
    console.print(t)
    daily = rep.get("daily") or []
    summary = rep.get("daily_summary") or {}
    d = Table(title="Daily P&L against the target", box=box.SIMPLE_HEAVY, title_style="bold")
    for col in ("Day", "P&L", "Equity", "Target met"):
        d.add_column(col, justify="left" if col == "Day" else "right")
    for row in daily[-14:]:
        d.add_row(str(row["day"]), _color(row["pnl"], fmt_money(row["pnl"])), fmt_money(row["equity"]),
                  "yes" if row["target_met"] else "no")
    console.print(d)
    if summary:
        console.print(f"Target {fmt_money(summary.get('target'), quote)} a day met on "
                      f"{summary.get('target_days')} of {summary.get('days')} days; average "
                      f"{fmt_money(summary.get('avg_daily_pnl'), quote)}.")
