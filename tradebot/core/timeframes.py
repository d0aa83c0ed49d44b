"""Timeframe strings ("1m", "4h", "1d", ...) and their lengths in milliseconds."""

from __future__ import annotations

from tradebot.core.errors import UsageError

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}

SUPPORTED = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w")


def timeframe_ms(timeframe: str) -> int:
    """Length of one candle of ``timeframe`` in milliseconds."""
    tf = timeframe.strip()
    if len(tf) < 2 or tf[-1] not in _UNIT_MS or not tf[:-1].isdigit() or int(tf[:-1]) <= 0:
        raise UsageError(
            f"invalid timeframe {timeframe!r}: expected a number and a unit (s, m, h, d, w), "
            "e.g. 1m, 5m, 1h, 1d"
        )
    return int(tf[:-1]) * _UNIT_MS[tf[-1]]


def bars_per_year(timeframe: str) -> float:
    """Number of candles of ``timeframe`` in a 365-day year (crypto trades every day)."""
    return 365 * 86_400_000 / timeframe_ms(timeframe)
