"""Search spaces: dimensions, --space specs, the grid, errors."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.errors import ParameterError, UsageError
from tradebot.core.signals import Signals
from tradebot.optimize.space import (
    ENGINE_DIMENSIONS,
    GRID_FLOAT_POINTS,
    Dimension,
    SearchSpace,
    build_space,
)
from tradebot.strategies.base import Indicators, Strategy
from tradebot.strategies.builtin.bollinger import BollingerStrategy
from tradebot.strategies.builtin.macd import MacdStrategy
from tradebot.strategies.builtin.rsi import RsiStrategy
from tradebot.strategies.params import Param


class Toy(Strategy):
    name = "toy"
    params: ClassVar[dict[str, Param]] = {
        "n": Param("int", 5, 1, 9),  # no step: 1
        "w": Param("float", 0.5, 0.0, 1.0),  # no step: continuous
        "free": Param("float", 2.0),  # no range: stays at its default
        "label": Param("str", "a"),  # no choices: stays at its default
        "flag": Param("bool", False),
        "mode": Param("str", "x", choices=("x", "y", "z")),
    }

    def compute_indicators(self, candles: Candles) -> Indicators:
        return {}

    def signals_from(self, candles: Candles, ind: Indicators) -> Signals:
        raise NotImplementedError


RSI_SPECS = ["period=7,10,14,21,28", "lower=20,25,30,35", "upper=65:85:5"]


# ------------------------------------------------------------------------- dimensions
def test_dimension_values_of_every_kind() -> None:
    assert Dimension("p", "int", 2, 10, 3).grid_values() == [2, 5, 8]
    assert Dimension("p", "int", 2, 4).grid_values() == [2, 3, 4]
    assert Dimension("f", "float", 0.1, 0.5, 0.1).grid_values() == [0.1, 0.2, 0.3, 0.4, 0.5]  # no binary noise
    assert Dimension("f", "float", 0.0, 1.0).grid_values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len(Dimension("f", "float", -3.0, 7.0).grid_values()) == GRID_FLOAT_POINTS
    assert Dimension("b", "bool").grid_values() == [False, True]
    assert Dimension("c", "choice", choices=("x", None, 3)).grid_values() == ["x", None, 3]


def test_dimension_contains() -> None:
    d = Dimension("p", "int", 2, 10, 2)
    assert d.contains(4) and not d.contains(5) and not d.contains(12) and not d.contains(True)
    f = Dimension("f", "float", 0.1, 0.5, 0.1)
    assert f.contains(0.3) and f.contains(0.1 + 0.2) and not f.contains(0.35) and not f.contains(0.6)
    c = Dimension("f", "float", 0.0, 1.0)
    assert c.contains(0.123) and not c.contains(1.5) and not c.contains("x")
    assert Dimension("b", "bool").contains(True) and not Dimension("b", "bool").contains(1)
    ch = Dimension("c", "choice", choices=(1, 2))
    assert ch.contains(2) and not ch.contains(True) and not ch.contains(3)


def test_dimension_sample_is_in_range_and_python_typed() -> None:
    rng = np.random.default_rng(0)
    dims = [Dimension("p", "int", 2, 10, 2), Dimension("f", "float", 0.1, 0.5, 0.1),
            Dimension("c", "float", -1.0, 1.0), Dimension("b", "bool"), Dimension("ch", "choice", choices=("a", "b"))]
    for d in dims:
        for _ in range(50):
            v = d.sample(rng)
            assert d.contains(v)
            assert type(v) in (int, float, bool, str)


def test_dimension_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Dimension("p", "int", 5, 2)
    with pytest.raises(ValueError):
        Dimension("p", "float", 0, 1, 0)
    with pytest.raises(ValueError):
        Dimension("p", "weird")
    with pytest.raises(ValueError):
        Dimension("p", "choice")


# ------------------------------------------------------------------------- the grid
def test_rsi_grid_order_and_size() -> None:
    space = build_space(RsiStrategy, RSI_SPECS)
    assert space.names == ("period", "lower", "upper")
    assert space.grid_size() == 100
    grid = list(space.grid())
    assert len(grid) == 100
    assert grid[0] == {"period": 7, "lower": 20.0, "upper": 65.0}
    assert grid[1] == {"period": 7, "lower": 20.0, "upper": 70.0}  # last dimension innermost
    assert grid[5] == {"period": 7, "lower": 25.0, "upper": 65.0}
    assert grid[20]["period"] == 10  # first dimension outermost
    assert [g["period"] for g in grid[::20]] == [7, 10, 14, 21, 28]
    assert grid[-1] == {"period": 28, "lower": 35.0, "upper": 85.0}
    assert len({tuple(g.values()) for g in grid}) == 100
    assert [space.point_at(i) for i in range(100)] == grid


def test_grid_includes_fixed_values_and_float_grid_points() -> None:
    space = build_space(Toy, ["n=3", "flag=true", "mode=x", "w=0:1"])
    assert space.names == ("w",)
    assert space.fixed == {"n": 3, "flag": True, "mode": "x"}
    assert list(space.grid()) == [{"w": w, "n": 3, "flag": True, "mode": "x"} for w in (0.0, 0.25, 0.5, 0.75, 1.0)]


# ------------------------------------------------------------------------- defaults
def test_unspecified_strategy_params_use_declared_ranges() -> None:
    space = build_space(RsiStrategy, [])
    assert space.dims == (Dimension("period", "int", 2, 200, 1), Dimension("lower", "float", 1.0, 99.0, 1.0),
                          Dimension("upper", "float", 1.0, 99.0, 1.0))
    assert space.grid_size() == 199 * 99 * 99
    assert space.fixed == {} and space.discrete


def test_defaults_for_ints_floats_bools_strings_and_unranged() -> None:
    space = build_space(Toy, [])
    dims = {d.name: d for d in space.dims}
    assert list(dims) == ["n", "w", "flag", "mode"]  # declared order; free and label stay at defaults
    assert dims["n"] == Dimension("n", "int", 1, 9, 1)
    assert dims["w"].continuous and dims["w"].grid_size() == GRID_FLOAT_POINTS
    assert dims["flag"].kind == "bool"
    assert dims["mode"] == Dimension("mode", "choice", choices=("x", "y", "z"))
    assert space.fixed == {} and not space.discrete
    b = build_space(BollingerStrategy, [])
    assert {d.name: d.kind for d in b.dims}["mode"] == "choice"
    assert {d.name: d.kind for d in build_space(MacdStrategy, []).dims}["below_zero"] == "bool"


def test_range_without_step_inherits_the_declared_step() -> None:
    space = build_space(RsiStrategy, ["lower=20:23", "upper=70", "period=14"])
    assert space.dims == (Dimension("lower", "float", 20.0, 23.0, 1.0),)
    assert space.dims[0].grid_values() == [20.0, 21.0, 22.0, 23.0]
    assert build_space(Toy, ["w=0.2:0.4"]).dims[1].continuous


def test_explicit_values_are_coerced_and_deduplicated() -> None:
    space = build_space(Toy, ["n=3,1,3", "mode=z,x", "flag=yes,no"])
    dims = {d.name: d for d in space.dims}
    assert dims["n"].choices == (3, 1)
    assert dims["mode"].choices == ("z", "x")
    assert dims["flag"].choices == (True, False)


# ------------------------------------------------------------------------- engine
def test_engine_params_only_when_named() -> None:
    assert all(d.target == "strategy" for d in build_space(RsiStrategy, []).dims)
    space = build_space(RsiStrategy, [*RSI_SPECS, "take_profit_pct=none,2,4", "stop_loss_pct=1:3",
                                      "risk_pct=2"])
    assert space.names == ("period", "lower", "upper", "stop_loss_pct", "take_profit_pct")
    sl = space.dims[3]
    assert sl.target == "engine" and sl.step == ENGINE_DIMENSIONS["stop_loss_pct"].step
    assert sl.grid_values() == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert space.dims[4].choices == (None, 2.0, 4.0)
    assert space.fixed == {"risk_pct": 2.0} and space.engine_fixed == ("risk_pct",)
    assert space.grid_size() == 100 * 5 * 3
    strat, eng = space.split(space.point_at(0))
    assert strat == {"period": 7, "lower": 20.0, "upper": 65.0}
    assert eng == {"stop_loss_pct": 1.0, "take_profit_pct": None, "risk_pct": 2.0}


def test_bare_name_searches_the_default_range() -> None:
    space = build_space(RsiStrategy, ["period=14", "lower=30", "upper", "kelly_fraction"])
    assert space.dims == (Dimension("upper", "float", 1.0, 99.0, 1.0), ENGINE_DIMENSIONS["kelly_fraction"])
    with pytest.raises(ParameterError, match="space 'free': free has no declared range; give NAME=LOW:HIGH"):
        build_space(Toy, ["free"])


def test_engine_dimensions_are_valid_engine_values() -> None:
    from dataclasses import replace

    from tradebot.engine.config import EngineConfig

    for name, d in ENGINE_DIMENSIONS.items():
        assert d.target == "engine" and d.name == name
        for v in d.grid_values():
            replace(EngineConfig(), **{name: v})  # raises ConfigError when invalid


def test_space_round_trips_through_json() -> None:
    space = build_space(Toy, ["n=1:9:2", "mode=y,z", "stop_loss_pct=none,1.5", "size_value=0.5", "free=3"])
    again = SearchSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert again == space
    assert list(again.grid()) == list(space.grid())
    assert again.split(again.point_at(3)) == space.split(space.point_at(3))


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize(("spec", "message"), [
    ("perod=5:10", "space 'perod=5:10': strategy 'rsi' has no parameter 'perod'; did you mean period"),
    ("stop_los_pct=1:2", "did you mean stop_loss_pct"),
    ("zzz=1", "known: period, lower, upper, stop_loss_pct, take_profit_pct, trailing_stop_pct, size_value"),
    ("period=30:10", "space 'period=30:10': inverted range: low 30 is above high 10"),
    ("period=:10", "space 'period=:10': empty range bound"),
    ("lower=", "space 'lower=': empty value"),
    ("period=5:10:0", "space 'period=5:10:0': step must be > 0, got 0"),
    ("lower=20:30:-5", "step must be > 0, got -5"),
    ("period=5:10:0.5", "step 0.5 must be an integer for int parameter period"),
    ("period=1:300", "space 'period=1:300': range 1:300 is outside period's bounds [2, 200]"),
    ("stop_loss_pct=0:5", "range 0:5 is outside stop_loss_pct's bounds (0, 100)"),
    ("kelly_fraction=0.5,2", "kelly_fraction=2 is outside (0, 1]"),
    ("period=a:10", "space 'period=a:10': low 'a' is not a number"),
    ("period=5:nan", "high 'nan' is not a finite number"),
    ("period=7.5:10", "low '7.5' is not an integer"),
    ("upper=x", "space 'upper=x': strategy 'rsi': parameter upper='x' is not a number"),
    ("period=7,x", "parameter period='x' is not an integer"),
    ("period=7,,9", "empty value"),
    ("period=500", "parameter period=500 is out of range [2, 200]"),
    ("risk_pct=lots", "'lots' is not a number"),
    ("risk_pct=none", "'none' is not a number"),  # only the stops can be disabled
    ("=5", "space '=5': expected NAME=LOW:HIGH[:STEP], NAME=A,B,C or NAME=VALUE"),
    ("period:5", "expected NAME=LOW:HIGH[:STEP]"),
    ("", "expected NAME=LOW:HIGH[:STEP]"),
    ("period=1:2:3:4", "expected NAME=LOW:HIGH[:STEP]"),
])
def test_spec_errors_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        build_space(RsiStrategy, [spec])
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UsageError)


def test_range_on_a_bool_or_string_parameter() -> None:
    with pytest.raises(ParameterError, match="mode is a str parameter: list its values"):
        build_space(Toy, ["mode=1:2"])
    with pytest.raises(ParameterError, match="flag is a bool parameter"):
        build_space(Toy, ["flag=0:1"])
    with pytest.raises(ParameterError, match="is not one of x, y, z"):
        build_space(Toy, ["mode=x,q"])


def test_duplicate_spec() -> None:
    with pytest.raises(ParameterError, match="space 'period=7': period is given twice"):
        build_space(RsiStrategy, ["period=5:9", "period=7"])


def test_empty_search_space() -> None:
    with pytest.raises(ParameterError, match="strategy 'rsi': the search space is empty"):
        build_space(RsiStrategy, ["period=14", "lower=30", "upper=70", "stop_loss_pct=2"])


def test_split_routes_by_target() -> None:
    space = build_space(RsiStrategy, ["trailing_stop_pct=1,2"])
    values: dict[str, Any] = {"period": 3, "lower": 4.0, "upper": 5.0, "trailing_stop_pct": 2.0}
    assert space.split(values) == ({"period": 3, "lower": 4.0, "upper": 5.0}, {"trailing_stop_pct": 2.0})
    assert space.contains(values) and not space.contains({**values, "trailing_stop_pct": 3.0})
