"""``tradebot optimize``: parse options, run or resume one study, render its conclusions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tradebot.cli.common import (
    ConfigOpt,
    PresetOpt,
    QuietOpt,
    StrategyPathOpt,
    compile_notice,
    console,
    context,
    interrupt_note,
    progress_style,
)
from tradebot.cli.portfolio import MaxOpenOpt, PairsFileOpt, RankOpt, StakeOpt, SymbolsOpt

if TYPE_CHECKING:
    from tradebot.services.optimize import Progress


def optimize(
    strategy: str = typer.Option(None, "--strategy", "-s", help="Strategy name (see `tradebot strategies list`)."),
    symbol: str = typer.Option(None, "--symbol", help="Market symbol, e.g. BTC/USDT."),
    exchange: str = typer.Option(None, "--exchange", help="Exchange id of the cached candles (or sim)."),
    timeframe: str = typer.Option(None, "--timeframe", "-t", help="Candle timeframe, e.g. 1m, 1h."),
    since: str = typer.Option(None, "--since", help="First candle (YYYY-MM-DD or ISO, UTC)."),
    until: str = typer.Option(None, "--until", help="End, exclusive (YYYY-MM-DD or ISO, UTC)."),
    method: str = typer.Option(None, "--method", "-m", help="grid, random, ga (deap) or bayes (optuna TPE) "
                                                            "[config optimize.method, default grid]."),
    objective: str = typer.Option(None, "--objective", "-o",
                                  help="sharpe, sortino, calmar, profit, return, profit_dd, daily_target; "
                                       "several (comma-separated) give a Pareto front [default sharpe]."),
    space: list[str] = typer.Option([], "--space", help="NAME=LOW:HIGH[:STEP], NAME=A,B,C or NAME=VALUE "
                                                        "(repeatable; engine: stop_loss_pct, take_profit_pct, ...)."),
    capital: float = typer.Option(None, "--capital", help="Initial capital in quote currency."),
    fee: float = typer.Option(None, "--fee", help="Fee per side as a fraction (maker and taker), e.g. 0.001."),
    param: list[str] = typer.Option([], "--param", "-p", help="Fixed strategy parameter NAME=VALUE (repeatable)."),
    trials: int = typer.Option(None, "--trials", help="Evaluations for random and bayes [default 100]."),
    batch_size: int = typer.Option(16, "--batch-size", help="Parameter sets evaluated together (random, bayes)."),
    population: int = typer.Option(40, "--population", help="GA population."),
    generations: int = typer.Option(25, "--generations", help="GA generations."),
    cx_prob: float = typer.Option(0.7, "--cx-prob", help="GA crossover probability."),
    mut_prob: float = typer.Option(0.2, "--mut-prob", help="GA mutation probability."),
    elite: int = typer.Option(2, "--elite", help="GA: best individuals kept unchanged (one objective)."),
    tournament: int = typer.Option(3, "--tournament", help="GA tournament size."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default: the config's seed)."),
    max_dd: float = typer.Option(None, "--max-dd", help="Max drawdown %% allowed (constraint on every objective)."),
    min_trades: int = typer.Option(0, "--min-trades", help="Trials with fewer trades are infeasible."),
    wf_train: str = typer.Option(None, "--wf-train", help="Walk-forward in-sample length: bars or 30d, 12h, 2w."),
    wf_test: str = typer.Option(None, "--wf-test", help="Walk-forward out-of-sample length."),
    wf_step: str = typer.Option(None, "--wf-step", help="Walk-forward step (default: the test length)."),
    anchored: bool = typer.Option(False, "--anchored", help="Anchored walk-forward (in-sample grows from the start)."),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Worker processes on this machine (joblib) [default 1]."),
    cluster: str = typer.Option(None, "--cluster", help="Dask scheduler address, e.g. tcp://HOST:8786."),
    resume: str = typer.Option(None, "--resume", help="Continue an interrupted study (S<id>)."),
    export_preset: str = typer.Option(None, "--export-preset", help="Write the chosen parameters to preset NAME."),
    list_studies: bool = typer.Option(False, "--list", "-l", help="List stored studies."),
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    strategy_path: Path = StrategyPathOpt,
    json_out: bool = typer.Option(False, "--json", help="Print the study report as JSON."),
    quiet: bool = QuietOpt,
    symbols: str = SymbolsOpt,
    pairs_file: Path = PairsFileOpt,
    max_open_positions: int = MaxOpenOpt,
    stake: str = StakeOpt,
    rank: str = RankOpt,
    per_pair: bool = typer.Option(False, "--per-pair", help="Pair list: search each pair's parameters on that "
                                                            "pair alone, then backtest the list with them (stored)."),
    if_older: str = typer.Option(None, "--if-older", help="Cron: run only if the newest finished study of this "
                                 "strategy, market, method and space is older than this (12h, 7d); else say so."),
    wait: bool = typer.Option(False, "--wait", help="With --if-older: wait for another run of the same study "
                              "instead of skipping."),
) -> None:
    """Search strategy (and stop/sizing) parameters; report in-sample against out-of-sample."""
    from tradebot.analysis.report import report_to_json
    from tradebot.services import optimize as svc
    from tradebot.services import study_report as rep
    from tradebot.strategies.params import parse_assignments

    overrides: dict[str, object] = {
        "strategy.name": strategy, "market.symbol": symbol, "market.exchange": exchange,
        "market.timeframe": timeframe, "backtest.since": since, "backtest.until": until,
        "backtest.initial_capital": capital, "fees.maker": fee, "fees.taker": fee,
    }
    params = parse_assignments(param)
    if params:
        overrides["strategy.params"] = params
    if export_preset is not None:
        rep.check_preset_name(export_preset)
    cron_age = _cron_age(if_older, wait, list_studies or resume is not None or per_pair)
    from tradebot.cli.portfolio import pair_list, per_pair_report, portfolio_overrides, render_per_pair

    overrides.update(portfolio_overrides(max_open_positions, stake, rank))
    ctx = context(config, preset, overrides, strategy_path)
    out = console()
    pairs = None if list_studies or resume is not None else pair_list(ctx, symbols, pairs_file)
    portfolio = pairs if pairs is not None and len(pairs.symbols) > 1 else None
    if per_pair and (list_studies or resume is not None):
        ctx.close()
        from tradebot.core.errors import UsageError

        raise UsageError("--per-pair: not with --list or --resume (each pair's study resumes by its S<id>)")
    if per_pair and portfolio is None:
        ctx.close()
        from tradebot.core.errors import UsageError

        raise UsageError("--per-pair needs a pair list of two or more pairs (--symbols A,B or --pairs-file)")
    if cron_age is not None and portfolio is not None:
        ctx.close()
        from tradebot.core.errors import UsageError

        raise UsageError("--if-older re-runs one market's study; not with a pair list of two or more pairs")
    if pairs is not None and portfolio is None:  # a list of one pair is the one-market optimizer
        ctx.close()
        ctx = context(config, preset, {**overrides, "market.symbol": pairs.symbols[0]}, strategy_path)
    try:
        if list_studies or resume is not None:
            from tradebot.services.data import read_store_if_missing

            read_store_if_missing(ctx)  # no study to list or resume: nothing to create either
        if list_studies:
            rows = rep.list_studies(ctx)
            if json_out:
                typer.echo(report_to_json({"studies": rows}, indent=2))
            else:
                from tradebot.cli.render_study import render_study_list

                render_study_list(rows, out)
            return
        o = ctx.settings.optimize
        jobs = o.jobs if jobs is None else jobs
        cluster = o.cluster if cluster is None else cluster
        request = svc.OptimizeRequest(
            method=method or o.method, objectives=objective or o.objective, space=merge_specs(o.space, space),
            trials=o.trials if trials is None else trials, batch_size=batch_size,
            population=population, generations=generations, cx_prob=cx_prob, mut_prob=mut_prob, elite=elite,
            tournament=tournament, seed=seed, max_dd=max_dd, min_trades=min_trades, wf_train=wf_train,
            wf_test=wf_test, wf_step=wf_step, wf_anchored=anchored,
            extra={"sizing_mode": ctx.settings.sizing.mode})
        pp = None
        with _progress(progress_style(json_out, quiet), ctx.settings, per_pair) as (on_progress, on_notice):
            if resume is not None:
                sid = rep.parse_study_id(resume)
                interrupt_note(f"nothing new was stored; `tradebot optimize --resume S{sid}` continues study S{sid}")
                outcome = svc.resume_optimize(ctx, sid, jobs=jobs, cluster=cluster,
                                              progress=on_progress, notice=on_notice)
            elif portfolio is not None and per_pair:
                from tradebot.services.portfolio_optimize import run_per_pair

                pp = run_per_pair(ctx, portfolio, request, jobs=jobs, cluster=cluster, progress=on_progress,
                                  notice=on_notice)
            elif portfolio is not None:  # one parameter set for the whole pair list, stored as a study
                from tradebot.services.portfolio_optimize import run_portfolio_study

                outcome = run_portfolio_study(ctx, portfolio, request, jobs=jobs, cluster=cluster,
                                              progress=on_progress, notice=on_notice)
            elif cron_age is not None:  # cron: services/optimize_cron.py
                from tradebot.services.optimize_cron import run_if_older

                cron = run_if_older(ctx, request, cron_age, wait=wait, jobs=jobs, cluster=cluster,
                                    progress=on_progress, notice=on_notice)
                if cron.outcome is None:
                    typer.echo(report_to_json({"skipped": cron.skipped, "study_id": cron.study_id}, indent=2)
                               if json_out else cron.skipped)
                    return
                outcome = cron.outcome
            else:
                outcome = svc.run_optimize(ctx, request, jobs=jobs, cluster=cluster, progress=on_progress,
                                           notice=on_notice)
        if pp is not None:
            pp_report = per_pair_report(ctx, pp)
            if export_preset is not None:
                from tradebot.services.portfolio_optimize import export_pair_preset

                pp_report["preset_file"] = str(export_pair_preset(ctx, pp, export_preset))
        else:
            report = rep.study_report(ctx, outcome.study_id)
            preset_file = rep.export_preset(ctx, outcome.study_id, export_preset) if export_preset else None
    finally:
        ctx.close()
    if pp is not None:
        render_per_pair(pp_report, json_out, out)
        return
    if json_out:
        report["evaluated"] = outcome.evaluated
        report["replayed"] = outcome.replayed
        if preset_file is not None:
            report["preset_file"] = str(preset_file)
        typer.echo(report_to_json(report, indent=2))
        return
    from tradebot.cli.render_study import render_study

    render_study(report, out)
    note = f" ({outcome.replayed} replayed from the store)" if outcome.replayed else ""
    out.print(f"Study S{outcome.study_id}: {outcome.evaluated} evaluations{note}. "
              f"`tradebot report S{outcome.study_id}` shows it again.")
    if preset_file is not None:
        out.print(f"Chosen parameters written to {preset_file}: use `--preset {export_preset}`.")


def _cron_age(if_older: str | None, wait: bool, other_mode: bool) -> float | None:
    """``--if-older`` in seconds (checked before anything else), for one market's new study."""
    from tradebot.core.errors import UsageError

    if if_older is None:
        if wait:
            raise UsageError("--wait goes with --if-older (a cron run waiting for the same study)")
        return None
    from tradebot.ml.retrain import parse_age

    age = parse_age(if_older)
    if other_mode:
        raise UsageError("--if-older re-runs one market's study; not with --list, --resume, --per-pair or a pair list")
    return age


