"""What a command needs to run: settings, the candle cache and the store, opened lazily."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tradebot.core.errors import ConfigError

if TYPE_CHECKING:
    from tradebot.core.config import Settings
    from tradebot.data.cache import CandleCache
    from tradebot.data.db import Store
    from tradebot.strategies.registry import Registry


def ensure_home(home: Path) -> Path:
    """Create ``home`` if needed and check it is a writable directory."""
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"TRADEBOT_HOME {home}: cannot create it ({e.strerror or e})") from e
    if not home.is_dir():
        raise ConfigError(f"TRADEBOT_HOME {home}: not a directory")
    if not os.access(home, os.W_OK | os.X_OK):
        raise ConfigError(f"TRADEBOT_HOME {home}: not writable")
    return home


@dataclass
class Context:
    """Settings plus lazily opened resources. Built once per command."""

    settings: Settings
    strategy_path: Path | None = None
    _opened: list[Store] = field(default_factory=list, repr=False)

    @property
    def home(self) -> Path:
        return Path(self.settings.home)

    @cached_property
    def cache(self) -> CandleCache:
        from tradebot.data.cache import CandleCache

        return CandleCache(self.home / "data")

    @cached_property
    def store(self) -> Store:
        from tradebot.data.db import database_url, open_store

        if self.settings.database_url is None:
            ensure_home(self.home)
        store = open_store(database_url(self.home, self.settings.database_url))
        self._opened.append(store)
        return store

    @cached_property
    def registry(self) -> Registry:
        from tradebot.strategies.registry import Registry

        return Registry(self.strategy_path)

    def close(self) -> None:
        for store in self._opened:
            store.close()
        self._opened.clear()
