"""Walk-forward windows (bar indices) and the ``--in-sample`` / ``--out-sample`` span syntax.

Window ``i`` tests out-of-sample (OOS) on bars ``[oos_start, oos_stop)`` the parameters fitted
in-sample (IS) on bars ``[is_start, is_stop)``, with ``is_stop == oos_start``:

* ``oos_start = in_sample + i · step`` (``step`` defaults to ``out_sample``: the OOS windows
  then tile the data after the first IS window, consecutive and without overlap; a smaller
  step makes them overlap, a larger one leaves gaps);
* rolling: ``is_start = oos_start − in_sample`` (fixed IS length); anchored: ``is_start = 0``
  (the IS window grows by ``step`` each time);
* every OOS window has ``out_sample`` bars except possibly the last: the window after the
  last full one is cut at the end of the data and kept if it still has at least half of
  ``out_sample`` bars (``2 · (n_bars − oos_start) >= out_sample``), left out otherwise. So
  the most recent data is tested unless the remainder is too short to say much on its own;
  with ``step == out_sample`` at most ``ceil(out_sample / 2) − 1`` bars go untested at the end.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import SupportsIndex

from tradebot.core.errors import UsageError
from tradebot.core.timeframes import timeframe_ms

__all__ = ["Window", "parse_span", "walk_forward_windows"]


@dataclass(frozen=True)
class Window:
    """One walk-forward step; bar indices, half-open ``[start, stop)``."""

    index: int
    is_start: int
    is_stop: int
    oos_start: int
    oos_stop: int

    @property
    def is_bars(self) -> int:
        return self.is_stop - self.is_start

    @property
    def oos_bars(self) -> int:
        return self.oos_stop - self.oos_start


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise UsageError(f"{what} must be a whole number of bars, got {value!r}")
    n = operator.index(value)
    if n <= 0:
        raise UsageError(f"{what} must be at least 1 bar, got {n}")
    return int(n)


def walk_forward_windows(
    n_bars: int, in_sample: int, out_sample: int, *, anchored: bool = False, step: int | None = None
) -> list[Window]:
    """Walk-forward windows over ``n_bars`` bars (see the module docstring for the layout).

    Raises :class:`UsageError` for a size that is not a positive whole number, and when one
    IS + OOS window does not fit in the data.
    """
    n = _positive(n_bars, "number of bars")
    ins = _positive(in_sample, "in-sample length")
    oos = _positive(out_sample, "out-of-sample length")
    stp = oos if step is None else _positive(step, "walk-forward step")
    if ins + oos > n:
        raise UsageError(f"walk-forward window of {ins} + {oos} bars is longer than the data ({n} bars)")
    windows: list[Window] = []
    start = ins
    while start < n:
        stop = start + oos
        if stop > n:
            remaining = n - start
            if 2 * remaining < oos:
                break
            stop = n
        windows.append(Window(len(windows), 0 if anchored else start - ins, start, start, stop))
        if stop == n:
            break
        start += stp
    return windows


_SPAN = re.compile(r"([0-9]+)([mhdw]?)")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_span(text: str, timeframe: str) -> int:
    """Bars in ``text``: a number of bars (``"5000"``) or a duration (``"90m"``, ``"12h"``,
    ``"30d"``, ``"2w"``) divided by the candle length of ``timeframe``, rounded down
    (``"36h"`` at ``1d`` is 1 bar).

    Raises :class:`UsageError`, naming ``text``, when it is neither, is zero, or is shorter
    than one candle; an invalid ``timeframe`` raises the error of ``timeframe_ms``.
    """
    m = _SPAN.fullmatch(text.strip())
    if m is None:
        raise UsageError(
            f"invalid span {text!r}: expected a number of bars (e.g. 5000) or a duration "
            "(a whole number and m, h, d or w, e.g. 90m, 12h, 30d, 2w)"
        )
    count, unit = int(m.group(1)), m.group(2)
    if not unit:
        if count == 0:
            raise UsageError(f"invalid span {text!r}: must be at least 1 bar")
        return count
    bars = count * _UNIT_MS[unit] // timeframe_ms(timeframe)
    if bars == 0:
        raise UsageError(f"span {text!r} is shorter than one {timeframe.strip()} candle")
    return bars
