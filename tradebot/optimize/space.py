"""The search space of ``tradebot optimize``: dimensions, ``--space`` specs, the grid.

A :class:`SearchSpace` is a tuple of :class:`Dimension` (searched) plus ``fixed`` values
(applied, not searched). Each dimension targets the strategy or the engine
(:data:`ENGINE_DIMENSIONS`); :meth:`SearchSpace.split` routes a parameter set to both.
:func:`build_space` turns a strategy's declared parameters and ``--space`` specs into a
space (syntax and defaults in docs/decisions/0011-optimizer-search.md).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import ParameterError
from tradebot.strategies.params import Param, unknown_parameter

if TYPE_CHECKING:
    from tradebot.strategies.base import Strategy

KINDS = ("int", "float", "bool", "choice")
TARGETS = ("strategy", "engine")
#: grid points of a continuous float dimension (a float range without a step)
GRID_FLOAT_POINTS = 5
_NONE_WORDS = {"none", "off", "null"}


def _tidy(x: float) -> float:
    """``low + i·step`` without binary noise (0.30000000000000004 → 0.3): 12 significant digits."""
    return float(f"{x:.12g}")


def _same(a: Any, b: Any) -> bool:
    """Equality that tells ``True`` from ``1`` (bool is an int subclass)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


@dataclass(frozen=True)
class Dimension:
    """One searched parameter.

    - ``int``: ``low, low+step, ... <= high`` (step >= 1, default 1).
    - ``float``: with a ``step`` the same lattice (discrete); without one, continuous in
      ``[low, high]`` (the grid then takes :data:`GRID_FLOAT_POINTS` evenly spaced points).
    - ``bool``: ``False, True``; ``choice``: the explicit ``choices``, in order.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    target: str = "strategy"

    def __post_init__(self) -> None:
        where = f"dimension {self.name!r}"
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.target not in TARGETS:
            raise ValueError(f"{where}: target must be strategy or engine, not {self.target!r}")
        if self.kind in ("int", "float"):
            if self.low is None or self.high is None or not (math.isfinite(self.low) and math.isfinite(self.high)):
                raise ValueError(f"{where}: needs finite low and high")
            if self.low > self.high:
                raise ValueError(f"{where}: low {self.low} > high {self.high}")
            if self.step is not None and not self.step > 0:
                raise ValueError(f"{where}: step must be > 0")
            if self.kind == "int":
                for v in (self.low, self.high, self.step if self.step is not None else 1):
                    if float(v) != int(v):
                        raise ValueError(f"{where}: int dimension needs integer low, high and step")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"{where}: no choices")

    # -- discrete view ------------------------------------------------------------------
    @property
    def continuous(self) -> bool:
        return self.kind == "float" and self.step is None

    @property
    def ordered(self) -> bool:
        """Numbers (neighbouring indices are neighbouring values), not categories."""
        return self.kind in ("int", "float")

    @property
    def size(self) -> int | None:
        """Number of values (None when continuous)."""
        if self.kind == "bool":
            return 2
        if self.kind == "choice":
            return len(self.choices)
        if self.continuous:
            return None
        assert self.low is not None and self.high is not None
        return int(math.floor((self.high - self.low) / self._step() + 1e-9)) + 1

    def _step(self) -> float:
        return 1.0 if self.step is None else float(self.step)

    def value_at(self, index: int) -> Any:
        """The ``index``-th value of a discrete dimension (Python scalars, not numpy)."""
        if self.kind == "bool":
            return (False, True)[index]
        if self.kind == "choice":
            return self.choices[index]
        assert self.low is not None
        if self.kind == "int":
            return int(self.low) + index * int(self._step())
        return _tidy(self.low + index * self._step())

    def index_of(self, value: Any) -> int | None:
        """Inverse of :meth:`value_at`; None when ``value`` is not one of the values."""
        if self.kind == "bool":
            return int(value) if isinstance(value, bool | np.bool_) else None
        if self.kind == "choice":
            return next((i for i, c in enumerate(self.choices) if _same(c, value)), None)
        if self.continuous or isinstance(value, bool) or not isinstance(value, int | float | np.number):
            return None
        assert self.low is not None
        k = (float(value) - self.low) / self._step()
        i = round(k)
        size = self.size
        assert size is not None
        return i if abs(k - i) < 1e-6 and 0 <= i < size else None

    # -- public -------------------------------------------------------------------------
    def grid_values(self) -> list[Any]:
        if self.continuous:
            assert self.low is not None and self.high is not None
            if self.low == self.high:
                return [float(self.low)]
            return [_tidy(v) for v in np.linspace(self.low, self.high, GRID_FLOAT_POINTS)]
        size = self.size
        assert size is not None
        return [self.value_at(i) for i in range(size)]

    def grid_size(self) -> int:
        size = self.size
        if size is None:
            return 1 if self.low == self.high else GRID_FLOAT_POINTS
        return size

    def sample(self, rng: np.random.Generator) -> Any:
        """One uniformly drawn value (Python scalar)."""
        if self.continuous:
            assert self.low is not None and self.high is not None
            return float(rng.uniform(self.low, self.high))
        size = self.size
        assert size is not None
        return self.value_at(int(rng.integers(size)))

    def contains(self, value: Any) -> bool:
        if self.continuous:
            assert self.low is not None and self.high is not None
            return (isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)
                    and self.low <= float(value) <= self.high)
        if self.kind == "int" and not isinstance(value, int | np.integer) and not (
                isinstance(value, float) and value.is_integer()):
            return False
        return self.index_of(value) is not None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high,
                "step": self.step, "choices": list(self.choices), "target": self.target}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Dimension:
        return cls(name=str(d["name"]), kind=str(d["kind"]), low=d.get("low"), high=d.get("high"),
                   step=d.get("step"), choices=tuple(d.get("choices") or ()), target=str(d.get("target", "strategy")))


@dataclass(frozen=True)
class SearchSpace:
    """Searched ``dims`` (declared order) and ``fixed`` values; ``engine_fixed`` names the
    fixed values that belong to the engine config (the rest go to the strategy)."""

    dims: tuple[Dimension, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    engine_fixed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(self.dims))
        names = [d.name for d in self.dims]
        if len(set(names)) != len(names):
            raise ValueError(f"search space: a dimension name appears twice in {names}")
        both = set(names) & set(self.fixed)
        if both:
            raise ValueError(f"search space: {sorted(both)} both searched and fixed")
        if not set(self.engine_fixed) <= set(self.fixed):
            raise ValueError("search space: engine_fixed names a value that is not fixed")

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the searched dimensions, in order."""
        return tuple(d.name for d in self.dims)

    @property
    def discrete(self) -> bool:
        """True when every dimension has finitely many values."""
        return all(not d.continuous for d in self.dims)

    def complete(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` of the dimensions plus the fixed values: a full parameter set."""
        return {**values, **self.fixed}

    def grid(self) -> Iterator[dict[str, Any]]:
        """Cartesian product of the grid values, first dimension outermost."""
        names = self.names
        for combo in itertools.product(*(d.grid_values() for d in self.dims)):
            yield self.complete(dict(zip(names, combo, strict=True)))

    def grid_size(self) -> int:
        return math.prod(d.grid_size() for d in self.dims)

    def point_at(self, index: int) -> dict[str, Any]:
        """The ``index``-th point of :meth:`grid` (mixed radix, first dimension outermost)."""
        values: dict[str, Any] = {}
        for d in reversed(self.dims):
            grid = d.grid_values() if d.continuous else None
            index, i = divmod(index, d.grid_size())
            values[d.name] = grid[i] if grid is not None else d.value_at(i)
        return self.complete({n: values[n] for n in self.names})

    def contains(self, params: dict[str, Any]) -> bool:
        """True when every dimension's value is in its range (fixed values are not checked)."""
        return all(d.name in params and d.contains(params[d.name]) for d in self.dims)

    def split(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(strategy_values, engine_values)``; names the space does not know go to the strategy."""
        engine = {d.name for d in self.dims if d.target == "engine"} | set(self.engine_fixed)
        strat = {k: v for k, v in params.items() if k not in engine}
        eng = {k: v for k, v in params.items() if k in engine}
        return strat, eng

    def to_dict(self) -> dict[str, Any]:
        return {"dims": [d.to_dict() for d in self.dims], "fixed": dict(self.fixed),
                "engine_fixed": list(self.engine_fixed)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSpace:
        return cls(tuple(Dimension.from_dict(x) for x in d["dims"]), dict(d.get("fixed") or {}),
                   tuple(d.get("engine_fixed") or ()))


# ---------------------------------------------------------------------------- engine
@dataclass(frozen=True)
class _EngineBounds:
    low: float
    high: float
    high_inclusive: bool  # low is always exclusive (every engine value must be > 0)
    nullable: bool  # "none" disables (the stops)

    def text(self) -> str:
        return f"({self.low:g}, {self.high:g}{']' if self.high_inclusive else ')'}"

    def ok(self, v: float) -> bool:
        return self.low < v and (v <= self.high if self.high_inclusive else v < self.high)


#: Engine parameters ``--space`` can search, with their default ranges (``--space NAME``)
#: and steps (a range ``NAME=LOW:HIGH`` without a step takes this step).
ENGINE_DIMENSIONS: dict[str, Dimension] = {
    "stop_loss_pct": Dimension("stop_loss_pct", "float", 0.5, 10.0, 0.5, target="engine"),
    "take_profit_pct": Dimension("take_profit_pct", "float", 1.0, 20.0, 1.0, target="engine"),
    "trailing_stop_pct": Dimension("trailing_stop_pct", "float", 0.5, 10.0, 0.5, target="engine"),
    "size_value": Dimension("size_value", "float", 0.1, 1.0, 0.1, target="engine"),
    "risk_pct": Dimension("risk_pct", "float", 0.5, 5.0, 0.5, target="engine"),
    "kelly_fraction": Dimension("kelly_fraction", "float", 0.1, 1.0, 0.1, target="engine"),
}
#: What EngineConfig accepts (size_value > 1 only with fixed_amount sizing: checked by the engine).
_ENGINE_BOUNDS: dict[str, _EngineBounds] = {
    "stop_loss_pct": _EngineBounds(0.0, 100.0, False, True),
    "take_profit_pct": _EngineBounds(0.0, math.inf, False, True),
    "trailing_stop_pct": _EngineBounds(0.0, 100.0, False, True),
    "size_value": _EngineBounds(0.0, math.inf, False, False),
    "risk_pct": _EngineBounds(0.0, 100.0, False, False),
    "kelly_fraction": _EngineBounds(0.0, 1.0, True, False),
}


# ---------------------------------------------------------------------------- specs
_SYNTAX = "expected NAME=LOW:HIGH[:STEP], NAME=A,B,C or NAME=VALUE"


class _Spec:
    """Parsing one spec; every error is one line starting with ``space 'SPEC':``."""

    def __init__(self, text: str, strategy: str) -> None:
        self.text = text
        self.strategy = strategy

    def error(self, why: str) -> ParameterError:
        return ParameterError(f"space {self.text!r}: {why}")

    def number(self, raw: str, integer: bool, what: str = "") -> float:
        raw = raw.strip()
        label = f"{what} " if what else ""
        if not raw:
            raise self.error(f"empty {label or 'value'}".rstrip() + f"; {_SYNTAX}")
        try:
            v = float(raw)
        except ValueError:
            raise self.error(f"{label}{raw!r} is not a number") from None
        if not math.isfinite(v):
            raise self.error(f"{label}{raw!r} is not a finite number")
        if integer and not v.is_integer():
            raise self.error(f"{label}{raw!r} is not an integer")
        return v

    def strategy_value(self, name: str, p: Param, raw: str) -> Any:
        if not raw.strip():
            raise self.error(f"empty value; {_SYNTAX}")
        try:
            return p.coerce(self.strategy, name, raw.strip())
        except ParameterError as e:
            raise self.error(str(e)) from None

    def engine_value(self, name: str, raw: str) -> float | None:
        b = _ENGINE_BOUNDS[name]
        if b.nullable and raw.strip().lower() in _NONE_WORDS:
            return None
        v = self.number(raw, integer=False)
        if not b.ok(v):
            raise self.error(f"{name}={v:g} is outside {b.text()}")
        return v

    def range(self, name: str, kind: str, body: str, default_step: float | None,
              bounds: tuple[float | None, float | None, str]) -> Dimension:
        parts = body.split(":")
        if len(parts) not in (2, 3):
            raise self.error(_SYNTAX)
        if kind not in ("int", "float"):
            raise self.error(f"{name} is a {kind} parameter: list its values (NAME=A,B) instead of a range")
        integer = kind == "int"
        if not parts[0].strip() or not parts[1].strip():
            raise self.error(f"empty range bound; {_SYNTAX}")
        low = self.number(parts[0], integer, "low")
        high = self.number(parts[1], integer, "high")
        if low > high:
            raise self.error(f"inverted range: low {low:g} is above high {high:g}")
        step = default_step
        if len(parts) == 3:
            step = self.number(parts[2], False, "step")
            if step <= 0:
                raise self.error(f"step must be > 0, got {step:g}")
            if integer and not step.is_integer():
                raise self.error(f"step {step:g} must be an integer for int parameter {name}")
        lo, hi, text = bounds
        if (lo is not None and low < lo) or (hi is not None and high > hi):
            raise self.error(f"range {low:g}:{high:g} is outside {name}'s bounds {text}")
        if integer:
            istep = int(step) if step is not None and float(step).is_integer() and step >= 1 else 1
            return Dimension(name, "int", int(low), int(high), istep)
        return Dimension(name, "float", low, high, None if step is None else float(step))


def _dedupe(values: list[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for v in values:
        if not any(_same(v, o) for o in out):
            out.append(v)
    return tuple(out)


def _default_dimension(name: str, p: Param) -> Dimension | None:
    """The dimension of a parameter without a spec (None: stays at its default)."""
    if p.kind == "bool":
        return Dimension(name, "bool")
    if p.kind == "str":
        return Dimension(name, "choice", choices=tuple(p.choices)) if p.choices else None
    if p.low is None or p.high is None:
        return None
    if p.kind == "int":
        step = int(p.step) if p.step is not None and float(p.step).is_integer() and p.step >= 1 else 1
        return Dimension(name, "int", int(math.ceil(p.low)), int(math.floor(p.high)), step)
    return Dimension(name, "float", float(p.low), float(p.high), None if p.step is None else float(p.step))


def build_space(strategy_cls: type[Strategy], specs: Sequence[str]) -> SearchSpace:
    """The search space of ``strategy_cls`` given ``--space`` specs.

    Each spec is ``NAME=LOW:HIGH[:STEP]`` (a range; without STEP the parameter's declared
    step, else 1 for an int and continuous for a float), ``NAME=A,B,C`` (explicit values),
    ``NAME=VALUE`` (fixed) or ``NAME`` alone (its declared or default range). Strategy
    parameters without a spec are searched over their declared range (bools over
    False/True, strings over their choices); those without a
    range keep their default (and are not in the parameter sets). Engine parameters
    (:data:`ENGINE_DIMENSIONS`) are searched or fixed only when named; engine stops accept
    ``none`` (disabled). Dimensions follow the strategy's declaration order, then the
    engine parameters in :data:`ENGINE_DIMENSIONS` order.
    """
    sname = strategy_cls.name or strategy_cls.__name__
    params = strategy_cls.params
    known = list(params) + [n for n in ENGINE_DIMENSIONS if n not in params]
    given: dict[str, Dimension | tuple[Any]] = {}  # name → dimension, or (fixed value,)
    for raw in specs:
        spec = _Spec(str(raw).strip(), sname)
        name, sep, body = spec.text.partition("=")
        name, body = name.strip(), body.strip()
        if not name or name.startswith(("=", ":", ",")) or (not sep and any(c in name for c in ":,")):
            raise spec.error(_SYNTAX)
        if name not in known:
            raise spec.error(str(unknown_parameter(sname, name, known)))
        if name in given:
            raise spec.error(f"{name} is given twice")
        engine = name not in params
        if not sep:  # NAME alone: its default range
            default = ENGINE_DIMENSIONS[name] if engine else _default_dimension(name, params[name])
            if default is None:
                raise spec.error(f"{name} has no declared range; give NAME=LOW:HIGH[:STEP] or NAME=A,B,C")
            given[name] = default
        elif ":" in body:
            if engine:
                d = ENGINE_DIMENSIONS[name]
                b = _ENGINE_BOUNDS[name]
                dim = spec.range(name, "float", body, d.step, (None, None, ""))
                for v in (dim.low, dim.high):
                    assert v is not None
                    if not b.ok(v):
                        raise spec.error(f"range {dim.low:g}:{dim.high:g} is outside {name}'s bounds {b.text()}")
                given[name] = Dimension(name, "float", dim.low, dim.high, dim.step, target="engine")
            else:
                p = params[name]
                text = f"[{'' if p.low is None else f'{p.low:g}'}, {'' if p.high is None else f'{p.high:g}'}]"
                given[name] = spec.range(name, p.kind, body, p.step, (p.low, p.high, text))
        elif "," in body:
            items = body.split(",")
            if engine:
                values = [spec.engine_value(name, item) for item in items]
            else:
                values = [spec.strategy_value(name, params[name], item) for item in items]
            given[name] = Dimension(name, "choice", choices=_dedupe(values), target="engine" if engine else "strategy")
        else:
            value = spec.engine_value(name, body) if engine else spec.strategy_value(name, params[name], body)
            given[name] = (value,)

    dims: list[Dimension] = []
    fixed: dict[str, Any] = {}
    engine_fixed: list[str] = []
    for name in [*params, *(n for n in ENGINE_DIMENSIONS if n not in params)]:
        got: Dimension | tuple[Any] | None
        if name in given:
            got = given[name]
        elif name in params:
            got = _default_dimension(name, params[name])
        else:
            got = None  # an engine parameter nobody named
        if isinstance(got, Dimension):
            dims.append(got)
        elif isinstance(got, tuple):
            fixed[name] = got[0]
            if name not in params:
                engine_fixed.append(name)
    if not dims:
        raise ParameterError(f"strategy {sname!r}: the search space is empty (every parameter is fixed); "
                             "search one with --space NAME=LOW:HIGH or NAME=A,B")
    return SearchSpace(tuple(dims), fixed, tuple(engine_fixed))
