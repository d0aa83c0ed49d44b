"""``tradebot backtest``: parse options, run one backtest, render the report."""

from __future__ import annotations

from pathlib import Path

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, StrategyPathOpt, console, context
from tradebot.cli.ml_options import InSampleOpt, ModelOpt, RetrainEveryOpt, RollingOpt, TrainWindowOpt
from tradebot.cli.portfolio import MaxOpenOpt, PairsFileOpt, RankOpt, StakeOpt, SymbolsOpt


def backtest(
    strategy: str = typer.Option(None, "--strategy", "-s", help="Strategy name (see `tradebot strategies list`)."),
    symbol: str = typer.Option(None, "--symbol", help="Market symbol, e.g. BTC/USDT."),
    exchange: str = typer.Option(None, "--exchange", help="Exchange id of the cached candles (or sim)."),
    timeframe: str = typer.Option(None, "--timeframe", "-t", help="Candle timeframe, e.g. 1m, 1h, 1d."),
    since: str = typer.Option(None, "--since", help="First candle (YYYY-MM-DD or ISO, UTC)."),
    until: str = typer.Option(None, "--until", help="End, exclusive (YYYY-MM-DD or ISO, UTC)."),
    param: list[str] = typer.Option([], "--param", "-p", help="Strategy parameter NAME=VALUE (repeatable)."),
    capital: float = typer.Option(None, "--capital", help="Initial capital in quote currency."),
    fee: float = typer.Option(None, "--fee", help="Fee per side as a fraction (maker and taker), e.g. 0.001."),
    slippage: float = typer.Option(None, "--slippage", help="Slippage in basis points."),
    model: str = ModelOpt,
    retrain_every: int = RetrainEveryOpt,
    train_window: int = TrainWindowOpt,
    rolling: bool = RollingOpt,
    in_sample: bool = InSampleOpt,
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    strategy_path: Path = StrategyPathOpt,
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    trades: bool = typer.Option(False, "--trades", help="Include every trade in the report."),
    no_save: bool = typer.Option(False, "--no-save", help="Do not store the run."),
    symbols: str = SymbolsOpt,
    pairs_file: Path = PairsFileOpt,
    max_open_positions: int = MaxOpenOpt,
    stake: str = StakeOpt,
    rank: str = RankOpt,
) -> None:
    """Backtest a strategy on cached candles (or the built-in sim market) and report."""
    from tradebot.cli.ml_options import ml_params
    from tradebot.strategies.params import parse_assignments

    strategy_name, ml = ml_params(strategy, model, retrain_every, train_window, rolling, in_sample)
    overrides: dict[str, object] = {
        "strategy.name": strategy_name, "market.symbol": symbol, "market.exchange": exchange,
        "market.timeframe": timeframe, "backtest.since": since, "backtest.until": until,
        "backtest.initial_capital": capital, "slippage.bps": slippage,
        "fees.maker": fee, "fees.taker": fee,
    }
    params = {**parse_assignments(param), **ml}
    if params:
        overrides["strategy.params"] = params  # merged over the config file's params
    from tradebot.cli.portfolio import pair_list, portfolio_overrides, run_backtest_pairs

    overrides.update(portfolio_overrides(max_open_positions, stake, rank))
    ctx = context(config, preset, overrides, strategy_path)
    pairs = pair_list(ctx, symbols, pairs_file)
    if pairs is not None and len(pairs.symbols) > 1:  # one wallet over the pair list
        try:
            run_backtest_pairs(ctx, pairs, json_out=json_out, trades=trades, no_save=no_save)
        finally:
            ctx.close()
        return
    if pairs is not None:  # a list of one pair is today's single-market backtest
        ctx.close()
        ctx = context(config, preset, {**overrides, "market.symbol": pairs.symbols[0]}, strategy_path)
    from tradebot.cli.common import compile_notice, write_line
    from tradebot.services.backtest import run_backtest

    err = console(stderr=True)

    def step(msg: str, status=None) -> None:  # type: ignore[no-untyped-def]
        if msg.startswith("simulating"):  # the kernels compile now if they are not cached
            compile_notice(err.print if err.is_terminal else write_line, "backtest", ctx.settings)
        if status is not None:
            status.update(msg + "…")

    try:
        if json_out:
            outcome = run_backtest(ctx, save=not no_save, include_trades=trades, progress=step)
        else:
            with err.status("backtesting…") as status:
                outcome = run_backtest(ctx, save=not no_save, include_trades=trades,
                                       progress=lambda m: step(m, status))
    finally:
        ctx.close()
    if json_out:
        from tradebot.analysis.report import report_to_json

        typer.echo(report_to_json(outcome.report, indent=2))
        return
    from tradebot.cli.render import render_report

    out = console()
    render_report(outcome.report, out)
    if (outcome.report.get("header") or {}).get("sample") == "IN-SAMPLE":
        from tradebot.cli.ml_options import IN_SAMPLE_BANNER

        out.print(f"[bold white on red]{IN_SAMPLE_BANNER}[/]")
    if outcome.run_id is not None:
        out.print(f"Stored as run {outcome.run_id}: `tradebot report {outcome.run_id}` "
                  "shows it again, `--rerun` reproduces it.")
