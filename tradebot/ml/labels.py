"""Labels for supervised learning on bars, and weights for their overlap.

Every label function returns a :class:`LabelSet` indexed by bar: the label of bar t is
decided from bars *after* t (the label's interval is ``[t, t1[t]]``, inclusive), NaN
where it is undefined (the end of the data, no event, warm-up of the ATR). The intervals
feed the purged splitters (:mod:`tradebot.ml.cv`) and the uniqueness weights.

- :func:`forward_return_labels`: sign of the return over ``horizon`` bars with a dead zone.
- :func:`triple_barrier_labels`: ATR-scaled profit and stop barriers and a vertical
  barrier (López de Prado, AFML ch. 3); stop first when a bar touches both, as the engine.
- :func:`meta_labels`: 1 when a base strategy's entry would have hit its profit barrier
  first, 0 otherwise (AFML 3.6): the model learns whether to take the base trade.
- :func:`base_exit_labels`: meta-labels by the base strategy's *own* exit: 1 when the trade
  entered at a signal and closed at the base strategy's next exit signal gains after costs
  (what ``tradebot train --label meta`` uses, docs/decisions/0020).
- :func:`average_uniqueness` / :func:`sample_weights`: AFML ch. 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradebot.core.candles import Candles
from tradebot.core.errors import UsageError
from tradebot.ml.labels_nb import average_uniqueness_nb, triple_barrier_nb


@dataclass(frozen=True)
class LabelSet:
    label: np.ndarray  # float64 per bar, NaN where undefined
    t1: np.ndarray  # int64: the last bar the label depends on, -1 where undefined
    ret: np.ndarray  # float64: the (side-adjusted) return realised over [t, t1]
    barrier: np.ndarray  # int8: 1 profit barrier, -1 stop barrier, 0 vertical / horizon
    pt_touch: np.ndarray  # int64: first bar the profit barrier was touched, -1 never (or n/a)
    sl_touch: np.ndarray  # int64: first bar the stop barrier was touched, -1 never (or n/a)

    @property
    def valid(self) -> np.ndarray:
        return ~np.isnan(self.label)

    @property
    def t0(self) -> np.ndarray:
        return np.arange(self.label.shape[0], dtype=np.int64)

    def __len__(self) -> int:
        return int(self.label.shape[0])


def _check_horizon(horizon: object, n: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise UsageError(f"label horizon must be a positive number of bars, got {horizon!r}")
    if horizon >= n:
        raise UsageError(f"label horizon of {horizon} bars is longer than the data ({n} bars)")
    return int(horizon)


def _check_mult(name: str, value: object) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < float(value) < np.inf:
        raise UsageError(f"{name} barrier must be a positive multiple of the ATR (or None to disable), "
                         f"got {value!r}")
    return float(value)


def forward_return_labels(close: np.ndarray, horizon: int, dead_zone: float = 0.0,
                          binary: bool = False) -> LabelSet:
    """Label bar t by ``r = close[t+horizon] / close[t] - 1``: 1 when ``r > dead_zone``,
    -1 when ``r < -dead_zone``, else 0. With ``binary`` the labels are 1 / 0 (up / down)
    and the dead zone is NaN (left out). The last ``horizon`` bars are NaN."""
    close = np.ascontiguousarray(close, dtype=np.float64)
    n = close.shape[0]
    h = _check_horizon(horizon, n)
    if isinstance(dead_zone, bool) or not isinstance(dead_zone, int | float) or not 0 <= dead_zone < np.inf:
        raise UsageError(f"dead zone must be a non-negative return, got {dead_zone!r}")
    ret = np.full(n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        ret[: n - h] = close[h:] / close[: n - h] - 1.0
    up, down = ret > dead_zone, ret < -dead_zone
    if binary:
        label = np.where(up, 1.0, np.where(down, 0.0, np.nan))
    else:
        label = np.where(up, 1.0, np.where(down, -1.0, np.where(np.isnan(ret), np.nan, 0.0)))
    t1 = np.where(np.isnan(ret), -1, np.arange(n, dtype=np.int64) + h)
    none = np.full(n, -1, dtype=np.int64)
    return LabelSet(label, t1, ret, np.zeros(n, dtype=np.int8), none, none.copy())


def _barriers(candles: Candles, horizon: int, profit: float | None, stop: float | None, atr_period: int,
              side: np.ndarray, entry: str) -> tuple[np.ndarray, ...]:
    import tradebot.indicators as ind

    n = len(candles)
    h = _check_horizon(horizon, n)
    pt, sl = _check_mult("profit", profit), _check_mult("stop", stop)
    if np.isnan(pt) and np.isnan(sl):
        raise UsageError("at least one of the profit and stop barriers must be set")
    if entry not in ("close", "next_open"):
        raise UsageError(f"entry must be 'close' or 'next_open', got {entry!r}")
    if isinstance(atr_period, bool) or not isinstance(atr_period, int) or atr_period < 1:
        raise UsageError(f"atr_period must be a positive integer, got {atr_period!r}")
    atr = ind.atr(candles.high, candles.low, candles.close, atr_period)
    if entry == "close":
        price = np.asarray(candles.close, dtype=np.float64)
    else:  # decided at the close, filled at the next bar's open (the engine's market order)
        price = np.full(n, np.nan)
        price[:-1] = candles.open[1:]
    side = np.where(np.isnan(atr), 0, side).astype(np.int8)
    return triple_barrier_nb(
        np.ascontiguousarray(candles.open, dtype=np.float64), np.ascontiguousarray(candles.high, dtype=np.float64),
        np.ascontiguousarray(candles.low, dtype=np.float64), np.ascontiguousarray(candles.close, dtype=np.float64),
        side, price, pt * atr, sl * atr, h)


def _side_array(side: int | np.ndarray, n: int) -> np.ndarray:
    s = np.broadcast_to(np.asarray(side), (n,))
    if not np.isin(s, (-1, 0, 1)).all():
        raise UsageError("side must be 1 (long), -1 (short) or 0 (no event) for every bar")
    return s.astype(np.int8)


def triple_barrier_labels(candles: Candles, horizon: int, profit: float | None = 2.0, stop: float | None = 1.0,
                          atr_period: int = 14, side: int | np.ndarray = 1, events: np.ndarray | None = None,
                          entry: str = "close", vertical: str = "sign") -> LabelSet:
    """Triple-barrier labels: from each event bar t (every bar unless ``events`` is a
    boolean mask), a position of ``side`` entered at ``entry`` ("close" of t, or
    "next_open") with a profit barrier ``profit × ATR[t]`` away and a stop ``stop × ATR[t]``
    away (None disables one) and a vertical barrier ``horizon`` bars later. Label 1 when
    the profit barrier is touched first, -1 for the stop (also when one bar touches both),
    and at the vertical barrier the sign of the return (``vertical="sign"``) or 0
    (``vertical="zero"``). Undefined (NaN) where the ATR is not yet defined or the vertical
    barrier lies past the data."""
    if vertical not in ("sign", "zero"):
        raise UsageError(f"vertical must be 'sign' or 'zero', got {vertical!r}")
    n = len(candles)
    s = _side_array(side, n)
    if events is not None:
        ev = np.asarray(events, dtype=bool)
        if ev.shape != (n,):
            raise UsageError(f"events must be a boolean mask of {n} bars, got shape {ev.shape}")
        s = np.where(ev, s, 0).astype(np.int8)
    barrier, t1, ret, pt_touch, sl_touch = _barriers(candles, horizon, profit, stop, atr_period, s, entry)
    label = barrier.astype(np.float64)
    if vertical == "sign":
        label = np.where(barrier == 0, np.sign(ret), label)
    label[t1 < 0] = np.nan
    return LabelSet(label, t1, ret, barrier, pt_touch, sl_touch)


def meta_labels(candles: Candles, entries: np.ndarray, horizon: int, profit: float = 2.0,
                stop: float | None = 1.0, atr_period: int = 14, side: int | np.ndarray = 1,
                entry: str = "next_open") -> LabelSet:
    """Meta-labels on a base strategy's entry signals (AFML 3.6): at each bar where
    ``entries`` is true, 1 when the base trade (``side``, filled at the next open as the
    engine does) touches its profit barrier before its stop and within ``horizon`` bars,
    else 0; NaN on bars without an entry or where the outcome is not known yet."""
    n = len(candles)
    ev = np.asarray(entries, dtype=bool)
    if ev.shape != (n,):
        raise UsageError(f"entries must be a boolean mask of {n} bars, got shape {ev.shape}")
    if profit is None:
        raise UsageError("meta-labels need a profit barrier")
    s = np.where(ev, _side_array(side, n), 0).astype(np.int8)
    barrier, t1, ret, pt_touch, sl_touch = _barriers(candles, horizon, profit, stop, atr_period, s, entry)
    label = np.where(t1 >= 0, (barrier == 1).astype(np.float64), np.nan)
    return LabelSet(label, t1, ret, barrier, pt_touch, sl_touch)


def base_exit_labels(candles: Candles, entries: np.ndarray, exits: np.ndarray, cost: float = 0.0) -> LabelSet:
    """Meta-labels of a base strategy's long trades as the engine trades them: a signal at
    bar t's close is filled at the open of t + 1; the trade is closed at the open of u + 1,
    where u >= t + 1 is the first bar with an exit signal. Label 1 when the trade gains after
    ``cost`` per side (a fraction: fee + slippage), ``open[u+1] (1 - cost) > open[t+1] (1 + cost)``,
    else 0; ``t1 = u + 1``. NaN on bars without an entry signal and where the exit (or its
    fill) lies past the data. Every signal bar is an event, also one the engine would skip
    while a trade is open (the model decides per signal)."""
    n = len(candles)
    ev = np.asarray(entries, dtype=bool)
    ex = np.asarray(exits, dtype=bool)
    if ev.shape != (n,) or ex.shape != (n,):
        raise UsageError(f"entries and exits must be boolean masks of {n} bars, got shapes {ev.shape}, {ex.shape}")
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 <= cost < 0.5:
        raise UsageError(f"cost per side must be a fraction in [0, 0.5), got {cost!r}")
    open_ = np.asarray(candles.open, dtype=np.float64)
    exit_bars = np.flatnonzero(ex)
    t = np.arange(n, dtype=np.int64)
    k = np.searchsorted(exit_bars, t + 1)  # first exit signal at or after t + 1
    if exit_bars.size:
        u = np.where(k < exit_bars.size, exit_bars[np.minimum(k, exit_bars.size - 1)], -1)
    else:
        u = np.full(n, -1, dtype=np.int64)
    defined = ev & (u >= 0) & (u + 1 < n) & (t + 1 < n)
    t1 = np.where(defined, u + 1, -1).astype(np.int64)
    ret = np.full(n, np.nan)
    label = np.full(n, np.nan)
    if defined.any():
        e = open_[t[defined] + 1]
        x = open_[t1[defined]]
        ret[defined] = x * (1.0 - cost) / (e * (1.0 + cost)) - 1.0
        label[defined] = (ret[defined] > 0).astype(np.float64)
    none = np.full(n, -1, dtype=np.int64)
    return LabelSet(label, t1, ret, np.zeros(n, dtype=np.int8), none, none.copy())


def average_uniqueness(t1: np.ndarray, t0: np.ndarray | None = None, n_bars: int | None = None) -> np.ndarray:
    """Average uniqueness of each label over its interval ``[t0, t1]`` (AFML 4.4): 1 for a
    label no other overlaps, 1/k for k labels over the same bars; NaN where ``t1 < 0``."""
    t1 = np.ascontiguousarray(t1, dtype=np.int64)
    t0 = np.arange(t1.shape[0], dtype=np.int64) if t0 is None else np.ascontiguousarray(t0, dtype=np.int64)
    if t0.shape != t1.shape:
        raise UsageError(f"t0 and t1 must have the same length, got {t0.shape[0]} and {t1.shape[0]}")
    defined = t1 >= 0
    if (t1[defined] < t0[defined]).any() or (t0 < 0).any():
        raise UsageError("every label interval must have 0 <= t0 <= t1")
    need = int(max(t1.max(initial=-1), t0.max(initial=-1))) + 1
    n_bars = need if n_bars is None else int(n_bars)
    if n_bars < need:
        raise UsageError(f"n_bars ({n_bars}) is smaller than the last label bar + 1 ({need})")
    return average_uniqueness_nb(t0, t1, n_bars)


def sample_weights(labels: LabelSet) -> np.ndarray:
    """Uniqueness weights of the defined labels, scaled to mean 1 over them (0 where the
    label is undefined), ready for ``fit(..., sample_weight=...)``."""
    t1 = np.where(labels.valid, labels.t1, -1)
    u = average_uniqueness(t1, labels.t0, len(labels))
    w = np.where(np.isnan(u), 0.0, u)
    total = w.sum()
    return w * (np.count_nonzero(w) / total) if total > 0 else w
