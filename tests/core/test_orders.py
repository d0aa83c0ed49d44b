"""The live order state machine: every transition, the illegal ones refused, client ids,
the stored form, and the market rules that decide whether an order may be sent."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

import pytest

from tradebot.core.errors import OrderStateError, UsageError
from tradebot.core.market_rules import MarketRules
from tradebot.core.orders import (
    CLIENT_ID_MAX,
    TERMINAL,
    TRANSITIONS,
    OrderRecord,
    OrderState,
    client_order_id,
    state_from_exchange,
)

S = OrderState
BAR = 1_733_356_800_000  # 2024-12-05 00:00 UTC

#: the machine as the decision record draws it (written out by hand, checked against the table)
EXPECTED_EDGES = {
    (S.INTENDED, S.SENT), (S.INTENDED, S.REJECTED),
    *((S.SENT, t) for t in (S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED,
                             S.UNKNOWN)),
    *((S.UNKNOWN, t) for t in (S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED,
                                S.SENT)),
    *((S.ACKNOWLEDGED, t) for t in (S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED)),
    *((S.PARTIALLY_FILLED, t) for t in (S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED)),
}


def record(state: OrderState = S.INTENDED, filled: float = 0.0) -> OrderRecord:
    r = OrderRecord.intend("acct", "BTC/USDT", BAR, "entry", "buy", "limit", 0.5, 30_000.0, now_ms=1)
    return r if state == S.INTENDED else OrderRecord(**{**r.__dict__, "state": state, "filled": filled})


def test_the_transition_table_is_the_drawn_machine():
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == EXPECTED_EDGES
    assert set(TRANSITIONS) == set(OrderState)
    assert TERMINAL == {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}
    assert all(not TRANSITIONS[t] for t in TERMINAL)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(OrderState, OrderState)))
def test_every_pair_of_states(source, target):
    r = record(source, filled=0.1 if source == S.PARTIALLY_FILLED else 0.0)
    filled = 0.2 if target == S.PARTIALLY_FILLED else r.filled
    if (source, target) in EXPECTED_EDGES:
        moved = r.move(target, 5, "why", filled=filled)
        assert moved.state == target and moved.updated_ms == 5 and moved.filled == filled
        assert moved.history[-1].source == source and moved.history[-1].target == target
        assert r.state == source  # records are immutable
    else:
        with pytest.raises(OrderStateError, match=f"illegal transition {source.value} -> {target.value}"):
            r.move(target, 5, filled=filled)


def test_filled_amount_never_goes_down_and_partial_needs_a_new_fill():
    r = record(S.PARTIALLY_FILLED, filled=0.3)
    with pytest.raises(OrderStateError, match="cannot go down"):
        r.move(S.FILLED, 2, filled=0.2)
    with pytest.raises(OrderStateError, match="without a new fill"):
        r.move(S.PARTIALLY_FILLED, 2, filled=0.3)
    assert r.move(S.PARTIALLY_FILLED, 2, filled=0.4).filled == 0.4


def test_client_order_ids_are_deterministic_short_and_distinct():
    a = client_order_id("acct", "BTC/USDT", BAR, "entry")
    assert a == client_order_id("acct", "BTC/USDT", BAR, "entry")  # the same in any process
    assert re.fullmatch(r"tb-[0-9a-z]+-[0-9a-f]{20}", a) and len(a) <= CLIENT_ID_MAX
    variants = {client_order_id(*args) for args in [
        ("acct", "BTC/USDT", BAR, "entry"), ("acct2", "BTC/USDT", BAR, "entry"), ("acct", "ETH/USDT", BAR, "entry"),
        ("acct", "BTC/USDT", BAR + 300_000, "entry"), ("acct", "BTC/USDT", BAR, "exit")]}
    assert len(variants) == 5
    longest = client_order_id("a" * 200, "X" * 50 + "/USDT:USDT", 253_402_300_799_000, "i" * 100, prefix="abcdef")
    assert len(longest) <= CLIENT_ID_MAX and re.fullmatch(r"[a-zA-Z0-9_-]{1,36}", longest)
    for bad in [("", "BTC/USDT", BAR, "entry"), ("acct", "BTC/USDT", -1, "entry"), ("acct", "BTC/USDT", BAR, "")]:
        with pytest.raises(UsageError):
            client_order_id(*bad)
    with pytest.raises(UsageError, match="prefix"):
        client_order_id("acct", "BTC/USDT", BAR, "entry", prefix="bad prefix!")
    # the account's scope (a random token stored with it) separates same-named accounts of two stores
    s1 = client_order_id("acct", "BTC/USDT", BAR, "entry", scope="9f86d081884c7d65")
    s2 = client_order_id("acct", "BTC/USDT", BAR, "entry", scope="0b14d501a594442a")
    assert len({a, s1, s2}) == 3 and s1 == client_order_id("acct", "BTC/USDT", BAR, "entry", scope="9f86d081884c7d65")
    assert s1.split("-")[1] == a.split("-")[1] and len(s1) == len(a)


def test_intents_are_validated_and_round_trip_through_the_stored_form():
    with pytest.raises(UsageError, match="side"):
        OrderRecord.intend("a", "BTC/USDT", BAR, "entry", "long", "market", 1.0, None, 0)
    with pytest.raises(UsageError, match="amount"):
        OrderRecord.intend("a", "BTC/USDT", BAR, "entry", "buy", "market", 0.0, None, 0)
    with pytest.raises(UsageError, match="limit order needs a positive price"):
        OrderRecord.intend("a", "BTC/USDT", BAR, "entry", "buy", "limit", 1.0, None, 0)
    r = record().move(S.SENT, 2, attempts=1, sent_ms=2).move(S.PARTIALLY_FILLED, 3, "fill", filled=0.1,
                                                             exchange_order_id="77", fees=(("BTC", 1e-4),))
    back = OrderRecord.from_dict(r.to_dict())
    assert back == r and back.history == r.history and back.state is S.PARTIALLY_FILLED


@pytest.mark.parametrize(("status", "filled", "state"), [
    ("open", 0.0, S.ACKNOWLEDGED), ("open", 0.1, S.PARTIALLY_FILLED), ("closed", 1.0, S.FILLED),
    ("canceled", 0.2, S.CANCELLED), ("expired", 0.0, S.EXPIRED), ("rejected", 0.0, S.REJECTED)])
def test_exchange_statuses(status, filled, state):
    assert state_from_exchange(status, filled) == state


def test_unknown_exchange_status_is_refused():
    with pytest.raises(OrderStateError, match="unknown exchange order status 'weird'"):
        state_from_exchange("weird", 0)


def test_market_rules_round_down_and_name_the_failed_rule():
    rules = MarketRules("BTC/USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.001"),
                        min_amount=Decimal("0.001"), max_amount=Decimal("100"), min_notional=Decimal("10"))
    ok = rules.prepare(0.1 + 0.2, 29_999.999)  # 0.30000000000000004 must not become 0.301
    assert ok.ok and ok.amount == Decimal("0.300") and ok.price == Decimal("30000.00")
    assert rules.prepare(0.0009, 30_000).reason == "amount 0.0009 rounds to 0 on the lot step 0.001"
    assert rules.prepare(0.0003, 1_000_000).reason == "amount 0.0003 rounds to 0 on the lot step 0.001"
    assert rules.prepare(200, 1).reason == "amount 200 is above the maximum 100 of BTC/USDT"
    assert rules.prepare(0.002, 1000).reason == "notional 2 is below the minimum 10 of BTC/USDT"
    assert rules.prepare(0.002, None).ok  # a market order without a reference price: the exchange judges
    assert MarketRules("X/Y").prepare(0.123456789, 1.23456789).amount == Decimal("0.123456789")
