"""Options of ``tradebot backtest`` for the ``ml`` strategy: the model and its walk-forward."""

from __future__ import annotations

from typing import Any

import typer

ModelOpt = typer.Option(None, "--model", help="ml strategy: registry model NAME (its champion) or NAME:VERSION; "
                        "implies --strategy ml.")
RetrainEveryOpt = typer.Option(None, "--retrain-every", min=1, help="ml strategy: bars between retrainings in the "
                               "walk-forward backtest (default: a tenth of the bars after the first window).")
TrainWindowOpt = typer.Option(None, "--train-window", min=1, help="ml strategy: bars of the first training window, "
                              "and of every window with --rolling (default: 30 % of the bars).")
RollingOpt = typer.Option(False, "--rolling", help="ml strategy: a training window of fixed length that slides "
                          "(default: expanding).")
InSampleOpt = typer.Option(False, "--in-sample", help="ml strategy: the stored model as is, no retraining; a range "
                           "that overlaps its training data is labelled IN-SAMPLE.")

IN_SAMPLE_BANNER = ("IN-SAMPLE: the model predicts data it was trained on; these numbers say nothing about "
                    "how it will trade (drop --in-sample for a walk-forward backtest)")


def ml_params(strategy: str | None, model: str | None, retrain_every: int | None, train_window: int | None,
              rolling: bool, in_sample: bool) -> tuple[str | None, dict[str, Any]]:
    """``(strategy name, strategy params)`` for the ml options given (none given: unchanged)."""
    from tradebot.core.errors import UsageError

    given = {"--model": model is not None, "--retrain-every": retrain_every is not None,
             "--train-window": train_window is not None, "--rolling": rolling, "--in-sample": in_sample}
    used = [k for k, v in given.items() if v]
    if not used:
        return strategy, {}
    if strategy is not None and strategy != "ml":
        raise UsageError(f"{used[0]} applies to the ml strategy only (got --strategy {strategy})")
    params: dict[str, Any] = {}
    if model is not None:
        params["model"] = model
    if retrain_every is not None:
        params["retrain_every"] = retrain_every
    if train_window is not None:
        params["train_window"] = train_window
    if rolling:
        params["window"] = "rolling"
    if in_sample:
        params["in_sample"] = True
    return "ml", params
