"""A ``tradebot live stop`` issued while a run is between its kill check (at its start) and
its sends: the run reads the kill state again right before each entry and sends no BUY
after the stop (asserted on the replay exchange's request log)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tradebot.core.config import load_settings
from tradebot.core.pairs import PairList
from tradebot.services.context import Context

SYMBOL = "BTC/USDT"


def _settings(home, url):
    return load_settings(env={}, overrides={
        "home": str(home), "market": {"exchange": "binance", "timeframe": "1m"},
        "strategy": {"name": "rsi", "params": {"period": 2, "lower": 45, "upper": 55}},
        "exchanges": {"binance": {"base_url": url, "rate_limit": False, "timeout_ms": 2000}},
        "live": {"enabled": True, "max_price_deviation_pct": 50.0}})


@pytest.fixture
def keys(monkeypatch):
    from tradebot.testing.live_harness import KEY, SECRET

    for key in list(os.environ):
        if key.upper().startswith("TRADEBOT_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", KEY)
    monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)


def test_a_stop_during_a_run_refuses_its_entry(tmp_path, keys, monkeypatch):
    from tradebot.services import live_run
    from tradebot.services.live import run_live
    from tradebot.services.live_admin import stop
    from tradebot.testing.live_harness import LiveHarness, walk

    pairs = PairList((SYMBOL,), "test")
    with LiveHarness([walk(SYMBOL, 200)]) as h:
        ctx = Context(_settings(tmp_path, h.url))

        def buys(since: int = 0) -> list:
            return [r for r in h.accepted_orders()[since:] if r.params.get("side") == "BUY"]

        # first run creates the account (no stop involved); then bars until an entry is due
        h.close_bar(40)
        run_live(ctx, "acct", pairs, yes=True)
        assert not buys()
        stopper: list[threading.Thread] = []
        errors: list[BaseException] = []
        real_last_price = live_run.LiveRun._last_price

        def stop_from_another_session() -> None:
            other = Context(_settings(tmp_path, h.url))  # its own store, as another process would
            try:
                stop(other, "acct", reason="stopped mid-run")
            except BaseException as e:  # noqa: BLE001 - reported by the test below
                errors.append(e)
            finally:
                other.close()

        def last_price_then_stop(self, intent):
            price = real_last_price(self, intent)
            if intent.entry and not stopper:  # between the run's kill check and this entry's send
                t = threading.Thread(target=stop_from_another_session)
                stopper.append(t)
                t.start()
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:  # the switch is set before stop waits for the lock
                    with ctx.store.session() as s:
                        from tradebot.services.live_guards import kill_state

                        if kill_state(ctx, s, self.account_id).stopped:
                            break
                    time.sleep(0.02)
            return price

        monkeypatch.setattr(live_run.LiveRun, "_last_price", last_price_then_stop)
        result = None
        for i in range(41, 199):
            h.close_bar(i)
            result = run_live(ctx, "acct", pairs)
            if stopper:
                break
        assert stopper, "no entry came due in the replayed history"
        stopper[0].join(timeout=60)
        assert not stopper[0].is_alive() and not errors
        assert result is not None and result.stopped is None  # the run started before the stop
        refused = [o for o in result.orders if o.action == "rejected"]
        assert refused and all("stopped mid-run" in (o.reason or "") for o in refused)
        assert not buys()  # no BUY reached the exchange after (or before) the stop
        assert not [o for o in result.orders if o.action in ("sent", "adopted")]
        # the next runs are refused from their start
        h.close_bar(i + 1)
        again = run_live(ctx, "acct", pairs)
        assert again.stopped is not None and "stopped mid-run" in again.stopped
        assert not buys()
        ctx.close()


class _Crash(Exception):
    pass


def test_an_entry_written_but_never_sent_is_not_sent_after_a_stop(tmp_path, keys, monkeypatch):
    """A run dies after writing its entry (INTENDED) and before sending it; the next run of
    the same bar is stopped after its kill check, before it brings that entry forward: it
    refuses the entry instead of sending it."""
    from tradebot.engine import orders
    from tradebot.services import live_run
    from tradebot.services.live import run_live
    from tradebot.testing.live_harness import LiveHarness, walk

    pairs = PairList((SYMBOL,), "test")
    with LiveHarness([walk(SYMBOL, 200)]) as h:
        ctx = Context(_settings(tmp_path, h.url))
        h.close_bar(40)
        run_live(ctx, "acct", pairs, yes=True)
        real_send = orders._send
        crashed: list[str] = []

        def crash_on_buy(journal, exchange, record, now_ms):
            if record.side == "buy":
                crashed.append(record.client_order_id)
                raise _Crash("died before the request left")
            return real_send(journal, exchange, record, now_ms)

        monkeypatch.setattr(orders, "_send", crash_on_buy)
        for i in range(41, 199):
            h.close_bar(i)
            try:
                run_live(ctx, "acct", pairs)
            except _Crash:
                break
        assert crashed, "no entry came due in the replayed history"
        monkeypatch.setattr(orders, "_send", real_send)
        # the next run of the same bar: a stop arrives after its kill check, before it brings
        # the written entry forward (the stop's own cancel waits for the run's lock)
        real_refresh = live_run.LiveRun._refresh_open
        threads: list[threading.Thread] = []

        def refresh_after_a_stop(self, current_bar):
            t = threading.Thread(target=_stop_elsewhere, args=(tmp_path, h.url, "stopped after a crash"))
            threads.append(t)
            t.start()
            _wait_stopped(ctx, self.account_id)
            return real_refresh(self, current_bar)

        monkeypatch.setattr(live_run.LiveRun, "_refresh_open", refresh_after_a_stop)
        again = run_live(ctx, "acct", pairs)  # the same bar again
        threads[0].join(timeout=60)
        assert again.stopped is None  # it started before the stop
        assert not [r for r in h.accepted_orders() if r.params.get("side") == "BUY"]
        mine = [o for o in again.orders if o.client_order_id == crashed[0]]
        assert mine and mine[0].state == "rejected" and "stopped after a crash" in (mine[0].reason or "")
        ctx.close()


def _stop_elsewhere(home, url, reason):
    from tradebot.services.live_admin import stop

    other = Context(_settings(home, url))  # its own store, as another process would
    try:
        stop(other, "acct", reason=reason)
    finally:
        other.close()


def _wait_stopped(ctx, account_id):
    from tradebot.services.live_guards import kill_state

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the switch is set before stop waits for the lock
        with ctx.store.session() as s:
            if kill_state(ctx, s, account_id).stopped:
                return
        time.sleep(0.02)
    raise AssertionError("the stop did not set the switch")
