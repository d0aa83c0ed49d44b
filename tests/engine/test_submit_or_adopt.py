"""submit_or_adopt against the replay exchange through the real ccxt adapter: lost and late
answers, random faults, crashes between the journal and the exchange — and never a second
order for one intent, asserted on the server's request log."""

from __future__ import annotations

import numpy as np
import pytest

from tradebot.core.candles import Candles
from tradebot.core.errors import ClockSkew, ExchangeError, StoreError
from tradebot.core.orders import OrderRecord, OrderState
from tradebot.engine.order_journal import JsonOrderJournal, MemoryOrderJournal
from tradebot.engine.orders import submit_or_adopt
from tradebot.exchanges.ccxt_exchange import CcxtExchange
from tradebot.exchanges.retry import RetryPolicy
from tradebot.testing.replay_exchange import FaultConfig, ReplayExchange, ReplayMarket

KEY, SECRET = "engine-key", "engine-secret-value"
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.005, max_delay_s=0.02)
S = OrderState
T0 = 1_700_000_000_000


def candles(n: int = 400) -> Candles:
    rng = np.random.default_rng(11)
    close = np.round(30_000 + np.cumsum(rng.normal(0, 20, n)), 2)
    open_ = np.round(np.r_[close[0], close[:-1]], 2)
    high = np.round(np.maximum(open_, close) + rng.uniform(0, 15, n), 2)
    low = np.round(np.minimum(open_, close) - rng.uniform(0, 15, n), 2)
    volume = np.round(rng.uniform(0.5, 50, n), 5)
    ts = 1_699_999_980_000 + np.arange(n, dtype=np.int64) * 60_000
    return Candles(ts, open_, high, low, close, volume, symbol="BTC/USDT", timeframe="1m", source="synthetic")


@pytest.fixture
def rx():
    c = candles()
    server = ReplayExchange([ReplayMarket("BTC/USDT", c)], api_keys={KEY: SECRET},
                            now_ms=int(c.timestamp[300]) + 30_000, balances={"USDT": 1_000_000.0, "BTC": 10.0})
    server.start()
    yield server
    server.stop()


def adapter(rx, timeout_ms: int = 2000) -> CcxtExchange:
    ex = CcxtExchange("binance", base_url=rx.url, api_key=KEY, secret=SECRET, rate_limit=False, retry=FAST,
                      timeout_ms=timeout_ms)
    ex.load_markets()
    return ex


def intent(i: int, side: str = "buy", type: str = "market", amount: float = 0.01,
           price: float | None = None) -> OrderRecord:
    return OrderRecord.intend("acct", "BTC/USDT", T0 + i * 60_000, "entry", side, type, amount, price, now_ms=T0)


def placed(rx, cid: str) -> int:
    """New-order requests the server carried out for ``cid``."""
    return sum(1 for e in rx.request_log if e.endpoint == "order_new" and e.processed and e.status == 200
               and e.params.get("newClientOrderId") == cid)


def drive(journal, ex, record: OrderRecord, now_ms: int, tries: int = 40) -> tuple[OrderRecord, list[str]]:
    """Call submit_or_adopt as a runner would (the clock moves 6 s per call) until the
    intent is settled; errors of the exchange (lookups that failed after retries) are
    retried on the next call."""
    actions = []
    for k in range(tries):
        try:
            result = submit_or_adopt(journal, ex, record, now_ms + k * 6_000)
        except ExchangeError as e:
            actions.append(type(e).__name__)
            continue
        actions.append(result.action)
        if result.action != "pending" and result.record.state not in (S.INTENDED, S.SENT, S.UNKNOWN):
            return result.record, actions
    raise AssertionError(f"not settled after {tries} calls: {actions}")


def test_every_answer_lost_still_one_order_per_intent(rx):
    ex = adapter(rx)
    journal = MemoryOrderJournal()
    rx.faults = FaultConfig(rate=1.0, kinds=("lost_answer",), endpoints=("order_new",))
    for i in range(8):
        record, actions = drive(journal, ex, intent(i), T0)
        assert record.state == S.FILLED and record.exchange_order_id and actions == ["adopted"]
        assert record.attempts == 1 and [t.target for t in record.history] == [S.SENT, S.UNKNOWN, S.FILLED]
        assert placed(rx, record.client_order_id) == 1
        assert submit_or_adopt(journal, ex, intent(i), T0 + 60_000).action == "done"  # a later run: nothing
    new_orders = [e for e in rx.request_log if e.endpoint == "order_new"]
    assert len(new_orders) == 8 and all(e.fault == "lost_answer" and not e.answered for e in new_orders)
    assert len(rx.dialect.orders.orders) == 8


