"""Feature specs: a declared list of features, parsed into frozen dataclasses with a hash.

A spec is a TOML file (or the same shape as a dict, e.g. a table of the config)::

    name = "default"
    description = "..."
    [[features]]
    kind = "rsi"          # a kind from tradebot.ml.feature_kinds.REGISTRY
    period = 14           # the kind's parameters; omitted ones take their defaults
    lags = [1, 2]         # optional: also the columns delayed by 1 and 2 bars

A feature may also be computed on a higher ``timeframe`` (the spec then names its base
``timeframe`` at the top) and/or on another ``symbol``'s candles (same exchange and
timeframe, passed to :func:`tradebot.ml.features.build_features` as ``others``); its columns
are prefixed (``1h:rsi_14``, ``ETH/USDT:ret_1``, ``ETH/USDT@1h:ret_1``) and aligned without
look-ahead (:mod:`tradebot.ml.align`)::

    timeframe = "5m"
    [[features]]
    kind = "rsi"
    timeframe = "1h"      # usable from the close of each 1h bar on

The hash is the sha256 of the canonical JSON of the *resolved* features (every parameter
written out, typed, in declaration order, format version included; name and description
left out), so two specs that build the same matrix have the same hash.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from tradebot.core.errors import ConfigError
from tradebot.ml.feature_kinds import REGISTRY, FeatureKind, Param

SPEC_FORMAT = 1
MAX_LAG = 100_000


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(options))})"


@dataclass(frozen=True)
class FeatureDef:
    """One declared feature: a kind, its resolved parameters (sorted) and its lags."""

    kind: str
    params: tuple[tuple[str, Any], ...]
    lags: tuple[int, ...] = ()
    timeframe: str | None = None  # computed on this higher timeframe (None: the base)
    symbol: str | None = None  # computed on this other symbol's candles (None: the traded one)
    every: int = 1  # base bars per bar of ``timeframe``

    @property
    def prefix(self) -> str:
        if self.symbol and self.timeframe:
            return f"{self.symbol}@{self.timeframe}:"
        return f"{self.symbol}:" if self.symbol else (f"{self.timeframe}:" if self.timeframe else "")

    @property
    def param_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params}

    @property
    def feature_kind(self) -> FeatureKind:
        kind = REGISTRY.get(self.kind)
        if kind is None:
            raise ConfigError(f"unknown feature {self.kind!r}{_suggest(self.kind, list(REGISTRY))}")
        return kind

    @property
    def base_columns(self) -> list[str]:
        return [self.prefix + c for c in self.feature_kind.columns(self.param_dict)]

    @property
    def columns(self) -> list[str]:
        base = self.base_columns
        return base + [f"{c}_lag{k}" for k in self.lags for c in base]

    @property
    def warmup_bars(self) -> int:
        own = int(self.feature_kind.warmup(self.param_dict))
        if self.every > 1:  # the kind's warm-up in higher bars, one partial and one forming bar more
            own = (own + 2) * self.every
        return own + max(self.lags, default=0)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "params": self.param_dict, "lags": list(self.lags)}
        if self.timeframe:
            d["timeframe"] = self.timeframe
        if self.symbol:
            d["symbol"] = self.symbol
        return d


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    features: tuple[FeatureDef, ...]
    description: str = ""
    timeframe: str | None = None  # the base timeframe (required when a feature names a timeframe)

    def to_dict(self) -> dict[str, Any]:
        """The canonical content: what the hash covers."""
        d: dict[str, Any] = {"format": SPEC_FORMAT, "features": [f.to_dict() for f in self.features]}
        if self.timeframe:
            d["timeframe"] = self.timeframe
        return d

    @property
    def symbols(self) -> tuple[str, ...]:
        """Other symbols whose candles the spec needs, in order of first use."""
        return tuple(dict.fromkeys(f.symbol for f in self.features if f.symbol))

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @cached_property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for f in self.features for c in f.columns)

    @cached_property
    def warmup_bars(self) -> int:
        """Bars of history a row needs before its value is settled; a row from a tail of
        ``warmup_bars + 1`` candles equals the row from the whole history."""
        return max((f.warmup_bars for f in self.features), default=0)

    def warmup_by_feature(self) -> dict[str, int]:
        return {f.columns[0]: f.warmup_bars for f in self.features}

    def to_toml(self) -> str:
        """The spec as TOML (every parameter written out); parses back to an equal spec."""
        lines = [f"name = {json.dumps(self.name)}"]
        if self.description:
            lines.append(f"description = {json.dumps(self.description)}")
        if self.timeframe:
            lines.append(f"timeframe = {json.dumps(self.timeframe)}")
        for f in self.features:
            lines += ["", "[[features]]", f"kind = {json.dumps(f.kind)}"]
            lines += [f"{k} = {json.dumps(v)}" for k, v in (("timeframe", f.timeframe), ("symbol", f.symbol)) if v]
            lines += [f"{k} = {json.dumps(v)}" for k, v in f.param_dict.items()]
            if f.lags:
                lines.append(f"lags = {json.dumps(list(f.lags))}")
        return "\n".join(lines) + "\n"


def _coerce(where: str, name: str, param: Param, value: Any) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {name} must be {expected}, got {value!r}")

    bounds = ""
    if param.minimum is not None and param.maximum is not None:
        bounds = f" between {param.minimum:g} and {param.maximum:g}"
    elif param.minimum is not None:
        bounds = f" >= {param.minimum:g}"

    def in_range(v: float) -> bool:
        return ((param.minimum is None or v >= param.minimum)
                and (param.maximum is None or v <= param.maximum))

    if param.type == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not in_range(value):
            raise bad(f"an integer{bounds}")
        return int(value)
    if param.type == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or not in_range(float(value)) \
                or value != value:
            raise bad(f"a number{bounds}")
        return float(value)
    if param.type == "ints":
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if (not isinstance(value, list | tuple) or not value
                or any(isinstance(v, bool) or not isinstance(v, int) or not in_range(v) for v in value)):
            raise bad(f"a non-empty list of integers{bounds}")
        if len(set(value)) != len(value):
            raise bad("a list without repeats")
        return tuple(int(v) for v in value)
    if param.type == "str":
        if not isinstance(value, str) or (param.choices and value not in param.choices):
            raise bad("one of " + ", ".join(map(repr, param.choices)) if param.choices else "a string")
        return value
    raise ConfigError(f"{where}: parameter {name} has unsupported type {param.type!r}")  # pragma: no cover


def parse_feature(entry: Any, index: int, source: str = "spec", base_timeframe: str | None = None) -> FeatureDef:
    where = f"{source}: features[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a table with a 'kind', got {entry!r}")
    kind_name = entry.get("kind")
    if not isinstance(kind_name, str) or not kind_name:
        raise ConfigError(f"{where} has no 'kind' (one of: {', '.join(sorted(REGISTRY))})")
    kind = REGISTRY.get(kind_name)
    if kind is None:
        raise ConfigError(f"{where}: unknown feature {kind_name!r}{_suggest(kind_name, list(REGISTRY))}")
    where = f"{source}: feature {kind_name!r} (features[{index}])"
    values: dict[str, Any] = {}
    for key, value in entry.items():
        if key in ("kind", "lags", "timeframe", "symbol"):
            continue
        if key not in kind.params:
            hint = _suggest(key, list(kind.params)) if kind.params else " (it takes no parameters)"
            raise ConfigError(f"{where}: unknown parameter {key!r}{hint}")
        values[key] = _coerce(where, key, kind.params[key], value)
    for key, param in kind.params.items():
        if key not in values:
            default = param.default
            values[key] = tuple(default) if isinstance(default, list) else default
    if kind.check is not None:
        problem = kind.check({k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()})
        if problem:
            raise ConfigError(f"{where}: {problem}")
    lags_raw = entry.get("lags", [])
    if isinstance(lags_raw, int) and not isinstance(lags_raw, bool):
        lags_raw = [lags_raw]
    lags = _coerce(where, "lags", Param("ints", [], 1, MAX_LAG), lags_raw) if lags_raw != [] else ()
    timeframe, every = _feature_timeframe(where, entry.get("timeframe"), base_timeframe)
    symbol = entry.get("symbol")
    if symbol is not None and (not isinstance(symbol, str) or not symbol.strip() or symbol != symbol.strip()
                               or any(c in symbol for c in ":@")):
        raise ConfigError(f"{where}: symbol must be a market symbol such as 'ETH/USDT', got {symbol!r}")
    return FeatureDef(kind_name, tuple(sorted(values.items())), tuple(sorted(lags)), timeframe, symbol or None,
                      every)


def _feature_timeframe(where: str, tf: Any, base: str | None) -> tuple[str | None, int]:
    """A feature's higher timeframe and the number of base bars in one of its bars."""
    from tradebot.core.timeframes import timeframe_ms

    if tf is None:
        return None, 1
    if not isinstance(tf, str):
        raise ConfigError(f"{where}: timeframe must be a string such as '1h', got {tf!r}")
    if base is None:
        raise ConfigError(f"{where}: timeframe {tf!r} needs the spec's base timeframe: add "
                          "timeframe = \"5m\" (the candles' timeframe) at the top of the spec")
    try:
        hi, lo = timeframe_ms(tf), timeframe_ms(base)
    except Exception as e:
        raise ConfigError(f"{where}: {e}") from None
    if hi <= lo or hi % lo:
        raise ConfigError(f"{where}: timeframe {tf!r} must be a multiple of the base timeframe {base!r} "
                          "and longer than it")
    return tf, hi // lo


