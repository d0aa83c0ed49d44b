"""A registry model ready to trade: its record's recipe, the fitted estimator, one predict path.

:class:`UsableModel` is what the ``ml`` strategy holds. It is made from a registry record
(:func:`UsableModel.from_record`) and the estimator unpickled *after* the artifact's sha256
matched the record (:func:`tradebot.services.ml_models.resolve_model`). :meth:`UsableModel.predict`
builds the features with the record's own feature spec through
:func:`tradebot.ml.features.build_features` — the one function that serves a whole history
in a backtest and the newest bars in paper — and returns P(label = 1) per bar, NaN where the
features are not settled.

:func:`check_market` refuses a model trained on another symbol or timeframe: its features
and labels mean something else there (a 1h model's "12 bars" is half a day, not an hour).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.core.signals import Signals
from tradebot.ml.spec import FeatureSpec, parse_spec


@dataclass(frozen=True)
class UsableModel:
    name: str
    version: int
    sha256: str  # the artifact's
    spec: FeatureSpec
    columns: tuple[str, ...]
    exchange: str
    symbol: str
    timeframe: str
    data_start_ms: int  # the training data's range (open times, inclusive)
    data_end_ms: int
    seed: int
    label: Mapping[str, Any]
    model: Mapping[str, Any]
    verdict: str
    estimator: Any = field(repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any], estimator: Any) -> UsableModel:
        spec = spec_of_record(record)
        columns = tuple(record["columns"])
        if spec.columns != columns:
            raise UsageError(f"model {record['name']}:{record['version']}: its feature spec builds "
                             f"{len(spec.columns)} columns that differ from the {len(columns)} it was "
                             "trained on (a feature changed since); retrain it")
        return cls(record["name"], int(record["version"]), record["artifact_sha256"], spec, columns,
                   record["exchange"], record["symbol"], record["timeframe"], int(record["data_start_ms"]),
                   int(record["data_end_ms"]), int(record["seed"]), dict(record["label"]),
                   dict(record["model"]), str(record.get("verdict", "")), estimator)

    def label_settings(self) -> Any:
        """The record's label settings as :class:`tradebot.ml.evaluate.LabelSettings`."""
        from tradebot.ml.evaluate import LabelSettings

        known = {f.name for f in fields(LabelSettings)}
        return LabelSettings(**{k: v for k, v in self.label.items() if k in known})

    def model_settings(self) -> Any:
        """The record's model settings as :class:`tradebot.ml.pipeline.ModelSettings`."""
        from tradebot.ml.pipeline import ModelSettings

        known = {f.name for f in fields(ModelSettings)}
        return ModelSettings(**{k: v for k, v in self.model.items() if k in known})

    @property
    def is_meta(self) -> bool:
        """A meta model: it filters a built-in strategy's entries (:mod:`tradebot.ml.meta`)."""
        return self.label.get("method") == "meta"

    def base_signals(self, candles: Candles) -> Signals | None:
        """A meta model's base strategy signals over ``candles`` (None for other models)."""
        if not self.is_meta:
            return None
        from tradebot.ml.meta import base_signals

        return base_signals(candles, str(self.label.get("base", "")), self.label.get("base_params"))

    def indicators(self, candles: Candles, proba: np.ndarray) -> dict[str, np.ndarray]:
        """The ``ml`` strategy's indicators from ``proba`` over ``candles``: ``proba`` alone, or
        for a meta model the probability at the base strategy's entries (NaN elsewhere) and
        the base strategy's entries and exits."""
        base = self.base_signals(candles)
        if base is None:
            return {"proba": proba}
        from tradebot.ml.meta import only_at_entries

        return {"proba": only_at_entries(proba, base), "base_entries": base.entries, "base_exits": base.exits}

    def overlaps(self, first_ms: int, last_ms: int) -> bool:
        """Whether bars ``[first_ms, last_ms]`` reach into the training data."""
        return first_ms <= self.data_end_ms and last_ms >= self.data_start_ms

    def predict(self, candles: Candles, first: int = 0, strict: bool = True,
                others: Mapping[str, Candles] | None = None) -> np.ndarray:
        """P(label = 1) at the close of each bar of ``candles`` from bar ``first`` on (NaN
        before it and where the features are not settled). A history too short for one
        settled row is refused (:class:`UsageError`) unless ``strict`` is False (paper: a
        young account has no prediction yet). ``others``: the candles of the other symbols
        the spec names (``spec.symbols``)."""
        if not strict and len(candles) <= self.spec.warmup_bars:
            return np.full(len(candles), np.nan)
        return probabilities(self.estimator, candles, self.spec, first, others)


def spec_of_record(record: Mapping[str, Any]) -> FeatureSpec:
    """The feature spec a registry record stores (its canonical content), checked against
    the record's hash."""
    where = f"model {record['name']}:{record['version']}"
    stored = record["spec"]
    entries = [{**{k: v for k, v in f.items() if k != "params"}, **f.get("params", {})}
               for f in stored.get("features", [])]
    top = {k: v for k, v in stored.items() if k not in ("format", "features")}  # e.g. the base timeframe
    spec = parse_spec({"name": record.get("spec_name") or "model", **top, "features": entries},
                      source=f"{where} feature spec")
    if spec.sha256 != record.get("spec_sha256"):
        raise UsageError(f"{where}: its stored feature spec hashes to {spec.sha256[:12]}…, the record says "
                         f"{str(record.get('spec_sha256'))[:12]}… (features changed since it was trained); "
                         "retrain it")
    return spec


def probabilities(estimator: Any, candles: Candles, spec: FeatureSpec, first: int = 0,
                  others: Mapping[str, Candles] | None = None) -> np.ndarray:
    """P(label = 1) of ``estimator`` per bar from ``first`` on, features of ``spec`` built
    over all of ``candles`` (so a row does not depend on where prediction starts)."""
    from tradebot.ml.features import build_features
    from tradebot.ml.pipeline import positive_proba

    features = build_features(candles, spec, others=others)
    proba = np.full(len(candles), np.nan)
    rows = np.flatnonzero(features.valid_rows()[first:]) + first
    if rows.size:
        proba[rows] = positive_proba(estimator, features.values[rows])
    return proba


def check_market(model: UsableModel, symbol: str, timeframe: str) -> None:
    """One line, exit 2, when ``model`` was trained on another symbol or timeframe."""
    if model.symbol != symbol or model.timeframe != timeframe:
        raise UsageError(f"model {model.ref} was trained on {model.symbol} {model.timeframe}; it cannot "
                         f"trade {symbol} {timeframe} (train a model on {symbol} {timeframe})")
