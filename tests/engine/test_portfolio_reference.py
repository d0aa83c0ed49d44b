"""The portfolio kernels against slow, obvious Python: the whole loop
(tests/engine/slow_portfolio.py) on random gappy markets, and each small helper kernel of
tradebot.engine.portfolio_nb."""

from __future__ import annotations

import math

import numpy as np
import pytest
import slow_portfolio
from conftest import T0_MS, random_candles

from tradebot.core.candles import Candles
from tradebot.core.signals import Signals
from tradebot.engine import portfolio_nb as pnb
from tradebot.engine.config import P_SHORT, EngineConfig
from tradebot.engine.layout import N_MATCH, S_PENDING_AT, S_UNITS
from tradebot.engine.portfolio import PortfolioConfig, align, run_portfolio
from tradebot.engine.portfolio_run import signal_strength

N = 500


def _markets(seed: int, k: int):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        c = random_candles(rng, N, sigma=0.012)
        keep = rng.random(N) < (1.0 if i == 0 else 0.85)
        keep[: 40 * i] = False  # later starts
        idx = np.flatnonzero(keep)
        ts = T0_MS + 3_600_000 * np.arange(N)
        out.append(Candles(ts[idx], c.open[idx], c.high[idx], c.low[idx], c.close[idx],
                           c.volume[idx]))
    return out


