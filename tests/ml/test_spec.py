"""Feature specs: parsing, defaults, the stable hash, and one-line errors."""

from __future__ import annotations

import json

import pytest

from tradebot.core.errors import ConfigError, UsageError
from tradebot.ml.feature_kinds import REGISTRY
from tradebot.ml.spec import builtin_specs, load_spec, parse_spec


def test_defaults_are_filled_and_hash_ignores_spelling_and_name():
    a = parse_spec({"name": "a", "features": [{"kind": "rsi"}, {"kind": "returns", "periods": [1, 5]}]})
    b = parse_spec({"name": "b", "features": [{"period": 14, "kind": "rsi"},
                                              {"kind": "returns", "periods": [1, 5], "lags": []}]})
    assert a.features[0].param_dict == {"period": 14}
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert a.columns == ("rsi_14", "ret_1", "ret_5")
    c = parse_spec({"features": [{"kind": "rsi", "period": 15}, {"kind": "returns", "periods": [1, 5]}]})
    assert c.sha256 != a.sha256
    swapped = parse_spec({"features": [{"kind": "returns", "periods": [1, 5]}, {"kind": "rsi"}]})
    assert swapped.sha256 != a.sha256  # column order is part of the content


def test_hash_is_the_sha256_of_canonical_json():
    import hashlib

    spec = parse_spec({"features": [{"kind": "bbands", "period": 10, "nbdev": 2}]})
    doc = json.loads(spec.canonical_json())
    assert doc == {"format": 1, "features": [{"kind": "bbands", "params": {"nbdev": 2.0, "period": 10},
                                              "lags": []}]}
    assert spec.sha256 == hashlib.sha256(spec.canonical_json().encode()).hexdigest()
    # a float written as an int hashes the same as the float
    assert spec.sha256 == parse_spec({"features": [{"kind": "bbands", "period": 10, "nbdev": 2.0}]}).sha256


def test_lags_add_columns_and_warmup():
    spec = parse_spec({"features": [{"kind": "returns", "periods": [1, 4], "lags": [2, 1]}]})
    assert spec.columns == ("ret_1", "ret_4", "ret_1_lag1", "ret_4_lag1", "ret_1_lag2", "ret_4_lag2")
    assert spec.warmup_bars == 4 + 2


@pytest.mark.parametrize("name", builtin_specs())
def test_builtin_specs_load_and_round_trip_through_toml(name, tmp_path):
    spec = load_spec(name)
    assert spec.name == name and spec.columns
    path = tmp_path / "spec.toml"
    path.write_text(spec.to_toml())
    again = load_spec(path)
    assert again.sha256 == spec.sha256 and again.name == name
    assert "default" in builtin_specs()


@pytest.mark.parametrize(("data", "message"), [
    ({"features": [{"kind": "rsii"}]}, "features[0]: unknown feature 'rsii'; did you mean 'rsi'?"),
    ({"features": [{"kind": "rsi", "perod": 3}]}, "unknown parameter 'perod'; did you mean 'period'?"),
    ({"features": [{"kind": "rsi", "period": 1}]}, "period must be an integer between 2 and 100000, got 1"),
    ({"features": [{"kind": "rsi", "period": "14"}]}, "period must be an integer"),
    ({"features": [{"kind": "rsi", "period": True}]}, "period must be an integer"),
    ({"features": [{"kind": "bbands", "nbdev": "x"}]}, "nbdev must be a number"),
    ({"features": [{"kind": "returns", "periods": []}]}, "periods must be a non-empty list of integers"),
    ({"features": [{"kind": "returns", "periods": [1, 1]}]}, "periods must be a list without repeats"),
    ({"features": [{"kind": "macd", "fast": 30}]}, "fast (30) must be smaller than slow (26)"),
    ({"features": [{"kind": "rsi", "lags": [0]}]},
     "lags must be a non-empty list of integers between 1 and 100000, got [0]"),
    ({"features": [{"kind": "candle", "size": 3}]}, "unknown parameter 'size' (it takes no parameters)"),
    ({"features": [{"kind": "rsi"}, {"kind": "rsi"}]}, "repeats column 'rsi_14' of features[0]"),
    ({"features": [{"period": 3}]}, "features[0] has no 'kind'"),
    ({"features": []}, "'features' must be a non-empty list"),
    ({"feature": [{"kind": "rsi"}]}, "unknown key 'feature'; did you mean 'features'?"),
    ({"features": [{"kind": "column"}]}, "name must name a per-bar column"),
])
def test_bad_specs_get_one_line_config_errors(data, message):
    with pytest.raises(ConfigError) as e:
        parse_spec(data)
    text = str(e.value)
    assert message in text, text
    assert "\n" not in text
    assert isinstance(e.value, UsageError) and e.value.exit_code == 2


def test_unknown_kind_names_the_feature_and_index():
    with pytest.raises(ConfigError, match=r"spec: features\[1\]: unknown feature 'stochh'; did you mean 'stoch'"):
        parse_spec({"features": [{"kind": "rsi"}, {"kind": "stochh"}]})


def test_load_spec_errors(tmp_path):
    with pytest.raises(ConfigError, match="'defualt' is neither a file nor a built-in spec; did you mean 'default'"):
        load_spec("defualt")
    bad = tmp_path / "bad.toml"
    bad.write_text("features = [")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_spec(bad)


def test_every_kind_has_columns_for_its_defaults():
    for name, kind in REGISTRY.items():
        if name == "column":
            continue
        spec = parse_spec({"features": [{"kind": name}]})
        assert len(spec.columns) >= 1 and spec.warmup_bars >= 0, name
        assert kind.description, name
