"""The fast paths of a selector account's step (services/selector_shadow.py,
services/selector_context.py) give the numbers of the whole-history computations, bit for bit:
the candidates' shadow runs carried from run to run as engine states, and a window end's
context row computed from a tail of the candles. A window-end step on plain strategies does
not load numba."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tradebot.core.config import load_settings
from tradebot.services.context import Context

HOUR = 3_600_000
DAY = 24 * HOUR
SINCE = 1_704_067_200_000  # 2024-01-01


def _candles(n: int, seed: int = 4):  # type: ignore[no-untyped-def]
    from tradebot.exchanges.sim import sim_candles

    src = sim_candles("BTC/USDT", "1h", since_ms=SINCE, until_ms=SINCE + n * HOUR, seed=seed)
    return dataclasses.replace(src, exchange="binance", symbol="BTC/USDT", timeframe="1h")


def test_a_context_row_from_a_tail_is_the_whole_history_row() -> None:
    from tradebot.ml.select.record import window_context
    from tradebot.services.selector_context import TAIL_ROWS, Contexts, context_row, tail_bars

    size = tail_bars()
    candles = _candles(size + 1500)
    n = len(candles)
    bounds = np.column_stack([np.arange(1, n + 1), np.arange(2, n + 2)]).astype(np.int64)
    full, cols = window_context(candles, bounds)
    assert np.isfinite(full[size:]).all()  # past the warm-up: every column a number
    ctx = Contexts(candles, cols)
    from tradebot.indicators import adx as adx_fn

    line = np.asarray(adx_fn(candles.high, candles.low, np.asarray(candles.close, dtype=np.float64), 14)[0])
    assert context_row(candles, size - 1, line) is None  # too short a history before it: the whole one
    for bar in (size, size + 1, size + 700, n - 1):
        got = context_row(candles, bar, line)
        assert got is not None
        row, names = got
        assert names == cols
        np.testing.assert_array_equal(row, full[bar])  # bit for bit (NaN equal)
    # the run's reader: tails first, then the whole history; the same rows either way
    bars = [n - 1, n - 25, n - 49, size - 10]
    assert len(bars) > TAIL_ROWS
    for bar in bars:
        np.testing.assert_array_equal(ctx.at(bar), np.nan_to_num(full[bar]))
    assert ctx._tails == TAIL_ROWS and ctx._values is not None


def test_shadow_runs_carried_as_engine_states_equal_one_continuous_run(tmp_path: Path) -> None:
    from tradebot.ml.select.candidates import candidate_signals, resolve_candidates
    from tradebot.ml.select.record import run_equities, window_returns
    from tradebot.services.backtest import engine_config
    from tradebot.services.selector_shadow import Shadows

    ctx = Context(load_settings(overrides={"home": str(tmp_path)}, env={}))
    try:
        cands = resolve_candidates(ctx, ["rsi", "macd:fast=8", "bollinger:mode=breakout"])
        candles = _candles(1500)
        signals = [candidate_signals(ctx, c, candles) for c in cands]
        cfg = engine_config(ctx.settings)
    finally:
        ctx.close()
    whole = run_equities(candles, signals, cfg)
    assert (np.diff(whole[1:], axis=1) != 0).any()  # the candidates trade
    cuts = [400, 401, 650, 1000, 1499, 1500]
    stored = None
    prev = 0
    for k, m in enumerate(cuts):
        part = candles.slice(0, m)
        sh = Shadows(part, [_head(s, m) for s in signals], cands, cfg, stored, prev)
        open_start = max(m - 30, 1)  # the open window's first bar
        if k:
            want = [float(window_returns(e, np.array([[prev, m]]), cfg.initial_capital)[0]) for e in whole]
            assert sh.window_returns(prev, m) == want  # the record's shadow returns
            assert sh.rerun == []  # every arm advanced from its stored state
        for j in range(len(cands)):
            for bar in {prev - 1, m - 1} - {-1}:
                assert sh.equity_at(j, bar) == whole[j][bar], (m, j, bar)
        stored = json.loads(json.dumps(sh.to_stored(open_start)))  # through JSON, as the store keeps it
        assert stored["arms"][0]["base"] == whole[0][open_start - 1]
        prev = m
    # a candidate resolving differently (a study's new best trial) is run again from the first bar
    assert stored is not None
    stored["arms"][1]["candidate"]["params"] = {"fast": 9}
    sh = Shadows(candles, signals, cands, cfg, stored, len(candles))
    assert sh.equity_at(1, len(candles) - 1) == whole[1][-1] and sh.rerun == [1]
    # a state of another layout (an engine upgrade) is not used
    short = json.loads(json.dumps(stored))
    short["arms"][2]["state"] = short["arms"][2]["state"][:-1]
    sh = Shadows(candles, signals, cands, cfg, short, len(candles))
    assert sh.equity_at(2, len(candles) - 1) == whole[2][-1] and 2 in sh.rerun
    # a state stored at another bar than the account's last is not used
    sh = Shadows(candles.slice(0, 1400), [_head(s, 1400) for s in signals], cands, cfg, stored, 1300)
    assert sh.equity_at(0, 1399) == whole[0][1399] and sh.rerun == list(range(len(cands)))


def _head(sig, n):  # type: ignore[no-untyped-def]
    from tradebot.services.paper_selector import _head as head

    return head(sig, n)


def test_a_window_end_step_does_not_load_numba(tmp_path: Path) -> None:
    """A cron step that closes a window: realised and shadow returns, the context, the agent's
    update and choice — in a fresh process, numba never imported (about a second of CPU)."""
    from tradebot.services.agents import create_agent
    from tradebot.services.paper_selector import run_selector_paper

    market = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h"}
    src = _candles(1000)
    since = int(src.timestamp[400])
    last = 400 + 3 * 24 - 1  # the bar that closes the third window

    def ctx() -> Context:
        return Context(load_settings(overrides={"home": str(tmp_path), "market": market}, env={}))

    c = ctx()
    try:
        c.cache.save(src.slice(0, last))
        create_agent(c, "ag", "linucb", ["flat", "rsi", "macd", "ichimoku"], ["adx", "vol_pct", "p_range"], seed=2)
        first = run_selector_paper(c, "sel", agent="ag", window="1d", source="cache", since_ms=since,
                                   now_ms=int(src.timestamp[last]) + HOUR // 2)
        c.cache.save(src.slice(0, last + 1))
    finally:
        c.close()
    assert first.windows_closed == 2
    code = ("import sys, json\n"
            "from tradebot.core.config import load_settings\n"
            "from tradebot.services.context import Context\n"
            "from tradebot.services.paper_selector import run_selector_paper\n"
            f"c = Context(load_settings(overrides={{'home': {str(tmp_path)!r}, 'market': {market!r}}}, env={{}}))\n"
            f"r = run_selector_paper(c, 'sel', source='cache', now_ms={int(src.timestamp[last]) + 3 * HOUR // 2})\n"
            "print(json.dumps([r.processed, r.windows_closed, 'numba' in sys.modules]))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    processed, closed, numba = json.loads(done.stdout.strip().splitlines()[-1])
    assert (processed, closed) == (1, 1)
    assert numba is False
