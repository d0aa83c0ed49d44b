"""Walk-forward isolation where it is used: ``services/optimize.py`` must score in-sample
trials on the in-sample bars alone.

Every out-of-sample figure tradebot reports rests on one line of the study loop (the bar
range handed to the executor for the in-sample search). These tests run real studies
through :func:`tradebot.services.optimize.run_optimize` and check that line three ways:

* the stored in-sample trial metrics are recomputed, independently of the optimizer, by the
  engine on the in-sample bars alone and must agree;
* a market is planted whose test windows alone crash: a strategy that is only right if it
  could see the test window must not be chosen in sample;
* the evaluator is wrapped (the real :class:`~tradebot.optimize.evaluate.Problem` class, not
  a string-path patch) and every range it receives is recorded: in-sample searches end at the
  window's in-sample end, and only the chosen set is run on the test window, after the search.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradebot.analysis.metrics import compute_metrics
from tradebot.core.candles import Candles
from tradebot.core.config import load_settings
from tradebot.core.signals import Signals
from tradebot.data.study_repository import StudyRepository
from tradebot.engine.backtest import run_signals
from tradebot.engine.config import EngineConfig
from tradebot.optimize.evaluate import Problem
from tradebot.optimize.windows import walk_forward_windows
from tradebot.services.context import Context
from tradebot.services.optimize import OptimizeRequest, run_optimize
from tradebot.strategies.builtin.rsi import RsiStrategy

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z

PLANTED_STRATEGY = '''
import numpy as np

from tradebot.core.signals import Signals
from tradebot.strategies.base import Strategy
from tradebot.strategies.params import Param


class Planted(Strategy):
    """invest=1: buy at the first bar and hold; invest=0: never trade."""

    name = "planted"
    description = "buy and hold, or stay out"
    params = {"invest": Param("int", 1, 0, 1, step=1)}

    def compute_indicators(self, candles):
        return {}

    def signals_from(self, candles, ind):
        n = len(candles)
        return Signals(entries=np.full(n, bool(self.invest)), exits=np.zeros(n, dtype=bool))
'''


def _context(home: Path, strategy: str, exchange: str = "sim", symbol: str = "BTC/USDT",
             since: str | None = "2024-01-01", until: str | None = "2024-04-01",
             strategy_path: Path | None = None) -> Context:
    overrides: dict[str, Any] = {
        "home": str(home),
        "market": {"exchange": exchange, "symbol": symbol, "timeframe": "1h"},
        "strategy": {"name": strategy},
        "backtest": {"since": since, "until": until},
    }
    return Context(load_settings(overrides=overrides, env={}), strategy_path)


def _stored(ctx: Context, study_id: int) -> tuple[list[Any], list[Any]]:
    with ctx.store.session() as s:
        repo = StudyRepository(s)
        windows = sorted(repo.windows(study_id), key=lambda w: w.window)
        trials = repo.trials(study_id)
        for x in windows:
            s.expunge(x)
    return windows, trials


def _window_metrics(candles: Candles, sig: Signals, start: int, stop: int, config: EngineConfig) -> dict[str, Any]:
    """The engine's own report for bars ``[start, stop)`` only: the candles and the signals are
    cut there (the signals are causal, so computing them on the whole history is the warm-up)."""
    sub = Signals(sig.entries[start:stop], sig.exits[start:stop])
    res = run_signals(candles.slice(start, stop), sub, config)
    return compute_metrics(res, "1h").to_dict()


# ------------------------------------------------------------------ stored IS trials


@pytest.fixture(scope="module")
def rsi_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("wf_home")
    ctx = _context(home, "rsi")
    try:
        req = OptimizeRequest(method="grid", objectives="sharpe",
                              space=("period=7,14", "lower=25,35", "upper=65,75"),
                              wf_train="30d", wf_test="15d")
        out = run_optimize(ctx, req)
        from tradebot.services.backtest import engine_config, load_market

        candles = load_market(ctx, ctx.settings.since_ms(), ctx.settings.until_ms())
        config = engine_config(ctx.settings)
        windows, trials = _stored(ctx, out.study_id)
    finally:
        ctx.close()
    return {"candles": candles, "windows": windows, "trials": trials, "config": config}


def test_stored_in_sample_trials_equal_the_engine_on_in_sample_bars_alone(rsi_study: dict[str, Any]) -> None:
    c: Candles = rsi_study["candles"]
    cfg: EngineConfig = rsi_study["config"]
    expected = walk_forward_windows(len(c), 30 * 24, 15 * 24)
    assert len(expected) >= 3 and len(rsi_study["windows"]) == len(expected)
    by_window: dict[int, list[Any]] = {}
    for t in rsi_study["trials"]:
        by_window.setdefault(t.window, []).append(t)
    checked = 0
    for win, stored_win in zip(expected, rsi_study["windows"], strict=True):
        # the stored window names the in-sample bars the windows module laid out
        assert stored_win.is_start_ms == int(c.timestamp[win.is_start])
        assert stored_win.is_end_ms == int(c.timestamp[win.is_stop - 1])
        assert stored_win.oos_start_ms == int(c.timestamp[win.oos_start])
        trials = by_window[win.index]
        assert len(trials) == 8
        for t in trials:
            sig = RsiStrategy(**t.params).signals_for(c)
            m = _window_metrics(c, sig, win.is_start, win.is_stop, cfg)
            assert t.metrics["trades"] == m["trades"], (win, t.params)
            assert t.metrics["return_pct"] == pytest.approx(m["total_return_pct"], rel=1e-9, abs=1e-9), (win, t.params)
            if m["sharpe"] is None or not np.isfinite(m["sharpe"]):
                assert t.metrics["sharpe"] is None
            else:
                assert t.metrics["sharpe"] == pytest.approx(m["sharpe"], rel=1e-9), (win, t.params)
            checked += 1
        # the chosen set is the in-sample best, and its out-of-sample score is the test bars alone
        best = max(trials, key=lambda t: t.scores[0])  # ties: the first asked
        assert stored_win.best_params == best.params
        sig = RsiStrategy(**best.params).signals_for(c)
        oos = _window_metrics(c, sig, win.oos_start, win.oos_stop, cfg)
        assert stored_win.oos_metrics["return_pct"] == pytest.approx(oos["total_return_pct"], rel=1e-9, abs=1e-9)
        assert stored_win.oos_metrics["trades"] == oos["trades"]
    assert checked == 8 * len(expected)


# ------------------------------------------------------------------ a planted market


def _planted_candles(n: int, crash: list[tuple[int, int]]) -> Candles:
    """Rises 0.2 % a bar, except in the ``crash`` ranges, where it falls 3 % a bar."""
    step = np.full(n, 1.002)
    for lo, hi in crash:
        step[lo:hi] = 0.97
    close = 100.0 * np.cumprod(step)
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    ts = T0 + HOUR * np.arange(n, dtype=np.int64)
    return Candles(ts, open_, high, low, close, np.full(n, 100.0), "binance", "PLANT/USDT", "1h", "cache")


def test_in_sample_choice_cannot_see_a_crash_planted_in_the_test_windows(tmp_path: Path) -> None:
    """In-sample and test windows are disjoint (step > test length); the market rises in every
    in-sample window and crashes in every test window. Buy-and-hold is the in-sample best in
    every window, and the study must choose it and pay for it out of sample. A study that
    scored trials on the test bars too would see the crash and stay out."""
    train, test, step = 100, 20, 120
    n = train + 4 * step
    windows = walk_forward_windows(n, train, test, step=step)
    assert len(windows) == 4
    assert all(w.is_start >= (windows[i - 1].oos_stop if i else 0) for i, w in enumerate(windows))
    candles = _planted_candles(n, [(w.oos_start, w.oos_stop) for w in windows])
    home = tmp_path / "home"
    ctx = _context(home, "planted", exchange="binance", symbol="PLANT/USDT", since=None, until=None,
                   strategy_path=_strategy_dir(tmp_path))
    try:
        ctx.cache.save(candles)
        req = OptimizeRequest(method="grid", objectives="return", space=("invest=0,1",),
                              wf_train=str(train), wf_test=str(test), wf_step=str(step))
        out = run_optimize(ctx, req)
        stored, trials = _stored(ctx, out.study_id)
    finally:
        ctx.close()
    assert len(stored) == 4
    for w in stored:
        assert w.best_params == {"invest": 1}, w.window
        assert w.is_metrics["return_pct"] > 10  # the rise in sample
        assert w.oos_metrics["return_pct"] < -30  # the crash it could not see
    ins = {(t.window, t.params["invest"]): t.metrics["return_pct"] for t in trials}
    for w in range(4):
        assert ins[(w, 0)] == 0.0
        assert ins[(w, 1)] > 10


def _strategy_dir(tmp_path: Path) -> Path:
    d = tmp_path / "strategies"
    d.mkdir(exist_ok=True)
    (d / "planted.py").write_text(PLANTED_STRATEGY)
    return d


# ------------------------------------------------------------------ what the evaluator receives


def test_every_in_sample_evaluation_ends_at_the_in_sample_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, tuple[int, int], int]] = []
    real = Problem.evaluate

    def recording(self: Problem, param_sets: Any, window: tuple[int, int]) -> Any:
        calls.append((len(param_sets), (int(window[0]), int(window[1])), len(self.candles)))
        return real(self, param_sets, window)

    monkeypatch.setattr(Problem, "evaluate", recording)
    ctx = _context(tmp_path / "home", "rsi", since="2024-01-01", until="2024-02-20")
    try:
        req = OptimizeRequest(method="random", trials=6, batch_size=3, objectives="sharpe", seed=3,
                              space=("period=7:21", "lower=20:35:5", "upper=65:80:5"),
                              wf_train="20d", wf_test="8d")
        out = run_optimize(ctx, req)
        stored, _ = _stored(ctx, out.study_id)
    finally:
        ctx.close()
    n = calls[0][2]
    windows = walk_forward_windows(n, 20 * 24, 8 * 24)
    assert len(windows) >= 3 and len(stored) == len(windows)
    expected: list[tuple[int, tuple[int, int]]] = []
    for w in windows:
        expected += [(3, (w.is_start, w.is_stop)), (3, (w.is_start, w.is_stop)), (1, (w.oos_start, w.oos_stop))]
    assert [(k, r) for k, r, _ in calls] == expected
    # nothing evaluated while searching a window reaches its test bars
    seen = 0
    for w in windows:
        for _n, (lo, hi), _ in calls[seen:seen + 2]:
            assert hi <= w.oos_start and lo >= 0
        seen += 3


def test_a_search_on_candles_cut_at_the_in_sample_end_gives_the_same_trials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each in-sample batch is re-run on a problem whose candles *end* at the window's
    in-sample end (no future bars exist at all): the trials must be identical."""
    ctx = _context(tmp_path / "home", "rsi", since="2024-01-01", until="2024-02-20")
    from tradebot.services.backtest import load_market

    n = len(load_market(ctx, ctx.settings.since_ms(), ctx.settings.until_ms()))
    windows = walk_forward_windows(n, 20 * 24, 8 * 24)
    is_ranges = {(w.is_start, w.is_stop) for w in windows}
    is_stop_of = {w.is_start: w.is_stop for w in windows}  # rolling windows: distinct starts
    assert len(is_stop_of) == len(windows)
    compared: list[int] = []
    real = Problem.evaluate

    def checking(self: Problem, param_sets: Any, window: tuple[int, int]) -> Any:
        got = real(self, param_sets, window)
        start, stop = int(window[0]), int(window[1])
        if len(param_sets) > 1 or (start, stop) in is_ranges:
            # an in-sample batch: the future must not matter; cut the candles where the
            # in-sample data of the window starting at ``start`` ends
            cut = is_stop_of[start]
            blind = Problem(self.candles.slice(0, cut), self.strategy_cls, self.base_config, self.space,
                            self.spec, self.timeframe, self.base_params)
            ref = real(blind, param_sets, (start, min(stop, cut)))
            np.testing.assert_array_equal(got.metrics, ref.metrics)
            np.testing.assert_array_equal(got.scores, ref.scores)
            compared.append(cut)
        return got

    monkeypatch.setattr(Problem, "evaluate", checking)
    try:
        req = OptimizeRequest(method="grid", objectives="sharpe",
                              space=("period=7,14", "lower=25,30", "upper=70"),
                              wf_train="20d", wf_test="8d")
        run_optimize(ctx, req)
    finally:
        ctx.close()
    assert sorted(set(compared)) == sorted(is_stop_of.values())

