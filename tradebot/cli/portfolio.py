"""The pair-list side of ``backtest``, ``paper`` and ``report``: options, routing, rendering.

A pair list of one pair takes the single-market path (today's numbers); two or more run
the portfolio services (:mod:`tradebot.services.portfolio_backtest`,
:mod:`tradebot.services.paper_portfolio`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from tradebot.core.pairs import PairList
    from tradebot.services.context import Context

SymbolsOpt: Any = typer.Option(None, "--symbols", help="Pair list, comma separated (e.g. BTC/USDT,ETH/USDT): "
                               "one wallet over all of them.")
PairsFileOpt: Any = typer.Option(None, "--pairs-file", help="Pair list file: a JSON list or one pair per line.")
MaxOpenOpt: Any = typer.Option(None, "--max-open-positions", help="Pair list: positions open at once "
                               "(default: one per pair).")
StakeOpt: Any = typer.Option(None, "--stake", help="Pair list: stake per position: equal (free cash / free "
                             "slots), fixed:AMOUNT (quote) or fraction:F (of equity).")
RankOpt: Any = typer.Option(None, "--rank", help="Pair list: which entries go first when slots or cash run "
                            "short: order (pair order), signal (signal strength), score (strategy score).")


def portfolio_overrides(max_open: int | None, stake: str | None, rank: str | None) -> dict[str, object]:
    return {"portfolio.max_open_positions": max_open, "portfolio.stake": stake, "portfolio.rank": rank}


def account_overrides(strategy: str | None, symbol: str | None, exchange: str | None, timeframe: str | None,
                      params: dict[str, str], max_open: int | None, stake: str | None,
                      rank: str | None) -> dict[str, object]:
    """The settings an account command's options give (paper, live): strategy and its
    ``-p`` parameters (parsed), market, portfolio rules."""
    overrides: dict[str, object] = {"strategy.name": strategy, "market.symbol": symbol,
                                    "market.exchange": exchange, "market.timeframe": timeframe}
    if params:
        overrides["strategy.params"] = params
    overrides.update(portfolio_overrides(max_open, stake, rank))
    return overrides


def pair_list(ctx: Context, symbols: str | None, pairs_file: Path | None) -> PairList | None:
    """The pair list the options or the settings name, or None (a one-market run)."""
    from tradebot.services.pairlists import portfolio_requested, resolve_pairs

    file = str(pairs_file) if pairs_file is not None else None
    if not portfolio_requested(ctx, symbols, file):
        return None
    return resolve_pairs(ctx, symbols, file)


def run_backtest_pairs(ctx: Context, pairs: PairList, *, json_out: bool, trades: bool, no_save: bool) -> None:
    """``tradebot backtest`` over a pair list of two or more pairs."""
    from tradebot.cli.common import compile_notice, console, write_line
    from tradebot.services.portfolio_backtest import run_portfolio_backtest

    err = console(stderr=True)

    def step(msg: str, status: Any = None) -> None:
        if msg.startswith("simulating"):
            compile_notice(err.print if err.is_terminal else write_line, "backtest", ctx.settings)
        if status is not None:
            status.update(msg + "…")

    if json_out:
        outcome = run_portfolio_backtest(ctx, pairs, save=not no_save, include_trades=trades, progress=step)
        from tradebot.analysis.report import report_to_json

        typer.echo(report_to_json(outcome.report, indent=2))
        return
    with err.status("backtesting…") as status:
        outcome = run_portfolio_backtest(ctx, pairs, save=not no_save, include_trades=trades,
                                         progress=lambda m: step(m, status))
    out = console()
    render_portfolio_report(outcome.report, out)
    if outcome.run_id is not None:
        out.print(f"Stored as run {outcome.run_id}: `tradebot report {outcome.run_id}` shows it again, "
                  "`--rerun` reproduces it.")


def render_portfolio_report(report: Mapping[str, Any], out: Console) -> None:
    """The usual report (its per-pair table holds every pair) and the portfolio tables."""
    from tradebot.cli.render import render_report

    render_report(report, out)
    pair_params = (report.get("header") or {}).get("pair_params")
    if pair_params:
        out.print("Per-pair parameters: " + "; ".join(
            f"{sym} " + ", ".join(f"{k}={v}" for k, v in p.items()) for sym, p in pair_params.items()))
    section = report.get("portfolio")
    if section:
        render_portfolio_section(section, out)


def render_portfolio_section(section: Mapping[str, Any], out: Console) -> None:
    from rich import box
    from rich.table import Table

    from tradebot.cli.render import fmt_num, fmt_pct

    t = Table(title="Portfolio: contribution and exposure per pair", box=box.SIMPLE_HEAVY, title_style="bold")
    for col in ("Pair", "Trades", "Win %", "Profit", "Contribution %", "Share %", "Exposure %"):
        t.add_column(col, justify="left" if col == "Pair" else "right")
    for r in section.get("pairs") or []:
        t.add_row(str(r["pair"]), fmt_num(r.get("trades"), 0), fmt_pct(r.get("win_rate_pct")),
                  fmt_num(r.get("profit"), 2), fmt_pct(r.get("contribution_pct")),
                  fmt_pct(r.get("share_pct")), fmt_pct(r.get("exposure_pct")))
    out.print(t)
    exp = section.get("exposure") or {}
    if exp.get("mean_pct"):
        e = Table(title="Exposure by asset (% of equity)", box=box.SIMPLE_HEAVY, title_style="bold")
        for col in ("Asset", "Mean %", "Peak %", "Last day %"):
            e.add_column(col, justify="left" if col == "Asset" else "right")
        for asset, mean in exp["mean_pct"].items():
            series = exp["assets"].get(asset) or []
            e.add_row(asset, fmt_pct(mean), fmt_pct(exp["max_pct"].get(asset)),
                      fmt_pct(series[-1] if series else None))
        e.add_row("all", fmt_pct(exp.get("total_mean_pct")), fmt_pct(exp.get("total_max_pct")), "")
        out.print(e)
    corr = section.get("correlation") or {}
    _corr_table(out, "Correlation of daily returns (markets)", corr.get("symbols") or [], corr.get("markets"))
    _corr_table(out, "Correlation of daily P&L (strategy per pair)", corr.get("symbols") or [], corr.get("strategy"))


def _corr_table(out: Console, title: str, symbols: Sequence[str], matrix: Any) -> None:
    if not matrix or len(symbols) < 2:
        return
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.SIMPLE_HEAVY, title_style="bold")
    t.add_column("")
    for s in symbols:
        t.add_column(s, justify="right")
    for s, row in zip(symbols, matrix, strict=True):
        t.add_row(s, *("—" if v is None else f"{v:+.2f}" for v in row))
    out.print(t)


def report_portfolio_run(ctx: Context, run_id: int, *, rerun: bool, json_out: bool, trades: bool,
                         out: Console) -> bool:
    """``tradebot report RUN_ID [--rerun]`` of a portfolio run; False for a one-market run."""
    from tradebot.analysis.report import report_to_json
    from tradebot.services.portfolio_runs import is_portfolio_run, rerun_portfolio, stored_portfolio_report

    if not is_portfolio_run(ctx, run_id):
        return False
    if not rerun:
        rep = stored_portfolio_report(ctx, run_id, include_trades=trades)
        if json_out:
            typer.echo(report_to_json(rep, indent=2))
        else:
            render_portfolio_report(rep, out)
        return True
    from tradebot.cli.report import show_rerun

    show_rerun(run_id, rerun_portfolio(ctx, run_id), render_portfolio_report, json_out=json_out, out=out)
    return True


def run_paper_pairs(ctx: Context, account: str, symbols: str | None, pairs_file: Path | None, *,
                    source: str, since_ms: int | None, wait: bool, loop: bool,
                    requested: dict[str, str | None], out: Console) -> bool:
    """``tradebot paper`` for a portfolio account (an existing one, or a new one over a pair
    list of two or more pairs); False when the account is a one-market account."""
    import time

    from tradebot.core.timeframes import timeframe_ms
    from tradebot.services.paper import AccountBusy
    from tradebot.services.paper_portfolio import get_account, run_paper_portfolio

    existing = get_account(ctx, account)
    # an existing account keeps its pairs: the settings' list (a dynamic one changes) is not asked
    given = symbols is not None or pairs_file is not None
    pairs = pair_list(ctx, symbols, pairs_file) if existing is None or given else None
    if existing is None and pairs is not None and len(pairs.symbols) == 1:
        from tradebot.core.errors import UsageError

        raise UsageError(f"a pair list of one pair ({pairs.symbols[0]}): a one-market paper account "
                         f"takes --symbol {pairs.symbols[0]}")
    if existing is None and pairs is None:
        return False
    while True:
        try:
            r = run_paper_portfolio(ctx, account, pairs, source=source, since_ms=since_ms, wait=wait,
                                    requested=requested)
        except AccountBusy:
            out.print(f"paper account {account!r} is being run by another process; exiting")
            return True
        since_ms = None
        from tradebot.services.incidents import run_succeeded  # heartbeat, resolves open incidents

        run_succeeded(ctx, "paper", account, f"paper {account}: {r.processed} bar(s) over {len(r.symbols)} "
                      f"pairs via {r.source}, {r.trades_closed} trade(s) closed, equity {r.equity:.2f}")
        if r.processed:
            blocked = f", {r.blocked} entries blocked" if r.blocked else ""
            out.print(f"{r.account}: {r.processed} bar(s) over {len(r.symbols)} pairs via {r.source}, "
                      f"{r.trades_closed} trade(s) closed, equity {r.equity:,.2f}, cash {r.cash:,.2f}, "
                      f"{r.open_positions} open position(s){blocked}")
        else:
            out.print(f"{r.account}: up to date (equity {r.equity:,.2f})")
        if not loop:
            return True
        acct = get_account(ctx, account)
        tf = timeframe_ms(acct.timeframe if acct is not None else ctx.settings.market.timeframe)
        now = time.time() * 1000
        time.sleep(max(((now // tf) + 1) * tf - now, 0) / 1000 + 2.0)


def report_portfolio_account(ctx: Context, account: str, *, json_out: bool, out: Console) -> bool:
    """``tradebot report --account NAME`` of a portfolio account; False for any other name."""
    from tradebot.analysis.report import report_to_json
    from tradebot.services.paper_portfolio import portfolio_account_report

    rep = portfolio_account_report(ctx, account)
    if rep is None:
        return False
    if json_out:
        typer.echo(report_to_json(rep, indent=2))
        return True
    from rich.panel import Panel

    from tradebot.cli.render import fmt_num

    lines = [f"Market      {rep['market']}", f"Strategy    {rep['strategy']} {rep['params']}",
             f"Rules       {rep['rules']}", f"Equity      {fmt_num(rep['equity'])} (initial "
             f"{fmt_num(rep['initial_capital'])}), cash {fmt_num(rep['cash'])}",
             "Positions   " + (", ".join(f"{p['pair']} {p['units']:g} @ {fmt_num(p['mark'])}"
                                          for p in rep["positions"]) or "none"),
             f"Trades      {len(rep['trades'])} closed"]
    out.print(Panel("\n".join(lines), title=f"Portfolio paper account {rep['account']}", expand=False))
    render_portfolio_section(rep["portfolio"], out)
    return True


def per_pair_report(ctx: Context, pp: Any) -> dict[str, Any]:
    """``optimize --per-pair``: each pair's study (its report from the store), the chosen
    parameters and the stored portfolio backtest with them."""
    from tradebot.services.study_report import study_report

    studies = []
    for sym, o in pp.studies.items():
        r = study_report(ctx, o.study_id)
        studies.append({"pair": sym, "study_id": o.study_id, "evaluated": o.evaluated, "replayed": o.replayed,
                        "params": pp.pair_params[sym], "chosen": r.get("chosen"), "honesty": r.get("honesty"),
                        "walk_forward": r.get("walk_forward")})
    return {"per_pair": True, "studies": studies, "pair_params": pp.pair_params,
            "run_id": pp.backtest.run_id, "report": pp.backtest.report}


def render_per_pair(rep: Mapping[str, Any], json_out: bool, out: Console) -> None:
    from tradebot.analysis.report import report_to_json

    if json_out:
        typer.echo(report_to_json(dict(rep), indent=2))
        return
    from rich import box
    from rich.table import Table

    from tradebot.cli.render import fmt_num

    t = Table(title="Per-pair parameters (each searched on its pair alone)", box=box.SIMPLE_HEAVY,
              title_style="bold")
    for col in ("Pair", "Study", "Params", "In-sample Sharpe", "Out-of-sample Sharpe", "DSR"):
        t.add_column(col, justify="left" if col in ("Pair", "Study", "Params") else "right")
    for st in rep["studies"]:
        chosen = st.get("chosen") or {}
        wf = (st.get("walk_forward") or {}).get("out_of_sample") or {}
        dsr = ((st.get("honesty") or {}).get("dsr") or {}).get("dsr")
        t.add_row(st["pair"], f"S{st['study_id']}", ", ".join(f"{k}={v}" for k, v in st["params"].items()),
                  fmt_num((chosen.get("in_sample") or {}).get("sharpe"), 3), fmt_num(wf.get("sharpe"), 3),
                  fmt_num(dsr, 3))
    out.print(t)
    render_portfolio_report(rep["report"], out)
    ids = ", ".join(f"S{st['study_id']}" for st in rep["studies"])
    out.print(f"Studies {ids}: `tradebot report S<id>` shows each. The pair list with these parameters is "
              f"stored as run {rep['run_id']}: `tradebot report {rep['run_id']} --rerun` reproduces it "
              "(in-sample over the whole range: judge it by each study's out-of-sample figures).")
    if rep.get("preset_file"):
        out.print(f"Each pair's parameters written to {rep['preset_file']}: use `--preset NAME` with the pair list.")
