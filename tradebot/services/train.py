"""Train use case: market → features → labels → purged CV with baselines → verdict → registry.

:func:`train` checks everything it can before it works (model name, feature spec, model
class, the store's location, the market), then builds the feature matrix and labels, runs
the cross-validation of :mod:`tradebot.ml.evaluate`, applies the verdict rule of
:mod:`tradebot.ml.verdict`, fits the final model on every sample, and stores it as a
*candidate*: its artifact (written atomically) and its registry row in one transaction; if
the row cannot be stored the artifact is removed. A refused command stores nothing.

Around that (docs/decisions/0021-model-tuning-and-retraining.md): the whole training holds
the model's lock (:mod:`tradebot.ml.retrain`; ``if_older`` skips a young model), ``tune``
runs seeded Optuna trials first (:mod:`tradebot.ml.tuning`; every trial deflates the
verdict), and ``promote_margin`` compares the new model with the champion on the most
recent test fold (:mod:`tradebot.ml.challenge`) and promotes it in the same transaction
when it wins.

The models commands (:func:`list_models`, :func:`show_model`, :func:`promote`,
:func:`retire`, :func:`load_model`) check an artifact's sha256 against its row before they
show, promote or unpickle it.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import UsageError
from tradebot.ml.evaluate import CVSettings, LabelSettings
from tradebot.ml.importance import ImportanceSettings
from tradebot.ml.pipeline import ModelSettings
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.ml.evaluate import CVResult
    from tradebot.ml.verdict import Verdict

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainRequest:
    name: str
    spec: str = "default"
    label: LabelSettings = field(default_factory=LabelSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    cv: CVSettings = field(default_factory=CVSettings)
    seed: int | None = None  # None: the settings' seed
    jobs: int = 1  # processes for the shuffled-label runs (results do not depend on it)
    importance: ImportanceSettings | None = field(default_factory=ImportanceSettings)  # None: skip it
    tune: int | None = None  # Optuna trials over the model's declared space (None: no tuning)
    if_older: float | None = None  # seconds: skip when the newest version is younger
    promote_margin: float | None = None  # champion/challenger by this AUC margin (None: stay candidate)
    wait: bool = False  # wait for another training of the same model instead of refusing

    def __post_init__(self) -> None:
        from tradebot.core.errors import UsageError
        from tradebot.ml.challenge import check_margin
        from tradebot.ml.tuning import check_trials

        j = self.jobs
        if isinstance(j, bool) or not isinstance(j, int) or not (j >= 1 or j == -1):
            raise UsageError(f"--jobs must be a positive number of processes or -1 (all cores), got {j!r}")
        if self.tune is not None:
            check_trials(self.tune)
        if self.promote_margin is not None:
            check_margin(self.promote_margin)
        if self.label.meta and (self.tune is not None or self.promote_margin is not None):
            raise UsageError("--label meta does not combine with --tune or --promote-margin yet (their scoring "
                             "trades the model's probabilities, not the base strategy it filters)")
        a = self.if_older
        if a is not None and (isinstance(a, bool) or not isinstance(a, int | float) or not a > 0):
            raise UsageError(f"--if-older must be a positive age, got {a!r}")


@dataclass(frozen=True)
class TrainOutcome:
    record: dict[str, Any]  # the stored record (skipped: the newest version's)
    cv: CVResult | None = None
    verdict: Verdict | None = None
    skipped: str | None = None  # --if-older: why nothing was trained
    challenge: str | None = None  # the champion/challenger line, when compared


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("tradebot", "scikit-learn", "numpy", "scipy", "joblib", "numba"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _check_store_target(ctx: Context) -> None:
    if ctx.settings.database_url is not None:
        from tradebot.data.db import check_url

        check_url(ctx.settings.database_url)
    else:
        from tradebot.services.data import check_home

        check_home(ctx.home)


def _data_source(market: Any, candles: Any, seed: int) -> str:
    if market.sim:
        return f"sim: built-in synthetic market (seed {seed})"
    return f"cache: {candles.meta.get('path', '')}"


def train(ctx: Context, request: TrainRequest, progress: Progress | None = None) -> TrainOutcome:
    """Cross-validate, judge and store one model (see the module docstring), holding the
    model's lock; with ``if_older``, skip when its newest version is younger."""
    from tradebot.data.model_registry import check_name
    from tradebot.ml.pipeline import estimator_class
    from tradebot.ml.retrain import age_text, model_lock
    from tradebot.ml.spec import load_spec
    from tradebot.ml.tuning import search_space
    from tradebot.services.context import ensure_home
    from tradebot.services.regime import _store_exists, is_regime_record

    name = check_name(request.name)
    load_spec(request.spec)
    estimator_class(request.model.model)  # a model that does not import fails before any work
    if request.tune is not None:
        search_space(request.model.model)
    _check_store_target(ctx)
    ensure_home(ctx.home)
    with model_lock(ctx.home, name, request.wait):
        newest = _newest(ctx, name) if _store_exists(ctx) else None
        if newest is not None and is_regime_record(newest):
            raise UsageError(f"model name {name!r} is taken by a regime model; choose another name")
        if request.if_older is not None:
            if newest is not None:
                import datetime as dt

                age = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(newest["created_at"])).total_seconds()
                if age < request.if_older:
                    return TrainOutcome(newest, skipped=(
                        f"{name}:{newest['version']} was trained {age_text(max(age, 0.0))} ago, younger than "
                        f"--if-older {age_text(request.if_older)}: not retrained"))
        return _train(ctx, request, progress)