CASES = {
    "order_equal": dict(max_open=2, stake="equal", stake_amount=0.0, rank="order"),
    "score_fixed": dict(max_open=2, stake="fixed", stake_amount=4000.0, rank="score"),
    "signal_fraction": dict(max_open=2, stake="fraction", stake_amount=0.4, rank="signal"),
    "one_slot": dict(max_open=1, stake="equal", stake_amount=0.0, rank="score"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_portfolio_loop_matches_the_slow_reference(case: str) -> None:
    kw = CASES[case]
    markets = _markets(3, 4)
    al = align(markets, ["A/USDT", "B/USDT", "C/USDT", "D/USDT"])
    rng = np.random.default_rng(9)
    m, n = al.n_markets, al.n_bars
    ent = (rng.random((m, n)) < 0.08) & al.present
    ext = (rng.random((m, n)) < 0.03) & al.present
    sen = (rng.random((m, n)) < 0.05) & al.present
    sex = (rng.random((m, n)) < 0.03) & al.present
    cfg = EngineConfig(initial_capital=10_000.0, taker_fee=0.001, maker_fee=0.0004,
                       slippage_bps=4.0, stop_loss_pct=6.0, take_profit_pct=8.0,
                       trailing_stop_pct=5.0, latency_bars=1, size_value=0.8,
                       allow_short=True)
    scores = rng.random((m, n))
    pf = PortfolioConfig(kw["max_open"], stake=kw["stake"], stake_amount=kw["stake_amount"],
                         rank=kw["rank"])
    sigs = [Signals(ent[i], ext[i], sen[i], sex[i]) for i in range(m)]
    res = run_portfolio(al, sigs, cfg, pf, scores if kw["rank"] == "score" else None)
    keys = {"order": None, "score": scores, "signal": signal_strength(al)}[kw["rank"]]
    ref = slow_portfolio.simulate(
        al.present, al.open, al.high, al.low, al.close, ent, ext, sen, sex, keys,
        init=10_000.0, fee=0.001, maker_fee=0.0004, slip=4e-4, sl=0.06, tp=0.08,
        trail=0.05, latency=1, size_value=0.8, allow_short=True, **kw)
    assert len(ref.trades) > 30 and len(ref.blocked) > 3
    got = [(int(mk), int(t["entry_idx"]), int(t["exit_idx"]), int(t["direction"]),
            int(t["exit_reason"])) for mk, t in zip(res.trade_market, res.trades, strict=True)]
    want = [(r[0], r[1], r[2], r[3], r[10]) for r in ref.trades]
    assert sorted(got) == sorted(want)
    order = np.lexsort((res.trades["entry_idx"], res.trade_market))
    ref_sorted = sorted(ref.trades, key=lambda r: (r[0], r[1]))
    for j, r in zip(order, ref_sorted, strict=True):
        t = res.trades[j]
        np.testing.assert_allclose(
            [t["units"], t["entry_price"], t["exit_price"], t["entry_fee"], t["exit_fee"],
             t["pnl"]], [r[4], r[5], r[6], r[7], r[8], r[9]], rtol=1e-9, atol=1e-9)
    assert sorted(res.blocked.tolist()) == sorted(ref.blocked)
    np.testing.assert_allclose(res.equity, ref.equity, rtol=1e-9)
    np.testing.assert_allclose(res.cash, ref.cash, rtol=1e-9, atol=1e-7)


# -- the helper kernels ------------------------------------------------------------------

def test_rank_order_nb_is_a_stable_sort_highest_first_nan_last() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(1, 9))
        keys = rng.integers(0, 4, size=k).astype(np.float64)
        keys[rng.random(k) < 0.2] = np.nan
        order = rng.permutation(k).astype(np.int64)[: int(rng.integers(1, k + 1))]
        mine = order.copy()
        pnb.rank_order_nb(mine, mine.shape[0], keys)
        want = sorted(order.tolist(), key=lambda m: (math.isnan(keys[m]),
                                                     0.0 if math.isnan(keys[m]) else -keys[m],
                                                     order.tolist().index(m)))
        assert mine.tolist() == want


def test_stake_nb_by_the_formula() -> None:
    pf = np.zeros(pnb.N_PF)
    for mode, amount, cash, eq, free, want in [
        (pnb.STAKE_FIXED, 300.0, 1000.0, 5000.0, 2, 300.0),
        (pnb.STAKE_FIXED, 3000.0, 1000.0, 5000.0, 2, 1000.0),
        (pnb.STAKE_FRACTION, 0.1, 1000.0, 5000.0, 2, 500.0),
        (pnb.STAKE_FRACTION, 0.5, 1000.0, 5000.0, 2, 1000.0),
        (pnb.STAKE_EQUAL, 0.0, 900.0, 5000.0, 3, 300.0),
        (pnb.STAKE_EQUAL, 0.0, -1.0, 5000.0, 1, -1.0),
    ]:
        pf[pnb.PF_STAKE] = mode
        pf[pnb.PF_STAKE_AMOUNT] = amount
        assert pnb.stake_nb(pf, cash, eq, float(free)) == want


def test_load_and_store_move_only_the_market_slots() -> None:
    params = EngineConfig(sizing="optimal_f").to_vector()
    mb = pnb.match_base_nb(params)
    L = mb + N_MATCH
    rng = np.random.default_rng(1)
    acct = rng.random(L)
    row = rng.random(L)
    slots = list(range(S_UNITS, S_PENDING_AT + 1)) + list(range(mb, mb + N_MATCH))
    a2, r2 = acct.copy(), row.copy()
    pnb.load_nb(a2, r2, mb)
    want = acct.copy()
    want[slots] = row[slots]
    assert a2.tolist() == want.tolist() and r2.tolist() == row.tolist()
    a2[slots] = -1.0
    pnb.store_nb(a2, r2, mb)
    want_row = row.copy()
    want_row[slots] = -1.0
    assert r2.tolist() == want_row.tolist()


def test_new_portfolio_state_nb_layout() -> None:
    params = EngineConfig(initial_capital=777.0).to_vector()
    ps = pnb.new_portfolio_state_nb(params, 3)
    L = int(ps[pnb.PS_LEN])
    one = pnb.new_state_nb(params)
    assert ps[pnb.PS_N_MARKETS] == 3 and L == one.shape[0]
    assert ps[pnb.PS_EQ_PREV] == 777.0
    for k in range(4):  # the account, then one row per market: a fresh account each
        assert ps[pnb.PS_HEADER + k * L: pnb.PS_HEADER + (k + 1) * L].tolist() == one.tolist()
    aux = ps[pnb.PS_HEADER + 4 * L:]
    assert aux.tolist() == [0.0] * 3 + [0.0] * 3 + [-1.0] * 3


def test_acts_nb_is_true_exactly_when_the_market_decision_changes_something() -> None:
    from tradebot.engine.kernels import decide_nb
    from tradebot.engine.layout import BUY_LONG, CLOSE, NO_ORDER, S_PENDING

    rng = np.random.default_rng(2)
    params = EngineConfig(allow_short=True).to_vector()
    no_short = EngineConfig().to_vector()
    for _ in range(500):
        states = np.zeros((2, 40))
        states[1, S_UNITS] = rng.choice([-1.0, 0.0, 2.0])
        states[1, S_PENDING] = rng.choice([NO_ORDER, BUY_LONG, CLOSE])
        states[1, S_PENDING_AT] = 7.0
        e, x, se, sx = (bool(v) for v in rng.random(4) < 0.5)
        p = params if rng.random() < 0.5 else no_short
        row = states[1].copy()
        decide_nb(5, e, x, se, sx, p, row)
        changed = not np.array_equal(row, states[1])
        assert pnb._acts_nb(states, 1, e, x, se, sx, False, p[P_SHORT] != 0.0) == changed
        assert pnb._acts_nb(states, 1, e, x, se, sx, True, p[P_SHORT] != 0.0)  # matching: looks


def test_close_open_trades_nb_books_held_positions_at_their_mark() -> None:
    from tradebot.engine.layout import N_TRADE_COLS, S_ENTRY_FEE, S_ENTRY_IDX, S_ENTRY_PRICE

    params = np.stack([EngineConfig().to_vector()] * 3)
    ps = pnb.new_portfolio_state_nb(params[0], 3)
    L = int(ps[pnb.PS_LEN])
    row = lambda m: pnb.PS_HEADER + L * (m + 1)  # noqa: E731
    aux = pnb.PS_HEADER + 4 * L
    for m, units, entry, fee, idx, mark in [(0, 2.0, 10.0, 0.02, 3, 12.0),
                                             (2, -1.5, 20.0, 0.03, 5, 18.0)]:
        ps[row(m) + S_UNITS] = units
        ps[row(m) + S_ENTRY_PRICE] = entry
        ps[row(m) + S_ENTRY_FEE] = fee
        ps[row(m) + S_ENTRY_IDX] = idx
        ps[aux + 3 + m] = mark
    trades, n = pnb.close_open_trades_nb(9, params, ps, np.empty((1, N_TRADE_COLS + 1)), 0,
                                         None)
    assert n == 2
    want = [  # market, entry, exit, direction, units, entry px, exit px, fees, pnl, reason
        (0, 3, 9, 1, 2.0, 10.0, 12.0, 0.02, 0.0, 2.0 * (12.0 - 10.0) - 0.02, 4),
        (2, 5, 9, -1, 1.5, 20.0, 18.0, 0.03, 0.0, 1.5 * (20.0 - 18.0) - 0.03, 4)]
    for r, w in zip(trades[:n], want, strict=True):
        assert (r[pnb.T_MARKET], r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                r[10]) == w


def _random_states(rng: np.random.Generator, m: int) -> np.ndarray:
    from tradebot.engine.layout import BUY_LONG, CLOSE, NO_ORDER, S_PENDING

    states = np.zeros((m, 40))
    states[:, S_UNITS] = rng.choice([-1.0, 0.0, 0.0, 2.0], size=m)
    states[:, S_PENDING] = rng.choice([NO_ORDER, NO_ORDER, BUY_LONG, CLOSE], size=m)
    return states


def test_want_nb_bits_are_the_signals_acts_nb_acts_on() -> None:
    rng = np.random.default_rng(4)
    bits = (pnb.SIG_ENTRY, pnb.SIG_EXIT, pnb.SIG_SHORT_ENTRY, pnb.SIG_SHORT_EXIT)
    for _ in range(300):
        states = _random_states(rng, 2)
        matching, short = (bool(v) for v in rng.random(2) < 0.5)
        want = pnb._want_nb(states, 1, matching, short)
        for code in range(16):
            e, x, se, sx = (bool(code & b) for b in bits)
            acts = (e or x or se or sx) and pnb._acts_nb(states, 1, e, x, se, sx, matching,
                                                         short)
            assert bool(code & want) == acts, (code, want, states[1, :8].tolist())


def test_refresh_held_and_busy_lists_by_a_scan() -> None:
    from tradebot.engine.layout import NO_ORDER, S_PENDING

    rng = np.random.default_rng(5)
    for _ in range(200):
        m = int(rng.integers(1, 9))
        states = _random_states(rng, m)
        stops = rng.random(m) < 0.5
        matching = rng.random(m) < 0.3
        short = rng.random(m) < 0.5
        want = np.full(m, 99, dtype=np.uint8)
        held = np.full(m, -1, dtype=np.int64)
        busy = np.full(m, -1, dtype=np.int64)
        n_held, n_busy = pnb._refresh_nb(states, stops, matching, short, want, held, busy)
        u, pending = states[:, S_UNITS], states[:, S_PENDING]
        exp_held = [i for i in range(m) if u[i] != 0.0]
        exp_busy = [i for i in range(m) if pending[i] != NO_ORDER or (u[i] != 0.0 and stops[i])]
        assert held[:n_held].tolist() == exp_held
        assert busy[:n_busy].tolist() == exp_busy
        assert [bool(pnb._is_busy_nb(states, i, stops)) for i in range(m)] == [
            i in exp_busy for i in range(m)]
        assert want.tolist() == [pnb._want_nb(states, i, matching[i], short[i])
                                 for i in range(m)]
        held2 = np.full(m, -1, dtype=np.int64)
        assert pnb._held_nb(states, held2) == n_held and held2[:n_held].tolist() == exp_held


def test_set_busy_nb_keeps_the_list_in_pair_order() -> None:
    rng = np.random.default_rng(6)
    for _ in range(300):
        m = int(rng.integers(1, 10))
        members = sorted(rng.choice(m, size=int(rng.integers(0, m + 1)), replace=False).tolist())
        busy = np.full(m, -1, dtype=np.int64)
        busy[: len(members)] = members
        k = int(rng.integers(0, m))
        on = k not in members
        n = pnb._set_busy_nb(busy, len(members), k, on)
        want = sorted([*members, k]) if on else [i for i in members if i != k]
        assert busy[:n].tolist() == want


def test_market_decision_nb_is_decide_nb_where_the_signals_act() -> None:
    from tradebot.engine.kernels import decide_nb
    from tradebot.engine.layout import NO_ORDER, S_PENDING

    rng = np.random.default_rng(7)
    bits = (pnb.SIG_ENTRY, pnb.SIG_EXIT, pnb.SIG_SHORT_ENTRY, pnb.SIG_SHORT_EXIT)
    n = 0
    for _ in range(400):
        states = np.zeros((2, 40))
        states[1, S_UNITS] = rng.choice([-1.0, 0.0, 2.0])
        short = bool(rng.random() < 0.5)
        code = int(rng.integers(1, 16))
        if not code & pnb._want_nb(states, 1, False, short):
            continue
        n += 1
        p = EngineConfig(allow_short=short, latency_bars=int(rng.integers(1, 4))).to_vector()
        row = states[1].copy()
        decide_nb(5, *(bool(code & b) for b in bits), p, row)
        assert row[S_PENDING] != NO_ORDER
        assert pnb._market_decision_nb(states, 1, code, short) == row[S_PENDING]
        assert 5 + p[pnb.P_LATENCY] == row[S_PENDING_AT]
    assert n > 100


def test_rank_key_nb_by_the_rule() -> None:
    from tradebot.engine.layout import BUY_LONG, SELL_SHORT

    keys = np.array([[0.5, -2.0, np.nan, 1e308, -np.inf]])
    for mode, kind, want in [
        (pnb.RANK_ORDER, BUY_LONG, [0.0] * 5),
        (pnb.RANK_SCORE, BUY_LONG, [0.5, -2.0, -pnb.KEY_LIMIT, pnb.KEY_LIMIT, -pnb.KEY_LIMIT]),
        (pnb.RANK_SCORE, SELL_SHORT, [0.5, -2.0, -pnb.KEY_LIMIT, pnb.KEY_LIMIT,
                                      -pnb.KEY_LIMIT]),
        (pnb.RANK_SIGNAL, BUY_LONG, [0.5, -2.0, -pnb.KEY_LIMIT, pnb.KEY_LIMIT,
                                     -pnb.KEY_LIMIT]),
        (pnb.RANK_SIGNAL, SELL_SHORT, [-0.5, 2.0, -pnb.KEY_LIMIT, -pnb.KEY_LIMIT,
                                       pnb.KEY_LIMIT]),
    ]:
        got = [pnb._rank_key_nb(mode, keys, 0, m, kind) for m in range(5)]
        assert got == want, (mode, kind)


def test_load_m_store_m_and_cancel_are_the_row_helpers() -> None:
    from tradebot.engine.matching_nb import reset_order_nb

    params = EngineConfig(sizing="optimal_f").to_vector()
    mb = pnb.match_base_nb(params)
    L = mb + N_MATCH
    rng = np.random.default_rng(8)
    states = rng.random((3, L))
    acct = rng.random(L)
    a1, a2 = acct.copy(), acct.copy()
    pnb.load_nb(a1, states[1].copy(), mb)
    pnb.load_m_nb(a2, states, 1, mb)
    assert a1.tolist() == a2.tolist()
    s1, s2 = states.copy(), states.copy()
    pnb.store_nb(acct, s1[2], mb)
    pnb.store_m_nb(acct, s2, 2, mb)
    assert s1.tolist() == s2.tolist()
    s1, s2 = states.copy(), states.copy()
    reset_order_nb(s1[0], mb)
    pnb._cancel_nb(acct.copy(), s2, 0, mb)
    assert s1.tolist() == s2.tolist()
