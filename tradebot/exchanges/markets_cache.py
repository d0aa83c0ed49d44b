"""The markets an exchange published, kept on disk between processes for a while.

A cold ``tradebot live`` step needs the markets (symbols, precision, limits) before it can
check or round an order, and ``load_markets`` downloads them: on binance the spot
``exchangeInfo`` is megabytes of JSON and ccxt's parsing of it a good part of a second, on
every cron run. The adapter (:class:`~tradebot.exchanges.ccxt_exchange.CcxtExchange` with
``markets_cache``) keeps ccxt's parsed markets and currencies in one JSON file per exchange
configuration and uses them while they are younger than the TTL (``live.markets_ttl_s``).

The file names the configuration it was loaded under (exchange, market type, API base URL,
sandbox): another configuration never reads it. An unreadable, foreign or expired file is
ignored (the markets are downloaded again and the file rewritten); a file that cannot be
written costs the next run a download, nothing else. The live step deletes the file when
the exchange refuses an order (its rules may have changed), so the next run loads them
fresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

__all__ = ["cache_file", "forget", "read_markets", "write_markets"]

_log = logging.getLogger(__name__)
_FORMAT = 1


def cache_file(directory: Path, key: str, exchange_id: str) -> Path:
    """The cache file of one exchange configuration (``key``) under ``directory``."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return directory / f"{exchange_id}-{digest}.json"


def read_markets(path: Path, key: str, ttl_s: float,
                 now_s: float | None = None) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """``(markets, currencies)`` stored under ``key`` less than ``ttl_s`` ago, else None."""
    if ttl_s <= 0:
        return None
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        _log.warning("markets cache %s is not valid JSON; loading the markets again", path)
        return None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or doc.get("key") != key:
        return None
    saved = doc.get("saved_s")
    now = time.time() if now_s is None else now_s
    if not isinstance(saved, (int, float)) or not 0 <= now - saved < ttl_s:
        return None
    markets, currencies = doc.get("markets"), doc.get("currencies")
    if not isinstance(markets, dict) or not markets:
        return None
    return markets, currencies if isinstance(currencies, dict) else None


def write_markets(path: Path, key: str, markets: dict[str, Any], currencies: dict[str, Any] | None,
                  now_s: float | None = None) -> bool:
    """Store the markets atomically; False (and a warning in the log) when it cannot."""
    from tradebot.core.atomic import atomic_write_bytes
    from tradebot.core.errors import UsageError

    doc = {"format": _FORMAT, "key": key, "saved_s": time.time() if now_s is None else now_s,
           "markets": markets, "currencies": currencies}
    try:
        body = json.dumps(doc, default=str, separators=(",", ":")).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, body)
    except (OSError, UsageError, TypeError, ValueError) as e:
        _log.warning("markets cache %s not written: %s", path, e)
        return False
    return True


def forget(path: Path) -> None:
    """Delete the cache file (the next load downloads the markets)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        _log.warning("markets cache %s not deleted: %s", path, e)