def _newest(ctx: Context, name: str) -> dict[str, Any] | None:
    from tradebot.data.model_registry import ModelRepository, record_dict

    with ctx.store.session() as session:
        rows = ModelRepository(session).versions(name)
        return record_dict(rows[-1]) if rows else None


def _train(ctx: Context, request: TrainRequest, progress: Progress | None) -> TrainOutcome:
    from dataclasses import replace

    from threadpoolctl import threadpool_limits

    from tradebot.data.model_registry import (
        ModelRepository,
        artifact_relpath,
        check_name,
        dump_artifact,
        record_dict,
        sha256_bytes,
        write_artifact,
    )
    from tradebot.data.repositories import jsonable
    from tradebot.ml.evaluate import base_signals_of, cross_validate, make_dataset, make_labels
    from tradebot.ml.features import build_features
    from tradebot.ml.pipeline import fit_pipeline
    from tradebot.ml.spec import load_spec
    from tradebot.ml.verdict import verdict
    from tradebot.services.backtest import engine_config
    from tradebot.services.market import load_candles, resolve_market
    from tradebot.services.provenance import candles_sha256, code_version

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    s = ctx.settings
    name = check_name(request.name)
    seed = int(s.seed if request.seed is None else request.seed)
    spec = load_spec(request.spec)
    market = resolve_market(ctx)
    say(f"loading candles ({market.label})")
    candles = load_candles(ctx, market, s.since_ms(), s.until_ms())
    say(f"features ({spec.name}, {len(spec.columns)} columns) and labels over {len(candles):,} bars")
    others = other_symbols(ctx, market, spec, candles)
    features = build_features(candles, spec, others=others)
    config = engine_config(s)
    label = request.label
    if label.meta:  # a base trade is a winner only after the account's fees and slippage
        from tradebot.ml.meta import cost_per_side, describe

        label = replace(label, cost=cost_per_side(config))
        say(f"meta labels: trades of {describe(label.to_dict())} closed at its own exit signals, "
            f"winners after {label.cost:.3%} per side")
    labels = make_labels(candles, label)
    ds = make_dataset(features, labels)
    base = base_signals_of(candles, label)
    data_sha = candles_sha256(candles)
    label_d, model_d = jsonable(label.to_dict()), jsonable(request.model.to_dict())
    cv_d = jsonable({**request.cv.to_dict(), "alpha": _alpha()})
    trials = request.tune or 1
    prior = _prior_sharpes(ctx, name, _config_key(spec.sha256, label_d, model_d, cv_d, data_sha, seed, trials))
    model = request.model
    tuning = None
    if request.tune is not None:
        from tradebot.ml.tuning import tune

        say(f"tuning {model.model}: {request.tune} trials scored by {request.cv.scheme} CV "
            f"({request.cv.folds} folds, test folds only)")
        tuning = tune(candles, features, ds, model, request.cv, config, seed, request.tune, progress)
        model = replace(model, params=tuning.best_params)
        prior = prior + tuning.other_sharpes()  # every configuration tried deflates the verdict
        say(f"tuning chose trial {tuning.trials[tuning.best].number + 1}: "
            f"log loss {tuning.trials[tuning.best].log_loss:.4f}")
    say(f"cross-validating {model.model} on {len(ds):,} samples ({request.cv.scheme}, "
        f"{request.cv.folds} folds, {request.cv.shuffles} shuffled-label runs)")
    cv = cross_validate(candles, features, ds, model, request.cv, config, seed, progress,
                        request.jobs, request.importance, base)
    v = verdict(cv, prior)
    challenge = _challenge(ctx, name, request, candles, features, ds, model, config, seed, market, say)
    if challenge is not None and challenge["comparison"] is None:  # no champion yet
        challenge = {"comparison": {"comparable": True, "champion": None, "wins": v.edge,
                                    "rule": "no champion: the new model becomes it only with the verdict edge"},
                     "champion": None, "promote": v.edge}
    say("fitting the final model on every sample")
    with threadpool_limits(limits=1):
        fitted = fit_pipeline(model, ds.columns, seed, ds.X, ds.y, ds.w, ds.t0, ds.t1)
    data = dump_artifact(fitted)
    scores = jsonable({"folds": [f.to_dict() for f in cv.folds], "summary": cv.summary(),
                       "splitter": cv.splitter, "label_balance": float(ds.y.mean()),
                       "importance": cv.importance, "calibration": cv.calibration})
    fields = {
        "name": name, "seed": seed, "spec_name": spec.name, "spec_sha256": spec.sha256,
        "spec": spec.to_dict(), "columns": list(ds.columns),
        "label": label_d, "model": jsonable(model.to_dict()), "cv": cv_d,
        "exchange": candles.exchange or market.exchange, "symbol": market.symbol,
        "timeframe": market.timeframe, "data_source": _data_source(market, candles, s.seed),
        "data_start_ms": int(candles.timestamp[0]), "data_end_ms": int(candles.timestamp[-1]),
        "data_rows": len(candles), "data_sha256": data_sha, "samples": len(ds),
        "scores": scores, "verdict": v.verdict, "verdict_detail": jsonable(v.to_dict()),
        "libraries": library_versions(), "code_version": code_version(),
        "artifact_sha256": sha256_bytes(data), "artifact_bytes": len(data),
        "trials": trials, "tuning": None if tuning is None else jsonable(tuning.to_dict()),
        "challenge": None if challenge is None else jsonable(challenge["comparison"]),
    }
    say("storing the model")
    path = None
    line = None
    try:
        with ctx.store.session() as session:
            repo = ModelRepository(session)
            version = repo.next_version(name)
            rel = artifact_relpath(name, version)
            (ctx.home / rel).unlink(missing_ok=True)  # left by a killed run (no row; we hold the lock)
            path = write_artifact(ctx.home, rel, data)
            row = repo.add({**fields, "version": version, "artifact_path": rel})
            if challenge is not None:
                from tradebot.ml.challenge import comparison_line

                line = comparison_line(challenge["comparison"], f"{name}:{version}", challenge["champion"] or "")
                if challenge["promote"]:
                    repo.promote(name, version)
            record = record_dict(row)
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    return TrainOutcome(record, cv, v, challenge=line)


