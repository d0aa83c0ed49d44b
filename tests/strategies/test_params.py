"""Strategy parameters: parsing from the command line, ranges, choices, all-or-nothing."""

from __future__ import annotations

import pytest

from tradebot.core.errors import ParameterError, UsageError
from tradebot.strategies.builtin.bollinger import BollingerStrategy
from tradebot.strategies.builtin.macd import MacdStrategy
from tradebot.strategies.builtin.rsi import RsiStrategy
from tradebot.strategies.params import Param, parse_assignments


def test_parse_assignments():
    assert parse_assignments(["period=21", " lower = 25 ", "mode=breakout"]) == {
        "period": "21", "lower": "25", "mode": "breakout"}
    assert parse_assignments(["x=a=b"]) == {"x": "a=b"}


@pytest.mark.parametrize("item", ["period", "=21", " =3"])
def test_parse_assignments_rejects_malformed(item):
    with pytest.raises(ParameterError, match="expected NAME=VALUE"):
        parse_assignments([item])


def test_strings_are_parsed_to_the_declared_type():
    s = RsiStrategy()
    s.set_parameters(parse_assignments(["period=21", "lower=25.5", "upper=75"]))
    assert s.parameters == {"period": 21, "lower": 25.5, "upper": 75.0}
    assert isinstance(s.parameters["period"], int)
    assert isinstance(s.parameters["upper"], float)
    assert s.period == 21  # attribute access to parameters


def test_not_an_integer_names_parameter_and_value():
    with pytest.raises(ParameterError) as e:
        RsiStrategy().set_parameters(parse_assignments(["period=abc"]))
    msg = str(e.value)
    assert "period" in msg and "'abc'" in msg and "integer" in msg and "rsi" in msg
    assert "\n" not in msg
    assert e.value.exit_code == 2 and isinstance(e.value, UsageError)


@pytest.mark.parametrize("raw", ["2.5", 2.5, True, "", "nan"])
def test_other_non_integers(raw):
    with pytest.raises(ParameterError, match="period"):
        RsiStrategy(period=raw)


def test_integral_float_is_an_integer():
    assert RsiStrategy(period=21.0).period == 21


def test_out_of_range():
    with pytest.raises(ParameterError) as e:
        RsiStrategy().set_parameters({"period": "-3"})
    msg = str(e.value)
    assert "period" in msg and "-3" in msg and "out of range" in msg and "[2" in msg
    with pytest.raises(ParameterError, match="out of range"):
        RsiStrategy(period=201)
    with pytest.raises(ParameterError, match="not a finite number"):
        RsiStrategy(lower="inf")
    # bounds are inclusive
    assert RsiStrategy(period=2).period == 2 and RsiStrategy(period=200).period == 200


def test_not_a_number():
    with pytest.raises(ParameterError, match=r"lower='low' is not a number"):
        RsiStrategy(lower="low")


def test_unknown_parameter_suggests_a_close_name():
    with pytest.raises(ParameterError) as e:
        RsiStrategy().set_parameters({"perod": "14"})
    msg = str(e.value)
    assert "'perod'" in msg and "did you mean period" in msg


def test_unknown_parameter_without_close_match_lists_known():
    with pytest.raises(ParameterError, match="known: lower, period, upper"):
        RsiStrategy(zzz=1)


@pytest.mark.parametrize(("raw", "value"), [
    ("true", True), ("1", True), ("yes", True), ("on", True), ("TRUE", True), (True, True),
    ("false", False), ("0", False), ("no", False), ("off", False), (False, False),
])
def test_bool_parsing(raw, value):
    assert MacdStrategy(below_zero=raw).below_zero is value


def test_bool_rejects_other_text():
    with pytest.raises(ParameterError, match=r"below_zero='maybe' is not a boolean"):
        MacdStrategy(below_zero="maybe")


def test_choices():
    assert BollingerStrategy(mode="breakout").mode == "breakout"
    with pytest.raises(ParameterError) as e:
        BollingerStrategy(mode="sideways")
    msg = str(e.value)
    assert "mode" in msg and "'sideways'" in msg and "reversion" in msg and "breakout" in msg


def test_set_parameters_is_all_or_nothing():
    s = RsiStrategy(period=21)
    before = s.parameters
    # the first value is fine, the second is not: nothing is applied
    with pytest.raises(ParameterError):
        s.set_parameters({"period": "10", "lower": "abc"})
    assert s.parameters == before
    with pytest.raises(ParameterError):
        s.set_parameters({"period": "10", "nope": "1"})
    assert s.parameters == before
    # a cross-parameter check fails after every value parsed: still nothing applied
    with pytest.raises(ParameterError, match="lower=80.0 must be below upper=70.0"):
        s.set_parameters({"period": "10", "lower": "80"})
    assert s.parameters == before
    s.set_parameters({"period": "10", "lower": "20"})
    assert s.parameters == {**before, "period": 10, "lower": 20.0}


def test_macd_fast_below_slow():
    with pytest.raises(ParameterError, match="fast=30 must be below slow=26"):
        MacdStrategy(fast=30)


def test_parameters_is_a_copy():
    s = RsiStrategy()
    s.parameters["period"] = 99
    assert s.period == 14


def test_schema():
    schema = RsiStrategy.parameter_schema()
    assert schema["period"] == {"type": "int", "default": 14, "low": 2, "high": 200, "step": 1,
                                "description": "RSI lookback (Wilder)"}
    assert BollingerStrategy.parameter_schema()["mode"]["choices"] == ["reversion", "breakout"]


def test_param_kind_is_checked():
    with pytest.raises(ValueError, match="unknown parameter kind"):
        Param("complex", 1)


def test_defaults_are_valid():
    for cls in (RsiStrategy, MacdStrategy, BollingerStrategy):
        s = cls()
        s.set_parameters({k: str(v) for k, v in s.parameters.items()})  # round trip as text
        assert s.parameters == cls().parameters
