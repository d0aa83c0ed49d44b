"""The one configuration object, :class:`Settings`, and how it is loaded.

Layers, lowest to highest::

    defaults < preset (presets/<name>.toml) < config file < environment (TRADEBOT_...) < overrides

* The config file is ``--config FILE`` or else ``$TRADEBOT_HOME/config.toml`` if it exists.
  It may name a preset (``preset = "balanced"``); an explicit ``--preset`` wins.
* Environment variables are ``TRADEBOT_<FIELD>``, nested with ``__``
  (``TRADEBOT_FEES__TAKER=0.002``); they merge into the file's tables key by key.
* Overrides are a nested dict from the command line (``{"backtest": {"since": "2024-01-01"}}``).

Preset and file are deep-merged into one dict that is fed to pydantic-settings as a
source below the environment source, with the init kwargs (overrides) on top, so
pydantic-settings does the final deep merge and validation.

``Settings`` is never a module global: build it with :func:`load_settings` and pass it on.
Every failure is a one-line :class:`~tradebot.core.errors.ConfigError` (exit code 2).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from tradebot.core.errors import ConfigError
from tradebot.core.live_config import LiveSettings
from tradebot.core.notify_config import NotifyConfig
from tradebot.core.ops_config import LoggingConfig, OpsConfig
from tradebot.core.pairs import PortfolioSettings
from tradebot.core.presets import load_preset, preset_path, read_toml
from tradebot.core.selector_config import SelectorSettings

__all__ = [
    "ENV_PREFIX",
    "ENV_NESTED_DELIMITER",
    "MASK",
    "BacktestConfig",
    "ExchangeCredentials",
    "ExecutionConfig",
    "FeesConfig",
    "MarketConfig",
    "RiskConfig",
    "Settings",
    "SizingConfig",
    "SlippageConfig",
    "StopsConfig",
    "StrategyConfig",
    "build_overrides",
    "default_home",
    "load_settings",
    "mask_url",
    "parse_date_ms",
    "settings_to_dict",
    "validate_config_file",
]

ENV_PREFIX = "TRADEBOT_"
ENV_NESTED_DELIMITER = "__"
MASK = "********"
CONFIG_FILE_NAME = "config.toml"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMEFRAME = re.compile(r"^\d+[smhdw]$")
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_FLOAT_TEXT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
# Fields whose values must never be echoed back in an error message.
_SECRET_KEYS = frozenset({"api_key", "secret", "password", "database_url", "exchanges", "url"})
_MAX_ERRORS = 5


# --------------------------------------------------------------------------- helpers


def default_home() -> Path:
    """``~/.tradebot``, the home directory when neither TRADEBOT_HOME nor an override says."""
    return Path("~/.tradebot").expanduser()


def parse_date_ms(value: str | date | datetime) -> int:
    """Milliseconds since the epoch (UTC) of ``"YYYY-MM-DD"`` or an ISO 8601 datetime.

    Naive datetimes are taken as UTC. Raises :class:`ConfigError` for anything else.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(
                f"invalid date {value!r}: expected YYYY-MM-DD or an ISO 8601 datetime "
                "such as 2024-01-31T12:00:00Z"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def mask_url(url: str | None) -> str | None:
    """``postgresql://bob:pw@host/db`` -> ``postgresql://bob:********@host/db``."""
    if not url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    at = rest.rfind("@")
    if at < 0:
        return url
    userinfo = rest[:at]
    if ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{rest[at + 1:]}"


def _reject_bool(value: Any) -> Any:
    # pydantic's lax mode would read ``true`` as 1 / 1.0; in a config that is a typo.
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number, not a boolean")
    return value


Float = Annotated[float, AllowInfNan(False), BeforeValidator(_reject_bool)]
Int = Annotated[int, BeforeValidator(_reject_bool)]
Pct = Annotated[float, AllowInfNan(False), BeforeValidator(_reject_bool), Field(gt=0, lt=100)]


# --------------------------------------------------------------------------- schema


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarketConfig(_Section):
    """What is traded and on which candles."""

    exchange: str = Field("binance", min_length=1)
    symbol: str = Field("BTC/USDT", min_length=3)
    timeframe: str = "1h"
    market_type: Literal["spot", "futures"] = "spot"

    @field_validator("timeframe")
    @classmethod
    def _check_timeframe(cls, value: str) -> str:
        if not _TIMEFRAME.match(value) or int(value[:-1]) <= 0:
            raise PydanticCustomError(
                "timeframe",
                "invalid timeframe {value}: expected a number and a unit (s, m, h, d, w), "
                "e.g. 1m, 1h, 1d",
                {"value": repr(value)},
            )
        return value

    @field_validator("symbol")
    @classmethod
    def _check_symbol(cls, value: str) -> str:
        base, _, quote = value.partition("/")
        if not base or not quote:
            raise PydanticCustomError(
                "symbol",
                "invalid symbol {value}: expected BASE/QUOTE, e.g. BTC/USDT",
                {"value": repr(value)},
            )
        return value


class BacktestConfig(_Section):
    """Capital and the date range of a backtest (``since``/``until``: YYYY-MM-DD or ISO)."""

    initial_capital: Float = Field(10_000.0, gt=0)
    since: str | None = None
    until: str | None = None

    @field_validator("since", "until", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        # TOML has native dates (since = 2024-01-01): keep them as ISO text.
        if isinstance(value, date | datetime):
            return value.isoformat()
        return value

    @field_validator("since", "until")
    @classmethod
    def _check_date(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse_date_ms(value)
        except ConfigError as e:
            raise PydanticCustomError("date_format", "{message}", {"message": str(e)}) from None
        return value

    @model_validator(mode="after")
    def _check_range(self) -> BacktestConfig:
        if self.since is not None and self.until is not None:
            start, end = parse_date_ms(self.since), parse_date_ms(self.until)
            if start >= end:
                relation = "is after" if start > end else "is the same moment as"
                raise PydanticCustomError(
                    "date_range",
                    "--since {since} {relation} --until {until}",
                    {"since": self.since, "until": self.until, "relation": relation},
                )
        return self

    def since_ms(self) -> int | None:
        """``since`` in milliseconds since the epoch (UTC), or None."""
        return None if self.since is None else parse_date_ms(self.since)

    def until_ms(self) -> int | None:
        """``until`` in milliseconds since the epoch (UTC), or None."""
        return None if self.until is None else parse_date_ms(self.until)


class FeesConfig(_Section):
    """Fee rates as fractions of traded notional (0.001 = 0.1 %)."""

    maker: Float = Field(0.001, ge=0, le=0.1)
    taker: Float = Field(0.001, ge=0, le=0.1)


class SlippageConfig(_Section):
    """``fixed``: ``bps`` basis points against us; ``atr``: ``atr_mult`` x ATR(``atr_period``)."""

    mode: Literal["fixed", "atr"] = "fixed"
    bps: Float = Field(0.0, ge=0, le=1000)
    atr_mult: Float = Field(0.0, ge=0)
    atr_period: Int = Field(14, ge=1, le=1000)


class ExecutionConfig(_Section):
    """How orders are placed and filled (docs/decisions/0009-order-matching.md).

    Orders are decided at a bar's close and work from ``latency_bars`` bars later; market
    orders fill at that open. ``entry_order`` / ``exit_order`` other than market are priced
    from the deciding close (``limit_offset_bps`` below it for buys, above for sells;
    ``stop_offset_bps`` above for buys, below for sells; a stop-limit's limit
    ``stop_limit_offset_bps`` beyond its trigger) and work until filled, cancelled by the
    opposite signal or ``order_ttl_bars`` bars (0: no limit). Market and stop fills pay half
    of ``spread_bps`` and ``impact_coef`` × sqrt(qty / bar volume); a bar fills at most
    ``max_volume_share`` of its volume (None: no cap); a limit only touched fills with
    probability ``touch_fill_prob``, drawn from ``fill_seed`` and the bar.
    """

    latency_bars: Int = Field(1, ge=1, le=100)
    entry_order: Literal["market", "limit", "stop", "stop_limit"] = "market"
    exit_order: Literal["market", "limit"] = "market"
    limit_offset_bps: Float = Field(0.0, ge=0, lt=10_000)
    stop_offset_bps: Float = Field(0.0, ge=0, lt=10_000)
    stop_limit_offset_bps: Float = Field(0.0, ge=0, lt=10_000)
    order_ttl_bars: Int = Field(0, ge=0)
    spread_bps: Float = Field(0.0, ge=0, lt=10_000)
    impact_coef: Float = Field(0.0, ge=0, lt=1)
    max_volume_share: Annotated[Float, Field(gt=0, le=1)] | None = None
    touch_fill_prob: Float = Field(1.0, ge=0, le=1)
    fill_seed: Int = Field(0, ge=0, le=2**32 - 1)


class SizingConfig(_Section):
    """How much an entry spends.

    ``fixed_fraction``: ``fraction`` of equity; ``fixed_amount``: ``amount`` quote;
    ``fixed_risk``: lose ``risk_pct`` % of equity if the stop is hit (stop distance from
    ``stops.stop_loss_pct``, else ``atr_mult`` × ATR); ``kelly`` / ``optimal_f``: from the
    run's own closed trades, × ``kelly_fraction``, capped at ``max_fraction``, and
    ``fraction`` until ``min_trades`` trades have closed.
    """

    mode: Literal["fixed_fraction", "fixed_amount", "fixed_risk", "kelly", "optimal_f"] = (
        "fixed_fraction")
    fraction: Float = Field(1.0, gt=0, le=1)
    amount: Float = Field(1000.0, gt=0)
    risk_pct: Pct = 1.0
    atr_mult: Float = Field(2.0, gt=0)
    kelly_fraction: Float = Field(0.5, gt=0, le=1)
    max_fraction: Float = Field(1.0, gt=0, le=1)
    min_trades: Int = Field(10, ge=0)


class StopsConfig(_Section):
    """Protective exits in percent of the entry price; None disables each."""

    stop_loss_pct: Pct | None = None
    take_profit_pct: Annotated[Float, Field(gt=0)] | None = None
    trailing_stop_pct: Pct | None = None


class StrategyConfig(_Section):
    """Which registered strategy runs, and its parameters (validated by the strategy)."""

    name: str = Field("rsi", min_length=1)
    params: dict[str, int | float | bool | str] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _check_params(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(item, bool | int | float | str):
                    raise PydanticCustomError(
                        "param_type",
                        "parameter {key} must be a number, boolean or string (got {got})",
                        {"key": repr(key), "got": _short(item)},
                    )
        return value


class RiskConfig(_Section):
    """Account-level risk settings. Every limit is off when unset (None)."""

    daily_profit_target: Float = Field(5.0, ge=0)  # quote currency per day
    #: an entry spends at most this fraction of equity
    max_position_fraction: Annotated[Float, Field(gt=0, le=1)] | None = None
    #: entries per UTC day
    max_trades_per_day: Annotated[Int, Field(ge=1)] | None = None
    #: quote currency lost since the equity at the start of the UTC day
    max_daily_loss: Annotated[Float, Field(gt=0)] | None = None
    #: circuit breaker: drawdown from the running equity peak that halts new entries
    max_drawdown_pct: Pct | None = None
    flatten_on_breaker: bool = False
    #: bars after a trip before entries resume (peak reset to the equity then); 0: never
    breaker_cooldown_bars: Int = Field(0, ge=0)
    #: this many losing trades in a row pause entries for ``cooldown_bars`` bars
    cooldown_after_losses: Annotated[Int, Field(ge=1)] | None = None
    cooldown_bars: Int = Field(0, ge=0)


class OptimizeConfig(_Section):
    """Defaults of ``tradebot optimize`` (command-line options win).

    ``space`` holds ``--space`` specs (``"period=7:28:7"``, ``"lower=20,25,30"``,
    ``"stop_loss_pct=1:5:0.5"``); a command-line spec for the same name replaces the config's.
    """

    method: Literal["grid", "random", "ga", "bayes"] = "grid"
    objective: str = Field("sharpe", min_length=1)
    space: list[str] = Field(default_factory=list)
    trials: Int = Field(100, ge=1)
    jobs: Int = Field(1, ge=1, le=1024)
    cluster: str | None = None


class FetchConfig(_Section):
    """What ``tradebot fetch`` downloads when called without markets.

    ``markets`` are ``"exchange:SYMBOL"`` strings (``"binance:BTC/USDT"``), so one call can
    cover several exchanges; ``days`` is the history fetched when nothing is cached.
    """

    markets: list[str] = Field(default_factory=list)
    timeframes: list[str] = Field(default_factory=lambda: ["1h"])
    days: Int = Field(30, ge=1, le=36_500)
    #: the cache file is rewritten (atomically) at least this often during a download,
    #: so a killed run loses at most this much work
    checkpoint_seconds: Float = Field(5.0, gt=0, le=3600)

    @field_validator("markets")
    @classmethod
    def _check_markets(cls, value: list[str]) -> list[str]:
        for item in value:
            exchange, sep, symbol = item.partition(":")
            if not sep or not exchange or "/" not in symbol:
                raise PydanticCustomError(
                    "fetch_market",
                    "invalid market {value}: expected exchange:BASE/QUOTE, e.g. binance:BTC/USDT",
                    {"value": repr(item)},
                )
        return value

    @field_validator("timeframes")
    @classmethod
    def _check_timeframes(cls, value: list[str]) -> list[str]:
        for tf in value:
            if not _TIMEFRAME.match(tf) or int(tf[:-1]) <= 0:
                raise PydanticCustomError("timeframe", "invalid timeframe {value}", {"value": repr(tf)})
        return value


class ExchangeCredentials(_Section):
    """One exchange's connection (``[exchanges.binance]``): API credentials (never
    printed), an API base URL override (testnet, proxy, replay server), the request
    timeout, and whether ccxt's rate limiter is on."""

    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    base_url: str | None = None
    timeout_ms: Int = Field(10_000, ge=100, le=600_000)
    rate_limit: bool = True


# --------------------------------------------------------------------------- sources


class _EnvSource(EnvSettingsSource):
    """``TRADEBOT_*`` variables read from an explicit mapping (``os.environ`` by default)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        fold = (lambda k: k) if self.case_sensitive else str.lower
        return {
            fold(k): v
            for k, v in self._environ.items()
            if v is not None and not (self.env_ignore_empty and v == "")
        }

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        strategy = data.get("strategy")
        params = strategy.get("params") if isinstance(strategy, dict) else None
        # env values are text: "14" -> 14, "true" -> True
        if isinstance(strategy, dict) and isinstance(params, dict):
            strategy["params"] = {k: _coerce_text(v) for k, v in params.items()}
        return data

    def __repr__(self) -> str:
        return "_EnvSource()"


class _DictSource(PydanticBaseSettingsSource):
    """The deep-merged preset + config file, below the environment."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]):
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def __repr__(self) -> str:
        return "_DictSource()"


@dataclass(frozen=True)
class _LoadContext:
    env_source: _EnvSource
    file_source: _DictSource


# Set only while load_settings() constructs a Settings (thread- and task-safe).
_LOAD_CONTEXT: ContextVar[_LoadContext | None] = ContextVar("tradebot_config_load", default=None)


# --------------------------------------------------------------------------- settings


class Settings(BaseSettings):
    """All of tradebot's configuration. Build with :func:`load_settings`; pass explicitly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_ignore_empty=True,
        case_sensitive=False,
        extra="forbid",
    )

    schema_version: Literal[1] = 1
    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    seed: Int = Field(42, ge=0, le=2**32 - 1)
    preset: str | None = None
    market: MarketConfig = Field(default_factory=MarketConfig)  # type: ignore[arg-type]
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)  # type: ignore[arg-type]
    fees: FeesConfig = Field(default_factory=FeesConfig)  # type: ignore[arg-type]
    slippage: SlippageConfig = Field(default_factory=SlippageConfig)  # type: ignore[arg-type]
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)  # type: ignore[arg-type]
    sizing: SizingConfig = Field(default_factory=SizingConfig)  # type: ignore[arg-type]
    stops: StopsConfig = Field(default_factory=StopsConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)  # type: ignore[arg-type]
    risk: RiskConfig = Field(default_factory=RiskConfig)  # type: ignore[arg-type]
    fetch: FetchConfig = Field(default_factory=FetchConfig)  # type: ignore[arg-type]
    optimize: OptimizeConfig = Field(default_factory=OptimizeConfig)  # type: ignore[arg-type]
    notify: NotifyConfig = Field(default_factory=NotifyConfig)  # type: ignore[arg-type]
    logging: LoggingConfig = Field(default_factory=LoggingConfig)  # type: ignore[arg-type]
    ops: OpsConfig = Field(default_factory=OpsConfig)  # type: ignore[arg-type]
    portfolio: PortfolioSettings = Field(default_factory=PortfolioSettings)  # type: ignore[arg-type]
    selector: SelectorSettings = Field(default_factory=SelectorSettings)  # type: ignore[arg-type]
    live: LiveSettings = Field(default_factory=LiveSettings)  # type: ignore[arg-type]
    exchanges: dict[str, ExchangeCredentials] = Field(default_factory=dict)

    _source_files: tuple[Path, ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init kwargs (command line) > environment > preset+file; no .env, no secrets dir.
        context = _LOAD_CONTEXT.get()
        if context is None:
            return (init_settings, _EnvSource(settings_cls, os.environ))
        return (init_settings, context.env_source, context.file_source)

    @field_validator("home", mode="before")
    @classmethod
    def _check_home(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise PydanticCustomError("home", "home must not be empty")
        return value

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("preset", mode="before")
    @classmethod
    def _empty_preset(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def source_files(self) -> tuple[Path, ...]:
        """Preset and config files this object was loaded from, lowest layer first."""
        return self._source_files

    def since_ms(self) -> int | None:
        """``backtest.since`` in milliseconds since the epoch (UTC), or None."""
        return self.backtest.since_ms()

    def until_ms(self) -> int | None:
        """``backtest.until`` in milliseconds since the epoch (UTC), or None."""
        return self.backtest.until_ms()

    def __eq__(self, other: object) -> bool:
        # Equal settings are equal wherever they were loaded from (ignore source_files).
        if not isinstance(other, Settings):
            return NotImplemented
        return type(self) is type(other) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, (mask_url(value) if key == "database_url" else value)


# --------------------------------------------------------------------------- loading


def load_settings(
    config_file: Path | str | None = None,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build the :class:`Settings` from all layers (see the module docstring).

    ``config_file``: ``--config``; when None, ``$TRADEBOT_HOME/config.toml`` is used if it
    exists (home from ``overrides["home"]``, else TRADEBOT_HOME, else ``~/.tradebot``).
    ``preset``: ``--preset``; beats the preset named by overrides, environment or file.
    ``overrides``: nested dict of command-line values (dotted keys such as
    ``"fees.taker"`` are expanded). ``env``: environment mapping, default ``os.environ``.
    Raises :class:`ConfigError` with a one-line message on any problem.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"overrides must be a mapping, not {type(overrides).__name__}")
    init = _expand_dotted(copy.deepcopy(dict(overrides or {})))

    env_source = _EnvSource(Settings, environ)
    try:
        env_data = env_source()
    except SettingsError as e:
        raise ConfigError(_describe_env_error(e, environ)) from None

    # ---- the config file
    file_path: Path | None
    if config_file is not None:
        file_path = Path(config_file).expanduser()
        if not file_path.exists():
            raise ConfigError(f"config file {file_path} not found")
    else:
        candidate = _resolve_home(init, env_data) / CONFIG_FILE_NAME
        file_path = candidate if candidate.is_file() else None
    file_label = f"config file {file_path}" if file_path is not None else None
    file_data = read_toml(file_path, label=file_label) if file_path is not None else {}

    # ---- the preset: --preset > overrides > environment > the file's own `preset = ...`
    preset_name, preset_origin = None, None
    for origin, candidate_name in (
        (None, preset),
        (None, init.get("preset")),
        (_env_var_label(environ, ("preset",)), env_data.get("preset")),
        (file_label, file_data.get("preset")),
    ):
        if candidate_name is not None:
            preset_name, preset_origin = candidate_name, origin
            break
    preset_data: dict[str, Any] = {}
    preset_label: str | None = None
    source_files: list[Path] = []
    if preset_name not in (None, ""):
        if not isinstance(preset_name, str):
            message = f"preset: expected a name, got {preset_name!r}"
            raise ConfigError(_prefix(preset_origin, message))
        try:
            preset_data = load_preset(preset_name)
        except ConfigError as e:
            raise ConfigError(_prefix(preset_origin, str(e))) from None
        preset_label = f"preset {preset_name!r}"
        source_files.append(preset_path(preset_name))
    if preset is not None:
        init["preset"] = preset
    if file_path is not None:
        source_files.append(file_path)

    layers = (
        (None, init),
        ("env", env_data),
        (file_label, file_data),
        (preset_label, preset_data),
    )
    context = _LoadContext(env_source, _DictSource(Settings, _deep_merge(preset_data, file_data)))
    token = _LOAD_CONTEXT.set(context)
    try:
        settings = Settings(**init)
    except ValidationError as e:
        raise ConfigError(_describe_validation_error(e, layers, environ)) from None
    except SettingsError as e:
        raise ConfigError(str(e)) from None
    except TypeError as e:  # e.g. non-string keys in overrides
        raise ConfigError(f"invalid overrides: {e}") from None
    finally:
        _LOAD_CONTEXT.reset(token)
    settings._source_files = tuple(source_files)
    return settings


def validate_config_file(path: Path | str) -> Settings:
    """Validate one config file on top of the defaults (and the preset it names), no env."""
    return load_settings(config_file=path, env={})


def build_overrides(options: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line options to an overrides dict: dotted keys nested, None values dropped.

    ``{"backtest.since": "2024-01-01", "fees.taker": None}`` -> ``{"backtest": {"since": ...}}``.
    """
    return _expand_dotted({k: v for k, v in options.items() if v is not None})


def settings_to_dict(
    settings: Settings, mask_secrets: bool = True, include_none: bool = False
) -> dict[str, Any]:
    """Plain JSON- and TOML-safe dict of ``settings`` (paths as text).

    Secrets read ``"********"`` and the database password is masked unless
    ``mask_secrets=False``. Unset (None) values are left out so the result is valid TOML
    and loads back to the same settings; ``include_none=True`` keeps them (JSON only).
    """
    data = _plain(settings.model_dump(mode="python"), mask_secrets, include_none)
    if mask_secrets and data.get("database_url"):
        data["database_url"] = mask_url(data["database_url"])
    return data


# --------------------------------------------------------------------------- internals


def _plain(value: Any, mask_secrets: bool, include_none: bool) -> Any:
    if isinstance(value, SecretStr):
        return MASK if mask_secrets else value.get_secret_value()
    if isinstance(value, Mapping):
        return {
            str(k): _plain(v, mask_secrets, include_none)
            for k, v in value.items()
            if include_none or v is not None
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, mask_secrets, include_none) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of ``base`` with ``top`` merged in, tables merged key by key."""
    merged = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _expand_dotted(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and "." in key:
            nested: Any = value
            for part in reversed(key.split(".")):
                nested = {part: nested}
            result = _deep_merge(result, nested)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _resolve_home(init: Mapping[str, Any], env_data: Mapping[str, Any]) -> Path:
    for value in (init.get("home"), env_data.get("home")):
        if isinstance(value, str | os.PathLike) and str(value).strip():
            return Path(value).expanduser()
    return default_home()


def _coerce_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INT_TEXT.match(text):
        return int(text)
    if _FLOAT_TEXT.match(text):
        return float(text)
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _prefix(label: str | None, message: str) -> str:
    return f"{label}: {message}" if label else message


def _has_path(data: Any, loc: tuple[Any, ...]) -> bool:
    for part in loc:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def _env_var_label(environ: Mapping[str, str], loc: tuple[Any, ...]) -> str | None:
    """Name of the environment variable that supplied ``loc`` (deepest match)."""
    names = {k.lower(): k for k, v in environ.items() if v}
    for depth in range(len(loc), 0, -1):
        name = ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(p) for p in loc[:depth])
        if name.lower() in names:
            return f"environment variable {names[name.lower()]}"
    return None


def _describe_env_error(exc: SettingsError, environ: Mapping[str, str]) -> str:
    match = re.search(r'field "(\w+)"', str(exc))
    if match is None:
        return f"environment: {exc}"
    field = match.group(1)
    stem = (ENV_PREFIX + field).lower()
    names = sorted(
        k for k in environ if k.lower() == stem or k.lower().startswith(stem + ENV_NESTED_DELIMITER)
    )
    which = ", ".join(names) or (ENV_PREFIX + field).upper()
    return (
        f"environment variable {which}: cannot parse the value for [{field}] "
        "(a table needs JSON such as '{\"key\": 1}', or set one variable per key, "
        f"e.g. {ENV_PREFIX}FEES{ENV_NESTED_DELIMITER}TAKER=0.002)"
    )


def _section_keys(loc: tuple[Any, ...]) -> list[str] | None:
    """Valid keys of the table at ``loc``, or None if any key goes there."""
    model: type[BaseModel] = Settings
    i = 0
    while i < len(loc):
        part = loc[i]
        if part not in model.model_fields:
            return None
        if model is Settings and part == "exchanges":
            if i + 1 >= len(loc):
                return None  # [exchanges] takes any exchange id
            model, i = ExchangeCredentials, i + 2
            continue
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model, i = annotation, i + 1
    return list(model.model_fields)


def _describe_validation_error(
    exc: ValidationError,
    layers: tuple[tuple[str | None, Mapping[str, Any]], ...],
    environ: Mapping[str, str],
) -> str:
    messages: list[str] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        label = None
        for name, data in layers:
            if _has_path(data, loc):
                label = _env_var_label(environ, loc) if name == "env" else name
                break
        path = ".".join(str(p) for p in loc)
        kind = error["type"]
        message = error["msg"].removeprefix("Value error, ")
        if kind in ("model_type", "dict_type"):
            message = "expected a table (a [section] in TOML)"
        if kind == "extra_forbidden":
            allowed = _section_keys(loc[:-1])
            where = f" in [{'.'.join(str(p) for p in loc[:-1])}]" if len(loc) > 1 else ""
            text = f"unknown key {path!r}"
            if allowed:
                text += f" (valid keys{where}: {', '.join(allowed)})"
        elif kind == "date_range":
            text = message
        else:
            text = f"{path}: {message}" if path else message
            secret = any(str(p) in _SECRET_KEYS for p in loc)
            if not secret and kind not in ("timeframe", "symbol", "date_format", "param_type"):
                text += f" (got {_short(error.get('input'))})"
        messages.append(_prefix(label, text))
    if len(messages) > _MAX_ERRORS:
        extra = len(messages) - _MAX_ERRORS
        messages = messages[:_MAX_ERRORS] + [f"... and {extra} more"]
    return "; ".join(messages)
