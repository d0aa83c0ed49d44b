"""The live harness itself: its clock, and that its duplicate check catches a second order
for one client id (so the chaos test's "never twice" assertion can fail)."""

from __future__ import annotations

import time

import pytest

from tradebot.exchanges.ccxt_exchange import CcxtExchange
from tradebot.testing.live_harness import KEY, SECRET, LiveHarness, walk


def test_clock_closes_bars_and_market_orders_fill_at_the_next_open() -> None:
    with LiveHarness([walk("BTC/USDT", 60), walk("ETH/USDT", 60, price=2_000.0, seed=8)]) as h:
        ex = CcxtExchange("binance", base_url=h.url, api_key=KEY, secret=SECRET, rate_limit=False)
        h.close_bar(40)
        assert ex.server_time_ms() == h.bar_ms(41)
        rows = ex.fetch_ohlcv("BTC/USDT", "1m", since_ms=h.bar_ms(0), limit=1000)
        assert int(rows[-1][0]) == h.bar_ms(41) and rows[-1][1] == rows[-1][4]  # bar 41 just opened
        order = ex.create_order("ETH/USDT", "buy", "market", 0.5, client_order_id="tb-harness-1")
        assert order.status == "closed" and order.average == pytest.approx(h.next_open(40, "ETH/USDT"))
        h.close_bar(10)  # the clock can go back (a rerun of a history)
        assert ex.server_time_ms() == h.bar_ms(11)
        state = h.exchange_state()
        assert [o["client_order_id"] for o in state["orders"]] == ["tb-harness-1"]
        assert state["trades"][0]["fee_asset"] == "USDT" and state["balances"]["ETH"]["free"] == "0.5"
        assert h.order_arrivals and h.order_arrivals[0][1] == "tb-harness-1"
        assert abs(h.order_arrivals[0][0] - time.time()) < 60


def test_a_second_accepted_order_for_one_client_id_is_reported() -> None:
    with LiveHarness([walk("BTC/USDT", 60)]) as h:
        ex = CcxtExchange("binance", base_url=h.url, api_key=KEY, secret=SECRET, rate_limit=False)
        h.close_bar(30)
        ex.create_order("BTC/USDT", "buy", "market", 0.01, client_order_id="tb-twice")
        assert h.duplicates() == {}
        # a filled order's id is free again on Binance: a careless client places it twice
        ex.create_order("BTC/USDT", "buy", "market", 0.01, client_order_id="tb-twice")
        assert h.duplicates() == {"tb-twice": 2}
        assert h.accepted_per_client_id()["tb-twice"] == 2


def test_forced_order_faults_hit_the_chosen_order_requests() -> None:
    from tradebot.core.errors import ExchangeError
    from tradebot.exchanges.retry import RetryPolicy

    with LiveHarness([walk("BTC/USDT", 60)], order_faults={1: "lost_answer"}) as h:
        ex = CcxtExchange("binance", base_url=h.url, api_key=KEY, secret=SECRET, rate_limit=False,
                          retry=RetryPolicy(max_attempts=1))
        h.close_bar(30)
        with pytest.raises(ExchangeError):
            ex.create_order("BTC/USDT", "buy", "market", 0.01, client_order_id="tb-lost")
        ex.create_order("BTC/USDT", "buy", "market", 0.01, client_order_id="tb-kept")
        first, second = h.order_requests()
        assert (first.fault, first.processed, first.answered) == ("lost_answer", True, False)
        assert second.fault is None and second.answered
        assert [o["client_order_id"] for o in h.exchange_state()["orders"]] == ["tb-lost", "tb-kept"]
        assert h.order_faults() == {"lost_answer": 1}