def test_late_answers_after_the_client_gave_up_are_adopted(rx):
    ex = adapter(rx, timeout_ms=300)
    journal = MemoryOrderJournal()
    rx.faults = FaultConfig(rate=1.0, kinds=("late_answer",), endpoints=("order_new",), slow_s=0.6)
    record, actions = drive(journal, ex, intent(0), T0)
    assert record.state == S.FILLED and actions == ["adopted"] and placed(rx, record.client_order_id) == 1


def test_random_faults_on_every_endpoint_never_duplicate_an_order(rx):
    ex = adapter(rx, timeout_ms=250)
    journal = MemoryOrderJournal()
    kinds = ("lost_answer", "late_answer", "rate_limit", "server_error", "reset", "drop", "slow")
    rx.faults = FaultConfig(rate=0.3, kinds=kinds, slow_s=0.35, retry_after_s=0.01, seed=5)
    last = float(rx.market("BTC/USDT").series.last_price(rx.now_ms))
    records = []
    for i in range(16):
        limit, side = i % 2 == 1, "buy" if i % 3 else "sell"
        want = intent(i, side, "limit" if limit else "market", 0.01,
                      round(last * (0.9 if side == "buy" else 1.1), 2) if limit else None)  # rests
        record, _ = drive(journal, ex, want, T0)
        records.append(record)
    rx.faults = FaultConfig()
    assert sum(rx.stats.faults.values()) >= 10  # the faults did happen
    for record in records:
        assert placed(rx, record.client_order_id) == 1, record
        on_exchange = [o for o in rx.dialect.orders.orders.values() if o.client_order_id == record.client_order_id]
        assert len(on_exchange) == 1 and str(on_exchange[0].order_id) == record.exchange_order_id
        assert record.state == (S.FILLED if record.type == "market" else S.ACKNOWLEDGED)
    assert len(rx.dialect.orders.orders) == 16


class Crash(BaseException):
    """The process dies here (nothing after it runs; the journal file is what survives)."""


class CrashAfterSend:
    """The real adapter, but the process dies right after the exchange accepted the order."""

    def __init__(self, ex: CcxtExchange) -> None:
        self.ex = ex

    def fetch_order_by_client_id(self, cid, symbol):
        return self.ex.fetch_order_by_client_id(cid, symbol)

    def create_order(self, *args, **kwargs):
        self.ex.create_order(*args, **kwargs)
        raise Crash


class CrashBeforeSend(CrashAfterSend):
    def create_order(self, *args, **kwargs):
        raise Crash


def test_a_crash_after_sending_is_adopted_from_the_journal_file(rx, tmp_path):
    ex = adapter(rx)
    path = tmp_path / "orders.json"
    with pytest.raises(Crash):
        submit_or_adopt(JsonOrderJournal(path), CrashAfterSend(ex), intent(0), T0)
    survived = JsonOrderJournal(path).get(intent(0).client_order_id)
    assert survived is not None and survived.state == S.SENT and survived.attempts == 1  # written ahead
    result = submit_or_adopt(JsonOrderJournal(path), ex, intent(0), T0 + 1_000)
    assert result.action == "adopted" and result.record.state == S.FILLED
    assert placed(rx, intent(0).client_order_id) == 1
    assert JsonOrderJournal(path).get(intent(0).client_order_id).state == S.FILLED


def test_a_crash_before_sending_waits_out_the_receive_window_then_sends_once(rx, tmp_path):
    ex = adapter(rx)
    path = tmp_path / "orders.json"
    cid = intent(1).client_order_id
    with pytest.raises(Crash):
        submit_or_adopt(JsonOrderJournal(path), CrashBeforeSend(ex), intent(1), T0)
    early = submit_or_adopt(JsonOrderJournal(path), ex, intent(1), T0 + 3_000)
    assert early.action == "pending" and early.record.state == S.UNKNOWN  # it could still arrive: wait
    assert not any(e.endpoint == "order_new" for e in rx.request_log)
    late = submit_or_adopt(JsonOrderJournal(path), ex, intent(1), T0 + 16_000)
    assert late.action == "sent" and late.record.state == S.FILLED and late.record.attempts == 2
    assert placed(rx, cid) == 1
    assert [t.target for t in late.record.history] == [S.SENT, S.UNKNOWN, S.SENT, S.FILLED]


