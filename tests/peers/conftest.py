"""Real candles for the peer-parity tests, from ``../shared/data`` beside the project.

The files stay where they are (their licences are their source repositories'); a test that
needs them skips with a reason when they are absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tradebot.core.candles import Candles

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"

#: name -> timeframe; the three markets every peer test runs on.
REAL_DATASETS = {
    "nautilus_BTC-PERP-1m": "1m",  # 45k bars, integer prices (flat stretches: RSI ties)
    "freqtrade-testdata_BTC_USDT-5m": "5m",  # 11k bars
    "octobot_Binance_BTC_USDT-4h": "4h",  # 500 bars
}

#: Parameter sets run on every dataset: RSI (period, lower, upper) and MACD (fast, slow, signal).
RSI_SETS = ((14, 30.0, 70.0), (9, 25.0, 75.0))
MACD_SET = (12, 26, 9)

_CACHE: dict[str, Candles] = {}


@dataclass(frozen=True)
class RealCandles:
    name: str
    candles: Candles


def load_real(name: str) -> Candles:
    """``<DATA_DIR>/<name>.csv.gz`` as Candles (skips the test when the file is absent)."""
    if name in _CACHE:
        return _CACHE[name]
    path = DATA_DIR / f"{name}.csv.gz"
    if not path.is_file():
        pytest.skip(f"real candles not found: {path} (expected ../shared/data beside the repo)")
    import pandas as pd

    # pandas 3 parses floats correctly rounded by default (and deprecates the option)
    extra = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
    df = pd.read_csv(path, compression="gzip", **extra)
    candles = Candles(
        np.ascontiguousarray(df["timestamp"].to_numpy(np.int64)),
        *(np.ascontiguousarray(df[c].to_numpy(np.float64))
          for c in ("open", "high", "low", "close", "volume")),
        exchange="real", symbol=name, timeframe=REAL_DATASETS.get(name, ""), source="csv",
    )
    _CACHE[name] = candles
    return candles


@pytest.fixture(params=list(REAL_DATASETS), scope="session")
def real_candles(request: pytest.FixtureRequest) -> RealCandles:
    return RealCandles(request.param, load_real(request.param))


@pytest.fixture(scope="session")
def rsi_sets() -> tuple[tuple[int, float, float], ...]:
    return RSI_SETS


@pytest.fixture(scope="session")
def macd_set() -> tuple[int, int, int]:
    return MACD_SET
