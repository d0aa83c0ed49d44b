"""Candle validation: sanity rules with row-precise one-line errors, and a gap report.

Every candle set that enters tradebot (CSV import, cache load, download, sim) passes
:func:`validate_candles`. The first rule that fails raises
:class:`~tradebot.core.errors.DataValidationError` with one line::

    btc.csv: row 7 (2024-01-01T06:00:00Z): high < low (high=41950.0, low=42010.5)

Rows are 1-based data rows (a CSV header is not counted). Gaps (missing candles) are
not errors: they are counted in the returned :class:`GapReport`, never filled.
All checks are vectorized numpy (about 10 ms for a million rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import DataValidationError
from tradebot.core.timeframes import timeframe_ms as _timeframe_ms

__all__ = ["MAX_PRICE", "GapReport", "format_ts", "validate_candles"]

#: The highest plausible price. Real quotes stay far below it (bitcoin in Vietnamese dong or
#: Iranian rial is about 1e10); above it are broken files (1e308 overflows the engine's
#: sums to inf) and unit mistakes. ``tradebot data import --allow-implausible`` lifts it.
MAX_PRICE = 1e12

_WEEK_MS = 604_800_000
_MONDAY_OFFSET_MS = 4 * 86_400_000  # the epoch was a Thursday; exchanges open weeks on Monday


def format_ts(ms: int | np.integer) -> str:
    """ISO-8601 UTC for a millisecond timestamp (``2024-01-01T00:00:00Z``; ms shown if any)."""
    ms = int(ms)
    try:
        dt = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class GapReport:
    """Missing candles found while validating.

    ``gaps`` holds ``(start_ms, end_ms, missing)`` per gap: open time of the first and of
    the last missing candle, and how many candles are missing.
    """

    rows: int
    gaps: list[tuple[int, int, int]] = field(default_factory=list)
    timeframe_ms: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def missing(self) -> int:
        return sum(g[2] for g in self.gaps)

    @property
    def gap_count(self) -> int:
        return len(self.gaps)

    @property
    def expected(self) -> int:
        """Candles a complete series over ``[start_ms, end_ms]`` would have."""
        return self.rows + self.missing

    def summary(self) -> str:
        """One line, e.g. ``13681 candles, 717 missing in 538 gaps (largest: 10 from ...)``."""
        span = ""
        if self.start_ms is not None and self.end_ms is not None:
            span = f" from {format_ts(self.start_ms)} to {format_ts(self.end_ms)}"
        head = f"{self.rows} candles{span}"
        if not self.gaps:
            return f"{head}, no gaps"
        largest = max(self.gaps, key=lambda g: g[2])
        pct = 100.0 * self.missing / self.expected if self.expected else 0.0
        return (
            f"{head}, {self.missing} missing ({pct:.2f}%) in {self.gap_count} "
            f"gap{'s' if self.gap_count != 1 else ''} (largest: {largest[2]} from "
            f"{format_ts(largest[0])} to {format_ts(largest[1])})"
        )


def _fail(source: str, ts: np.ndarray, mask_or_index: np.ndarray | int, rule: str) -> None:
    if isinstance(mask_or_index, np.ndarray):
        i = int(np.argmax(mask_or_index))
        count = int(np.count_nonzero(mask_or_index))
    else:
        i, count = int(mask_or_index), 1
    where = f"row {i + 1}"
    if 0 <= i < ts.shape[0]:
        where += f" ({format_ts(ts[i])})"
    more = f"; {count} rows fail this rule" if count > 1 else ""
    raise DataValidationError(f"{source}: {where}: {rule}{more}")


def _resolve_timeframe(c: Candles, timeframe_ms: int | None) -> int | None:
    if timeframe_ms is not None:
        if int(timeframe_ms) <= 0:
            raise DataValidationError(f"invalid timeframe length {timeframe_ms} ms")
        return int(timeframe_ms)
    if c.timeframe:
        return _timeframe_ms(c.timeframe)
    return None


def validate_candles(c: Candles, source: str, timeframe_ms: int | None = None,
                     max_price: float | None = MAX_PRICE) -> GapReport:
    """Check ``c`` and return its gap report; raise ``DataValidationError`` on the first bad rule.

    Rules, in order: not empty; equal column lengths; every value finite; timestamps
    strictly increasing ("unsorted" / "duplicate timestamp"); open/high/low/close > 0;
    prices at most ``max_price`` (None: no bound); volume >= 0; high >= low;
    high >= max(open, close); low <= min(open, close); timestamps aligned to the
    timeframe. The timeframe is ``timeframe_ms`` if given, else ``c.timeframe`` if set
    (alignment is only checked then); otherwise the gap report uses the smallest step in
    the data. Weekly candles may open on Monday
    (exchange convention) or on the epoch's Thursday.
    """
    ts = np.asarray(c.timestamp)
    n = int(ts.shape[0])
    if n == 0:
        raise DataValidationError(f"{source}: no candles (empty)")
    cols = {"open": c.open, "high": c.high, "low": c.low, "close": c.close, "volume": c.volume}
    for name, arr in cols.items():
        if np.shape(arr) != (n,):
            raise DataValidationError(
                f"{source}: column {name!r} has shape {np.shape(arr)}, "
                f"expected ({n},) like timestamp"
            )
    if ts.dtype.kind not in "iu":
        raise DataValidationError(
            f"{source}: timestamp column has dtype {ts.dtype}, expected int64 milliseconds"
        )
    ts = ts.astype(np.int64, copy=False)
    o, h, lo, cl, v = (np.asarray(a, dtype=np.float64) for a in cols.values())
    tf = _resolve_timeframe(c, timeframe_ms)
    d = np.diff(ts)
    top = np.inf if max_price is None else float(max_price)
    if not (_values_ok(o, h, lo, cl, v, top) and (n < 2 or d.min() > 0)):
        _find_first_error(source, ts, d, o, h, lo, cl, v, top)
    if tf is not None:
        _check_alignment(source, ts, d, tf, c.timeframe)
    return _gap_report(ts, d, tf)


_BLOCK = 1 << 15  # rows per block: keeps the temporaries in cache (about 20% faster)


def _values_ok(o: np.ndarray, h: np.ndarray, lo: np.ndarray, cl: np.ndarray,
               v: np.ndarray, top: float) -> bool:
    """Fast path: True iff every value rule holds (NaN fails every comparison).

    low <= min(o, c) <= max(o, c) <= high makes high >= low implied and bounds every
    price by high, so a finite max(high) <= ``top`` and positive minima prove all prices
    finite and plausible.
    """
    n = o.shape[0]
    for s in range(0, n, _BLOCK):
        e = min(n, s + _BLOCK)
        oo, hh, ll, cc, vv = o[s:e], h[s:e], lo[s:e], cl[s:e], v[s:e]
        if not (oo.min() > 0 and hh.min() > 0 and ll.min() > 0 and cc.min() > 0
                and vv.min() >= 0 and np.isfinite(hh.max()) and hh.max() <= top
                and np.isfinite(vv.max())):
            return False
        if (hh < oo).any() or (hh < cc).any() or (ll > oo).any() or (ll > cc).any():
            return False
    return True


def _find_first_error(source: str, ts: np.ndarray, d: np.ndarray, o: np.ndarray,
                      h: np.ndarray, lo: np.ndarray, cl: np.ndarray, v: np.ndarray,
                      top: float = np.inf) -> None:
    """Slow path, run only when the fast path failed: raise for the first rule in order."""
    cols = {"open": o, "high": h, "low": lo, "close": cl, "volume": v}
    # 1. finite values
    for name, arr in cols.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.argmax(bad))
            _fail(source, ts, bad, f"{name} is {float(arr[i])!r} (NaN/inf not allowed)")
    # 2. strictly increasing timestamps
    bad = d <= 0
    if bad.any():
        i = int(np.argmax(bad))
        if d[i] == 0:
            rule = f"duplicate timestamp (same as row {i + 1})"
            _fail(source, ts, i + 1, rule + _also(d == 0, "duplicate"))
        rule = f"unsorted timestamps (earlier than row {i + 1}, {format_ts(ts[i])})"
        _fail(source, ts, i + 1, rule + _also(d < 0, "out-of-order"))
    # 3. prices positive, volume non-negative
    for name in ("open", "high", "low", "close"):
        arr = cols[name]
        bad = arr <= 0
        if bad.any():
            i = int(np.argmax(bad))
            _fail(source, ts, bad, f"non-positive price: {name}={float(arr[i])!r}")
    for name in ("open", "high", "low", "close"):
        arr = cols[name]
        bad = arr > top
        if bad.any():
            i = int(np.argmax(bad))
            _fail(source, ts, bad, f"implausible price: {name}={float(arr[i])!r} is above "
                                   f"{top:g} (`tradebot data import --allow-implausible` keeps it)")
    bad = v < 0
    if bad.any():
        i = int(np.argmax(bad))
        _fail(source, ts, bad, f"negative volume: volume={float(v[i])!r}")
    # 4. OHLC consistency
    bad = h < lo
    if bad.any():
        i = int(np.argmax(bad))
        _fail(source, ts, bad, f"high < low (high={float(h[i])!r}, low={float(lo[i])!r})")
    bad = h < np.maximum(o, cl)
    if bad.any():
        i = int(np.argmax(bad))
        _fail(source, ts, bad, f"high < max(open, close) (high={float(h[i])!r}, "
                               f"open={float(o[i])!r}, close={float(cl[i])!r})")
    bad = lo > np.minimum(o, cl)
    if bad.any():
        i = int(np.argmax(bad))
        _fail(source, ts, bad, f"low > min(open, close) (low={float(lo[i])!r}, "
                               f"open={float(o[i])!r}, close={float(cl[i])!r})")
    raise AssertionError("fast validation failed but no rule did")  # pragma: no cover


def _check_alignment(source: str, ts: np.ndarray, d: np.ndarray, tf: int, label: str) -> None:
    """Timestamps must be multiples of ``tf`` (weekly: or Monday-based).

    With sorted timestamps this is "first row aligned and every step a multiple of tf",
    and only steps that differ from tf (gaps) need the slow integer modulo.
    """
    def phase_ok(phase: np.ndarray | int) -> np.ndarray | bool:
        ok = phase == 0
        return ok | (phase == _MONDAY_OFFSET_MS) if tf == _WEEK_MS else ok

    first_ok = bool(phase_ok(int(ts[0]) % tf))
    odd = np.flatnonzero(d != tf)
    if first_ok and not (d[odd] % tf).any():
        return
    phase = ts % tf
    if first_ok:  # all rows must share the first row's phase
        bad = phase != phase[0]
    else:
        bad = ~np.asarray(phase_ok(phase))
    i = int(np.argmax(bad))
    name = label or f"{tf} ms"
    _fail(source, ts, bad,
          f"timestamp not aligned to the {name} timeframe (off by {int(phase[i])} ms)")


def _also(mask: np.ndarray, what: str) -> str:
    k = int(np.count_nonzero(mask))
    return f"; {k} {what} rows" if k > 1 else ""


def _gap_report(ts: np.ndarray, d: np.ndarray, tf: int | None) -> GapReport:
    n = int(ts.shape[0])
    if n < 2:
        return GapReport(n, [], tf, int(ts[0]), int(ts[-1]))
    step = int(d.min()) if tf is None else tf
    idx = np.flatnonzero(d > step)
    missing = (d[idx] + step - 1) // step - 1  # rounding up keeps odd steps counted
    keep = missing > 0
    idx, missing = idx[keep], missing[keep]
    starts = ts[idx] + step
    ends = ts[idx] + missing * step
    gaps = list(zip(starts.tolist(), ends.tolist(), missing.tolist(), strict=True))
    return GapReport(n, gaps, step, int(ts[0]), int(ts[-1]))
