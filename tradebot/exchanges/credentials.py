"""API keys for trading: from the environment or a secrets file only readable by its owner.

Never from the command line (a process list shows it to every user), never printed:
:class:`ApiCredentials` holds them as ``SecretStr`` and its ``repr`` masks them; error
messages name the variable or file, never a value. Sources, first match wins:

1. the environment: ``TRADEBOT_EXCHANGES__<ID>__API_KEY``, ``..._SECRET`` and, where the
   exchange needs one, ``..._PASSWORD`` (the settings' naming);
2. a secrets file (``secrets_file=`` or ``TRADEBOT_SECRETS_FILE``), TOML::

       [exchanges.binance]
       api_key = "..."
       secret = "..."

   refused unless it is a regular file of mode 0600 or 0400 (no group or other bits).
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from tradebot.core.errors import ConfigError

__all__ = ["ApiCredentials", "load_credentials"]

SECRETS_FILE_VAR = "TRADEBOT_SECRETS_FILE"


@dataclass(frozen=True)
class ApiCredentials:
    exchange_id: str
    api_key: SecretStr
    secret: SecretStr
    password: SecretStr | None
    source: str  # "environment" or the secrets file's path

    def __repr__(self) -> str:
        return f"ApiCredentials({self.exchange_id!r}, api_key=**********, secret=**********, source={self.source!r})"

    __str__ = __repr__

    def values(self) -> tuple[str, ...]:
        """The secret strings themselves (for the adapter and for scrubbing text)."""
        out = [self.api_key.get_secret_value(), self.secret.get_secret_value()]
        if self.password is not None:
            out.append(self.password.get_secret_value())
        return tuple(v for v in out if v)

    def adapter_kwargs(self) -> dict[str, str | None]:
        """``api_key``/``secret``/``password`` for :class:`CcxtExchange`."""
        return {"api_key": self.api_key.get_secret_value(), "secret": self.secret.get_secret_value(),
                "password": None if self.password is None else self.password.get_secret_value()}


def _from_env(eid: str, environ: Mapping[str, str]) -> ApiCredentials | None:
    prefix = f"TRADEBOT_EXCHANGES__{eid.upper()}__"
    key, secret = environ.get(prefix + "API_KEY"), environ.get(prefix + "SECRET")
    if not key and not secret:
        return None
    if not key or not secret:
        missing = prefix + ("API_KEY" if not key else "SECRET")
        raise ConfigError(f"{missing} is not set (both {prefix}API_KEY and {prefix}SECRET are needed)")
    password = environ.get(prefix + "PASSWORD")
    return ApiCredentials(eid, SecretStr(key), SecretStr(secret), SecretStr(password) if password else None,
                          "environment")


def _from_file(eid: str, path: Path) -> ApiCredentials | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"secrets file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"secrets file {path} cannot be read: {e.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"secrets file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigError(f"secrets file {path} has mode {mode:04o}: it must be readable by its owner only "
                          f"(chmod 600 {path})")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigError(f"secrets file {path} belongs to another user (uid {info.st_uid})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:  # the message names a line and column, not the text
        raise ConfigError(f"secrets file {path} is not valid TOML ({str(e).split('(')[-1].rstrip(')')})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"secrets file {path} cannot be read: {type(e).__name__}") from None
    section = (data.get("exchanges") or {}).get(eid)
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"secrets file {path}: [exchanges.{eid}] must be a table")
    key, secret, password = section.get("api_key"), section.get("secret"), section.get("password")
    for name, value in (("api_key", key), ("secret", secret)):
        if not isinstance(value, str) or not value:
            raise ConfigError(f"secrets file {path}: [exchanges.{eid}] {name} is missing or not a string")
    if password is not None and not isinstance(password, str):
        raise ConfigError(f"secrets file {path}: [exchanges.{eid}] password must be a string")
    return ApiCredentials(eid, SecretStr(str(key)), SecretStr(str(secret)), SecretStr(password) if password else None,
                          str(path))


def load_credentials(exchange_id: str, *, environ: Mapping[str, str] | None = None,
                     secrets_file: str | Path | None = None) -> ApiCredentials:
    """The API credentials of ``exchange_id`` (see the module docstring), or
    :class:`ConfigError` naming where they were looked for."""
    eid = str(exchange_id).strip().lower()
    env = os.environ if environ is None else environ
    found = _from_env(eid, env)
    if found is not None:
        return found
    file = secrets_file if secrets_file is not None else env.get(SECRETS_FILE_VAR)
    if file:
        found = _from_file(eid, Path(file).expanduser())
        if found is not None:
            return found
    prefix = f"TRADEBOT_EXCHANGES__{eid.upper()}__"
    where = f" or [exchanges.{eid}] in the secrets file {file}" if file else \
        f" or a secrets file (mode 0600) named by {SECRETS_FILE_VAR}"
    raise ConfigError(f"no API keys for {eid}: set {prefix}API_KEY and {prefix}SECRET{where}")
