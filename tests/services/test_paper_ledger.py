"""The paper account ledger: balances, orders, fills, position and risk events in the store.

Against the engine (the backtest's executions, the engine state candle by candle) on real
candles, and the grouping of fills into orders on hand-written FILL_DTYPE rows (the
contract the partial-fill kernel produces).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tradebot.core.signals import Signals
from tradebot.data.csv_io import read_candles_csv
from tradebot.data.paper_repository import LedgerBook, OrderRow, PaperRepository
from tradebot.engine.backtest import run_strategy
from tradebot.engine.result import (
    EXIT_REASONS,
    EXIT_STOP_LOSS,
    EXIT_TAKE_PROFIT,
    FILL_DTYPE,
    INTENT_ENTRY,
    INTENT_EXIT,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    ORDER_TYPES,
)
from tradebot.services.backtest import engine_config
from tradebot.services.data import import_csv
from tradebot.services.paper import account_report, run_paper
from tradebot.services.paper_events import orders_and_fills

from .conftest import ledger_snapshot
from .test_paper import BTC_5M, TF, make_ctx, need

RISKY = {"max_trades_per_day": 2, "max_drawdown_pct": 2.0, "breaker_cooldown_bars": 60,
         "cooldown_after_losses": 2, "cooldown_bars": 24}


def replay(ctx, account: str, candles, seed: int, max_chunk: int = 40) -> None:  # type: ignore[no-untyped-def]
    """Runs that catch up 1 to ``max_chunk`` candles at a time (``max_chunk=0``: one run)."""
    since = int(candles.timestamp[0])
    if max_chunk == 0:
        run_paper(ctx, account, since_ms=since, now_ms=int(candles.timestamp[-1]) + TF)
        return
    rng = np.random.default_rng(seed)
    i = 0
    first = True
    while i < len(candles):
        i = min(len(candles), i + int(rng.integers(1, max_chunk)))
        run_paper(ctx, account, since_ms=since if first else None, now_ms=int(candles.timestamp[i - 1]) + TF)
        first = False


def test_ledger_holds_the_backtests_executions(tmp_path: Path) -> None:
    src = need(BTC_5M)
    ctx = make_ctx(tmp_path / "home", strategy={"name": "macd", "params": {}},
                   stops={"stop_loss_pct": 0.3, "take_profit_pct": 0.5}, slippage={"bps": 2.0})
    import_csv(ctx, src, "binance", "BTC/USDT", "5m")
    candles = read_candles_csv(src).slice(0, 1700)
    replay(ctx, "led", candles, seed=3)
    bt = run_strategy(candles, ctx.registry.create("macd", {}), engine_config(ctx.settings))
    ts = candles.timestamp
    with ctx.store.session() as session:
        repo = PaperRepository(session)
        acct = repo.get("led")
        assert acct is not None
        fills = repo.fills(acct.id)
        orders = repo.orders(acct.id)
        balances = {b["asset"]: b["amount"] for b in repo.balances(acct.id)}
        positions = repo.positions(acct.id)
    want = bt.fills
    assert len(fills) == want.size > 20
    assert {int(r) for r in want["reason"][want["intent"] == INTENT_EXIT]} >= {EXIT_STOP_LOSS, EXIT_TAKE_PROFIT}
    for got, w in zip(fills, want, strict=True):
        assert got["ts_ms"] == ts[w["bar_idx"]]
        assert got["side"] == ("buy" if w["side"] > 0 else "sell")
        assert (got["qty"], got["price"], got["fee"]) == (w["qty"], w["price"], w["fee"])
        assert got["maker"] == bool(w["maker"])
        assert got["order_type"] == ORDER_TYPES[int(w["order_type"])]
        assert got["intent"] == ("entry" if w["intent"] == INTENT_ENTRY else "exit")
    # whole fills: one order per fill, every one filled, exits with the trade's reason
    assert [o["seq"] for o in orders] == [f["order_seq"] for f in fills] == list(range(len(fills)))
    assert {o["status"] for o in orders} == {"filled"}
    exits = [o["exit_reason"] for o in orders if o["intent"] == "exit"]
    closed = bt.trades[bt.trades["exit_reason"] != 4]
    assert exits == [EXIT_REASONS[int(r)] for r in closed["exit_reason"]]
    for o in orders:  # each order names the position it belongs to
        assert o["trade_entry_ms"] in set(ts[bt.trades["entry_idx"]].tolist())
    # balances: the quote is the cash, the base the units held; equity = quote + base * close
    state = acct.state
    assert balances == {"USDT": state[0], "BTC": state[1]}
    rep = account_report(ctx, "led")
    assert rep["equity"] == pytest.approx(balances["USDT"] + balances["BTC"] * candles.close[-1], rel=1e-12)
    assert rep["equity"] == bt.equity[-1]
    still_open = bt.trades[bt.trades["exit_reason"] == 4]
    if still_open.size:
        (pos,) = positions
        assert pos["qty"] == state[1] == still_open["units"][0] * still_open["direction"][0]
        assert pos["entry_ms"] == ts[still_open["entry_idx"][0]]
        assert pos["mark_price"] == candles.close[-1] and pos["mark_ms"] == ts[-1]
    else:
        assert positions == [] and balances["BTC"] == 0.0
    ctx.close()


def test_runs_of_any_size_write_the_same_ledger(tmp_path: Path) -> None:
    """Catching up in one run or in many small ones gives identical tables, risk events
    (limits once a day, breaker trips, cooldowns, alerts) included."""
    src = need(BTC_5M)
    candles = read_candles_csv(src).slice(0, 2600)
    snaps = []
    for name, chunk in (("one", 0), ("many", 30)):
        ctx = make_ctx(tmp_path / name, strategy={"name": "macd", "params": {}}, risk=RISKY,
                       stops={"stop_loss_pct": 0.8}, notify={"rules": {"drawdown_above_pct": 1.5,
                                                                       "loss_above": 25.0}})
        import_csv(ctx, src, "binance", "BTC/USDT", "5m")
        replay(ctx, "acct", candles, seed=11, max_chunk=chunk)
        ctx.close()
        snaps.append(ledger_snapshot(tmp_path / name / "tradebot.db"))
    one, many = snaps
    kinds = {row[3] for row in one["paper_risk_events"]}
    assert {"entry_blocked", "limit_reached", "breaker_tripped", "cooldown_started", "alert"} <= kinds
    for table in one:
        assert many[table] == one[table], table
    # a daily limit is reached at most once a day; every blocked entry is recorded
    reached = [(r[4], r[2] // 86_400_000) for r in one["paper_risk_events"] if r[3] == "limit_reached"]
    assert len(reached) == len(set(reached)) > 0


def test_breaker_and_cooldown_events_are_at_the_engines_candles(tmp_path: Path) -> None:
    """The candles of trips, resumes and cooldowns equal those where the engine state
    changes when it is advanced one candle at a time."""
    from tradebot.engine.risk_nb import S_COOL_UNTIL, S_HALT_UNTIL
    from tradebot.engine.step import advance, new_state

    src = need(BTC_5M)
    ctx = make_ctx(tmp_path / "home", strategy={"name": "macd", "params": {}}, risk=RISKY)
    import_csv(ctx, src, "binance", "BTC/USDT", "5m")
    candles = read_candles_csv(src).slice(0, 2600)
    replay(ctx, "acct", candles, seed=0, max_chunk=0)
    cfg = engine_config(ctx.settings)
    signals = ctx.registry.create("macd", {}).signals_for(candles)
    state = new_state(cfg)
    want: list[tuple[int, str]] = []
    for t in range(len(candles)):
        halt, cool = state[S_HALT_UNTIL], state[S_COOL_UNTIL]
        upto = Signals(*(a[:t + 1] for a in (signals.entries, signals.exits, signals.short_entries,
                                               signals.short_exits)))
        state = advance(candles.slice(0, t + 1), upto, cfg, state, t).state
        ts = int(candles.timestamp[t])
        if halt < 0 <= state[S_HALT_UNTIL]:
            want.append((ts, "breaker_tripped"))
        elif halt >= 0 > state[S_HALT_UNTIL]:
            want.append((ts, "breaker_resumed"))
        if state[S_COOL_UNTIL] != cool:
            want.append((ts, "cooldown_started"))
    with ctx.store.session() as session:
        repo = PaperRepository(session)
        acct = repo.get("acct")
        assert acct is not None
        got = [(e["ts_ms"], e["kind"]) for e in repo.risk_events(acct.id)
               if e["kind"] in ("breaker_tripped", "breaker_resumed", "cooldown_started")]
    assert {k for _, k in want} == {"breaker_tripped", "breaker_resumed", "cooldown_started"}
    assert got == sorted(want, key=lambda w: w[0])
    ctx.close()


# --------------------------------------------------------------------------- fills -> orders


def fill_rows(*rows: tuple[int, int, float, float, float, int, int, int, int]) -> np.ndarray:
    """(bar, side, qty, price, fee, order_type, intent, reason, maker) rows as FILL_DTYPE."""
    return np.array(list(rows), dtype=FILL_DTYPE)


TS = np.arange(20, dtype=np.int64) * 60_000 + 1_700_000_000_000
EMPTY = LedgerBook(None, 0, 0, None)


def stored(orders: list[OrderRow], first_id: int = 1) -> LedgerBook:
    """The book a next run sees after ``orders`` were stored (the last one, with an id)."""
    last = orders[-1]
    return LedgerBook(OrderRow(**{**last.__dict__, "id": first_id + len(orders) - 1}), last.seq + 1, 0, None)


def test_whole_fills_are_one_order_each() -> None:
    fills = fill_rows(
        (1, 1, 2.0, 100.0, 0.2, ORDER_MARKET, INTENT_ENTRY, -1, 0),
        (3, -1, 2.0, 110.0, 0.22, ORDER_LIMIT, INTENT_EXIT, EXIT_TAKE_PROFIT, 1),
        (5, -1, 1.0, 105.0, 0.1, ORDER_MARKET, INTENT_ENTRY, -1, 0),
        (5, 1, 1.0, 106.0, 0.1, ORDER_STOP, INTENT_EXIT, EXIT_STOP_LOSS, 0),  # stopped on its entry bar
    )
    orders, new, open_ms = orders_and_fills(fills, TS, EMPTY, 0.0, None, 0.0, 0.0)
    assert [(o.seq, o.intent, o.side, o.order_type, o.status, o.exit_reason) for o in orders] == [
        (0, "entry", "buy", "market", "filled", None),
        (1, "exit", "sell", "limit", "filled", "take_profit"),
        (2, "entry", "sell", "market", "filled", None),
        (3, "exit", "buy", "stop", "filled", "stop_loss"),
    ]
    assert [o.trade_entry_ms for o in orders] == [TS[1], TS[1], TS[5], TS[5]]
    assert [(f.seq, f.order_seq, f.maker) for f in new] == [(0, 0, False), (1, 1, True), (2, 2, False),
                                                            (3, 3, False)]
    assert open_ms is None


def test_partial_fills_over_several_runs_make_one_order() -> None:
    # run 1: an entry limit order fills 1.0 then 0.5 and is still working (pending buy)
    run1 = fill_rows((1, 1, 1.0, 100.0, 0.1, ORDER_LIMIT, INTENT_ENTRY, -1, 1),
                     (2, 1, 0.5, 102.0, 0.05, ORDER_LIMIT, INTENT_ENTRY, -1, 1))
    orders, fills, open_ms = orders_and_fills(run1, TS, EMPTY, 0.0, None, 1.5, 1.0)
    (entry,) = orders
    assert (entry.qty, entry.fills, entry.status) == (1.5, 2, "partially_filled")
    assert entry.avg_price == pytest.approx((100.0 + 51.0) / 1.5)
    assert open_ms == TS[1] and [f.order_seq for f in fills] == [0, 0]
    # run 2: its last 0.5 fills (no order in flight any more), then half the exit fills
    run2 = fill_rows((3, 1, 0.5, 101.0, 0.05, ORDER_LIMIT, INTENT_ENTRY, -1, 1),
                     (6, -1, 1.0, 110.0, 0.11, ORDER_LIMIT, INTENT_EXIT, EXIT_TAKE_PROFIT, 1))
    book = LedgerBook(OrderRow(**{**entry.__dict__, "id": 7}), 1, 2, None)
    orders, fills, open_ms = orders_and_fills(run2, TS, book, 1.5, TS[1], 1.0, 0.0)
    entry2, exit_ = orders
    assert (entry2.id, entry2.seq, entry2.qty, entry2.fills, entry2.status) == (7, 0, 2.0, 3, "filled")
    assert entry2.fee == pytest.approx(0.2) and entry2.last_fill_ms == TS[3]
    assert (exit_.id, exit_.seq, exit_.qty, exit_.status, exit_.trade_entry_ms) == (
        None, 1, 1.0, "partially_filled", TS[1])
    assert [(f.seq, f.order_seq) for f in fills] == [(2, 0), (3, 1)]
    # run 3: the rest of the exit fills: the position is flat, the exit order filled
    run3 = fill_rows((7, -1, 1.0, 111.0, 0.11, ORDER_LIMIT, INTENT_EXIT, EXIT_TAKE_PROFIT, 1))
    orders, fills, open_ms = orders_and_fills(run3, TS, LedgerBook(OrderRow(**{**exit_.__dict__, "id": 8}),
                                                                   2, 4, None), 1.0, TS[1], 0.0, 0.0)
    (done,) = orders
    assert (done.id, done.qty, done.avg_price, done.fills, done.status) == (8, 2.0, 110.5, 2, "filled")
    assert open_ms is None and fills[0].order_seq == 1


def test_orders_that_stop_working() -> None:
    # an entry partly filled and still working at the end of a run ...
    part = fill_rows((1, -1, 0.4, 100.0, 0.04, ORDER_LIMIT, INTENT_ENTRY, -1, 1))
    (entry,), _, _ = orders_and_fills(part, TS, EMPTY, 0.0, None, -0.4, -1.0)
    assert entry.status == "partially_filled"
    # ... is no longer working at the next run, without a new fill: done, with what filled
    # (as one run over both would have said)
    book = LedgerBook(OrderRow(**{**entry.__dict__, "id": 1}), 1, 1, None)
    (gone,), fills, open_ms = orders_and_fills(np.empty(0, FILL_DTYPE), TS, book, -0.4, TS[1], -0.4, 0.0)
    assert (gone.id, gone.status, gone.qty) == (1, "filled", 0.4) and fills == []
    assert open_ms == TS[1]
    (same,), _, _ = orders_and_fills(part, TS, EMPTY, 0.0, None, -0.4, 0.0)
    assert same.status == "filled" and same.qty == 0.4
    # an exit limit partly filled, then a stop closes the rest: the limit's rest is cancelled
    rows = fill_rows((4, 1, 0.1, 95.0, 0.01, ORDER_LIMIT, INTENT_EXIT, EXIT_TAKE_PROFIT, 1),
                     (5, 1, 0.3, 103.0, 0.03, ORDER_STOP, INTENT_EXIT, EXIT_STOP_LOSS, 0))
    book = LedgerBook(OrderRow(**{**gone.__dict__}), 1, 1, None)
    orders, _, open_ms = orders_and_fills(rows, TS, book, -0.4, TS[1], 0.0, 0.0)
    assert [(o.seq, o.order_type, o.status, o.qty) for o in orders] == [
        (1, "limit", "cancelled", 0.1), (2, "stop", "filled", 0.3)]
    assert all(o.trade_entry_ms == TS[1] for o in orders) and open_ms is None
    # an untouched filled order is not rewritten
    orders, _, _ = orders_and_fills(np.empty(0, FILL_DTYPE), TS, stored(orders), 0.0, None, 0.0, 0.0)
    assert orders == []


def test_partial_fills_of_the_matching_engine_group_into_orders(tmp_path: Path) -> None:
    """Limit orders filling at most a share of each candle's volume: an order's fills over
    several candles (and runs) are one order whose totals are its fills'; every round trip's
    entry and exit orders add up to its units; one run or many give the same ledger."""
    from tradebot.core.config import ExecutionConfig

    if "max_volume_share" not in ExecutionConfig.model_fields:
        pytest.skip("the engine has no partial fills (execution.max_volume_share)")
    src = need(BTC_5M)
    candles = read_candles_csv(src).slice(0, 1500)
    snaps = []
    for name, chunk in (("one", 0), ("many", 25)):
        ctx = make_ctx(tmp_path / name, strategy={"name": "macd", "params": {}}, execution={
            "entry_order": "limit", "exit_order": "limit", "limit_offset_bps": 5.0,
            "max_volume_share": 0.0003, "order_ttl_bars": 4})
        import_csv(ctx, src, "binance", "BTC/USDT", "5m")
        replay(ctx, "pf", candles, seed=1, max_chunk=chunk)
        ctx.close()
        snaps.append(ledger_snapshot(tmp_path / name / "tradebot.db"))
    one, many = snaps
    for table in one:
        assert many[table] == one[table], table
    orders = {row[1]: row for row in one["paper_orders"]}
    fills_of: dict[int, list[tuple[object, ...]]] = {}
    for f in one["paper_fills"]:
        fills_of.setdefault(f[2], []).append(f)
    assert max(len(v) for v in fills_of.values()) >= 3  # partial fills were grouped
    for seq, o in orders.items():
        fs = fills_of[seq]
        (_, _, trade_ms, first, last, side, _, _, qty, cost, avg, fee, n, status, _) = o
        assert n == len(fs) and (first, last) == (fs[0][3], fs[-1][3])
        assert {f[4] for f in fs} == {side}
        assert qty == pytest.approx(sum(f[5] for f in fs), rel=1e-12)
        assert cost == pytest.approx(sum(f[5] * f[6] for f in fs), rel=1e-12)
        assert avg == pytest.approx(cost / qty, rel=1e-15)
        assert fee == pytest.approx(sum(f[7] for f in fs), rel=1e-12)
        assert status in ("filled", "partially_filled", "cancelled")
    for t in one["paper_trades"]:  # (name, seq, entry_ts, exit_ts, units, pnl, reason)
        legs = [o for o in orders.values() if o[2] == t[2]]
        for intent in ("entry", "exit"):
            assert sum(o[8] for o in legs if o[7] == intent) == pytest.approx(t[4], rel=1e-9), (t, intent)


def test_threshold_alerts_once_per_crossing_and_day() -> None:
    from tradebot.core.notify_config import RulesConfig
    from tradebot.services.paper_events import AlertMemory, alert_events

    rules = RulesConfig(drawdown_above_pct=10.0, loss_above=50.0)
    day = 86_400_000
    d0 = 1_700_006_400_000 // day * day
    ts = np.array([d0, d0 + 1, d0 + 2, d0 + 3, d0 + 4, d0 + 5, d0 + day, d0 + day + 1], dtype=np.int64)
    equity = np.array([1000.0, 940.0, 890.0, 960.0, 880.0, 870.0, 860.0, 800.0])
    rows = alert_events(rules, "a", ts, equity, 1000.0, AlertMemory(False, frozenset(), 1000.0, 1000.0))
    assert [(int(r.ts_ms - d0), r.kind, r.rule) for r in rows] == [
        (1, "alert", "loss_above"),  # -60 on the day (once that day, though it gets worse)
        (2, "alert", "drawdown_above_pct"),  # 11 % below the 1000 peak
        (3, "alert_cleared", "drawdown_above_pct"),  # back to 4 %
        (4, "alert", "drawdown_above_pct"),  # and down again: alerted again
        (day + 1, "alert", "loss_above"),  # the next day, from the 870 it opened at: -70
    ]
    assert rows[0].detail == "daily loss 60.00 >= 50 on 2023-11-15"
    assert rows[1].detail == "drawdown 11.00% >= 10% (equity 890.00)"
    # remembered: the drawdown alert is still tripped, the day's loss alert already sent
    again = alert_events(rules, "a", ts[:3], np.array([880.0, 870.0, 860.0]), 890.0,
                         AlertMemory(True, frozenset({d0 // day}), 1000.0, 1000.0))
    assert again == []
