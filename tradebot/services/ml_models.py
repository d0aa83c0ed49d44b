"""Registry models for strategies: resolve ``NAME`` / ``NAME:VERSION``, check, load, bind.

:func:`resolve_model` is the one way a strategy gets a model: the champion of a name (or
one version), refused with one line (exit 2, nothing stored) when the name has no
champion, when the model was trained on another symbol or timeframe (checked before the
artifact is read) or when its artifact does not match the record's sha256 (checked before
it is unpickled, :func:`tradebot.data.model_registry.verify_artifact`).

A linear model predicts through its light form (:mod:`tradebot.ml.linear_form`: the same
probabilities from plain arrays), in every process, so a backtest and a paper account
given the same model decide alike. Paper runs store the form beside the artifact
(``models/<name>/<version>.linear-<sha>.npz``, its sha256 in ``ml_model_forms``) the first
time they load the model; later runs read it — after checking its sha256 and the
artifact's — without importing scikit-learn, which alone costs more than a paper step's
budget (docs/decisions/0020-ml-strategy-walk-forward.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebot.core.errors import UsageError
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.ml.model_use import UsableModel
    from tradebot.strategies.base import Strategy


def uses_model(strategy: Strategy) -> bool:
    """Whether ``strategy`` trades a registry model (the ``ml`` strategy)."""
    return bool(getattr(strategy, "uses_model", False))


def normalise_ref(ref: str) -> str:
    """``NAME``, ``NAME:VERSION`` or ``NAME@VERSION`` → ``NAME`` / ``NAME:VERSION``."""
    ref = (ref or "").strip()
    if not ref:
        raise UsageError("strategy 'ml' needs a model: -p model=NAME (its champion) or NAME:VERSION, or "
                         "--model NAME with backtest (see `tradebot models list`)")
    name, at, version = ref.partition("@")
    return f"{name}:{version}" if at else ref


def resolve_model(ctx: Context, ref: str, *, symbol: str, timeframe: str, keep_form: bool = False) -> UsableModel:
    """The model ``ref`` names, checked and loaded (see the module docstring); ``keep_form``:
    store a new light form (paper runs)."""
    import io

    from sqlalchemy import select

    from tradebot.data.ml_decisions import MLModelForm
    from tradebot.data.model_registry import (
        ArtifactError,
        ModelNotFoundError,
        ModelRepository,
        parse_ref,
        record_dict,
        sha256_bytes,
        verify_artifact,
    )
    from tradebot.ml.model_use import UsableModel, check_market

    name, version = parse_ref(normalise_ref(ref))
    if ctx.settings.database_url is None and not (ctx.home / "tradebot.db").is_file():
        raise ModelNotFoundError(f"no model {name} in the registry (none trained yet: `tradebot train`)")
    with ctx.store.session() as session:
        repo = ModelRepository(session)
        if version is None:
            row = repo.champion(name)
            if row is None:
                newest = repo.get(name)  # no such name at all: the registry's own message
                raise ModelNotFoundError(
                    f"model {name} has no champion: promote a version (`tradebot models promote "
                    f"{name}:{newest.version}`) or name one ({name}:{newest.version})")
        else:
            row = repo.get(name, version)
        record = record_dict(row)
        if (record.get("model") or {}).get("kind") == "regime":
            raise UsageError(f"model {name}:{row.version} is a regime classifier (`tradebot regime --model "
                             f"{name}`), not a trading model")
        probe = (record["symbol"], record["timeframe"])
        if probe != (symbol, timeframe):  # refused before the artifact is read
            raise UsageError(f"model {name}:{row.version} was trained on {probe[0]} {probe[1]}; it cannot "
                             f"trade {symbol} {timeframe} (train a model on {symbol} {timeframe})")
        data = verify_artifact(ctx.home, row)  # always: a tampered artifact is refused
        form_row = session.scalar(select(MLModelForm).where(MLModelForm.model_id == row.id,
                                                            MLModelForm.kind == "linear"))
        new_form: bytes | None = None
        estimator: Any
        if form_row is not None and form_row.artifact_sha256 == row.artifact_sha256:
            from tradebot.ml.linear_form import LinearForm

            path = ctx.home / form_row.path
            try:
                raw = path.read_bytes()
            except OSError as e:
                raise ArtifactError(f"model {name}:{row.version}: cannot read its light form {path} "
                                    f"({e.strerror or e})") from None
            if sha256_bytes(raw) != form_row.sha256:
                raise ArtifactError(f"model {name}:{row.version}: light form {path} does not match its "
                                    "recorded sha256; refusing to load it (tampered or corrupt: delete the "
                                    "file and its ml_model_forms row, or retrain)")
            estimator = LinearForm.from_bytes(raw)
        else:
            import joblib

            from tradebot.ml.linear_form import convert

            estimator = joblib.load(io.BytesIO(data))  # only after its sha256 matched
            form = convert(estimator, len(record["columns"]))
            if form is not None:
                estimator = form
                new_form = form.to_bytes() if keep_form else None
        model_id, version_no = row.id, row.version
    model = UsableModel.from_record(record, estimator)
    check_market(model, symbol, timeframe)
    if new_form is not None:
        _keep_form(ctx, model_id, name, version_no, record["artifact_sha256"], new_form)
    return model


def _keep_form(ctx: Context, model_id: int, name: str, version: int, artifact_sha: str, data: bytes) -> None:
    """Store a light form (a cache: a concurrent writer or a failure leaves it to the next run)."""
    from tradebot.core.atomic import atomic_write_bytes
    from tradebot.core.errors import StoreError
    from tradebot.data.ml_decisions import MLModelForm
    from tradebot.data.model_registry import sha256_bytes

    digest = sha256_bytes(data)
    rel = f"models/{name}/{version}.linear-{digest[:16]}.npz"
    path = ctx.home / rel
    try:
        if not path.exists():
            atomic_write_bytes(path, data)
        with ctx.store.session() as session:
            session.add(MLModelForm(model_id=model_id, kind="linear", path=rel, sha256=digest,
                                    artifact_sha256=artifact_sha))
    except (OSError, StoreError):  # e.g. another process stored it first (unique model_id, kind)
        return


def bind_model(ctx: Context, strategy: Strategy, *, symbol: str, timeframe: str) -> UsableModel | None:
    """Bind the registry model ``strategy`` names (if it trades one); returns it."""
    if not uses_model(strategy):
        return None
    model = resolve_model(ctx, str(strategy.parameters.get("model", "")), symbol=symbol, timeframe=timeframe)
    strategy.bind(model)  # type: ignore[attr-defined]
    return model
