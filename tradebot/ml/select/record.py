"""The out-of-sample record: every candidate's net return in every window, and the context
(regime features) at each window's start.

* The history is split into consecutive windows of ``window_bars`` bars from the first bar
  (a trailing part shorter than a window is left out): window ``w`` is bars ``[start, end)``.
* Each candidate is **one continuous engine run over the whole history** (fees, slippage,
  sizing and the risk rules of the :class:`EngineConfig`); its return in window ``w`` is the
  mark-to-market equity ratio ``equity[end-1] / equity[start-1] - 1`` (the initial capital
  before the first bar). A position carried into a window is valued at the previous close,
  so the window's return is what holding the candidate through that window earned.
* ``context[w]`` is the regime feature row (:mod:`tradebot.ml.regime.features`) of bar
  ``start - 1`` and the rule-based regime probabilities (:mod:`tradebot.ml.regime.rules`,
  one column ``p_<name>`` per regime) of that bar: candles up to the close before the window
  opens, nothing later (NaN while the features warm up).

:func:`spliced_signals` builds the selector's signals: in window ``w`` it holds what
candidate ``choices[w]`` holds (the candidate's intent, :mod:`.intent_nb`), decided at each
close from the one before the window's first bar, so an engine run of the spliced signals
closes and opens positions at the window boundaries and pays their fees and slippage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tradebot.core.errors import UsageError

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.core.signals import Signals
    from tradebot.engine.config import EngineConfig
    from tradebot.ml.regime.settings import RegimeSettings
    from tradebot.ml.select.candidates import Candidate
    from tradebot.services.context import Context


@dataclass(frozen=True)
class CandidateRecord:
    """``returns[w, c]``: candidate ``c``'s net return in window ``w``; ``context[w]``: the
    regime features known at the window's start. ``bounds[w] = [start, end)`` bar indices."""

    names: tuple[str, ...]
    starts_ms: np.ndarray  # (W,) int64, open time of each window's first bar
    ends_ms: np.ndarray  # (W,) int64, open time of the bar after the window (or last bar + 1 bar)
    bounds: np.ndarray  # (W, 2) int64
    returns: np.ndarray  # (W, C) float64
    context: np.ndarray  # (W, F) float64
    feature_names: tuple[str, ...]

    @property
    def n_windows(self) -> int:
        return int(self.bounds.shape[0])

    @property
    def n_candidates(self) -> int:
        return len(self.names)


def parse_window(text: str | int, timeframe: str) -> int:
    """``7d``/``12h``/``2w`` (a duration, a whole number of ``timeframe`` bars) or ``N`` bars."""
    from tradebot.core.timeframes import timeframe_ms

    t = str(text).strip().lower()
    if t.isdigit():
        bars = int(t)
    else:
        units = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
        if len(t) < 2 or t[-1] not in units or not t[:-1].isdigit() or int(t[:-1]) <= 0:
            raise UsageError(f"--window {text!r}: expected a duration (7d, 12h, 2w) or a number of bars")
        ms = int(t[:-1]) * units[t[-1]]
        tf = timeframe_ms(timeframe)
        if ms % tf:
            raise UsageError(f"--window {text!r} is not a whole number of {timeframe} bars")
        bars = ms // tf
    if bars < 2:
        raise UsageError(f"--window {text!r}: a window needs at least 2 bars")
    return bars


def window_bounds(n: int, window_bars: int) -> np.ndarray:
    """``(W, 2)`` ``[start, end)`` of consecutive windows of ``window_bars`` bars from bar 0."""
    if window_bars < 1:
        raise UsageError(f"window of {window_bars} bars: must be at least 1")
    w = n // window_bars
    if w < 1:
        raise UsageError(f"a window of {window_bars} bars is longer than the data ({n} bars)")
    starts = np.arange(w, dtype=np.int64) * window_bars
    return np.column_stack([starts, starts + window_bars]).astype(np.int64)


def window_returns(equity: np.ndarray, bounds: np.ndarray, initial: float) -> np.ndarray:
    """Mark-to-market return of each window from one run's equity curve."""
    before = np.where(bounds[:, 0] > 0, equity[np.maximum(bounds[:, 0] - 1, 0)], initial)
    return np.asarray(equity[bounds[:, 1] - 1] / before - 1.0, dtype=np.float64)


