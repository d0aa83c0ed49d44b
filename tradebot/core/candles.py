"""Candles as columnar numpy arrays: the one market-data type every layer shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported lazily: core must stay cheap to import
    import pandas as pd

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Candles:
    """OHLCV candles of one market, sorted by open time.

    ``timestamp`` is the candle's open time in milliseconds since the epoch (UTC),
    int64; prices and volume are float64. ``source`` says where the candles came
    from (``"cache"``, ``"sim"``, ``"csv"``...), so reports can be honest about it.
    """

    timestamp: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    exchange: str = ""
    symbol: str = ""
    timeframe: str = ""
    source: str = ""
    meta: dict[str, object] = field(default_factory=dict, compare=False)

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    @property
    def start_ms(self) -> int | None:
        return int(self.timestamp[0]) if len(self) else None

    @property
    def end_ms(self) -> int | None:
        return int(self.timestamp[-1]) if len(self) else None

    def slice(self, start: int, stop: int) -> Candles:
        """Rows ``[start, stop)`` as a new Candles (views, no copy).

        Per-bar arrays in ``meta`` (same length as the candles, e.g. ``buy_volume``) are
        sliced the same way; other ``meta`` values are carried over.
        """
        n = len(self)
        meta = {k: (v[start:stop] if isinstance(v, np.ndarray) and v.shape[:1] == (n,) else v)
                for k, v in self.meta.items()}
        return Candles(
            self.timestamp[start:stop], self.open[start:stop], self.high[start:stop],
            self.low[start:stop], self.close[start:stop], self.volume[start:stop],
            self.exchange, self.symbol, self.timeframe, self.source, meta,
        )

    def between(self, since_ms: int | None, until_ms: int | None) -> Candles:
        """Candles whose open time is in ``[since_ms, until_ms)`` (either bound optional)."""
        lo = 0 if since_ms is None else int(np.searchsorted(self.timestamp, since_ms, "left"))
        hi = len(self) if until_ms is None else int(np.searchsorted(self.timestamp, until_ms, "left"))
        return self.slice(lo, hi)

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with columns open/high/low/close/volume and a UTC DatetimeIndex.

        The columns share memory with the arrays where pandas allows it.
        """
        import pandas as pd

        index = pd.DatetimeIndex(pd.to_datetime(self.timestamp, unit="ms", utc=True), name="date")
        return pd.DataFrame(
            {"open": self.open, "high": self.high, "low": self.low, "close": self.close,
             "volume": self.volume},
            index=index, copy=False,
        )

    @classmethod
    def from_frame(cls, df: pd.DataFrame, **meta: str) -> Candles:
        """Build from a DataFrame with a ``timestamp`` column (ms) or a DatetimeIndex."""
        import pandas as pd

        if "timestamp" in df.columns:
            ts = df["timestamp"].to_numpy(dtype=np.int64)
        else:
            idx = pd.DatetimeIndex(df.index)
            ts = (idx.as_unit("ms").asi8 if idx.tz is not None else idx.as_unit("ms").asi8)
        timestamp = np.ascontiguousarray(ts, dtype=np.int64)
        open_, high, low, close, volume = (
            np.ascontiguousarray(df[c].to_numpy(dtype=np.float64)) for c in COLUMNS[1:]
        )
        return cls(
            timestamp, open_, high, low, close, volume,
            **meta,  # type: ignore[arg-type]
        )