def _challenge(ctx: Context, name: str, request: TrainRequest, candles: Any, features: Any, ds: Any, model: Any,
               config: Any, seed: int, market: Any, say: Callable[[str], None]) -> dict[str, Any] | None:
    """With ``--promote-margin``: compare with the champion on the most recent window
    (:mod:`tradebot.ml.challenge`). No champion: the new model becomes the champion only
    if its verdict is "edge" (``promote`` decided later, see :func:`_train`)."""
    if request.promote_margin is None:
        return None
    from tradebot.data.model_registry import ModelRepository, load_artifact
    from tradebot.ml.challenge import compare
    from tradebot.ml.features import build_features
    from tradebot.ml.spec import spec_from_content

    with ctx.store.session() as session:
        row = ModelRepository(session).champion(name)
        if row is None:
            return {"comparison": None, "champion": None, "promote": None}
        if (row.symbol, row.timeframe) != (market.symbol, market.timeframe):
            return {"comparison": {"comparable": False, "champion": f"{name}:{row.version}",
                                   "reason": f"the champion trades {row.symbol} {row.timeframe}"},
                    "champion": f"{name}:{row.version}", "promote": False}
        champ_ref = f"{name}:{row.version}"
        say(f"comparing with the champion {champ_ref} on the most recent window")
        champion = load_artifact(ctx.home, row)
        champ_spec = spec_from_content(row.spec_name, row.spec)
        champ_end = int(row.data_end_ms)
    champ_features = build_features(candles, champ_spec, others=other_symbols(ctx, market, champ_spec, candles))
    c = compare(candles, features, ds, model, request.cv, config, seed, champion, champ_features, champ_end,
                request.promote_margin)
    return {"comparison": {**c.to_dict(), "comparable": True, "champion": champ_ref}, "champion": champ_ref,
            "promote": c.wins}


def other_symbols(ctx: Context, market: Any, spec: Any, candles: Any) -> dict[str, Any]:
    """The candles of the other symbols ``spec`` names: same exchange (or sim) and timeframe,
    over the span of ``candles`` (a missing one: the usual one-line "not cached" error)."""
    from tradebot.services.market import load_candles, resolve_market

    out: dict[str, Any] = {}
    for symbol in spec.symbols:
        other = resolve_market(ctx, "sim" if market.sim else market.exchange, symbol, market.timeframe, given=True)
        out[symbol] = load_candles(ctx, other, int(candles.timestamp[0]), int(candles.timestamp[-1]) + 1)
    return out