def test_a_sent_record_absent_after_the_window_is_sent_again_once(rx):
    ex = adapter(rx)
    journal = MemoryOrderJournal()
    with pytest.raises(Crash):
        submit_or_adopt(journal, CrashBeforeSend(ex), intent(2), T0)
    result = submit_or_adopt(journal, ex, intent(2), T0 + 20_000)  # the next run, well after the window
    assert result.action == "sent" and result.record.state == S.FILLED
    assert [t.target for t in result.record.history] == [S.SENT, S.UNKNOWN, S.SENT, S.FILLED]
    assert placed(rx, intent(2).client_order_id) == 1


def test_refusals_are_final_and_clock_skew_stops(rx):
    ex = adapter(rx)
    journal = MemoryOrderJournal()
    tiny = intent(0, "buy", "limit", 0.0001, 100.0)  # notional 0.01: the NOTIONAL filter
    result = submit_or_adopt(journal, ex, tiny, T0)
    assert result.action == "rejected" and "NOTIONAL" in result.record.reason
    before = len(rx.request_log)
    assert submit_or_adopt(journal, ex, tiny, T0 + 60_000).action == "done" and len(rx.request_log) == before
    rx.clock_skew_ms = 60_000
    with pytest.raises(ClockSkew):
        submit_or_adopt(journal, ex, intent(1), T0)
    rx.clock_skew_ms = 0
    assert journal.get(intent(1).client_order_id) is None or \
        journal.get(intent(1).client_order_id).state in (S.INTENDED, S.REJECTED)
    assert not any(e.endpoint == "order_new" and e.status == 200 for e in rx.request_log)


def test_the_journal_file_survives_a_torn_append_and_refuses_a_corrupt_line(tmp_path):
    path = tmp_path / "orders.json"
    journal = JsonOrderJournal(path)
    first = intent(0)
    journal.put(first)
    journal.put(first.move(S.SENT, T0 + 1, attempts=1, sent_ms=T0 + 1))
    journal.put(intent(1))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with open(path, "ab") as f:  # a crash in the middle of the next append
        f.write(b'{"client_order_id": "tb-x", "sta')
    again = JsonOrderJournal(path)
    assert again.torn_tail and again.get(first.client_order_id).state == S.SENT
    assert again.get(intent(1).client_order_id) == intent(1) and len(again.records) == 2
    again.put(intent(2))  # appends on a clean line
    assert len(JsonOrderJournal(path).records) == 3 and not JsonOrderJournal(path).torn_tail
    path.write_bytes(path.read_bytes().replace(b'"state":"sent"', b'"state":"lost"', 1))
    with pytest.raises(StoreError, match=r"line 2 is not a record"):
        JsonOrderJournal(path)


def test_sigkill_at_random_instants_never_duplicates_an_order(rx, tmp_path):
    """A worker process settling 24 intents through 20% faults (lost and late answers among
    them) is killed with SIGKILL at random instants (up to 10 times), then runs to the end."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    worker = Path(__file__).with_name("order_worker.py")
    journal = tmp_path / "orders.jsonl"
    count = 24
    rx.faults = FaultConfig(rate=0.2, kinds=("lost_answer", "late_answer", "rate_limit", "server_error", "reset"),
                            slow_s=0.4, retry_after_s=0.01, seed=3)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    rng = random.Random(7)
    kills = 0

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(worker), rx.url, str(journal), str(count)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        return proc

    # kill at random instants until 10 kills landed (a worker that finished all the work
    # before its kill instant ends the loop: how many kills land depends on the machine's speed)
    for _ in range(30):
        proc = start()
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if kills == 10 or proc.returncode == 0:
            break
    proc = start()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert kills >= 5, kills
    rx.faults = FaultConfig()
    records = JsonOrderJournal(journal).records
    assert len(records) == count
    for record in records.values():
        assert record.state == S.FILLED and placed(rx, record.client_order_id) == 1, record
    assert len(rx.dialect.orders.orders) == count  # one order per intent on the exchange
    assert {str(o.order_id) for o in rx.dialect.orders.orders.values()} == \
        {r.exchange_order_id for r in records.values()}