def window_context(candles: Candles, bounds: np.ndarray,
                   settings: RegimeSettings | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Regime feature rows and rule-based regime probabilities of the bar before each window
    (NaN for the first window and during the features' warm-up)."""
    from tradebot.ml.regime.features import feature_columns, regime_features
    from tradebot.ml.regime.settings import RegimeSettings

    s = settings or RegimeSettings()
    cols = (*feature_columns(s), *[f"p_{name}" for name in s.names])
    out = np.full((bounds.shape[0], len(cols)), np.nan)
    if len(candles) <= s.warmup_bars:
        return out, cols
    from tradebot.ml.regime.rules import classify_rules

    feats = regime_features(candles, s)
    probs = classify_rules(feats, s).probs
    values = np.column_stack([feats.values, probs])
    out = np.full((bounds.shape[0], values.shape[1]), np.nan)
    rows = bounds[:, 0] - 1
    ok = rows >= 0
    out[ok] = values[rows[ok]]
    return out, (*feats.columns, *[f"p_{name}" for name in s.names])


def _ends_ms(candles: Candles, bounds: np.ndarray) -> np.ndarray:
    ts = np.asarray(candles.timestamp, dtype=np.int64)
    step = int(ts[1] - ts[0]) if ts.shape[0] > 1 else 0
    nxt = np.append(ts, ts[-1] + step)
    return np.asarray(nxt[bounds[:, 1]], dtype=np.int64)


def run_equities(candles: Candles, signals: Sequence[Signals], config: EngineConfig) -> np.ndarray:
    """``(C, n)`` equity curves, one engine run per signal set (the engine's batch runner)."""
    from tradebot.engine.backtest import run_signals

    out = np.empty((len(signals), len(candles)), dtype=np.float64)
    for j, sig in enumerate(signals):
        out[j] = run_signals(candles, sig, config).equity
    return out


def record_from_equities(candles: Candles, names: Sequence[str], equities: np.ndarray, bounds: np.ndarray,
                         initial: float, settings: RegimeSettings | None = None) -> CandidateRecord:
    returns = np.column_stack([window_returns(e, bounds, initial) for e in equities])
    context, cols = window_context(candles, bounds, settings)
    ts = np.asarray(candles.timestamp, dtype=np.int64)
    return CandidateRecord(tuple(names), ts[bounds[:, 0]].copy(), _ends_ms(candles, bounds), bounds,
                           returns, context, tuple(cols))


def candidate_record(ctx: Context, candles: Candles, candidates: Sequence[Candidate], window_bars: int,
                     config: EngineConfig, settings: RegimeSettings | None = None) -> CandidateRecord:
    """The record of ``candidates`` over ``candles`` in windows of ``window_bars`` bars."""
    from tradebot.ml.select.candidates import candidate_signals

    bounds = window_bounds(len(candles), window_bars)
    signals = [candidate_signals(ctx, c, candles) for c in candidates]
    equities = run_equities(candles, signals, config)
    return record_from_equities(candles, [c.name for c in candidates], equities, bounds,
                                config.initial_capital, settings)


def intents(signals: Sequence[Signals], allow_short: bool = False) -> np.ndarray:
    """``(C, n)`` int8: what each candidate holds after each bar's decision (1, -1, 0)."""
    from tradebot.ml.select.intent_nb import intent_nb

    n = signals[0].entries.shape[0]
    out = np.empty((len(signals), n), dtype=np.int8)
    for j, s in enumerate(signals):
        se = np.ascontiguousarray(s.short_entries, dtype=np.bool_)
        sx = np.ascontiguousarray(s.short_exits, dtype=np.bool_)
        if se.shape[0] != n or sx.shape[0] != n:
            se = sx = np.zeros(0, dtype=np.bool_)
        out[j] = intent_nb(np.ascontiguousarray(s.entries, dtype=np.bool_),
                           np.ascontiguousarray(s.exits, dtype=np.bool_), se, sx, allow_short)
    return out


def follow(choices: np.ndarray, bounds: np.ndarray, n: int) -> np.ndarray:
    """Per bar ``t``, the index of the candidate whose decision at ``t``'s close the selector
    takes: the choice of the window holding bar ``t + 1`` (so the position is in place at the
    window's first open); -1 (flat) outside the windows."""
    choices = np.asarray(choices, dtype=np.int64)
    if choices.shape != (bounds.shape[0],):
        raise ValueError(f"choices has shape {choices.shape}, expected ({bounds.shape[0]},)")
    who = np.full(n, -1, dtype=np.int64)
    for (start, end), c in zip(bounds, choices, strict=True):
        who[max(int(start) - 1, 0):int(end) - 1] = c
    return who


def spliced_signals(signals: Sequence[Signals], choices: np.ndarray, bounds: np.ndarray,
                    allow_short: bool = False) -> Signals:
    """The selector's signals: in window ``w`` hold what candidate ``choices[w]`` holds (the
    decision at the close before the window already follows it); flat before the first and
    after the last window and for a negative choice. Level signals (enter while the followed
    candidate holds, exit while it does not), so at a switch the engine closes what the old
    candidate held and opens what the new one holds, paying both fills' costs."""
    held = intents(signals, allow_short)
    return signals_from_who(held, follow(choices, bounds, held.shape[1]), allow_short)


def signals_from_who(held: np.ndarray, who: np.ndarray, allow_short: bool) -> Signals:
    """Level signals following, at each bar, the candidate ``who`` names (none: flat):
    ``held`` is the candidates' intents (:func:`intents`, candidates x bars)."""
    from tradebot.core.signals import Signals

    n = held.shape[1]
    want = np.zeros(n, dtype=np.int8)
    on = who >= 0
    want[on] = held[who[on], np.flatnonzero(on)]
    long_ = want == 1
    short = want == -1
    if allow_short:
        return Signals(long_, ~long_, short, ~short)
    return Signals(long_, ~long_)