def _alpha() -> float:
    from tradebot.ml.verdict import ALPHA

    return ALPHA


def _config_key(spec_sha: str, label: Any, model: Any, cv: Any, data_sha: str, seed: int, trials: int) -> str:
    import json

    return json.dumps([spec_sha, label, model, cv, data_sha, seed] + ([trials] if trials > 1 else []),
                      sort_keys=True)


def _prior_sharpes(ctx: Context, name: str, key: str) -> list[float | None]:
    """Out-of-sample daily Sharpe of each *distinct* configuration tried before under
    ``name`` (spec, labels, model, CV, data and seed): a rerun of the same configuration
    is not another trial, so it gets the same record."""
    from tradebot.data.model_registry import ModelRepository

    with ctx.store.session() as session:
        seen = {key}
        out: list[float | None] = []
        for r in ModelRepository(session).versions(name):
            trials = int(r.trials or 1)
            model = r.model
            if r.tuning:  # keyed by what was asked for (the untuned parameters), as the new run is
                model = {**r.model, "params": r.tuning.get("requested_params", {})}
            k = _config_key(r.spec_sha256, r.label, model, r.cv, r.data_sha256, r.seed, trials)
            if k in seen:
                continue
            seen.add(k)
            if r.tuning:  # every trial of a tuned version was a configuration tried
                out.extend(_finite_or_none(t.get("daily_sharpe")) for t in r.tuning.get("trials", []))
                continue
            sh = ((r.scores or {}).get("summary") or {}).get("model", {}).get("daily_sharpe")
            out.append(_finite_or_none(sh))
        return out


def _finite_or_none(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


# ------------------------------------------------------------------ the registry


def list_models(ctx: Context, name: str | None = None) -> list[dict[str, Any]]:
    from tradebot.data.model_registry import ModelRepository, check_name

    if name is not None:
        check_name(name)
    with ctx.store.session() as session:
        return [_summary_row(r) for r in ModelRepository(session).versions(name)]


def _summary_row(row: Any) -> dict[str, Any]:
    model = (row.scores.get("summary") or {}).get("model", {})
    return {"name": row.name, "version": row.version, "status": row.status,
            "created_at": row.created_at.isoformat(), "model": row.model.get("model"),
            "market": f"{row.exchange} {row.symbol} {row.timeframe}", "samples": row.samples,
            "oos_auc": model.get("auc"), "oos_return": model.get("return"), "verdict": row.verdict}


def show_model(ctx: Context, ref: str) -> dict[str, Any]:
    """The full record of ``NAME[:VERSION]`` after checking its artifact's sha256."""
    from tradebot.data.model_registry import ModelRepository, parse_ref, record_dict, verify_artifact

    name, version = parse_ref(ref)
    with ctx.store.session() as session:
        row = ModelRepository(session).get(name, version)
        verify_artifact(ctx.home, row)
        return record_dict(row)


def promote(ctx: Context, ref: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Make ``NAME[:VERSION]`` (default: the newest version) the champion; returns the new
    champion's record and the retired one's (None if there was none)."""
    from tradebot.data.model_registry import ModelRepository, parse_ref, record_dict, verify_artifact

    name, version = parse_ref(ref)
    with ctx.store.session() as session:
        repo = ModelRepository(session)
        if version is None:
            version = repo.next_version(name) - 1 or None
        row = repo.get(name, version)
        verify_artifact(ctx.home, row)
        new, old = repo.promote(row.name, row.version)
        return record_dict(new), None if old is None else record_dict(old)


def retire(ctx: Context, ref: str) -> dict[str, Any]:
    """Retire ``NAME:VERSION`` (``NAME`` alone: its champion, else its newest version)."""
    from tradebot.data.model_registry import ModelRepository, parse_ref, record_dict

    name, version = parse_ref(ref)
    with ctx.store.session() as session:
        repo = ModelRepository(session)
        row = repo.get(name, version)
        return record_dict(repo.retire(row.name, row.version))


def load_model(ctx: Context, ref: str) -> tuple[dict[str, Any], Any]:
    """``(record, fitted estimator)`` of ``NAME[:VERSION]``; the artifact is unpickled only
    after its sha256 matches the record."""
    from tradebot.data.model_registry import ModelRepository, load_artifact, parse_ref, record_dict

    name, version = parse_ref(ref)
    with ctx.store.session() as session:
        row = ModelRepository(session).get(name, version)
        return record_dict(row), load_artifact(ctx.home, row)
