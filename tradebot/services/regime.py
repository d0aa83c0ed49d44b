"""Regime use cases: the current regime of a market and its history; train and store a
learned regime classifier in the model registry.

A learned regime model is a registry row like any model (``ml_models``), told apart by
``model["kind"] == "regime"`` (and ``label["kind"] == "regime"``): its ``spec`` is the
regime settings (their sha256 in ``spec_sha256``), ``columns`` the mixture's inputs,
``scores`` the fit's summary (log-likelihood, BIC, agreement with the rules, each name's
component means). Its artifact (a joblib pickle of
:class:`~tradebot.ml.regime.learned.LearnedRegimes`) is written atomically and checked
against its sha256 before it is unpickled, as for every model. A refused command stores
nothing. Decision record: docs/decisions/0022-market-regimes.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import UsageError
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.ml.regime.rules import RegimeLabels

REGIME_KIND = "regime"


@dataclass(frozen=True)
class RegimeTrainOutcome:
    record: dict[str, Any]
    skipped: str | None = None


def _settings(count: int | None, names: list[str] | None) -> Any:
    from tradebot.ml.regime.settings import RegimeSettings, check_count, default_names

    if names:
        if count is not None and count != len(names):
            raise UsageError(f"--regimes {count} does not match the {len(names)} names given ({', '.join(names)})")
        return RegimeSettings(names=tuple(names))
    return RegimeSettings(names=default_names(check_count(4 if count is None else count)))


def _candles(ctx: Context) -> tuple[Any, Candles]:
    from tradebot.services.market import load_candles, resolve_market

    s = ctx.settings
    market = resolve_market(ctx)
    return market, load_candles(ctx, market, s.since_ms(), s.until_ms())


def is_regime_record(record: dict[str, Any]) -> bool:
    return (record.get("model") or {}).get("kind") == REGIME_KIND


def load_regime_model(ctx: Context, ref: str) -> tuple[dict[str, Any], Any]:
    """``(record, LearnedRegimes)`` of ``NAME[:VERSION]`` (default: champion, else newest);
    refuses a trading model; the artifact is unpickled only after its sha256 matches."""
    from tradebot.data.model_registry import ModelNotFoundError, ModelRepository, load_artifact, parse_ref, record_dict

    name, version = parse_ref(ref)
    if not _store_exists(ctx):
        raise ModelNotFoundError(f"no regime model {name} in the registry (none trained yet: "
                                 f"`tradebot regime train --name {name}`)")
    with ctx.store.session() as session:
        row = ModelRepository(session).get(name, version)
        record = record_dict(row)
        if not is_regime_record(record):
            raise UsageError(f"model {name}:{row.version} is a trading model, not a regime classifier "
                             "(train one with `tradebot regime train --name NAME`)")
        return record, load_artifact(ctx.home, row)


def classify(ctx: Context, candles: Candles, method: str, model_ref: str | None, count: int | None,
             names: list[str] | None) -> tuple[RegimeLabels, dict[str, Any] | None]:
    """The regimes of ``candles`` by ``method`` (rules, or learned with the registry model
    ``model_ref``); returns the labels and the model's record (None for rules)."""
    from tradebot.ml.regime.features import regime_features
    from tradebot.ml.regime.settings import check_method

    check_method(method)
    if method == "rules":
        from tradebot.ml.regime.rules import check_rules, classify_rules

        if model_ref is not None:
            raise UsageError("--model names a learned regime model; use it with --method learned")
        s = _settings(count, names)
        check_rules(s)
        return classify_rules(regime_features(candles, s), s), None
    if model_ref is None:
        raise UsageError("--method learned needs --model NAME[:VERSION] (train one with "
                         "`tradebot regime train --name NAME`)")
    if count is not None or names:
        raise UsageError("--regimes/--names are fixed by the learned model; leave them out with --model")
    from tradebot.ml.regime.learned import classify_learned

    record, model = load_regime_model(ctx, model_ref)
    return classify_learned(model, regime_features(candles, model.regime_settings)), record


