"""``tradebot report``: show, list and re-run stored backtests; show a paper account (balances,
position, orders, fills, risk events, VaR/CVaR, exposure) with ``--account``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tradebot.cli.common import ConfigOpt, StrategyPathOpt, console, context

if TYPE_CHECKING:
    from rich.console import Console


def report(
    run_id: str = typer.Argument(None, help="Stored run id (see --list), or a study id S<n> (tradebot optimize)."),
    list_runs: bool = typer.Option(False, "--list", "-l", help="List stored runs."),
    account: str = typer.Option(None, "--account", "-a", help="Report a paper account instead."),
    model: str = typer.Option(None, "--model", "-m", help="Report a trained model NAME[:VERSION] instead "
                              "(NAME: its champion, else its newest version)."),
    limit: int = typer.Option(50, "--limit", help="How many runs --list shows."),
    rerun: bool = typer.Option(False, "--rerun", help="Re-run from the stored config and data range; compare."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    trades: bool = typer.Option(False, "--trades", help="Include every trade."),
    html: Path = typer.Option(None, "--html", help="Write the report as one self-contained HTML page "
                              "with charts (opens offline) to this file."),
    config: Path = ConfigOpt,
    strategy_path: Path = StrategyPathOpt,
) -> None:
    """Show a stored backtest run again (or list them, or re-run one), or a paper account."""
    from tradebot.analysis.report import report_to_json
    from tradebot.core.errors import UsageError
    from tradebot.services import backtest as svc

    if not list_runs and run_id is None and account is None and model is None:
        raise UsageError("give a RUN_ID, --list, --account NAME or --model NAME[:VERSION]")
    if limit < 1:
        raise UsageError(f"--limit {limit}: expected the number of runs to list, at least 1")
    ctx = context(config, None, None, strategy_path)
    out = console()
    try:
        from tradebot.services.data import read_store_if_missing

        read_store_if_missing(ctx)  # a report writes nothing, not even an empty database
        if model is not None:
            from tradebot.cli.train import report_model

            report_model(ctx, model, out, json_out=json_out, html=html,
                         others=bool(run_id or list_runs or account or rerun or trades))
            return
        if html is not None:
            if list_runs or rerun or json_out or trades:
                raise UsageError("--html goes with a RUN_ID, a study S<n> or --account NAME alone")
            from tradebot.services.html_report import write_html_report

            page = write_html_report(ctx, html, run_id=run_id, account=account)
            out.print(f"Wrote {page.what} to {page.path} ({page.size / 1e6:.1f} MB, opens offline)"
                      + (f"; {len(page.missing)} chart(s) missing, see the page" if page.missing else ""),
                      highlight=False, soft_wrap=True)
            return
        if run_id is not None and run_id[:1] in ("S", "s"):
            from tradebot.services.study_report import parse_study_id, study_report

            study = study_report(ctx, parse_study_id(run_id))
            if json_out:
                typer.echo(report_to_json(study, indent=2))
            else:
                from tradebot.cli.render_study import render_study

                render_study(study, out)
            return
        if run_id is not None and not run_id.isdigit():
            raise UsageError(f"run id {run_id!r}: expected a number (a backtest run) or S<n> (a study)")
        run_no = int(run_id) if run_id is not None else None
        if account is not None:
            from tradebot.cli.portfolio import report_portfolio_account

            if report_portfolio_account(ctx, account, json_out=json_out, out=out):
                return
            from tradebot.services.paper import account_report

            rep = account_report(ctx, account)
            from tradebot.services.paper_selector import selector_report

            sel = selector_report(ctx, account)  # an account fed by an agent: arms and switches
            if sel is not None:
                rep["selector"] = sel
            if json_out:
                typer.echo(report_to_json(rep, indent=2))
            else:
                from tradebot.cli.render import render_account

                render_account(rep, out)
                if sel is not None:
                    from tradebot.cli.paper_select import render_selector

                    render_selector(sel, out)
            return
        if list_runs:
            runs = svc.list_runs(ctx, limit)
            if json_out:
                typer.echo(report_to_json({"runs": runs}, indent=2))
            else:
                from tradebot.cli.render import render_run_list

                render_run_list(runs, out)
            return
        from tradebot.cli.portfolio import report_portfolio_run

        if run_no is not None and report_portfolio_run(ctx, run_no, rerun=rerun, json_out=json_out,
                                                       trades=trades, out=out):
            return
        if rerun:
            from tradebot.cli.render import render_report

            show_rerun(run_no, svc.rerun(ctx, run_no), render_report, json_out=json_out, out=out)
            return
        rep = svc.stored_report(ctx, run_no, include_trades=trades)
        if json_out:
            typer.echo(report_to_json(rep, indent=2))
        else:
            from tradebot.cli.render import render_report

            render_report(rep, out)
    finally:
        ctx.close()


def show_rerun(run_no: int, result: Any, render: Callable[[Any, Console], None], *, json_out: bool,
               out: Console) -> None:
    """Print a re-run (``report ID --rerun``): its report, then whether it reproduced the stored
    numbers (exit 1 when it did not). ``result`` has ``outcome.report`` and ``differences``."""
    from tradebot.analysis.report import report_to_json

    if json_out:
        typer.echo(report_to_json({"run_id": run_no, "identical": not result.differences,
                                   "differences": result.differences,
                                   "report": result.outcome.report}, indent=2))
    else:
        render(result.outcome.report, out)
        if result.differences:
            out.print(f"[red]Run {run_no} did NOT reproduce:[/red]")
            for d in result.differences:
                out.print(f"  - {d}")
        else:
            out.print(f"[green]Run {run_no} reproduced: identical numbers.[/green]")
    if result.differences:
        raise typer.Exit(1)
