"""call_with_retry / RetryPolicy with a fake clock: no real sleeping."""

from __future__ import annotations

import random

import pytest

from tradebot.core.errors import (
    ExchangeAuthError,
    ExchangeBadResponse,
    ExchangeError,
    ExchangeNotSupported,
    ExchangeRateLimited,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
)
from tradebot.exchanges.retry import NO_RETRY, RetryPolicy, call_with_retry


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    """Fails with the given errors in turn, then returns ``result``."""

    def __init__(self, errors: list[BaseException], result: object = "ok", cost_s: float = 0.0,
                 clock: FakeClock | None = None) -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0
        self.cost_s = cost_s
        self.clock = clock

    def __call__(self) -> object:
        self.calls += 1
        if self.clock is not None:
            self.clock.now += self.cost_s
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def run(fn, policy, clock, **kw):
    return call_with_retry(fn, policy, what="binance fetch_ohlcv BTC/USDT 1m", sleep=clock.sleep, clock=clock,
                           rng=random.Random(7), **kw)


def test_success_first_time_does_not_sleep():
    clock = FakeClock()
    fn = Flaky([])
    assert run(fn, RetryPolicy(), clock) == "ok"
    assert fn.calls == 1 and clock.sleeps == []


def test_transient_errors_are_retried_until_success():
    clock = FakeClock()
    errors = [ExchangeUnavailable("timeout"), ExchangeRateLimited("429"), ExchangeBadResponse("html")]
    fn = Flaky(errors)
    assert run(fn, RetryPolicy(jitter=0.0), clock) == "ok"
    assert fn.calls == 4
    assert clock.sleeps == [0.25, 0.5, 1.0]


def test_backoff_grows_exponentially_and_is_capped():
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.5, max_delay_s=5.0, jitter=0.0, give_up_after_s=1e9)
    fn = Flaky([ExchangeUnavailable("down")] * 9)
    assert run(fn, policy, clock) == "ok"
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0]


@pytest.mark.parametrize("jitter", [0.1, 0.5, 1.0])
def test_jitter_is_bounded(jitter):
    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=1000.0, jitter=jitter)
    rng = random.Random(1)
    for retry in range(1, 9):
        nominal = 2.0 ** (retry - 1)
        values = [policy.backoff_s(retry, rng) for _ in range(400)]
        assert min(values) >= nominal * (1 - jitter) - 1e-9
        assert max(values) <= nominal * (1 + jitter) + 1e-9
        # it really varies, over most of the allowed band
        assert max(values) - min(values) > nominal * jitter


def test_jitter_never_exceeds_max_delay():
    policy = RetryPolicy(base_delay_s=10.0, max_delay_s=10.0, jitter=0.5)
    rng = random.Random(3)
    assert all(policy.backoff_s(n, rng) <= 10.0 for n in range(1, 20) for _ in range(50))


def test_retry_after_is_honoured():
    clock = FakeClock()
    limited = ExchangeRateLimited("binance: rate limited")
    limited.retry_after_s = 7.5
    fn = Flaky([limited])
    assert run(fn, RetryPolicy(base_delay_s=0.1), clock) == "ok"
    assert clock.sleeps == [7.5]


def test_retry_after_shorter_than_backoff_keeps_backoff():
    clock = FakeClock()
    limited = ExchangeRateLimited("429")
    limited.retry_after_s = 0.01
    fn = Flaky([ExchangeUnavailable("x"), ExchangeUnavailable("x"), limited])
    run(fn, RetryPolicy(base_delay_s=1.0, jitter=0.0), clock)
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_gives_up_after_max_attempts_with_one_line_message():
    clock = FakeClock()
    errors = [ExchangeUnavailable(f"binance fetch_ohlcv BTC/USDT 1m: request timed out #{i}") for i in range(10)]
    fn = Flaky(errors)
    with pytest.raises(ExchangeUnavailable) as info:
        run(fn, RetryPolicy(max_attempts=4, jitter=0.0), clock)
    assert fn.calls == 4
    assert len(clock.sleeps) == 3
    message = str(info.value)
    assert message == (
        "binance fetch_ohlcv BTC/USDT 1m: gave up after 4 attempts over 1.8 s: request timed out #3"
    )
    assert "\n" not in message
    assert info.value.__cause__ is errors[3]
    assert info.value.exit_code == 1


def test_gives_up_when_the_time_budget_is_spent():
    clock = FakeClock()
    fn = Flaky([ExchangeUnavailable("down")] * 100, cost_s=2.0, clock=clock)
    policy = RetryPolicy(max_attempts=100, base_delay_s=1.0, max_delay_s=4.0, jitter=0.0, give_up_after_s=20.0)
    # calls at 0-2, 3-5, 7-9, 13-15, 19-21 s: after the 5th no retry can start within 20 s
    with pytest.raises(ExchangeUnavailable, match=r"gave up after 5 attempts over 21\.0 s: down$"):
        run(fn, policy, clock)
    assert clock.sleeps == [1.0, 2.0, 4.0, 4.0]
    assert fn.calls == 5


def test_retry_after_beyond_the_budget_gives_up_at_once():
    clock = FakeClock()
    banned = ExchangeRateLimited("418 banned")
    banned.retry_after_s = 3600
    fn = Flaky([banned])
    expected = r"gave up after 1 attempt over 0\.0 s \(the server asked to wait 3600 s\)"
    with pytest.raises(ExchangeUnavailable, match=expected):
        run(fn, RetryPolicy(), clock)
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "error",
    [
        ExchangeAuthError("binance fetch_balance: authentication refused"),
        ExchangeNotSupported("binance: unknown spot symbol 'BTC/USDX'"),
        InvalidOrder("bad amount"),
        InsufficientFunds("no money"),
        ExchangeError("binance: some refusal"),
        ValueError("a bug is not retried either"),
    ],
)
def test_non_transient_errors_are_raised_at_once(error):
    clock = FakeClock()
    fn = Flaky([error])
    with pytest.raises(type(error)) as info:
        run(fn, RetryPolicy(), clock)
    assert info.value is error
    assert fn.calls == 1 and clock.sleeps == []


def test_on_retry_is_told_attempt_error_and_delay():
    clock = FakeClock()
    seen = []
    errors = [ExchangeUnavailable("a"), ExchangeUnavailable("b")]
    fn = Flaky(list(errors))
    run(fn, RetryPolicy(jitter=0.0), clock, on_retry=lambda n, e, d: seen.append((n, str(e), d)))
    assert seen == [(1, "a", 0.25), (2, "b", 0.5)]


def test_retry_on_narrows_what_is_retried():
    clock = FakeClock()
    fn = Flaky([ExchangeUnavailable("timeout: the order may exist")])
    with pytest.raises(ExchangeUnavailable, match="the order may exist"):
        run(fn, RetryPolicy(), clock, retry_on=(ExchangeRateLimited,))
    assert fn.calls == 1
    fn = Flaky([ExchangeRateLimited("429")])
    assert run(fn, RetryPolicy(), clock, retry_on=(ExchangeRateLimited,)) == "ok"


def test_no_retry_policy_and_single_attempt_wording():
    clock = FakeClock()
    with pytest.raises(ExchangeUnavailable, match="gave up after 1 attempt over 0.0 s: x"):
        run(Flaky([ExchangeUnavailable("x")]), NO_RETRY, clock)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"jitter": 1.5}, {"jitter": -0.1}, {"base_delay_s": -1.0}],
)
def test_policy_validates(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
