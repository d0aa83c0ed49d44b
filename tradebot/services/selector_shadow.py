"""The shadow runs of a selector account's candidates, carried from run to run.

A candidate's shadow return for a window is the candidate record's definition: its one
continuous engine run over the account's history, equity at the window's last close over
equity at the close before it (:func:`tradebot.ml.select.record.window_returns`). Rerunning
each candidate over the whole history at every window end costs a compiled engine run per
candidate (and loading numba: about a second of CPU). So the account keeps, per candidate,
the engine state after its last processed bar, the equity at that bar and the equity at the
close before the open window (``selector_paper_accounts.shadow_state``), written in the
run's transaction with the ledger. The next run advances each state over the new bars only,
with the step runner's loop (interpreted for a few bars when numba is not loaded, see
:mod:`tradebot.engine.interpreted`): the same kernel from the same state, so the equities
are those of one uninterrupted run — the same numbers, bit for bit.

A candidate is run again from the history's first bar when nothing usable is stored: a new
account, a stored state of another bar than the account's last, or a candidate that resolves
differently now (a study's new best trial: its run is the new parameters' from the start,
as the record's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.core.signals import Signals
    from tradebot.engine.config import EngineConfig
    from tradebot.ml.select.candidates import Candidate


class Shadows:
    """Each candidate's continuous-run equity at the bars a run needs.

    ``stored`` is the account's ``shadow_state`` (or None); ``start`` the run's first new bar
    (the account processed the bars before it)."""

    def __init__(self, candles: Candles, signals: Sequence[Signals], cands: Sequence[Candidate],
                 cfg: EngineConfig, stored: dict[str, Any] | None, start: int) -> None:
        self.candles, self.signals, self.cands, self.cfg = candles, list(signals), list(cands), cfg
        self.ts = np.asarray(candles.timestamp, dtype=np.int64)
        self.n = len(candles)
        self.start = start
        self._stored = self._usable(stored)
        self._eq: list[np.ndarray] | None = None  # per arm, equity at each bar (NaN: not run here)
        self._from: list[int] = []  # per arm, the first bar run here
        self._states: list[np.ndarray] = []
        self.rerun: list[int] = []  # arms run from the first bar (nothing usable stored)

    def _usable(self, stored: dict[str, Any] | None) -> list[dict[str, Any] | None]:
        arms: list[dict[str, Any] | None] = [None] * len(self.cands)
        if not stored or self.start < 1 or self.start > self.n:
            return arms
        if int(stored.get("bar_ms", -1)) != int(self.ts[self.start - 1]):
            return arms
        from tradebot.engine.step import new_state

        size = new_state(self.cfg).shape[0]  # a state of another layout (an upgrade) is not used
        for j, (c, got) in enumerate(zip(self.cands, stored.get("arms", []), strict=False)):
            if (got.get("candidate") == json.loads(json.dumps(c.to_dict()))  # as stored (JSON)
                    and len(got.get("state") or ()) == size):
                arms[j] = got
        return arms

    def _run(self) -> None:
        from tradebot.engine.backtest import _bool, atr_for, volume_for
        from tradebot.engine.layout import N_BLOCKED_COLS, N_FILL_COLS, N_TRADE_COLS
        from tradebot.engine.step import _kernels

        c, n, cfg = self.candles, self.n, self.cfg
        params = cfg.to_vector()
        base = (np.ascontiguousarray(c.timestamp, dtype=np.int64), c.open, c.high, c.low, c.close,
                volume_for(c), atr_for(c, cfg))
        self._eq, self._from, self._states = [], [], []
        for j, sig in enumerate(self.signals):
            got = self._stored[j]
            a = self.start if got is not None else 0
            k = _kernels(params, n - a, cfg)
            if got is not None:
                state = np.asarray(got["state"], dtype=np.float64).copy()
            else:
                state = np.asarray(k.new_state_nb(params), dtype=np.float64)
                self.rerun.append(j)
            shorts = cfg.allow_short and sig.short_entries.size > 0
            args = (*base, _bool(sig.entries, n, "entries"), _bool(sig.exits, n, "exits"),
                    _bool(sig.short_entries, n, "short_entries") if shorts else np.zeros(0, dtype=np.bool_),
                    _bool(sig.short_exits, n, "short_exits") if shorts else np.zeros(0, dtype=np.bool_),
                    params)
            equity = np.full(n, np.nan)
            if n > a:
                k.runner_for(params)(a, n, *args, state, np.empty((8, N_TRADE_COLS)), 0,
                                     np.empty((8, N_BLOCKED_COLS)), 0, np.empty((8, N_FILL_COLS)), 0, equity)
            self._eq.append(equity)
            self._from.append(a)
            self._states.append(state)

    def equity_at(self, arm: int, bar: int) -> float:
        """Candidate ``arm``'s continuous-run equity at the close of ``bar`` (the initial
        capital before the first bar)."""
        if bar < 0:
            return float(self.cfg.initial_capital)
        if self._eq is None:
            self._run()
        assert self._eq is not None
        if bar >= self._from[arm]:
            return float(self._eq[arm][bar])
        got = self._stored[arm]
        assert got is not None
        ms = int(self.ts[bar])
        if ms == int(self.ts[self.start - 1]):  # the account's last bar (checked in _usable)
            return float(got["equity"])
        if got.get("base_ms") is not None and ms == int(got["base_ms"]):
            return float(got["base"])
        # not kept: run this arm from the first bar (the same numbers, only slower)
        self._stored[arm] = None
        self._eq = None
        return self.equity_at(arm, bar)

    def window_returns(self, s: int, e: int) -> list[float]:
        """Every candidate's return over bars ``[s, e)``."""
        if e <= s:
            return [0.0] * len(self.cands)
        return [self.equity_at(j, e - 1) / self.equity_at(j, s - 1) - 1.0 for j in range(len(self.cands))]

    def to_stored(self, open_start: int | None) -> dict[str, Any] | None:
        """What to store after the run: each state after the last bar, with the equity there
        and at the close before the open window (its first bar ``open_start``)."""
        if self.n == 0:
            return None
        if self._eq is None:
            self._run()
        last = self.n - 1
        base = open_start - 1 if open_start is not None and 0 < open_start <= self.n else None
        arms = []
        for j, c in enumerate(self.cands):
            arms.append({"candidate": c.to_dict(), "state": [float(v) for v in self._states[j]],
                         "equity": self.equity_at(j, last),
                         "base_ms": int(self.ts[base]) if base is not None else None,
                         "base": self.equity_at(j, base) if base is not None else None})
        return {"bar_ms": int(self.ts[last]), "arms": arms}
