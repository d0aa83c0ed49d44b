"""Fixtures for the replay exchange tests: real data files (skipped when absent), synthetic
candles, servers that stop at teardown, and ccxt clients pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.testing.replay_exchange import ReplayExchange, point_ccxt_at

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or skip the test saying where it was looked for."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real market data {name} not found in {SHARED_DATA} (it lives beside the project)")
    return path


def synthetic_candles(n: int = 3000, timeframe_ms: int = 60_000, start_ms: int = 1_700_000_000_000 // 60_000 * 60_000,
                      seed: int = 7) -> Candles:
    """A random walk with prices on a 0.01 tick and volumes on 1e-5 steps."""
    rng = np.random.default_rng(seed)
    close = np.round(30_000 + np.cumsum(rng.normal(0, 20, n)), 2)
    open_ = np.round(np.r_[close[0], close[:-1]], 2)
    high = np.round(np.maximum(open_, close) + rng.uniform(0, 15, n), 2)
    low = np.round(np.minimum(open_, close) - rng.uniform(0, 15, n), 2)
    volume = np.round(rng.uniform(0.5, 50, n), 5)
    ts = start_ms + np.arange(n, dtype=np.int64) * timeframe_ms
    return Candles(ts, open_, high, low, close, volume, symbol="BTC/USDT", timeframe="1m", source="synthetic")


@pytest.fixture(scope="session")
def synthetic() -> Candles:
    return synthetic_candles()


@pytest.fixture(scope="session")
def octobot_btc() -> Candles:
    from tradebot.data.csv_io import read_candles_csv

    return read_candles_csv(shared_file("octobot_Binance_BTC_USDT-4h.csv.gz"))


@pytest.fixture(scope="session")
def octobot_eth() -> Candles:
    from tradebot.data.csv_io import read_candles_csv

    return read_candles_csv(shared_file("octobot_Binance_ETH_USDT-4h.csv.gz"))


@pytest.fixture(scope="session")
def nautilus() -> Candles:
    from tradebot.data.csv_io import read_candles_csv

    return read_candles_csv(shared_file("nautilus_BTC-PERP-1m.csv.gz"))


@pytest.fixture
def replay() -> Iterator[Callable[..., ReplayExchange]]:
    """Start replay exchanges with ``replay(markets, **kwargs)``; all are stopped at teardown."""
    started: list[ReplayExchange] = []

    def start(*args: Any, **kwargs: Any) -> ReplayExchange:
        server = ReplayExchange(*args, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def ccxt_client(dialect: str, url: str, **config: Any) -> Any:
    """An unmodified ccxt exchange object with rate limiting off, pointed at ``url``."""
    import ccxt

    exchange = getattr(ccxt, dialect)({"enableRateLimit": False, "timeout": 5000, **config})
    return point_ccxt_at(exchange, url)


@pytest.fixture
def client() -> Callable[..., Any]:
    """``client(dialect, url, **ccxt_config)``: see :func:`ccxt_client`."""
    return ccxt_client


@pytest.fixture
def make_candles() -> Callable[..., Candles]:
    """``make_candles(n, timeframe_ms, start_ms, seed)``: see :func:`synthetic_candles`."""
    return synthetic_candles


@pytest.fixture
def shared() -> Callable[[str], Path]:
    """``shared(name)``: a ../shared/data file, or skip."""
    return shared_file