def current_regime(ctx: Context, method: str | None = None, model: str | None = None, count: int | None = None,
                   names: list[str] | None = None) -> dict[str, Any]:
    """The current regime of the settings' market (its newest closed candle) with its
    probability and every regime's, and the history summary over the loaded candles."""
    from tradebot.data.validation import format_ts
    from tradebot.ml.regime.summary import history_summary

    method = method or ("learned" if model else "rules")
    from tradebot.ml.regime.settings import check_method

    check_method(method)
    if method == "rules":
        _settings(count, names)  # a bad count or names fails before the candles load
    market, candles = _candles(ctx)
    labels, record = classify(ctx, candles, method, model, count, names)
    last = len(candles) - 1
    k = int(labels.labels[last])
    return {
        "market": market.label, "method": method,
        "model": None if record is None else f"{record['name']}:{record['version']}",
        "bars": len(candles), "first": format_ts(int(candles.timestamp[0])),
        "as_of": format_ts(int(candles.timestamp[last])),
        "regime": None if k < 0 else labels.names[k],
        "probability": None if k < 0 else float(labels.prob[last]),
        "probabilities": {n: (None if k < 0 else float(labels.probs[last, j])) for j, n in enumerate(labels.names)},
        "names": list(labels.names), "lag_bars": labels.lag,
        "history": history_summary(labels.labels, labels.names),
    }


def train_regime(ctx: Context, name: str, count: int | None = None, names: list[str] | None = None,
                 seed: int | None = None, if_older: float | None = None, wait: bool = False) -> RegimeTrainOutcome:
    """Fit a learned regime classifier on the settings' market and store it as a new
    version of ``name``, its champion (the previous one retired: the names are stable across
    refits, so a cron refit replaces it; ``tradebot models promote`` goes back);
    with ``if_older`` (seconds), skip when the newest version is younger."""
    from tradebot.data.model_registry import check_name
    from tradebot.ml.retrain import age_text, model_lock
    from tradebot.services.context import ensure_home
    from tradebot.services.train import _check_store_target, _newest

    name = check_name(name)
    settings = _settings(count, names)
    if if_older is not None and (isinstance(if_older, bool) or not if_older > 0):
        raise UsageError(f"--if-older must be a positive age, got {if_older!r}")
    _check_store_target(ctx)
    from tradebot.ml.regime.features import check_length

    market, candles = _candles(ctx)  # a market not at hand or too short: refused before the store opens
    check_length(settings, len(candles))
    ensure_home(ctx.home)
    with model_lock(ctx.home, name, wait):
        newest = _newest(ctx, name) if _store_exists(ctx) else None
        if newest is not None and not is_regime_record(newest):
            raise UsageError(f"model name {name!r} is taken by a trading model; choose another name")
        if if_older is not None and newest is not None:
            import datetime as dt

            age = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(newest["created_at"])).total_seconds()
            if age < if_older:
                return RegimeTrainOutcome(newest, skipped=(
                    f"{name}:{newest['version']} was trained {age_text(max(age, 0.0))} ago, younger than "
                    f"--if-older {age_text(if_older)}: not retrained"))
        return _fit_and_store(ctx, name, settings, seed, market, candles)


def _store_exists(ctx: Context) -> bool:
    return ctx.settings.database_url is not None or (ctx.home / "tradebot.db").is_file()


