"""Registry models for strategies: resolve ``NAME`` / ``NAME:VERSION``, check, load, bind.

:func:`resolve_model` is the one way a strategy gets a model: the champion of a name (or
one version), refused with one line (exit 2, nothing stored) when the name has no
champion, when the model was trained on another symbol or timeframe (checked before the
artifact is read) or when its artifact does not match the record's sha256 (checked before
it is unpickled, :func:`tradebot.data.model_registry.load_artifact`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        raise UsageError("strategy 'ml' needs a model: --model NAME (its champion) or NAME:VERSION "
                         "(see `tradebot models list`)")
    name, at, version = ref.partition("@")
    return f"{name}:{version}" if at else ref


def resolve_model(ctx: Context, ref: str, *, symbol: str, timeframe: str) -> UsableModel:
    """The model ``ref`` names, checked and loaded (see the module docstring)."""
    from tradebot.data.model_registry import (
        ModelNotFoundError,
        ModelRepository,
        load_artifact,
        parse_ref,
        record_dict,
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
        probe = (record["symbol"], record["timeframe"])
        if probe != (symbol, timeframe):  # refused before the artifact is read
            raise UsageError(f"model {name}:{row.version} was trained on {probe[0]} {probe[1]}; it cannot "
                             f"trade {symbol} {timeframe} (train a model on {symbol} {timeframe})")
        estimator = load_artifact(ctx.home, row)
    model = UsableModel.from_record(record, estimator)
    check_market(model, symbol, timeframe)
    return model


def bind_model(ctx: Context, strategy: Strategy, *, symbol: str, timeframe: str) -> UsableModel | None:
    """Bind the registry model ``strategy`` names (if it trades one); returns it."""
    if not uses_model(strategy):
        return None
    model = resolve_model(ctx, str(strategy.parameters.get("model", "")), symbol=symbol, timeframe=timeframe)
    strategy.bind(model)  # type: ignore[attr-defined]
    return model