def merge_specs(config: list[str], cli: list[str]) -> tuple[str, ...]:
    """The config's ``optimize.space`` specs, each replaced by a command-line spec of the same name."""
    names = {c.split("=", 1)[0].strip() for c in cli}
    return tuple([c for c in config if c.split("=", 1)[0].strip() not in names] + list(cli))


class _progress:
    """Progress on stderr: a Rich bar per window with the best score so far on a terminal,
    plain lines otherwise (trials and windows done, best so far; at most one every few
    seconds), nothing with ``--quiet``. Also the one-line notices of the study (started,
    stopping after this batch)."""

    def __init__(self, style: str | None, settings: Any = None, per_study: bool = False) -> None:
        self.style = style
        self.settings = settings
        self._bar: Any = None
        self._tasks: dict[tuple[int, int], Any] = {}
        self.per_study = per_study
        self._lines: Any = None
        self._write: Callable[[str], None] = print
        self._started = False

    def __enter__(self) -> tuple[Callable[[Progress], None] | None, Callable[[str], None] | None]:
        from tradebot.cli.common import ProgressLines, write_line

        if self.style == "lines":
            self._lines = ProgressLines()
            self._write = write_line
            return self._line, self._notice
        if self.style != "rich":
            return None, None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("best {task.fields[best]}"), TimeElapsedColumn(),
                             console=console(stderr=True), transient=False)
        self._bar.__enter__()
        self._write = self._bar.console.print
        return self._update, self._notice

    def _notice(self, text: str) -> None:
        if not self._started:  # the study is stored and about to evaluate: a compile comes now
            self._started = True
            compile_notice(self._write, "optimize", self.settings)
        self._write(text)

    def _line(self, p: Progress) -> None:
        best = "-" if p.best is None else f"{p.best:.4g}"
        first = (p.study_id, p.window) not in self._tasks
        self._tasks[(p.study_id, p.window)] = True
        where = f"window {p.window + 1}/{p.windows}: " if p.windows > 1 else ""
        done = f"; {p.windows_done}/{p.windows} windows done" if p.windows > 1 else ""
        self._lines(f"optimize S{p.study_id}: {where}{p.done:,}/{p.budget:,} trials, best "
                    f"{p.objective or 'score'} {best}{done} ({self._lines.elapsed()})",
                    force=first or p.done >= p.budget)

    def _update(self, p: Progress) -> None:
        bar = self._bar
        assert bar is not None
        best = "-" if p.best is None else f"{p.best:.4g}"
        key = (p.study_id, p.window)  # --per-pair runs one study after another
        if key not in self._tasks:
            label = "searching" if p.windows == 1 else f"window {p.window + 1}/{p.windows}"
            if self.per_study:
                label = f"S{p.study_id} {label}"
            self._tasks[key] = bar.add_task(label, total=p.budget, best=best)
        bar.update(self._tasks[key], completed=p.done, total=p.budget, best=best)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