def _fit_and_store(ctx: Context, name: str, settings: Any, seed: int | None, market: Any,
                   candles: Candles) -> RegimeTrainOutcome:
    import numpy as np

    from tradebot.data.model_registry import (
        ModelRepository,
        artifact_relpath,
        dump_artifact,
        record_dict,
        sha256_bytes,
        write_artifact,
    )
    from tradebot.data.repositories import jsonable
    from tradebot.ml.regime.features import regime_features
    from tradebot.ml.regime.learned import classify_learned, fit_learned, model_matrix
    from tradebot.ml.regime.rules import classify_rules
    from tradebot.ml.regime.summary import history_summary
    from tradebot.services.provenance import candles_sha256, code_version
    from tradebot.services.train import _data_source, library_versions

    s = ctx.settings
    seed = int(s.seed if seed is None else seed)
    features = regime_features(candles, settings)  # too little data: one line, nothing stored
    model = fit_learned(features, settings, seed)
    labels = classify_learned(model, features)
    x = model_matrix(features, settings)
    ok = np.isfinite(x).all(axis=1)
    xz = (x[ok] - model.mean) / model.scale
    rules = classify_rules(features, settings) if settings.count <= 4 else None
    agree = None
    if rules is not None:
        both = (labels.labels >= 0) & (rules.labels >= 0)
        agree = float((labels.labels[both] == rules.labels[both]).mean()) if both.any() else None
    scores = {
        "log_likelihood": float(model.mixture.score(xz)), "bic": float(model.mixture.bic(xz)),
        "converged": bool(model.mixture.converged_), "iterations": int(model.mixture.n_iter_),
        "agreement_with_rules": agree,
        "component_means": {n: dict(zip(model.columns, m, strict=True))
                            for n, m in zip(settings.names, model.component_means, strict=True)},
        "history": history_summary(labels.labels, labels.names),
    }
    data = dump_artifact(model)
    fields = {
        "name": name, "seed": seed, "spec_name": REGIME_KIND, "spec_sha256": settings.sha256,
        "spec": settings.to_dict(), "columns": list(model.columns),
        "label": {"kind": REGIME_KIND, "names": list(settings.names)},
        "model": {"kind": REGIME_KIND, "model": "gaussian_mixture", "components": settings.count,
                  "covariance": settings.covariance, "mapping": list(model.mapping)},
        "cv": {}, "exchange": candles.exchange or market.exchange, "symbol": market.symbol,
        "timeframe": market.timeframe, "data_source": _data_source(market, candles, s.seed),
        "data_start_ms": int(candles.timestamp[0]), "data_end_ms": int(candles.timestamp[-1]),
        "data_rows": len(candles), "data_sha256": candles_sha256(candles), "samples": int(ok.sum()),
        "scores": jsonable(scores), "verdict": "regime model (unsupervised: no trading verdict)",
        "verdict_detail": {}, "libraries": library_versions(), "code_version": code_version(),
        "artifact_sha256": sha256_bytes(data), "artifact_bytes": len(data), "trials": 1,
    }
    path = None
    try:
        with ctx.store.session() as session:
            repo = ModelRepository(session)
            version = repo.next_version(name)
            rel = artifact_relpath(name, version)
            (ctx.home / rel).unlink(missing_ok=True)  # left by a killed run (no row; we hold the lock)
            path = write_artifact(ctx.home, rel, data)
            row = repo.add({**fields, "version": version, "artifact_path": rel})
            repo.promote(name, version)  # no trading verdict to wait for: the newest fit is used
            record = record_dict(row)
    except BaseException:
        if path is not None:
            path.unlink(missing_ok=True)
        raise
    return RegimeTrainOutcome(record)


def paper_regime_table(ctx: Context, exchange: str, symbol: str, timeframe: str, source: str,
                       equity_ts: Any, equity: Any, trades: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The performance-by-regime table of a paper account: its equity and trades against the
    rule-based regimes of its market's candles (from the cache, or the sim market for an
    account on it; ``source``: the account's recorded market source), the warm-up's worth
    of candles before its first bar included. None for
    an account with no equity yet; ``available: False`` (with the reason) when the candles
    are not at hand. Reads only."""
    import numpy as np

    from tradebot.analysis.regime_report import regime_performance
    from tradebot.core.timeframes import timeframe_ms
    from tradebot.ml.regime.settings import RegimeSettings

    ts = np.asarray(equity_ts, dtype=np.int64)
    if ts.size == 0:
        return None
    s = RegimeSettings()
    base = {"method": "rules", "names": list(s.names), "lag_bars": s.lag, "warmup_bars": s.warmup_bars,
            "rows": []}
    tf = timeframe_ms(timeframe)
    since, until = int(ts[0]) - s.warmup_bars * tf, int(ts[-1]) + tf
    cached = ctx.cache.exists(exchange, symbol, timeframe)
    if source == "sim" or (source in ("", "legacy") and not cached):  # legacy: cache, else sim
        from tradebot.exchanges.sim import sim_candles

        candles = sim_candles(symbol, timeframe, since_ms=since, until_ms=until, seed=ctx.settings.seed)
    elif cached:
        candles = ctx.cache.load(exchange, symbol, timeframe).between(since, until)
    else:
        return {**base, "available": False, "reason": f"no cached candles of {exchange} {symbol} {timeframe}"}
    if len(candles) < 2:
        return {**base, "available": False, "reason": "no candles over the account's span"}
    return regime_performance(candles, ts, np.asarray(equity, dtype=np.float64),
                              np.array([t["entry_ts_ms"] for t in trades], dtype=np.int64),
                              np.array([t["pnl"] for t in trades], dtype=np.float64),
                              np.array([t["return_pct"] for t in trades], dtype=np.float64), s)
