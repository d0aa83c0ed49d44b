"""``tradebot train``: cross-validate a model honestly, show the verdict, store a candidate."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import typer

from tradebot.cli.common import ConfigOpt, PresetOpt, QuietOpt, console, context


def _embargo(text: str) -> float | int:
    from tradebot.core.errors import UsageError

    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--embargo must be a number of bars (24) or a fraction in [0, 1) (0.01), "
                         f"got {text!r}") from None


def train(
    name: str = typer.Option(..., "--name", "-n", help="Model name in the registry (letters, digits, _ . -)."),
    spec: str = typer.Option("default", "--spec", help="Feature spec: built-in name or TOML file."),
    label: str = typer.Option("forward", "--label", help="Labels: forward (return sign), triple_barrier, or meta "
                              "(whether a --base strategy's trade gains after costs)."),
    base: str = typer.Option(None, "--base", help="meta: the built-in strategy whose entries the model filters "
                             "(e.g. rsi)."),
    param: list[str] = typer.Option([], "--param", "-p", help="meta: a --base strategy parameter NAME=VALUE "
                                    "(repeatable)."),
    horizon: int = typer.Option(12, "--horizon", help="Label horizon in bars (the vertical barrier)."),
    dead_zone: float = typer.Option(0.0, "--dead-zone", help="forward: returns within ±X are left out."),
    pt: float = typer.Option(2.0, "--pt", help="triple_barrier: profit barrier in ATRs."),
    sl: float = typer.Option(1.0, "--sl", help="triple_barrier: stop barrier in ATRs."),
    model: str = typer.Option("logreg", "--model", "-m", help="logreg, rf, hgb, or a classifier module:Class."),
    calibration: str = typer.Option("none", "--calibration", help="Probability calibration: none, sigmoid, isotonic."),
    pca: float = typer.Option(None, "--pca", help="PCA after scaling: components (>= 1) or variance share (< 1)."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds."),
    embargo: str = typer.Option("0.01", "--embargo", help="Embargo: bars (int) or a fraction of the span."),
    cv: str = typer.Option("purged", "--cv", help="purged (k-fold with purge and embargo) or walk-forward."),
    shuffles: int = typer.Option(19, "--shuffles", help="Shuffled-label runs for the verdict (>= 19 to find an edge)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default: the settings' seed)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Processes for the shuffled-label runs (-1: all cores)."),
    tune: int = typer.Option(None, "--tune", help="Tune the model's hyperparameters with N Optuna trials "
                             "(scored by the CV's test folds; the verdict deflates for every trial)."),
    if_older: str = typer.Option(None, "--if-older", help="Cron: train only if the newest version of this "
                                 "model is older than this (90m, 12h, 7d); else say so and exit 0."),
    promote_margin: float = typer.Option(None, "--promote-margin", help="Champion/challenger: become the "
                                         "champion only by beating it on the most recent test fold by this "
                                         "AUC margin (e.g. 0.01)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another training of the same model to end "
                              "instead of refusing."),
    importance: bool = typer.Option(True, "--importance/--no-importance",
                                    help="Feature importance on the test folds (MDA, grouped MDA, MDI)."),
    exchange: str = typer.Option(None, "--exchange", help="Exchange id of the cached candles (or sim)."),
    symbol: str = typer.Option(None, "--symbol", help="Market symbol, e.g. BTC/USDT."),
    timeframe: str = typer.Option(None, "--timeframe", "-t", help="Candle timeframe, e.g. 5m, 1h."),
    since: str = typer.Option(None, "--since", help="First candle (YYYY-MM-DD or ISO, UTC)."),
    until: str = typer.Option(None, "--until", help="End, exclusive (YYYY-MM-DD or ISO, UTC)."),
    preset: str = PresetOpt,
    config: Path = ConfigOpt,
    json_out: bool = typer.Option(False, "--json", help="Print the stored record as JSON."),
    quiet: bool = QuietOpt,
) -> None:
    """Train a model with purged cross-validation; every number shown is out of sample."""
    from tradebot.ml.evaluate import CVSettings, LabelSettings
    from tradebot.ml.importance import ImportanceSettings
    from tradebot.ml.pipeline import ModelSettings
    from tradebot.ml.retrain import ModelBusy, parse_age
    from tradebot.services.train import TrainRequest
    from tradebot.strategies.params import parse_assignments

    pca_value: float | int | None = None
    if pca is not None:
        pca_value = int(pca) if pca >= 1 and float(pca).is_integer() else float(pca)
    request = TrainRequest(
        name=name, spec=spec,
        label=LabelSettings(method=label, horizon=horizon, dead_zone=dead_zone, profit=pt, stop=sl,
                            base=base or "", base_params=parse_assignments(param) or None),
        model=ModelSettings(model=model, calibration=calibration, pca=pca_value),
        cv=CVSettings(scheme=cv, folds=folds, embargo=_embargo(embargo), shuffles=shuffles),
        seed=seed, jobs=jobs, importance=ImportanceSettings() if importance else None,
        tune=tune, if_older=None if if_older is None else parse_age(if_older), promote_margin=promote_margin,
        wait=wait,
    )
    overrides: dict[str, object] = {"market.exchange": exchange, "market.symbol": symbol,
                                    "market.timeframe": timeframe, "backtest.since": since,
                                    "backtest.until": until}
    ctx = context(config, preset, overrides)
    from tradebot.cli.common import progress_style
    from tradebot.services.train import train as run_train

    try:
        with TrainProgress(progress_style(json_out, quiet)) as progress:
            outcome = run_train(ctx, request, progress=progress)
    except ModelBusy as e:
        if if_older is None:
            raise
        console().print(f"{e.args[0].split(';')[0]}: not retrained")  # cron: the other run retrains it
        return
    finally:
        ctx.close()
    if outcome.skipped is not None:
        if json_out:
            import json

            typer.echo(json.dumps({"skipped": outcome.skipped, "newest": outcome.record}, indent=2, sort_keys=True))
        else:
            console().print(outcome.skipped)
        return
    if json_out:
        import json

        typer.echo(json.dumps(outcome.record, indent=2, sort_keys=True))
        return
    out = console()
    render_training(outcome.record, out)
    ref = f"{outcome.record['name']}:{outcome.record['version']}"
    if outcome.challenge is not None:
        out.print(outcome.challenge, soft_wrap=True)
    if outcome.record["status"] == "champion":
        out.print(f"Stored as {ref} (champion).")
    else:
        out.print(f"Stored as {ref} (candidate); `tradebot models promote {ref}` makes it the champion.")


class TrainProgress:
    """Progress of a training on stderr: Rich bars over the tuning trials, the folds and the
    shuffled-label runs on a terminal, the service's plain lines otherwise, nothing with
    ``--quiet`` (:func:`tradebot.cli.common.progress_style`)."""

    _COUNTED = re.compile(r"^(tuning trial|fold|shuffled labels) (\d+)/(\d+)")
    _LABELS = {"tuning trial": "tuning trials", "fold": "folds (out of sample)",
               "shuffled labels": "shuffled-label runs"}

    def __init__(self, style: str | None) -> None:
        self.style = style
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> Any:
        from tradebot.cli.common import write_line

        if self.style == "lines":
            return write_line
        if self.style != "rich":
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=console(stderr=True), transient=False)
        self._bar.__enter__()
        return self._update

    def _update(self, text: str) -> None:
        bar = self._bar
        m = self._COUNTED.match(text)
        if m is None:
            bar.console.print(text, highlight=False, soft_wrap=True)
            return
        kind, done, total = m.group(1), int(m.group(2)), int(m.group(3))
        if kind not in self._tasks:
            self._tasks[kind] = bar.add_task(self._LABELS[kind], total=total)
        bar.update(self._tasks[kind], completed=done, total=total)
        if kind == "fold":  # the fold's scores stay visible above the bars
            bar.console.print(text, highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def _pct(x: Any) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):+.2%}"


def _num(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}f}"


def _day(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M")


def render_training(record: dict[str, Any], out: Any) -> None:
    """Fold table, baselines and the verdict of a stored record (all out of sample)."""
    from rich.table import Table

    scores, cvs = record["scores"], record["cv"]
    emb = cvs["embargo"]
    emb_text = f"{emb} bars" if isinstance(emb, int) else f"{emb:.1%} of the span"
    lab = record["label"]
    if lab["method"] == "meta":
        from tradebot.ml.meta import describe

        what = f"meta labels on {describe(lab)}: its trades, winners after {lab['cost']:.3%} per side"
    else:
        what = f"{lab['method']} labels, horizon {lab['horizon']}"
    out.print(f"Model {record['name']}:{record['version']} ({record['model']['model']}, {what}) on "
              f"{record['exchange']} {record['symbol']} {record['timeframe']}: {record['data_rows']:,} bars, "
              f"{record['samples']:,} samples, spec {record['spec_name']} ({record['spec_sha256'][:12]})")
    scheme = "purged k-fold" if cvs["scheme"] == "purged" else "walk-forward"
    t = Table(title=f"Out of sample, per test fold ({scheme}, {len(scores['folds'])} folds, embargo {emb_text}; "
                    f"trading through the engine with fees and slippage)")
    for col in ("fold", "test from", "to", "train", "test", "log loss", "AUC", "bal. acc", "Brier",
                "return", "trades", "buy & hold"):
        t.add_column(col, justify="left" if col in ("test from", "to") else "right")
    for f in scores["folds"]:
        t.add_row(str(f["fold"]), _day(f["start_ms"]), _day(f["end_ms"]), f"{f['train_samples']:,}",
                  f"{f['test_samples']:,}", _num(f["log_loss"], 4), _num(f["auc"]), _num(f["balanced_accuracy"]),
                  _num(f["brier"], 4), _pct(f["return"]), str(f["trades"]), _pct(f["buy_hold_return"]))
    out.print(t)
    sm = scores["summary"]
    m, maj, sh, bh = sm["model"], sm["majority"], sm["shuffled"], sm["buy_hold"]
    b = Table(title="Out of sample, model against baselines (scores: mean over folds; return: folds compounded)")
    for col in ("", "AUC", "log loss", "Brier", "bal. acc", "return"):
        b.add_column(col, justify="left" if not col else "right")
    b.add_row("model", _num(m["auc"]), _num(m["log_loss"], 4), _num(m["brier"], 4), _num(m["balanced_accuracy"]),
              _pct(m["return"]))
    b.add_row("majority class", _num(maj["auc"]), _num(maj["log_loss"], 4), _num(maj["brier"], 4),
              _num(maj["balanced_accuracy"]), "")
    if sh["runs"]:
        b.add_row(f"shuffled labels (mean of {sh['runs']})", _num(sh["auc_mean"]), _num(sh["log_loss_mean"], 4),
                  "", "", _pct(sh["return_mean"]))
        b.add_row(f"shuffled labels (best of {sh['runs']})", _num(sh["auc_max"]), "", "", "", _pct(sh["return_max"]))
    b.add_row("buy and hold", "", "", "", "", _pct(bh["return"]))
    if sm.get("base"):  # meta: the strategy the model filters, unfiltered, same bars and costs
        b.add_row(f"base strategy alone ({sm['base']['trades']} trades)", "", "", "", "", _pct(sm["base"]["return"]))
    out.print(b)
    if cvs["scheme"] == "purged":
        out.print("Purged k-fold: each fold is unseen by its model, but the models of early folds were "
                  "trained on later data; --cv walk-forward trains on the past only.")
    render_tuning(record.get("tuning"), out)
    render_importance(scores.get("importance"), out)
    from tradebot.ml.verdict import verdict_line

    out.print(verdict_line(record["verdict_detail"]))


def render_tuning(tuning: dict[str, Any] | None, out: Any, top: int = 5) -> None:
    """The best ``top`` trials of ``--tune`` (scored on the test folds)."""
    if not tuning:
        return
    from rich.table import Table

    trials = sorted(tuning["trials"], key=lambda t: (t["log_loss"] if t["log_loss"] is not None else math.inf,
                                                     t["number"]))
    t = Table(title=f"Tuning: best {min(top, len(trials))} of {tuning['n_trials']} trials ({tuning['sampler']}; "
                    f"objective: {tuning['objective']}, on the test folds)")
    for col in ("trial", "log loss", "AUC", "return", "daily Sharpe", "parameters"):
        t.add_column(col, justify="left" if col == "parameters" else "right")
    for tr in trials[:top]:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in sorted(tr["params"].items()))
        mark = " *" if tr["number"] == tuning["best_trial"] else ""
        t.add_row(f"{tr['number'] + 1}{mark}", _num(tr["log_loss"], 4), _num(tr["auc"]), _pct(tr["return"]),
                  _num(tr["daily_sharpe"]), params)
    out.print(t)
    out.print(f"The chosen trial (*) was picked on the same folds the table above reports: the verdict's DSR "
              f"deflates for all {tuning['n_trials']} trials.")


def _members(names: list[str], shown: int = 4) -> str:
    text = ", ".join(names[:shown])
    return text + (f" (+{len(names) - shown} more)" if len(names) > shown else "")


def render_importance(imp: dict[str, Any] | None, out: Any, top: int = 10) -> None:
    """The top ``top`` groups of correlated features by grouped MDA (out of sample)."""
    if not imp:
        return
    from rich.table import Table

    kind = imp.get("model_measure_kind")
    t = Table(title=f"Feature importance, out of sample: top {min(top, len(imp['groups']))} of "
                    f"{len(imp['groups'])} groups of correlated features")
    for col in ("#", "features", "MDA", "sd"):
        t.add_column(col, justify="left" if col == "features" else "right")
    if kind == "mdi":
        t.add_column("MDI (in-sample)", justify="right")
    elif kind == "coef":
        t.add_column("|std. coef| (in-sample)", justify="right")
    for rank, g in enumerate(imp["groups"][:top], 1):
        cells = [str(rank), _members(g["members"]), _num(g["mda"], 4), _num(g["mda_sd"], 4)]
        if kind:
            cells.append(_num(g.get(kind), 3))
        t.add_row(*cells)
    out.print(t)
    out.print(f"MDA: rise of the test folds' log loss when the group's features are permuted together (mean "
              f"and sd over {imp['folds']} folds, {imp['n_repeats']} repeats, at most {imp['max_rows']:,} test rows "
              f"per fold); ~0 or below: not used out of sample. Groups: |Spearman rho| >= {imp['threshold']}. "
              "Every feature: --json, scores.importance.features.")


def render_calibration(cal: dict[str, Any] | None, out: Any) -> None:
    """The reliability table of the test folds' probabilities."""
    if not cal or not cal.get("samples"):
        out.print("Calibration: not stored with this model (trained before it was recorded).")
        return
    from rich.table import Table

    t = Table(title=f"Calibration of P(up), out of sample ({cal['samples']:,} test-fold samples; "
                    f"ECE {_num(cal['ece'])}, base rate {_num(cal['base_rate'])})")
    for col in ("P(up) bin", "samples", "mean predicted", "observed up", "gap"):
        t.add_column(col, justify="left" if col == "P(up) bin" else "right")
    for b in cal["bins"]:
        if not b["samples"]:
            continue
        gap = b["observed_up"] - b["mean_predicted"]
        t.add_row(f"[{b['low']:.1f}, {b['high']:.1f})", f"{b['samples']:,}", _num(b["mean_predicted"]),
                  _num(b["observed_up"]), f"{gap:+.3f}")
    out.print(t)


def report_model(ctx: Any, ref: str, out: Any, *, json_out: bool, html: Path | None, others: bool) -> None:
    """``tradebot report --model NAME[:VERSION]`` (terminal, ``--json`` or ``--html FILE``)."""
    from tradebot.core.errors import UsageError

    if others:
        raise UsageError("--model goes alone (with --json or --html FILE), not with a RUN_ID, --list, "
                         "--account, --rerun or --trades")
    if html is not None:
        if json_out:
            raise UsageError("--html and --json: choose one")
        from tradebot.services.model_report import write_model_html

        path, size, what = write_model_html(ctx, ref, html)
        out.print(f"Wrote {what} to {path} ({size / 1e6:.1f} MB, opens offline)", highlight=False, soft_wrap=True)
        return
    from tradebot.services.model_report import model_report

    rep = model_report(ctx, ref)
    if json_out:
        import json

        typer.echo(json.dumps(rep, indent=2, sort_keys=True))
        return
    render_training(rep, out)
    render_calibration(rep["scores"].get("calibration"), out)
    if rep["challenge_line"]:
        out.print(rep["challenge_line"], soft_wrap=True)
    out.print(f"Status: {rep['status']}; artifact sha256 {rep['artifact_sha256'][:12]}… verified.")
