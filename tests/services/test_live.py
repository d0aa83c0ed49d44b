"""``run_live`` against the replay exchange (binance dialect, keys checked, unmodified ccxt)
and real SQLite files: dry runs send nothing, real orders need all three switches and carry
deterministic client ids, fills and fees land in the ledger, a crash between sending and
the answer is adopted (never a second order), bad input stops before anything is written
or sent, and one market or two go through the same code path."""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tradebot.core.config import load_settings
from tradebot.core.errors import ConfigError, UsageError
from tradebot.core.orders import client_order_id
from tradebot.core.pairs import PairList
from tradebot.services.context import Context
from tradebot.services.live import run_live
from tradebot.testing.live_harness import KEY, SECRET, LiveHarness, walk
from tradebot.testing.replay_exchange import FaultConfig

RSI = {"name": "rsi", "params": {"period": 3, "lower": 35, "upper": 65}}
BTC = PairList(("BTC/USDT",), "test")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith("TRADEBOT_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def h():
    """A fresh exchange (its own account and request log) for each test."""
    with LiveHarness([walk("BTC/USDT", 120), walk("ETH/USDT", 120, price=2000.0, seed=11)]) as harness:
        yield harness


def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", KEY)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)


def context(h: LiveHarness, home: Path, *, enabled: bool, strategy: dict[str, Any] = RSI,
            **extra: Any) -> Context:
    ov = {"home": str(home), "market": {"exchange": "binance", "timeframe": "1m"}, "strategy": strategy,
          "exchanges": {"binance": {"base_url": h.url, "rate_limit": False, "timeout_ms": 2000}},
          "live": {"enabled": enabled, "max_price_deviation_pct": 50.0}, **extra}
    return Context(load_settings(env={}, overrides=ov))


def rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    db = home / "tradebot.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def posts(h: LiveHarness) -> list[str]:
    return [r.params.get("newClientOrderId", "") for r in h.order_requests()]


def run_bars(h: LiveHarness, ctx: Context, bars: range, pairs: PairList = BTC, **kw: Any) -> list[Any]:
    out = []
    for i in bars:
        h.close_bar(i)
        out.append(run_live(ctx, "acct", pairs, **kw))
    return out


def test_dry_run_sends_nothing_and_simulates_fills(h: LiveHarness, tmp_path: Path, monkeypatch) -> None:
    keys(monkeypatch)  # keys present, live.enabled false: still a dry run
    ctx = context(h, tmp_path, enabled=False)
    results = run_bars(h, ctx, range(55, 80))
    ctx.close()
    assert {r.mode for r in results} == {"dry-run"}
    assert sum(r.intents for r in results) >= 2  # the strategy traded
    assert posts(h) == []  # nothing reached the exchange's order endpoint
    assert not [r for r in h.request_log if r.endpoint in ("order_new", "account", "my_trades")]
    assert rows(tmp_path, "SELECT mode FROM portfolio_accounts") == [("dry-run",)]
    orders = rows(tmp_path, "SELECT client_order_id, state, filled, average FROM live_orders ORDER BY id")
    fills = rows(tmp_path, "SELECT trade_id, amount, price, fee_currency FROM live_fills ORDER BY id")
    assert orders and all(o[1] == "filled" for o in orders)
    assert [f[0] for f in fills] == [f"dry-{o[0]}" for o in orders]
    assert all(f[3] == "USDT" and f[1] == o[2] and f[2] == o[3] for f, o in zip(fills, orders, strict=True))


def test_real_orders_have_deterministic_ids_and_fills_with_fees(h: LiveHarness, tmp_path: Path,
                                                                monkeypatch) -> None:
    keys(monkeypatch)
    ctx = context(h, tmp_path, enabled=True)
    results = run_bars(h, ctx, range(55, 80), yes=True)
    ctx.close()
    sent = [o for r in results for o in r.orders if o.action == "sent"]
    assert len(sent) >= 2 and results[0].mode == "live"
    # every order placed once, named by (account, symbol, decision bar, side)
    placed = Counter(posts(h))
    assert set(placed) == {o.client_order_id for o in sent} and set(placed.values()) == {1}
    stored = rows(tmp_path, "SELECT client_order_id, symbol, bar_ms, intent, state FROM live_orders")
    [(config,)] = rows(tmp_path, "SELECT config FROM portfolio_accounts")
    scope = json.loads(config)["order_scope"]
    assert len(scope) == 16  # a random token of the account, stored at creation
    for cid, sym, bar, intent, state in stored:
        assert cid == client_order_id("acct", sym, bar, intent, scope=scope) and state == "filled"
        assert cid != client_order_id("acct", sym, bar, intent)  # another store's "acct" gets other ids
    # the exchange's trades, with their fees, are the ledger's fills
    mine = {str(o["order_id"]) for o in h.exchange_state()["orders"] if o["client_order_id"] in placed}
    ex_trades = {str(t["trade_id"]): t for t in h.exchange_state()["trades"] if str(t["order_id"]) in mine}
    fills = rows(tmp_path, "SELECT trade_id, price, amount, fee_cost, fee_currency FROM live_fills")
    assert len(fills) == len(ex_trades) >= 2
    for tid, price, amount, fee, cur in fills:
        t = ex_trades[tid]
        assert (price, amount) == (pytest.approx(float(t["price"])), pytest.approx(float(t["amount"])))
        assert (fee, cur) == (pytest.approx(float(t["fee"])), t["fee_asset"]) and fee > 0
    assert sum(r.fills for r in results) == len(fills)


def test_without_each_switch_no_order_reaches_the_exchange(h: LiveHarness, tmp_path: Path, monkeypatch) -> None:
    # 1. live.enabled false (keys and --yes given): a dry run
    keys(monkeypatch)
    ctx = context(h, tmp_path / "a", enabled=False)
    run_bars(h, ctx, range(55, 70), yes=True)
    ctx.close()
    # 2. no keys: one error naming the variables, nothing stored
    monkeypatch.delenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY")
    monkeypatch.delenv("TRADEBOT_EXCHANGES__BINANCE__SECRET")
    ctx = context(h, tmp_path / "b", enabled=True)
    with pytest.raises(ConfigError, match="no API keys for binance: set TRADEBOT_EXCHANGES__BINANCE__API_KEY") as e:
        run_bars(h, ctx, range(62, 63), yes=True)
    assert e.value.exit_code == 2
    ctx.close()
    assert rows(tmp_path / "b", "SELECT * FROM portfolio_accounts") == []
    # 3. keys and live.enabled but no confirmation (no terminal, no --yes)
    keys(monkeypatch)
    ctx = context(h, tmp_path / "c", enabled=True)
    for confirm in (None, lambda symbol: False):
        with pytest.raises(UsageError, match="would trade real money: confirm by typing BTC/USDT"):
            run_bars(h, ctx, range(62, 63), confirm=confirm)
    ctx.close()
    assert rows(tmp_path / "c", "SELECT * FROM portfolio_accounts") == []
    assert posts(h) == []
    # with the typed symbol it trades
    ctx = context(h, tmp_path / "d", enabled=True)
    run_bars(h, ctx, range(55, 70), confirm=lambda symbol: symbol == "BTC/USDT")
    ctx.close()
    assert posts(h)


def test_a_crash_between_sent_and_the_answer_is_adopted_never_sent_twice(h: LiveHarness, tmp_path: Path,
                                                                         monkeypatch) -> None:
    from tradebot.exchanges.ccxt_exchange import CcxtExchange

    keys(monkeypatch)
    ctx = context(h, tmp_path, enabled=True)
    original = CcxtExchange.create_order
    crashed: list[str] = []

    class Crash(BaseException):
        """The process dies: nothing after the request runs."""

    def create_then_die(self, *a, **kw):
        h.server.faults = FaultConfig(rate=1.0, kinds=("lost_answer",), endpoints=("order_new",))
        try:
            original(self, *a, **kw)
        except Exception:
            pass
        crashed.append(kw["client_order_id"])
        raise Crash

    monkeypatch.setattr(CcxtExchange, "create_order", create_then_die)
    i = 55
    while not crashed:
        h.close_bar(i)
        with _maybe(Crash):
            run_live(ctx, "acct", BTC, yes=True)
        i += 1
    monkeypatch.setattr(CcxtExchange, "create_order", original)
    h.server.faults = FaultConfig()
    cid = crashed[0]
    assert rows(tmp_path, f"SELECT state FROM live_orders WHERE client_order_id = '{cid}'") == [("sent",)]
    assert Counter(posts(h))[cid] == 1 and h.accepted_per_client_id()[cid] == 1  # placed, answer lost
    # the next run (same bar: recomputes the same intent) adopts the exchange's order
    r = run_live(ctx, "acct", BTC, yes=True)
    assert [(o.client_order_id, o.action) for o in r.orders] == [(cid, "adopted")]
    assert rows(tmp_path, f"SELECT state FROM live_orders WHERE client_order_id = '{cid}'") == [("filled",)]
    assert rows(tmp_path, f"SELECT count(*) FROM live_fills WHERE client_order_id = '{cid}'") == [(1,)]
    run_bars(h, ctx, range(i, i + 10), yes=True)
    ctx.close()
    assert Counter(posts(h))[cid] == 1 and not h.duplicates()


class _maybe:
    """Swallows ``exc`` and accepts no exception (the bars before the first order)."""

    def __init__(self, exc: type[BaseException]) -> None:
        self.exc = exc

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
        return et is not None and issubclass(et, self.exc)


def test_a_lost_answer_is_adopted_in_the_same_run(h: LiveHarness, tmp_path: Path, monkeypatch) -> None:
    keys(monkeypatch)
    ctx = context(h, tmp_path, enabled=True)
    h.server.faults = FaultConfig(rate=1.0, kinds=("lost_answer",), endpoints=("order_new",))
    results = run_bars(h, ctx, range(55, 70), yes=True)
    ctx.close()
    lines = [o for r in results for o in r.orders]
    assert lines and {o.action for o in lines} == {"adopted"}
    assert set(Counter(posts(h)).values()) == {1} and not h.duplicates()


def test_amount_below_the_minimum_is_recorded_rejected_not_sent(h: LiveHarness, tmp_path: Path,
                                                               monkeypatch) -> None:
    keys(monkeypatch)
    ctx = context(h, tmp_path, enabled=True, backtest={"initial_capital": 3.0})
    results = run_bars(h, ctx, range(55, 70), yes=True)
    ctx.close()
    rejected = [o for r in results for o in r.orders if o.action == "rejected"]
    assert rejected and posts(h) == []
    assert "notional" in rejected[0].reason and "below the minimum 5 of BTC/USDT" in rejected[0].reason
    stored = rows(tmp_path, "SELECT state, reason, attempts FROM live_orders")
    assert stored and all(s == "rejected" and "below the minimum" in why and n == 0 for s, why, n in stored)
    assert rows(tmp_path, "SELECT kind FROM live_events WHERE kind = 'reject'")


def test_bad_input_stops_before_anything_is_written_or_sent(h: LiveHarness, tmp_path: Path, monkeypatch) -> None:
    keys(monkeypatch)
    ctx = context(h, tmp_path, enabled=True)
    h.close_bar(60)
    with pytest.raises(UsageError, match="unknown spot symbol 'DOGE/USDT'") as e:
        run_live(ctx, "acct", PairList(("DOGE/USDT",), "test"), yes=True)
    assert e.value.exit_code == 2
    assert rows(tmp_path, "SELECT * FROM portfolio_accounts") == []
    run_bars(h, ctx, range(55, 62), yes=True)  # the account exists now
    before = rows(tmp_path, "SELECT last_bar_ms, state FROM portfolio_accounts")
    sent = posts(h)
    h.close_bar(63)
    for kwargs, msg in (({"pairs": PairList(("ETH/USDT",), "test")}, "trades BTC/USDT; --symbol/--symbols ETH/USDT"),
                        ({"requested": {"strategy": "macd"}}, "--strategy macd only applies to a new account"),
                        ({"requested": {"timeframe": "5m"}}, "--timeframe 5m only applies to a new account")):
        with pytest.raises(UsageError, match=msg):
            run_live(ctx, "acct", kwargs.get("pairs"), yes=True, requested=kwargs.get("requested"))
    ctx.close()
    # a live account run without live.enabled: refused, not run as a dry run
    ctx = context(h, tmp_path, enabled=False)
    with pytest.raises(UsageError, match="trades real money but live.enabled is false"):
        run_live(ctx, "acct", None)
    ctx.close()
    # nor can tradebot paper move a live account's state
    from tradebot.services.paper_portfolio import run_paper_portfolio

    ctx = context(h, tmp_path, enabled=True)
    with pytest.raises(UsageError, match="'acct' is a live account of tradebot live"):
        run_paper_portfolio(ctx, "acct", None, source="cache")
    ctx.close()
    assert rows(tmp_path, "SELECT last_bar_ms, state FROM portfolio_accounts") == before
    assert posts(h) == sent


def test_one_market_and_two_markets_share_the_code_path(h: LiveHarness, tmp_path: Path, monkeypatch) -> None:
    keys(monkeypatch)
    pairs = PairList(("BTC/USDT", "ETH/USDT"), "test")
    ctx = context(h, tmp_path, enabled=True, portfolio={"max_open_positions": 2, "stake": "equal"})
    results = run_bars(h, ctx, range(55, 85), pairs, yes=True)
    ctx.close()
    assert results[-1].symbols == ("BTC/USDT", "ETH/USDT")
    symbols = {o.symbol for r in results for o in r.orders if o.action == "sent"}
    assert symbols == {"BTC/USDT", "ETH/USDT"}
    assert set(Counter(posts(h)).values()) == {1}
    fills = rows(tmp_path, "SELECT DISTINCT symbol FROM live_fills ORDER BY symbol")
    assert fills == [("BTC/USDT",), ("ETH/USDT",)]


def test_kill_file_refuses_entries_and_sends_nothing_new(h: LiveHarness, tmp_path: Path, monkeypatch) -> None:
    keys(monkeypatch)
    ctx = context(h, tmp_path, enabled=True)
    run_bars(h, ctx, range(55, 58), yes=True)  # the account exists, flat (no order before bar 63)
    (tmp_path / "STOP").write_text("")
    results = run_bars(h, ctx, range(58, 75), yes=True)
    ctx.close()
    refused = [o for r in results for o in r.orders]
    assert refused and all(o.action == "rejected" and o.side == "buy" for o in refused)
    assert all(o.reason.startswith("kill switch: kill file") for o in refused)
    assert {r.stopped is not None for r in results} == {True}
    assert posts(h) == []


def test_fees_in_the_received_asset_round_trips_keep_trading(tmp_path: Path, monkeypatch) -> None:
    """Binance's default: the fee of a buy is charged in the base asset. What is left after a
    sell (the fee's worth, in the ledger's position) must not read as a holding."""
    keys(monkeypatch)
    with LiveHarness([walk("BTC/USDT", 120)], fee_asset="received") as h:
        ctx = context(h, tmp_path, enabled=True)
        results = run_bars(h, ctx, range(55, 100), yes=True)
        ctx.close()
        sides = [o.side for r in results for o in r.orders if o.action == "sent"]
        assert sides.count("buy") >= 3 and sides.count("sell") >= 2
        assert set(Counter(posts(h)).values()) == {1}
    fees = rows(tmp_path, "SELECT side, fee_currency FROM live_fills")
    assert {f for f in fees} == {("buy", "BTC"), ("sell", "USDT")}


def test_an_intent_of_an_older_bar_that_never_left_is_superseded_not_sent_late(h: LiveHarness, tmp_path: Path,
                                                                              monkeypatch) -> None:
    from tradebot.services.live_journal import StoreOrderJournal

    keys(monkeypatch)
    ctx = context(h, tmp_path, enabled=True)
    original = StoreOrderJournal.put
    died: list[str] = []

    class Crash(BaseException):
        pass

    def put_then_die_before_sending(self, record):
        if record.state.value == "sent":  # the process dies before the write-ahead 'sent' is stored
            died.append(record.client_order_id)
            raise Crash
        original(self, record)

    monkeypatch.setattr(StoreOrderJournal, "put", put_then_die_before_sending)
    i = 55
    while not died:
        h.close_bar(i)
        with _maybe(Crash):
            run_live(ctx, "acct", BTC, yes=True)
        i += 1
    monkeypatch.setattr(StoreOrderJournal, "put", original)
    cid = died[0]
    assert rows(tmp_path, f"SELECT state FROM live_orders WHERE client_order_id = '{cid}'") == [("intended",)]
    h.close_bar(i)  # the next bar closed before the account ran again
    run_live(ctx, "acct", BTC, yes=True)
    ctx.close()
    assert rows(tmp_path, f"SELECT state, reason FROM live_orders WHERE client_order_id = '{cid}'") == [
        ("rejected", "not placed before a newer bar; superseded")]
    assert cid not in posts(h)
