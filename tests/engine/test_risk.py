"""Risk rules: sizing modes and entry limits, by hand, against the reference, in chunks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from slow_reference import RefConfig, run_reference

from tradebot.core.config import RiskConfig, Settings, SizingConfig
from tradebot.core.errors import ConfigError
from tradebot.core.signals import Signals
from tradebot.engine.backtest import atr_for, run_signals
from tradebot.engine.config import EngineConfig
from tradebot.engine.result import BLOCK_REASONS, BLOCKED_DTYPE, EXIT_BREAKER, BacktestResult
from tradebot.engine.step import advance, new_state

R = 1e-9
HOUR = 3_600_000


def approx(x):
    return pytest.approx(x, rel=R, abs=1e-9)


def bars(h, rows, step_ms=60_000):
    """rows: (open, high, low, close) per bar."""
    a = np.array(rows, dtype=np.float64)
    return h.candles_from(a[:, 0], a[:, 1], a[:, 2], a[:, 3], step_ms=step_ms)


def flat(price):
    return (price, price + 0.5, price - 0.5, price)


NOFEE = {"maker_fee": 0.0, "taker_fee": 0.0}
REASON = {v: k for k, v in BLOCK_REASONS.items()}


def blocked_list(res):
    return [(int(b["bar_idx"]), BLOCK_REASONS[int(b["reason"])]) for b in res.blocked]


# -- sizing ---------------------------------------------------------------------------


def test_fixed_risk_from_stop_loss(h):
    # risk 1 % of 10,000 = 100 down to a 2 % stop at entry 100 (distance 2 per unit):
    # units = 10000 * 0.01 / (100 * 0.02) = 50
    c = bars(h, [flat(100)] * 4)
    cfg = EngineConfig(sizing="fixed_risk", risk_pct=1.0, stop_loss_pct=2.0, **NOFEE)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert t["units"] == approx(50.0)


def test_fixed_risk_capped_by_cash_and_fee(h):
    # 1 % risk, 0.5 % stop: units = 100 / (100 * 0.005) = 200, worth 20,000 > cash, so the
    # budget is the cash: units = 10000 / (100 * 1.001) with the 0.1 % fee
    c = bars(h, [flat(100)] * 4)
    cfg = EngineConfig(sizing="fixed_risk", risk_pct=1.0, stop_loss_pct=0.5)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert t["units"] == approx(10_000 / 100.1)


def test_fixed_risk_from_atr(h):
    # every bar (100, 101, 99, 100): true range 2, so ATR(2) = 2 from bar 2 on.
    # Entry decided at bar 0 fills at bar 1 with ATR[0] unknown: no entry.
    # Entry decided at bar 3 fills at bar 4: distance = 2 ATR * 2 / 100 = 0.04,
    # units = 10000 * 0.01 / (100 * 0.04) = 25
    c = bars(h, [(100, 101, 99, 100)] * 7)
    cfg = EngineConfig(sizing="fixed_risk", risk_pct=1.0, risk_atr_mult=2.0, atr_period=2,
                       **NOFEE)
    assert atr_for(c, cfg)[3] == approx(2.0)
    res = run_signals(c, h.signals_at(7, entries=[0, 3]), cfg)
    (t,) = res.trades
    assert t["entry_idx"] == 4 and t["units"] == approx(25.0)


def two_trades_then_entry(h):
    """+10 % then -5 % (no fees), then an entry at bar 5's open 100.

    size 0.5 before min_trades=2: trade 1 spends 5,000 at 100 (50 units), sells at 110:
    +500 (+10 %), cash 10,500; trade 2 spends 5,250 at 100 (52.5 units), sells at 95:
    -262.5 (-5 %), cash 10,237.5.
    """
    c = bars(h, [flat(100), (100, 110.5, 99.5, 110), (110, 110.5, 99.5, 100),
                 (100, 100.5, 94.5, 95), (95, 100.5, 94.5, 100), flat(100), flat(100)])
    sig = h.signals_at(7, entries=[0, 2, 4], exits=[1, 3])
    return c, sig


def test_kelly(h):
    # W = 1/2, R = 10 / 5 = 2: f = 0.5 - 0.5 / 2 = 0.25; half Kelly 0.125 of 10,237.5
    # = 1,279.6875 at 100: 12.796875 units
    c, sig = two_trades_then_entry(h)
    cfg = EngineConfig(sizing="kelly", size_value=0.5, min_trades=2, kelly_fraction=0.5,
                       **NOFEE)
    t = run_signals(c, sig, cfg).trades
    assert [round(float(x), 9) for x in t["return_pct"][:2]] == [10.0, -5.0]
    assert t["units"][:2] == pytest.approx([50.0, 52.5])
    assert t["units"][2] == approx(12.796875)


def test_kelly_capped_by_max_fraction(h):
    # f = 0.25 * 1.0 capped at 0.1: 1,023.75 at 100
    c, sig = two_trades_then_entry(h)
    cfg = EngineConfig(sizing="kelly", size_value=0.5, min_trades=2, kelly_fraction=1.0,
                       max_fraction=0.1, **NOFEE)
    assert run_signals(c, sig, cfg).trades["units"][2] == approx(10.2375)


def test_optimal_f(h):
    # returns +10, -5; worst loss 5: TWR(f) = (1 + 2f)(1 - f), d/df log = 0 at
    # 2 / (1 + 2f) = 1 / (1 - f): f = 0.25; full (kelly_fraction 1): 0.25 * 10,237.5
    # = 2,559.375 at 100 (a search on a flat maximum: f is exact to ~sqrt(eps))
    c, sig = two_trades_then_entry(h)
    cfg = EngineConfig(sizing="optimal_f", size_value=0.5, min_trades=2, kelly_fraction=1.0,
                       **NOFEE)
    assert run_signals(c, sig, cfg).trades["units"][2] == pytest.approx(25.59375, rel=1e-7)


def test_max_position_fraction(h):
    # all in (fraction 1) capped at 30 % of 10,000: 3,000 at 100 = 30 units
    c = bars(h, [flat(100)] * 4)
    cfg = EngineConfig(max_position_fraction=0.3, **NOFEE)
    (t,) = run_signals(c, h.signals_at(4, entries=[0]), cfg).trades
    assert t["units"] == approx(30.0)
    assert len(run_signals(c, h.signals_at(4, entries=[0]), cfg).blocked) == 0


# -- limits ---------------------------------------------------------------------------


def test_max_trades_per_day(h):
    # 8-hour bars: bars 0-2 on day 1, 3-5 on day 2. Entry at 0 (1st today) fills at 1,
    # exit at 1 fills at 2; entry at 2 is the 2nd of day 1: blocked; entry at 3 (day 2)
    # fills at 4.
    c = bars(h, [flat(100)] * 6, step_ms=8 * HOUR)
    cfg = EngineConfig(max_trades_per_day=1, **NOFEE)
    res = run_signals(c, h.signals_at(6, entries=[0, 2, 3], exits=[1]), cfg)
    assert blocked_list(res) == [(2, "max_trades_per_day")]
    assert res.trades["entry_idx"].tolist() == [1, 4]


def test_max_daily_loss(h):
    # buy 100 units at 100 (bar 1), close 98: equity 9,800; sold at 98 at bar 2.
    # Day 1 started at 10,000: loss 200 >= 100, the entry at bar 2 is blocked.
    # Day 2 starts at bar 3 with the equity of bar 2's close (9,800): entry allowed.
    c = bars(h, [flat(100), (100, 100.5, 97.5, 98), flat(98), flat(98), flat(98), flat(98)],
             step_ms=8 * HOUR)
    cfg = EngineConfig(max_daily_loss=100.0, **NOFEE)
    res = run_signals(c, h.signals_at(6, entries=[0, 2, 3], exits=[1]), cfg)
    assert blocked_list(res) == [(2, "max_daily_loss")]
    assert res.trades["entry_idx"].tolist() == [1, 4]
    assert res.trades["pnl"][0] == approx(-200.0)


def breaker_candles(h):
    # bar 1: buy 100 units at 100 (equity 10,000 = peak); bar 2 closes at 89: equity 8,900
    # <= 10,000 * (1 - 10 %) = 9,000: the breaker trips at bar 2.
    return bars(h, [flat(100), flat(100), (100, 100.5, 88.5, 89)] + [flat(89)] * 5)


def test_drawdown_breaker_flattens_and_resumes(h):
    # tripped at bar 2, cooldown 3: halted until bar 5. The flatten order sells at bar 3's
    # open 89 (reason drawdown_breaker): pnl -1,100. Entries at 3 and 4 are blocked; at
    # bar 5 the peak restarts at 8,900 and the entry fills at bar 6.
    c = breaker_candles(h)
    cfg = EngineConfig(max_drawdown_pct=10.0, flatten_on_breaker=True, breaker_cooldown_bars=3,
                       **NOFEE)
    res = run_signals(c, h.signals_at(8, entries=[0, 3, 4, 5]), cfg)
    assert blocked_list(res) == [(3, "drawdown_breaker"), (4, "drawdown_breaker")]
    t = res.trades
    assert t["exit_idx"][0] == 3 and t["exit_reason"][0] == EXIT_BREAKER
    assert t["pnl"][0] == approx(-1_100.0)
    assert t["entry_idx"].tolist() == [1, 6]


def test_drawdown_breaker_without_flatten_halts_for_good(h):
    # cooldown 0: halted for the rest of the run; the position is kept until its exit
    c = breaker_candles(h)
    cfg = EngineConfig(max_drawdown_pct=10.0, **NOFEE)
    res = run_signals(c, h.signals_at(8, entries=[0, 5, 7], exits=[3]), cfg)
    assert blocked_list(res) == [(5, "drawdown_breaker"), (7, "drawdown_breaker")]
    assert len(res.trades) == 1 and res.trades["exit_idx"][0] == 4


def test_loss_cooldown(h):
    # trade 1: buy 100 at bar 1, sell 95 at bar 2 (loss); trade 2: buy 95 at bar 3, sell 90
    # at bar 4 (2nd loss in a row): no entries for 3 bars from the exit bar 4, so entries
    # decided at 4, 5, 6 are blocked; the one at 7 fills at 8.
    c = bars(h, [flat(100), flat(100), flat(95), flat(95), flat(90)] + [flat(90)] * 5)
    cfg = EngineConfig(cooldown_after_losses=2, cooldown_bars=3, **NOFEE)
    res = run_signals(c, h.signals_at(10, entries=[0, 2, 4, 5, 6, 7], exits=[1, 3]), cfg)
    assert blocked_list(res) == [(4, "loss_cooldown"), (5, "loss_cooldown"),
                                 (6, "loss_cooldown")]
    assert res.trades["entry_idx"].tolist() == [1, 3, 8]


def test_blocked_defaults_and_dtype(h):
    c = bars(h, [flat(100)] * 3)
    res = run_signals(c, h.signals_at(3, entries=[0]), EngineConfig())
    assert res.blocked.dtype == BLOCKED_DTYPE and res.blocked.size == 0
    old_style = BacktestResult(res.timestamp, res.close, res.equity, res.trades, 10_000.0)
    assert old_style.blocked.dtype == BLOCKED_DTYPE and old_style.blocked.size == 0
    assert set(REASON) == {"max_trades_per_day", "max_daily_loss", "drawdown_breaker",
                           "loss_cooldown"}


# -- random risk settings: the reference, chunks and the step runner ------------------


def random_risk_config(rng: np.random.Generator) -> EngineConfig:
    def maybe(p, value):
        return value if rng.random() < p else None

    sizing = str(rng.choice(["fixed_fraction", "fixed_amount", "fixed_risk", "kelly",
                             "optimal_f"]))
    sl = maybe(0.5, float(rng.uniform(0.3, 4.0)))
    return EngineConfig(
        initial_capital=10_000.0,
        maker_fee=float(rng.choice([0.0, 0.0002])),
        taker_fee=float(rng.choice([0.0, 0.001])),
        slippage_bps=float(rng.choice([0.0, 5.0])),
        atr_period=int(rng.integers(2, 10)),
        latency_bars=int(rng.integers(1, 3)),
        sizing=sizing,  # type: ignore[arg-type]
        size_value=(float(rng.uniform(500, 5_000)) if sizing == "fixed_amount"
                    else float(rng.uniform(0.2, 1.0))),
        stop_loss_pct=sl,
        take_profit_pct=maybe(0.4, float(rng.uniform(0.3, 5.0))),
        trailing_stop_pct=maybe(0.3, float(rng.uniform(0.3, 4.0))),
        allow_short=bool(rng.random() < 0.5),
        risk_pct=float(rng.uniform(0.2, 3.0)),
        risk_atr_mult=float(rng.uniform(0.5, 3.0)),
        kelly_fraction=float(rng.uniform(0.2, 1.0)),
        max_fraction=float(rng.uniform(0.2, 1.0)),
        min_trades=int(rng.integers(0, 6)),
        max_position_fraction=maybe(0.3, float(rng.uniform(0.2, 1.0))),
        max_trades_per_day=maybe(0.4, int(rng.integers(1, 4))),
        max_daily_loss=maybe(0.4, float(rng.uniform(20, 400))),
        max_drawdown_pct=maybe(0.5, float(rng.uniform(1, 8))),
        flatten_on_breaker=bool(rng.random() < 0.5),
        breaker_cooldown_bars=int(rng.integers(0, 30)),
        cooldown_after_losses=maybe(0.5, int(rng.integers(1, 4))),
        cooldown_bars=int(rng.integers(0, 20)),
    )


def risk_case(h, rng: np.random.Generator, n: int):
    c = h.random_candles(rng, n, sigma=0.01, gap_prob=0.2)
    step = int(rng.choice([60_000, HOUR, 4 * HOUR]))  # several bars per UTC day
    c = h.candles_from(c.open, c.high, c.low, c.close, c.volume, step_ms=step)
    p = rng.uniform(0.05, 0.4, 4)
    sig = Signals(rng.random(n) < p[0], rng.random(n) < p[1], rng.random(n) < p[2],
                  rng.random(n) < p[3])
    return c, sig


def assert_same_as_reference(c, sig, cfg: EngineConfig) -> None:
    res = run_signals(c, sig, cfg)
    ref_blocked: list[tuple[int, int]] = []
    ref_trades, ref_equity = run_reference(
        c.open, c.high, c.low, c.close, sig.entries, sig.exits, sig.short_entries,
        sig.short_exits, RefConfig.from_engine(cfg), timestamp=c.timestamp,
        blocked=ref_blocked)
    got_blocked = [(int(b["bar_idx"]), int(b["reason"])) for b in res.blocked]
    assert got_blocked == ref_blocked, cfg
    assert len(res.trades) == len(ref_trades), cfg
    for got, want in zip(res.trades, ref_trades, strict=True):
        for f in ("entry_idx", "exit_idx", "direction", "exit_reason"):
            assert int(got[f]) == want[f], (f, cfg)
        for f in ("units", "entry_price", "exit_price", "pnl", "return_pct"):
            assert math.isclose(float(got[f]), want[f], rel_tol=1e-9, abs_tol=1e-6), (f, cfg)
    np.testing.assert_allclose(res.equity, ref_equity, rtol=1e-9, atol=1e-6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(30, 300))
def test_risk_rules_equal_reference_random(h, seed, n):
    rng = np.random.default_rng(seed)
    c, sig = risk_case(h, rng, n)
    assert_same_as_reference(c, sig, random_risk_config(rng))


def test_random_risk_cases_exercise_every_rule(h):
    """The generator above does block entries for every reason and trip the flatten."""
    reasons, exits, modes = set(), set(), set()
    for seed in range(60):
        rng = np.random.default_rng(seed)
        c, sig = risk_case(h, rng, 300)
        cfg = random_risk_config(rng)
        res = run_signals(c, sig, cfg)
        reasons |= set(res.blocked["reason"].tolist())
        exits |= set(res.trades["exit_reason"].tolist())
        if len(res.trades) > cfg.min_trades + 1:
            modes.add(cfg.sizing)
    assert reasons == {0, 1, 2, 3}
    assert EXIT_BREAKER in exits
    assert modes == {"fixed_fraction", "fixed_amount", "fixed_risk", "kelly", "optimal_f"}


@pytest.mark.parametrize("seed", range(8))
def test_chunks_equal_one_pass(h, seed):
    """run_bars_nb over random chunks from a carried state == one pass (trades, blocked,
    equity, state), and the step runner (one bar at a time) == the backtest."""
    from tradebot.engine.backtest import _bool
    from tradebot.engine.kernels import N_TRADE_COLS, run_bars_nb
    from tradebot.engine.layout import N_FILL_COLS
    from tradebot.engine.risk_nb import N_BLOCKED_COLS

    rng = np.random.default_rng(500 + seed)
    n = 400
    c, sig = risk_case(h, rng, n)
    cfg = random_risk_config(rng)
    shorts = cfg.allow_short
    args = (c.timestamp, c.open, c.high, c.low, c.close, c.volume, atr_for(c, cfg),
            _bool(sig.entries, n, "e"), _bool(sig.exits, n, "x"),
            _bool(sig.short_entries, n, "se") if shorts else np.zeros(0, np.bool_),
            _bool(sig.short_exits, n, "sx") if shorts else np.zeros(0, np.bool_),
            cfg.to_vector())

    def run(cuts):
        state = new_state(cfg)
        trades = np.empty((1, N_TRADE_COLS))
        blocked = np.empty((1, N_BLOCKED_COLS))
        fills = np.empty((1, N_FILL_COLS))
        nt = nb = nf = 0
        equity = np.full(n, np.nan)
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            state = np.array(state.tolist())  # persisted and loaded again, as JSON would
            trades, nt, blocked, nb, fills, nf = run_bars_nb(a, b, *args, state, trades, nt,
                                                             blocked, nb, fills, nf, equity)
        return trades[:nt], blocked[:nb], fills[:nf], equity, state

    one = run([0, n])
    cuts = sorted({0, n, *rng.integers(1, n, int(rng.integers(1, 40))).tolist()})
    chunked = run(cuts)
    for x, y in zip(one, chunked, strict=True):
        np.testing.assert_array_equal(x, y)

    bt = run_signals(c, sig, cfg)
    step = advance(c, sig, cfg, new_state(cfg), 0)
    np.testing.assert_array_equal(step.equity, bt.equity)
    np.testing.assert_array_equal(step.blocked, bt.blocked)
    closed = bt.trades[bt.trades["exit_reason"] != 4]
    np.testing.assert_array_equal(step.trades, closed)


def test_old_state_is_upgraded(h):
    """A state persisted before the risk slots existed (8 values) still advances."""
    c = bars(h, [flat(100)] * 4)
    cfg = EngineConfig(max_trades_per_day=1)
    res = advance(c, h.signals_at(4, entries=[0]), cfg, new_state(cfg)[:8], 0)
    assert res.state.shape == new_state(cfg).shape
    assert res.position[-1] > 0


# -- configuration --------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    {"sizing": "martingale"},
    {"sizing": "kelly", "size_value": 1.5},
    {"risk_pct": 0.0},
    {"risk_pct": 100.0},
    {"risk_atr_mult": 0.0},
    {"kelly_fraction": 0.0},
    {"max_fraction": 1.2},
    {"min_trades": -1},
    {"max_position_fraction": 0.0},
    {"max_trades_per_day": 0},
    {"max_trades_per_day": True},
    {"max_daily_loss": -5.0},
    {"max_drawdown_pct": 0.0},
    {"breaker_cooldown_bars": -1},
    {"cooldown_after_losses": 0},
    {"cooldown_bars": 1.5},
    {"flatten_on_breaker": 1},
])
def test_engine_config_rejects(bad):
    with pytest.raises(ConfigError):
        EngineConfig(**bad)


def test_defaults_leave_the_vector_without_limits():
    from tradebot.engine.config import P_HAS_LIMITS

    assert EngineConfig().to_vector()[P_HAS_LIMITS] == 0.0
    assert EngineConfig(max_position_fraction=0.5).to_vector()[P_HAS_LIMITS] == 0.0
    assert EngineConfig(cooldown_after_losses=2).to_vector()[P_HAS_LIMITS] == 1.0


@pytest.mark.parametrize("section,bad", [
    (SizingConfig, {"mode": "martingale"}),
    (SizingConfig, {"risk_pct": 0}),
    (SizingConfig, {"kelly_fraction": 1.5}),
    (SizingConfig, {"max_fraction": 0}),
    (SizingConfig, {"min_trades": -1}),
    (SizingConfig, {"atr_mult": True}),
    (RiskConfig, {"max_drawdown_pct": 100}),
    (RiskConfig, {"max_trades_per_day": 0}),
    (RiskConfig, {"max_daily_loss": 0}),
    (RiskConfig, {"max_position_fraction": 2}),
    (RiskConfig, {"breaker_cooldown_bars": -1}),
    (RiskConfig, {"cooldown_after_losses": 0}),
    (RiskConfig, {"unknown_limit": 1}),
])
def test_settings_sections_reject(section, bad):
    with pytest.raises(ValidationError):
        section(**bad)


def test_engine_config_maps_the_settings():
    from tradebot.services.backtest import engine_config

    s = Settings(
        sizing=SizingConfig(mode="optimal_f", fraction=0.4, risk_pct=2.0, atr_mult=1.5,
                            kelly_fraction=0.3, max_fraction=0.6, min_trades=7),
        risk=RiskConfig(max_position_fraction=0.8, max_trades_per_day=3, max_daily_loss=50,
                        max_drawdown_pct=12, flatten_on_breaker=True,
                        breaker_cooldown_bars=20, cooldown_after_losses=4, cooldown_bars=9),
    )
    cfg = engine_config(s)
    assert (cfg.sizing, cfg.size_value, cfg.risk_pct, cfg.risk_atr_mult) == (
        "optimal_f", 0.4, 2.0, 1.5)
    assert (cfg.kelly_fraction, cfg.max_fraction, cfg.min_trades) == (0.3, 0.6, 7)
    assert (cfg.max_position_fraction, cfg.max_trades_per_day, cfg.max_daily_loss) == (
        0.8, 3, 50)
    assert (cfg.max_drawdown_pct, cfg.flatten_on_breaker, cfg.breaker_cooldown_bars) == (
        12, True, 20)
    assert (cfg.cooldown_after_losses, cfg.cooldown_bars) == (4, 9)
    default = engine_config(Settings())
    assert default.max_drawdown_pct is None and default.sizing == "fixed_fraction"
