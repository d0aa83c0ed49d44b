"""The portfolio loop interpreted (engine/portfolio_nb.py's own source run by Python, as
``tradebot.engine.interpreted`` does for the single-market loop) gives the compiled loop's
results bit for bit; a few-bar portfolio step in a process without numba runs it so and
does not import numba (a cron ``live``/``paper`` step)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_portfolio_step import _replay, _setup

from tradebot.engine import interpreted, portfolio_run
from tradebot.engine.config import P_MATCHING
from tradebot.engine.portfolio import PortfolioConfig, new_portfolio_state, run_portfolio
from tradebot.engine.result import EXIT_OPEN


def _setup_market_path(seed: int):
    """test_portfolio_step's portfolio with its limit-order market on market orders: the
    order-matching model is always run compiled (interpreted.available)."""
    al, sigs, cfgs = _setup(seed)
    cfgs[1] = dataclasses.replace(cfgs[1], entry_order="market", limit_offset_bps=0.0, order_ttl_bars=0,
                                  max_volume_share=None)
    assert not any(c.matching for c in cfgs)
    return al, sigs, cfgs


def _few_bars(params, n_bars):  # interpreted.available in a process that has not loaded numba
    return n_bars <= interpreted.MAX_BARS and params[P_MATCHING] == 0.0


@pytest.fixture
def interpret(monkeypatch):
    used: list[str] = []
    real = portfolio_run._loop

    def forced(cfgs, n_bars):
        monkeypatch.setattr(interpreted, "available", _few_bars)
        try:
            mod = real(cfgs, n_bars)
        finally:
            monkeypatch.undo()
            monkeypatch.setattr(portfolio_run, "_loop", forced)
        used.append(mod.__name__)
        return mod

    monkeypatch.setattr(portfolio_run, "_loop", forced)
    return used


@pytest.mark.parametrize(("rank", "stake"), [("order", "equal"), ("signal", "fraction"), ("score", "fixed")])
def test_interpreted_steps_equal_the_compiled_batch_run(interpret, rank, stake):
    al, sigs, cfgs = _setup_market_path(11)
    amount = {"equal": 0.0, "fraction": 0.4, "fixed": 1500.0}[stake]
    pf = PortfolioConfig(2, stake=stake, stake_amount=amount, rank=rank)
    scores = np.random.default_rng(2).random((3, al.n_bars)) if rank == "score" else None
    with pytest.MonkeyPatch.context() as mp:  # the reference: the compiled loop
        mp.setattr(portfolio_run, "_loop", lambda cfgs, n: __import__("tradebot.engine.portfolio_nb",
                                                                      fromlist=["x"]))
        batch = run_portfolio(al, sigs, cfgs, pf, scores)
    assert len(batch.trades) > 10 and len(batch.fills) > 20
    # the last 120 bars one at a time (a cron step each), the rest in chunks
    cuts = [*range(60, al.n_bars - 120, 97), *range(al.n_bars - 120, al.n_bars)]
    parts = _replay(al, sigs, cfgs, pf, cuts, scores)
    assert interpret and all(name.endswith("[interpreted]") for name in interpret)
    assert np.concatenate([p.equity for p in parts]).tobytes() == batch.equity.tobytes()
    assert np.concatenate([p.cash for p in parts]).tobytes() == batch.cash.tobytes()
    assert np.concatenate([p.fills for p in parts]).tobytes() == batch.fills.tobytes()
    assert np.concatenate([p.fill_market for p in parts]).tolist() == batch.fill_market.tolist()
    closed = batch.trades["exit_reason"] != EXIT_OPEN
    assert np.concatenate([p.trades for p in parts]).tobytes() == batch.trades[closed].tobytes()
    assert np.concatenate([p.blocked for p in parts]).tobytes() == batch.blocked.tobytes()
    assert parts[-1].state.tobytes() == _compiled_state(al, sigs, cfgs, pf, cuts, scores).tobytes()


def _compiled_state(al, sigs, cfgs, pf, cuts, scores):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(interpreted, "available", lambda params, n: False)
        return _replay(al, sigs, cfgs, pf, cuts, scores)[-1].state


def test_new_state_is_the_same_both_ways(interpret):
    al, sigs, cfgs = _setup_market_path(3)
    pf = PortfolioConfig(3)
    got = new_portfolio_state(cfgs, pf, 3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(interpreted, "available", lambda params, n: False)
        mp.setattr(portfolio_run, "_loop", lambda cfgs, n: __import__("tradebot.engine.portfolio_nb",
                                                                      fromlist=["x"]))
        want = new_portfolio_state(cfgs, pf, 3)
    assert got.tobytes() == want.tobytes()


def test_a_few_bar_portfolio_step_imports_no_numba(tmp_path):
    code = textwrap.dedent("""
        import sys
        import numpy as np
        sys.path.insert(0, sys.argv[1])
        from test_portfolio_interpreted import _setup_market_path
        from test_portfolio_step import _replay
        from tradebot.engine.portfolio import PortfolioConfig
        al, sigs, cfgs = _setup_market_path(4)
        parts = _replay(al, sigs, cfgs, PortfolioConfig(2), list(range(50, al.n_bars, 40)))
        print("numba" in sys.modules, len(parts))
    """)
    import os

    here = os.path.dirname(__file__)
    done = subprocess.run([sys.executable, "-c", code, here], capture_output=True, text=True, timeout=300,
                          cwd=here)
    assert done.returncode == 0, done.stderr
    loaded, n = done.stdout.split()
    assert loaded == "False" and int(n) > 10
