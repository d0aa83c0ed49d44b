"""Candidates: the strategies and parameter sets a selector chooses among.

A spec is one of (on the command line ``--candidate SPEC``, in the config ``[selector]
candidates = [...]``):

* ``NAME`` or ``NAME:key=value,key=value`` — a registered strategy with those parameters
  (e.g. ``rsi:period=14,lower=30``);
* ``S12`` (or ``S12:best``) — the chosen trial of stored optimization study 12; ``S12:top3`` its
  three best trials of the last window; ``S12:pareto`` its Pareto front (multi-objective);
* ``ml:NAME`` (``ml:NAME:VERSION``) — a registered ml model, traded on its walk-forward
  probabilities (retrained as ``backtest --strategy ml`` does);
* ``flat`` — never in the market; always added.

A study's trials carry only the strategy's parameters here: engine parameters a study may
have searched (stops, sizing) are left at the selector's engine settings, so every candidate
runs under the same execution rules (docs/decisions/0024-strategy-selector.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import UsageError

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.core.signals import Signals
    from tradebot.services.context import Context

FLAT = "flat"
_STUDY = re.compile(r"^[Ss](\d+)(?::(best|pareto|top(\d+)))?$")
_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")


@dataclass(frozen=True)
class Candidate:
    """One thing the selector can follow: ``strategy`` (a registry name, ``ml`` or ``flat``)
    with ``params``; ``source`` says where it came from (``config``/``cli`` spec text, ``S12#7``
    for a study's trial, ``ml:NAME:VERSION``, ``flat``)."""

    name: str
    strategy: str
    params: dict[str, Any] = field(hash=False, compare=True)
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "strategy": self.strategy, "params": dict(self.params),
                "source": self.source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        return cls(str(d["name"]), str(d["strategy"]), dict(d.get("params") or {}), str(d.get("source", "")))


FLAT_CANDIDATE = Candidate(FLAT, FLAT, {}, FLAT)


def _param_text(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items())


def _parse_params(spec: str, text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise UsageError(f"--candidate {spec!r}: expected NAME:key=value,key=value (bad part {part!r})")
        out[key.strip()] = value.strip()
    return out


def _builtin(ctx: Context, spec: str) -> Candidate:
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not _NAME.match(name):
        raise UsageError(f"--candidate {spec!r}: not a strategy name, S<study>, ml:MODEL or flat")
    if name == "ml":
        raise UsageError(f"--candidate {spec!r}: name the model, e.g. ml:mymodel")
    given = _parse_params(spec, rest)
    try:
        strategy = ctx.registry.create(name, dict(given))
    except UsageError as e:
        raise UsageError(f"--candidate {spec!r}: {e}") from e
    if getattr(strategy, "uses_model", False):
        raise UsageError(f"--candidate {spec!r}: use ml:MODEL for a model")
    label = name if not given else f"{name}:{_param_text(given)}"
    return Candidate(label, name, strategy.parameters, spec)


def _no_store(ctx: Context) -> bool:
    """True when there is no store to look in (the default SQLite file does not exist and none
    is open): checked before opening it, so a bad candidate does not create the database."""
    return (ctx.settings.database_url is None and "store" not in ctx.__dict__
            and not (ctx.home / "tradebot.db").is_file())


def _study(ctx: Context, spec: str, study_id: int, which: str) -> list[Candidate]:
    from tradebot.core.errors import RunNotFoundError
    from tradebot.optimize.space import SearchSpace
    from tradebot.services.study_report import study_report

    if _no_store(ctx):
        raise UsageError(f"--candidate {spec!r}: no study S{study_id} in the store (there is no store yet)")
    try:
        rep = study_report(ctx, study_id)
    except RunNotFoundError as e:
        raise UsageError(f"--candidate {spec!r}: {e}") from e
    strategy = str(rep["strategy"])
    if strategy == "ml" or ((rep.get("request") or {}).get("extra") or {}).get("pairs"):
        raise UsageError(f"--candidate {spec!r}: study S{study_id} is not a one-market study of a built-in "
                         "strategy")
    space = SearchSpace.from_dict(rep["space"])
    if which == "best":
        chosen = rep.get("chosen") or {}
        if not chosen.get("params"):
            raise UsageError(f"--candidate {spec!r}: study S{study_id} has no chosen trial yet "
                             f"(status {rep['status']})")
        rows = [{"number": chosen.get("number"), "params": chosen["params"]}]
    elif which == "pareto":
        rows = list(rep.get("pareto") or [])
        if not rows:
            raise UsageError(f"--candidate {spec!r}: study S{study_id} has no Pareto front (one objective?)")
    else:
        k = int(which[3:])
        if k < 1:
            raise UsageError(f"--candidate {spec!r}: topN needs N >= 1")
        rows = list(rep.get("top") or [])[:k]
        if not rows:
            raise UsageError(f"--candidate {spec!r}: study S{study_id} has no finished trials")
    out = []
    for row in rows:
        params, _engine = space.split(dict(row["params"]))
        try:
            strat = ctx.registry.create(strategy, params)
        except UsageError as e:
            raise UsageError(f"--candidate {spec!r}: trial {row.get('number')}: {e}") from e
        tag = f"S{study_id}#{row.get('number')}"
        out.append(Candidate(f"{tag} {strategy}:{_param_text(params)}", strategy, strat.parameters, tag))
    return out


def _ml(ctx: Context, spec: str) -> Candidate:
    from tradebot.services.ml_models import resolve_model

    ref = spec[3:].strip()
    if not ref:
        raise UsageError(f"--candidate {spec!r}: name the model, e.g. ml:mymodel")
    s = ctx.settings
    if _no_store(ctx):
        raise UsageError(f"--candidate {spec!r}: no model {ref} in the registry (there is no store yet)")
    try:
        model = resolve_model(ctx, ref, symbol=s.market.symbol, timeframe=s.market.timeframe)
    except UsageError as e:
        raise UsageError(f"--candidate {spec!r}: {e}") from e
    strat = ctx.registry.create("ml", {"model": model.ref})
    return Candidate(f"ml:{model.ref}", "ml", strat.parameters, f"ml:{model.ref}")


def resolve_candidates(ctx: Context, specs: Sequence[str]) -> tuple[Candidate, ...]:
    """The candidates ``specs`` name, in order, duplicates (same strategy and parameters)
    dropped, ``flat`` first. Raises :class:`UsageError` for an unknown strategy or parameter,
    a study that does not exist, a model not in the registry, or fewer than one candidate
    besides ``flat``."""
    out: list[Candidate] = [FLAT_CANDIDATE]
    seen = {(FLAT, "{}")}
    for raw in specs:
        spec = str(raw).strip()
        if not spec:
            raise UsageError("--candidate '': empty candidate")
        found: list[Candidate]
        m = _STUDY.match(spec)
        if spec == FLAT:
            found = []
        elif m:
            found = _study(ctx, spec, int(m.group(1)), m.group(2) or "best")
        elif spec.startswith("ml:"):
            found = [_ml(ctx, spec)]
        else:
            found = [_builtin(ctx, spec)]
        for c in found:
            key = (c.strategy, repr(sorted(c.params.items())))
            if key not in seen:
                seen.add(key)
                out.append(c)
    if len(out) < 3:
        have = ", ".join(c.name for c in out[1:]) or "none"
        raise UsageError(f"a selector needs at least two candidates besides flat (got {have}); "
                         "add --candidate SPEC")
    return tuple(out)


def _ml_signals(ctx: Context, candidate: Candidate, candles: Candles) -> Signals:
    from tradebot.core.signals import Signals
    from tradebot.ml.walkforward import WalkForwardSettings, walk_forward
    from tradebot.services.ml_models import resolve_model

    s = ctx.settings
    strategy = ctx.registry.create("ml", dict(candidate.params))
    p = strategy.parameters
    model = resolve_model(ctx, str(p["model"]), symbol=s.market.symbol, timeframe=s.market.timeframe)
    strategy.bind(model)  # type: ignore[attr-defined]
    others = None
    if model.spec.symbols:
        from tradebot.services.market import resolve_market
        from tradebot.services.train import other_symbols

        others = other_symbols(ctx, resolve_market(ctx), model.spec, candles)
    wf = walk_forward(candles, model.spec, model.label_settings(), model.model_settings(), model.seed,
                      WalkForwardSettings(int(p["retrain_every"]), int(p["train_window"]),
                                          p["window"] == "rolling"), None, others)
    first = wf.first_test
    n = len(candles)
    oos = candles.slice(first, n)
    ind = {k: v[first:] for k, v in model.indicators(candles, wf.proba).items()}
    sig = strategy.signals_from(oos, ind)

    def pad(a: np.ndarray) -> np.ndarray:
        if a.size == 0:
            return a
        out = np.zeros(n, dtype=np.bool_)
        out[first:] = a
        return out

    return Signals(pad(sig.entries), pad(sig.exits), pad(sig.short_entries), pad(sig.short_exits))


def candidate_signals(ctx: Context, candidate: Candidate, candles: Candles) -> Signals:
    """The candidate's signals over the whole history (causal: each bar's signal uses the
    candles up to its close; an ml model's probabilities are walk-forward, none before its
    first training window ends)."""
    from tradebot.core.signals import Signals

    n = len(candles)
    if candidate.strategy == FLAT:
        return Signals(np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_))
    if candidate.strategy == "ml":
        return _ml_signals(ctx, candidate, candles)
    return ctx.registry.create(candidate.strategy, dict(candidate.params)).signals_for(candles)