def parse_spec(data: Mapping[str, Any], source: str = "spec") -> FeatureSpec:
    """A spec from a mapping (a parsed TOML document or config table)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a feature spec must be a table, got {type(data).__name__}")
    keys = ["name", "description", "features", "timeframe"]
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}{_suggest(unknown[0], keys)}")
    base = data.get("timeframe")
    if base is not None:
        from tradebot.core.timeframes import timeframe_ms

        if not isinstance(base, str):
            raise ConfigError(f"{source}: timeframe must be a string such as '5m', got {base!r}")
        try:
            timeframe_ms(base)
        except Exception as e:
            raise ConfigError(f"{source}: {e}") from None
    entries = data.get("features")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{source}: 'features' must be a non-empty list of [[features]] tables")
    name, description = data.get("name", ""), data.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise ConfigError(f"{source}: 'name' and 'description' must be strings")
    spec = FeatureSpec(name or Path(source).stem,
                       tuple(parse_feature(e, i, source, base) for i, e in enumerate(entries)), description, base)
    seen: dict[str, int] = {}
    for i, f in enumerate(spec.features):
        for col in f.columns:
            if col in seen:
                raise ConfigError(f"{source}: feature {f.kind!r} (features[{i}]) repeats column {col!r} "
                                  f"of features[{seen[col]}]")
            seen[col] = i
    return spec


def spec_from_content(name: str, content: Mapping[str, Any]) -> FeatureSpec:
    """The spec whose canonical content (:meth:`FeatureSpec.to_dict`, as stored in a model's
    record) is ``content``; its hash is the stored one."""
    entries = [{"kind": f["kind"], **dict(f.get("params") or {}),
                **{k: f[k] for k in ("lags", "timeframe", "symbol") if f.get(k)}}
               for f in content.get("features", [])]
    data: dict[str, Any] = {"name": name, "features": entries}
    if content.get("timeframe"):
        data["timeframe"] = content["timeframe"]
    return parse_spec(data, f"spec {name!r} of a stored model")


def builtin_specs() -> list[str]:
    """Names of the specs shipped in ``tradebot/ml/specs/``."""
    root = resources.files("tradebot.ml") / "specs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_spec(source: str | Path | Mapping[str, Any]) -> FeatureSpec:
    """A spec from a dict, a built-in name (``"default"``) or a TOML file path."""
    if isinstance(source, Mapping):
        return parse_spec(source, "spec")
    text_source = str(source)
    path = Path(text_source)
    if not path.suffix and text_source in builtin_specs():
        res = resources.files("tradebot.ml") / "specs" / f"{text_source}.toml"
        return parse_spec(tomllib.loads(res.read_text(encoding="utf-8")), f"{text_source}.toml")
    if not path.is_file():
        names = builtin_specs()
        hint = _suggest(text_source, names) if not path.suffix else ""
        raise ConfigError(f"feature spec {text_source!r} is neither a file nor a built-in spec{hint}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    return parse_spec(data, str(path))
