"""``optimize`` of the ``ml`` strategy: thresholds swept over walk-forward probabilities.

A frozen registry model's probabilities over its own training data are in sample, so
tuning thresholds on them would be an in-sample search dressed as an optimisation. The
probabilities of a walk-forward backtest are out of sample (each block predicted by a
model fitted on labels known before it, :mod:`tradebot.ml.walkforward`), and they do not
depend on the thresholds. So the optimizer computes them **once**, exactly as
``tradebot backtest --model NAME`` does (same recipe, seed, blocks and purge), hands them to
its :class:`~tradebot.optimize.evaluate.Problem` as the strategy's indicator, and sweeps
``threshold`` / ``exit_threshold`` (and engine stops or sizing, when named) with the
engine's batch kernel. Its windows cover only the bars after the first training window:
with ``--wf-train/--wf-test`` each window's choice is scored on the next window, whose
probabilities come from models that never saw it and whose thresholds were chosen before
it; the study's DSR and PBO are computed as for every strategy.

Refused with one line: a space that names a parameter that changes the probabilities
(``model``, ``retrain_every``, ``train_window``, ``window``, ``in_sample``: set those with
``-p``), and ``in_sample=true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import UsageError
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.optimize.windows import Window
    from tradebot.strategies.base import Strategy

@dataclass(frozen=True)
class MlInputs:
    params: dict[str, Any]  # the strategy's fixed parameters, the model's version pinned
    key: tuple[Any, ...]  # the Problem's indicator key of those parameters
    indicators: dict[str, np.ndarray]  # the walk-forward probabilities (and a meta model's base signals)
    first: int  # first bar with an out-of-sample probability
    model_ref: str


def ml_space(ctx: Context, cls: type[Strategy], space: Sequence[str],
             params: dict[str, Any]) -> tuple[type[Strategy], list[str]]:
    """``(class, specs)`` to build an ml study's search space from: the class declares only
    what may be searched — the thresholds (a meta model: ``threshold`` alone, it exits with
    its base strategy) — so the probability-shaping parameters keep their ``-p`` values
    (the problem's base parameters) and are not in the parameter sets; engine parameters
    are searched when named, as for every strategy."""
    shaping = set(cls.indicator_params)
    for raw in space:
        name = str(raw).partition("=")[0].strip()
        if name in shaping:
            raise UsageError(f"--space {raw!r}: optimize sweeps the ml strategy's threshold and exit_threshold over "
                             f"walk-forward probabilities computed once; {name} changes the probabilities (set it "
                             f"with -p {name}=VALUE, or compare backtests)")
    if _truthy(params.get("in_sample", False)):
        raise UsageError("optimize does not tune the ml strategy on in-sample probabilities (-p in_sample=true): "
                         "its thresholds would be chosen on the model's predictions of its own training data")
    fixed = set(shaping)
    if _is_meta(ctx, str(params.get("model", ""))):
        fixed.add("exit_threshold")
        for raw in space:
            if str(raw).partition("=")[0].strip() == "exit_threshold":
                raise UsageError(f"--space {raw!r}: a meta model exits with its base strategy's exit signals; "
                                 "exit_threshold is not used (search threshold)")
    searched = {k: p for k, p in cls.params.items() if k not in fixed}
    return type(cls.__name__, (cls,), {"params": searched, "__module__": cls.__module__}), list(space)


def _is_meta(ctx: Context, ref: str) -> bool:
    from tradebot.services.ml_models import resolve_model

    s = ctx.settings
    return resolve_model(ctx, ref, symbol=s.market.symbol, timeframe=s.market.timeframe).is_meta


def _truthy(v: Any) -> bool:
    return v is True or str(v).strip().lower() in ("1", "true", "yes", "on")


def ml_inputs(ctx: Context, cls: type[Strategy], params: dict[str, Any], candles: Candles) -> MlInputs:
    """Resolve the model (pinned), compute its walk-forward probabilities over ``candles``
    as the ml backtest does, and the indicator key they belong to."""
    from tradebot.ml.walkforward import WalkForwardSettings, walk_forward
    from tradebot.services.ml_models import resolve_model

    s = ctx.settings
    strategy = cls(**params)
    p = strategy.parameters
    model = resolve_model(ctx, str(p["model"]), symbol=s.market.symbol, timeframe=s.market.timeframe)
    pinned = {**params, "model": model.ref}
    strategy.set_parameters({"model": model.ref})
    others = None
    if model.spec.symbols:
        from tradebot.services.market import resolve_market
        from tradebot.services.train import other_symbols

        others = other_symbols(ctx, resolve_market(ctx), model.spec, candles)
    wf = walk_forward(candles, model.spec, model.label_settings(), model.model_settings(), model.seed,
                      WalkForwardSettings(int(p["retrain_every"]), int(p["train_window"]), p["window"] == "rolling"),
                      None, others)
    key = tuple(strategy.parameters[k] for k in cls.indicator_params)
    return MlInputs(pinned, key, model.indicators(candles, wf.proba), wf.first_test, model.ref)


def shift_windows(windows: list[Window], first: int) -> list[Window]:
    """Windows computed over bars ``[0, n - first)``, moved to start at bar ``first``."""
    return [replace(w, is_start=w.is_start + first, is_stop=w.is_stop + first, oos_start=w.oos_start + first,
                    oos_stop=w.oos_stop + first) for w in windows]
