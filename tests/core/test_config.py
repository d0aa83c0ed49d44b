"""Layered configuration: defaults < preset < config file < environment < overrides."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tradebot.core.config import (
    MASK,
    Settings,
    build_overrides,
    load_settings,
    mask_url,
    parse_date_ms,
    settings_to_dict,
    validate_config_file,
)
from tradebot.core.errors import ConfigError
from tradebot.core.presets import list_presets, load_preset, preset_dir, read_toml


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture()
def env(home: Path) -> dict[str, str]:
    """An environment that points TRADEBOT_HOME at an empty temp dir (never the real ~)."""
    return {"TRADEBOT_HOME": str(home)}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(**kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_code == 2
    return message


# --------------------------------------------------------------------------- defaults


def test_defaults(env, home):
    s = load_settings(env=env)
    assert isinstance(s, Settings)
    assert s.schema_version == 1
    assert s.home == home
    assert s.database_url is None
    assert s.seed == 42
    assert s.preset is None
    assert (s.market.exchange, s.market.symbol, s.market.timeframe) == ("binance", "BTC/USDT", "1h")
    assert s.market.market_type == "spot"
    assert s.backtest.initial_capital == 10_000
    assert s.backtest.since is None and s.backtest.until is None
    assert s.fees.maker == s.fees.taker == 0.001
    assert s.slippage.mode == "fixed" and s.slippage.bps == 0
    assert s.slippage.atr_mult == 0.0 and s.slippage.atr_period == 14
    assert s.execution.latency_bars == 1
    assert s.sizing.mode == "fixed_fraction" and s.sizing.fraction == 1.0
    assert s.sizing.amount == 1000
    assert s.stops.stop_loss_pct is None
    assert s.stops.take_profit_pct is None
    assert s.stops.trailing_stop_pct is None
    assert s.strategy.name == "rsi" and s.strategy.params == {}
    assert s.risk.daily_profit_target == 5.0
    assert s.exchanges == {}
    assert s.source_files == ()


def test_default_home_is_dot_tradebot(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load_settings(env={})
    assert s.home == tmp_path / ".tradebot"


def test_plain_settings_constructor_reads_os_environ(monkeypatch, home):
    monkeypatch.setenv("TRADEBOT_FEES__TAKER", "0.004")
    monkeypatch.setenv("TRADEBOT_HOME", str(home))
    assert Settings().fees.taker == 0.004
    assert load_settings().fees.taker == 0.004  # env defaults to os.environ


# --------------------------------------------------------------------------- layering


def test_each_layer_overrides_the_previous(tmp_path, env):
    # preset 'balanced' sets sizing.fraction 0.5 and slippage.bps 5
    base = load_settings(env=env, preset="balanced")
    assert base.sizing.fraction == 0.5
    assert base.slippage.bps == 5
    assert base.stops.stop_loss_pct == 5 and base.stops.trailing_stop_pct == 8
    assert base.fees.taker == 0.001  # default survives

    cfg = write(
        tmp_path / "cfg.toml",
        "[sizing]\nfraction = 0.3\n[fees]\ntaker = 0.002\nmaker = 0.0005\n[slippage]\nbps = 7\n",
    )
    f = load_settings(config_file=cfg, preset="balanced", env=env)
    assert f.sizing.fraction == 0.3  # file beats preset
    assert f.stops.stop_loss_pct == 5  # preset value kept where the file is silent
    assert f.fees.taker == 0.002 and f.slippage.bps == 7

    env2 = {**env, "TRADEBOT_FEES__TAKER": "0.003", "TRADEBOT_SLIPPAGE__BPS": "9"}
    e = load_settings(config_file=cfg, preset="balanced", env=env2)
    assert e.fees.taker == 0.003  # env beats file
    assert e.fees.maker == 0.0005  # nested env merged, not replacing [fees]
    assert e.slippage.bps == 9
    assert e.sizing.fraction == 0.3

    o = load_settings(
        config_file=cfg,
        preset="balanced",
        env=env2,
        overrides={"fees": {"taker": 0.004}, "sizing": {"fraction": 0.9}},
    )
    assert o.fees.taker == 0.004  # overrides beat env
    assert o.fees.maker == 0.0005
    assert o.sizing.fraction == 0.9
    assert o.slippage.bps == 9  # env kept where overrides are silent
    assert o.stops.trailing_stop_pct == 8  # preset kept all the way up
    assert o.source_files == (preset_dir() / "balanced.toml", cfg)


def test_nested_env_merges_with_nested_file_values(tmp_path, env):
    cfg = write(
        tmp_path / "c.toml",
        '[market]\nexchange = "kraken"\nsymbol = "ETH/EUR"\n'
        '[strategy]\nname = "macd"\n[strategy.params]\nfast = 12\nslow = 26\n'
        '[exchanges.kraken]\napi_key = "file-key"\n',
    )
    environ = {
        **env,
        "TRADEBOT_MARKET__TIMEFRAME": "4h",
        "TRADEBOT_STRATEGY__PARAMS__SLOW": "30",
        "TRADEBOT_STRATEGY__PARAMS__ADAPTIVE": "true",
        "TRADEBOT_STRATEGY__PARAMS__ALPHA": "0.5",
        "TRADEBOT_EXCHANGES__KRAKEN__SECRET": "env-secret",
    }
    s = load_settings(config_file=cfg, env=environ)
    assert (s.market.exchange, s.market.symbol, s.market.timeframe) == ("kraken", "ETH/EUR", "4h")
    assert s.strategy.name == "macd"
    assert s.strategy.params == {"fast": 12, "slow": 30, "adaptive": True, "alpha": 0.5}
    creds = s.exchanges["kraken"]
    assert creds.api_key.get_secret_value() == "file-key"
    assert creds.secret.get_secret_value() == "env-secret"


def test_env_json_table_and_top_level_vars(env):
    s = load_settings(
        env={
            **env,
            "TRADEBOT_FEES": '{"taker": 0.003}',
            "TRADEBOT_SEED": "7",
            "TRADEBOT_DATABASE_URL": "sqlite:///x.db",
            "TRADEBOT_UNRELATED": "ignored",
        }
    )
    assert s.fees.taker == 0.003 and s.fees.maker == 0.001
    assert s.seed == 7
    assert s.database_url == "sqlite:///x.db"


def test_empty_env_values_are_ignored(env):
    s = load_settings(env={**env, "TRADEBOT_DATABASE_URL": "", "TRADEBOT_SEED": ""})
    assert s.database_url is None and s.seed == 42


def test_overrides_accept_dotted_keys_and_build_overrides_drops_none(env):
    opts = {"backtest.since": "2024-01-01", "fees.taker": None, "market.symbol": "ETH/USDT"}
    assert build_overrides(opts) == {
        "backtest": {"since": "2024-01-01"},
        "market": {"symbol": "ETH/USDT"},
    }
    s = load_settings(env=env, overrides={"fees.taker": 0.002, "fees": {"maker": 0.0}})
    assert (s.fees.maker, s.fees.taker) == (0.0, 0.002)


def test_overrides_are_not_mutated(env):
    overrides = {"fees": {"taker": 0.002}}
    load_settings(env=env, overrides=overrides, preset="balanced")
    assert overrides == {"fees": {"taker": 0.002}}


def test_overrides_can_reset_a_preset_value_to_none(env):
    overrides = {"stops": {"take_profit_pct": None}}
    s = load_settings(env=env, preset="conservative", overrides=overrides)
    assert s.stops.take_profit_pct is None
    assert s.stops.stop_loss_pct == 2


# --------------------------------------------------------------------------- presets


def test_presets_are_listed_and_valid(env):
    assert {"conservative", "balanced", "aggressive"} <= set(list_presets())
    for name in ("conservative", "balanced", "aggressive"):
        raw = load_preset(name)
        assert raw["schema_version"] == 1
        text = (preset_dir() / f"{name}.toml").read_text(encoding="utf-8")
        assert text.startswith("#")  # comment header explaining the preset
        s = load_settings(preset=name, env=env)
        assert s.preset == name


@pytest.mark.parametrize(
    "name, fraction, stop, take, trail, bps, target",
    [
        ("conservative", 0.25, 2, 4, None, 5, 2),
        ("balanced", 0.5, 5, None, 8, 5, 5),
        ("aggressive", 1.0, 10, None, None, 10, 20),
    ],
)
def test_preset_values(env, name, fraction, stop, take, trail, bps, target):
    s = load_settings(preset=name, env=env)
    assert s.sizing.fraction == fraction
    assert s.stops.stop_loss_pct == stop
    assert s.stops.take_profit_pct == take
    assert s.stops.trailing_stop_pct == trail
    assert s.slippage.bps == bps
    assert s.execution.latency_bars == 1
    assert s.risk.daily_profit_target == target


def test_preset_dir_is_top_level_presets():
    assert preset_dir() == Path(__file__).resolve().parents[2] / "presets"


def test_file_names_a_preset_and_explicit_preset_wins(tmp_path, env):
    cfg = write(tmp_path / "c.toml", 'preset = "aggressive"\n[fees]\ntaker = 0.002\n')
    s = load_settings(config_file=cfg, env=env)
    assert s.preset == "aggressive"
    assert s.sizing.fraction == 1.0 and s.slippage.bps == 10
    assert s.fees.taker == 0.002

    s = load_settings(config_file=cfg, preset="conservative", env=env)
    assert s.preset == "conservative"
    assert s.sizing.fraction == 0.25 and s.stops.take_profit_pct == 4
    assert s.fees.taker == 0.002  # the file's own values still apply

    s = load_settings(config_file=cfg, env={**env, "TRADEBOT_PRESET": "balanced"})
    assert s.preset == "balanced" and s.sizing.fraction == 0.5


def test_unknown_preset_lists_available(tmp_path, env):
    message = load_error(preset="yolo", env=env)
    assert "unknown preset 'yolo'" in message
    for name in ("aggressive", "balanced", "conservative"):
        assert name in message

    cfg = write(tmp_path / "c.toml", 'preset = "nope"\n')
    message = load_error(config_file=cfg, env=env)
    assert str(cfg) in message and "unknown preset 'nope'" in message

    assert "unknown preset '../etc/passwd'" in load_error(preset="../etc/passwd", env=env)


# --------------------------------------------------------------------------- TRADEBOT_HOME


def test_home_config_file_is_loaded_when_no_config_given(env, home):
    write(home / "config.toml", "seed = 99\n")
    s = load_settings(env=env)
    assert s.seed == 99
    assert s.source_files == (home / "config.toml",)


def test_home_from_overrides_beats_env(tmp_path, env):
    other = tmp_path / "other"
    write(other / "config.toml", "seed = 5\n")
    s = load_settings(env=env, overrides={"home": str(other)})
    assert s.home == other and s.seed == 5


def test_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / "tb" / "config.toml", "seed = 3\n")
    s = load_settings(env={"TRADEBOT_HOME": "~/tb"})
    assert s.home == tmp_path / "tb" and s.seed == 3


def test_explicit_config_replaces_home_config(tmp_path, env, home):
    write(home / "config.toml", "seed = 99\n")
    cfg = write(tmp_path / "c.toml", "[fees]\ntaker = 0.002\n")
    s = load_settings(config_file=cfg, env=env)
    assert s.seed == 42 and s.fees.taker == 0.002


# --------------------------------------------------------------------------- bad input


def test_missing_config_file(tmp_path, env):
    missing = tmp_path / "nope.toml"
    message = load_error(config_file=missing, env=env)
    assert str(missing) in message and "not found" in message


def test_malformed_toml_names_file_and_line(tmp_path, env):
    cfg = write(tmp_path / "bad.toml", "seed = 1\n[fees]\ntaker = = 0.1\n")
    message = load_error(config_file=cfg, env=env)
    assert message.startswith(f"config file {cfg}: line 3: ")
    assert "Invalid" in message or "Expected" in message


def test_malformed_toml_at_end_of_file(tmp_path, env):
    cfg = write(tmp_path / "bad.toml", "seed = 1\nx = [1,\n")
    message = load_error(config_file=cfg, env=env)
    assert message.startswith(f"config file {cfg}: line ")


def test_malformed_home_config(env, home):
    write(home / "config.toml", "[[[\n")
    assert f"config file {home / 'config.toml'}: line 1:" in load_error(env=env)


def test_config_path_is_a_directory(tmp_path, env):
    assert "is a directory" in load_error(config_file=tmp_path, env=env)


def test_non_utf8_config(tmp_path, env):
    cfg = tmp_path / "latin.toml"
    cfg.write_bytes(b"seed = 1\nname = '\xe9'\n")
    assert "line 2: not valid UTF-8" in load_error(config_file=cfg, env=env)


def test_unknown_key_is_named(tmp_path, env):
    cfg = write(tmp_path / "c.toml", "[fees]\ntakr = 0.002\n")
    message = load_error(config_file=cfg, env=env)
    assert str(cfg) in message
    assert "unknown key 'fees.takr'" in message and "maker, taker" in message

    cfg = write(tmp_path / "d.toml", "[feez]\ntaker = 0.002\n")
    assert "unknown key 'feez'" in load_error(config_file=cfg, env=env)

    message = load_error(env=env, overrides={"stops": {"stop_loss": 3}})
    assert "unknown key 'stops.stop_loss'" in message


def test_unknown_nested_env_key_names_the_variable(env):
    message = load_error(env={**env, "TRADEBOT_FEES__TAKR": "0.1"})
    assert "TRADEBOT_FEES__TAKR" in message and "unknown key 'fees.takr'" in message


def test_out_of_range_value_names_file_field_and_value(tmp_path, env):
    cfg = write(tmp_path / "c.toml", "[fees]\ntaker = 5\n")
    message = load_error(config_file=cfg, env=env)
    assert message == (
        f"config file {cfg}: fees.taker: Input should be less than or equal to 0.1 (got 5)"
    )


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"fees": {"maker": -0.1}}, "fees.maker"),
        ({"slippage": {"bps": 1001}}, "slippage.bps"),
        ({"slippage": {"atr_mult": -1}}, "slippage.atr_mult"),
        ({"slippage": {"atr_period": 0}}, "slippage.atr_period"),
        ({"slippage": {"mode": "random"}}, "slippage.mode"),
        ({"execution": {"latency_bars": 0}}, "execution.latency_bars"),
        ({"execution": {"latency_bars": 101}}, "execution.latency_bars"),
        ({"sizing": {"fraction": 0}}, "sizing.fraction"),
        ({"sizing": {"fraction": 1.5}}, "sizing.fraction"),
        ({"sizing": {"amount": 0}}, "sizing.amount"),
        ({"sizing": {"mode": "martingale"}}, "sizing.mode"),
        ({"stops": {"stop_loss_pct": 0}}, "stops.stop_loss_pct"),
        ({"stops": {"stop_loss_pct": 100}}, "stops.stop_loss_pct"),
        ({"stops": {"take_profit_pct": -1}}, "stops.take_profit_pct"),
        ({"stops": {"trailing_stop_pct": 150}}, "stops.trailing_stop_pct"),
        ({"backtest": {"initial_capital": 0}}, "backtest.initial_capital"),
        ({"backtest": {"initial_capital": float("inf")}}, "backtest.initial_capital"),
        ({"market": {"market_type": "margin"}}, "market.market_type"),
        ({"market": {"symbol": "BTCUSDT"}}, "market.symbol"),
        ({"schema_version": 2}, "schema_version"),
        ({"seed": -1}, "seed"),
    ],
)
def test_out_of_range_values_are_rejected(env, overrides, fragment):
    assert fragment in load_error(env=env, overrides=overrides)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('seed = "abc"', "seed: Input should be a valid integer"),
        ('[fees]\ntaker = "cheap"', "fees.taker: Input should be a valid number"),
        ("[fees]\ntaker = true", "fees.taker: Input should be a number, not a boolean"),
        ("fees = 5", "fees: expected a table"),
        ('[strategy]\nname = "rsi"\n[strategy.params.nested]\na = 1', "strategy.params"),
        ("[market]\nsymbol = 5", "market.symbol: Input should be a valid string"),
    ],
)
def test_wrong_type_is_rejected(tmp_path, env, text, fragment):
    cfg = write(tmp_path / "c.toml", text + "\n")
    message = load_error(config_file=cfg, env=env)
    assert fragment in message and str(cfg) in message


def test_env_value_error_names_the_variable(env):
    message = load_error(env={**env, "TRADEBOT_FEES__TAKER": "5"})
    assert message.startswith("environment variable TRADEBOT_FEES__TAKER: fees.taker:")


def test_env_bad_json_names_the_variable(env):
    message = load_error(env={**env, "TRADEBOT_FEES": "{not json"})
    assert message.startswith("environment variable TRADEBOT_FEES:")


def test_several_errors_are_joined_on_one_line(env):
    message = load_error(env=env, overrides={"fees": {"taker": 5, "maker": -1}})
    assert "fees.taker" in message and "fees.maker" in message and "; " in message


@pytest.mark.parametrize("timeframe", ["1hour", "h", "0m", "1M", "", "15 m"])
def test_bad_timeframe(env, timeframe):
    message = load_error(env=env, overrides={"market": {"timeframe": timeframe}})
    assert "market.timeframe: invalid timeframe" in message


@pytest.mark.parametrize("timeframe", ["1s", "1m", "15m", "4h", "1d", "1w"])
def test_good_timeframes(env, timeframe):
    assert load_settings(env=env, overrides={"market": {"timeframe": timeframe}})


def test_since_after_until(env):
    message = load_error(
        env=env, overrides={"backtest": {"since": "2024-05-01", "until": "2024-01-01"}}
    )
    assert message == "--since 2024-05-01 is after --until 2024-01-01"
    message = load_error(
        env=env, overrides={"backtest": {"since": "2024-05-01", "until": "2024-05-01"}}
    )
    assert "--since 2024-05-01" in message and "--until 2024-05-01" in message


def test_since_after_until_across_layers(tmp_path, env):
    cfg = write(tmp_path / "c.toml", '[backtest]\nuntil = "2024-01-01"\n')
    message = load_error(config_file=cfg, env=env, overrides={"backtest.since": "2024-05-01"})
    assert "--since 2024-05-01 is after --until 2024-01-01" in message


def test_bad_date(env):
    message = load_error(env=env, overrides={"backtest": {"since": "last tuesday"}})
    assert "backtest.since: invalid date 'last tuesday'" in message
    message = load_error(env=env, overrides={"backtest": {"until": "2024-13-01"}})
    assert "backtest.until" in message


# --------------------------------------------------------------------------- dates


def test_parse_date_ms():
    assert parse_date_ms("1970-01-01") == 0
    assert parse_date_ms("2024-01-01") == 1_704_067_200_000
    assert parse_date_ms("2024-01-01T00:00:00Z") == 1_704_067_200_000
    assert parse_date_ms("2024-01-01T01:00:00+01:00") == 1_704_067_200_000
    assert parse_date_ms("2024-01-01T00:00:00.5") == 1_704_067_200_500
    with pytest.raises(ConfigError, match="invalid date"):
        parse_date_ms("01/02/2024")


def test_since_until_ms_helpers_and_toml_dates(tmp_path, env):
    cfg = write(tmp_path / "c.toml", "[backtest]\nsince = 2024-01-01\nuntil = 2024-02-01\n")
    s = load_settings(config_file=cfg, env=env)
    assert s.backtest.since == "2024-01-01"  # TOML date kept as ISO text
    assert s.since_ms() == s.backtest.since_ms() == 1_704_067_200_000
    assert s.until_ms() == 1_706_745_600_000
    assert load_settings(env=env).since_ms() is None


# --------------------------------------------------------------------------- secrets


SECRET_ENV = {
    "TRADEBOT_EXCHANGES__BINANCE__API_KEY": "AKIA-very-secret-key",
    "TRADEBOT_EXCHANGES__BINANCE__SECRET": "sh-very-secret",
    "TRADEBOT_EXCHANGES__BINANCE__PASSWORD": "pass-phrase-xyz",
    "TRADEBOT_DATABASE_URL": "postgresql+psycopg://bob:hunter2@db.local:5432/tradebot",
}
SECRETS = ("AKIA-very-secret-key", "sh-very-secret", "pass-phrase-xyz", "hunter2")


def test_settings_to_dict_masks_secrets(env):
    s = load_settings(env={**env, **SECRET_ENV})
    data = settings_to_dict(s)
    dumped = json.dumps(data)
    for secret in SECRETS:
        assert secret not in dumped
    assert data["exchanges"]["binance"]["api_key"] == MASK == "********"
    assert data["database_url"] == "postgresql+psycopg://bob:********@db.local:5432/tradebot"

    raw = settings_to_dict(s, mask_secrets=False)
    assert raw["exchanges"]["binance"]["secret"] == "sh-very-secret"
    assert raw["database_url"] == SECRET_ENV["TRADEBOT_DATABASE_URL"]


def test_secrets_never_in_repr_or_str(env):
    s = load_settings(env={**env, **SECRET_ENV})
    for text in (repr(s), str(s), repr(s.exchanges), str(s.exchanges["binance"])):
        for secret in SECRETS:
            assert secret not in text
    assert s.exchanges["binance"].api_key.get_secret_value() == "AKIA-very-secret-key"


def test_secrets_not_echoed_in_errors(env):
    message = load_error(
        env=env, overrides={"exchanges": {"binance": {"apikey": "AKIA-very-secret-key"}}}
    )
    assert "AKIA" not in message and "unknown key 'exchanges.binance.apikey'" in message
    message = load_error(env=env, overrides={"exchanges": {"binance": {"secret": 12345678}}})
    assert "12345678" not in message and "exchanges.binance.secret" in message


def test_mask_url():
    assert mask_url(None) is None
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"
    assert mask_url("postgresql://bob@host/db") == "postgresql://bob@host/db"
    assert mask_url("postgresql://bob:p@ss@host/db") == "postgresql://bob:********@host/db"


def test_settings_to_dict_is_toml_and_json_safe_and_round_trips(tmp_path, env):
    s = load_settings(
        env={**env, **SECRET_ENV},
        preset="balanced",
        overrides={
            "strategy": {"params": {"period": 14, "on": True}},
            "backtest.since": "2024-01-01",
        },
    )
    data = settings_to_dict(s, mask_secrets=False)
    json.dumps(data)
    assert all(v is not None for v in _leaves(data))
    assert isinstance(data["home"], str)
    # write as TOML by hand (no writer dependency): only what the schema produces
    cfg = write(tmp_path / "round.toml", _to_toml(data))
    assert tomllib.loads(cfg.read_text()) == data
    again = validate_config_file(cfg)
    assert again == s
    assert again.source_files == (preset_dir() / "balanced.toml", cfg) != s.source_files
    assert again != load_settings(env=env)
    assert "stop_loss_pct" in settings_to_dict(s)["stops"]
    assert settings_to_dict(s, include_none=True)["stops"]["take_profit_pct"] is None


def _leaves(data):
    for value in data.values():
        if isinstance(value, dict):
            yield from _leaves(value)
        else:
            yield value


def _to_toml(data: dict, prefix: str = "") -> str:
    scalars = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = "\n".join(scalars) + "\n"
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}{key}"
            out += f"\n[{name}]\n" + _to_toml(value, name + ".")
    return out


# --------------------------------------------------------------------------- validate


def test_validate_config_file_ignores_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TRADEBOT_FEES__TAKER", "5")  # would be invalid if env were read
    cfg = write(tmp_path / "c.toml", 'preset = "conservative"\nseed = 1\n')
    s = validate_config_file(cfg)
    assert s.seed == 1 and s.fees.taker == 0.001 and s.sizing.fraction == 0.25


def test_validate_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        validate_config_file(tmp_path / "missing.toml")
    cfg = write(tmp_path / "c.toml", "[execution]\nlatency_bars = 0\n")
    with pytest.raises(ConfigError, match=r"execution\.latency_bars"):
        validate_config_file(cfg)


def test_read_toml_label(tmp_path):
    cfg = write(tmp_path / "x.toml", "a = \n")
    with pytest.raises(ConfigError, match=r"^my file: line 1: "):
        read_toml(cfg, label="my file")


# --------------------------------------------------------------------------- misc


def test_settings_are_independent_objects(env):
    a = load_settings(env=env, overrides={"seed": 1})
    b = load_settings(env=env)
    assert a.seed == 1 and b.seed == 42
    assert a.strategy.params is not b.strategy.params


def test_import_is_cheap():
    code = (
        "import sys, tradebot.core.config as c; "
        "heavy = {'numpy', 'pandas', 'numba', 'ccxt', 'sqlalchemy', 'rich', 'typer', 'fastapi'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
