"""Retrying transient exchange failures: exponential backoff with jitter, ``Retry-After``.

Pure: time, sleeping and randomness are injected, so the policy is unit-tested with a
fake clock. Only transient tradebot errors are retried (by default
:class:`~tradebot.core.errors.ExchangeUnavailable` and its subclasses: network errors,
timeouts, HTTP 429/418 and DDoS protection, 5xx, garbage answers); everything else
(authentication, unknown symbol, invalid order, insufficient funds) is raised at once.

The delay before retry ``n`` (1-based) is ``min(max_delay_s, base_delay_s * 2**(n-1))``
scaled by a uniform factor in ``[1 - jitter, 1 + jitter]`` and capped at ``max_delay_s``;
if the error carries ``retry_after_s`` (the server's ``Retry-After``) the wait is at
least that long. The call gives up when ``max_attempts`` calls have failed or when the
next wait would end past ``give_up_after_s`` since the first attempt, raising
``ExchangeUnavailable("<what>: gave up after N attempts over X s: <last error>")``.

Whoever shows progress (the CLI) learns of every retry without threading a callback
through the adapters: ``with reporting_retries(listener): ...`` calls ``listener`` with a
:class:`RetryNotice` before each wait of any :func:`call_with_retry` in that context.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from tradebot.core.errors import ExchangeUnavailable

__all__ = ["RetryPolicy", "call_with_retry", "NO_RETRY", "RetryNotice", "reporting_retries"]

T = TypeVar("T")

log = logging.getLogger(__name__)

_RNG = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried.

    ``max_attempts``: calls in total (1 = no retry). ``base_delay_s``: the first wait;
    each further wait doubles, up to ``max_delay_s``. ``jitter``: the wait is scaled by a
    uniform factor in ``[1 - jitter, 1 + jitter]`` (0 = none, at most 1).
    ``give_up_after_s``: no retry is started that would begin later than this many
    seconds after the first attempt.
    """

    max_attempts: int = 8
    base_delay_s: float = 0.25
    max_delay_s: float = 30.0
    jitter: float = 0.5
    give_up_after_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.give_up_after_s < 0:
            raise ValueError("RetryPolicy delays must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"RetryPolicy.jitter must be within [0, 1], got {self.jitter}")

    def backoff_s(self, retry: int, rng: random.Random | None = None) -> float:
        """Wait before retry number ``retry`` (1 = the first retry), jitter included."""
        exponent = min(max(retry - 1, 0), 60)
        delay = min(self.max_delay_s, self.base_delay_s * 2.0**exponent)
        if self.jitter:
            factor = 1.0 + self.jitter * (2.0 * (rng or _RNG).random() - 1.0)
            delay *= factor
        return max(0.0, min(self.max_delay_s, delay))


NO_RETRY = RetryPolicy(max_attempts=1, base_delay_s=0.0, max_delay_s=0.0, jitter=0.0)


@dataclass(frozen=True)
class RetryNotice:
    """A retry about to wait: ``attempt`` (1-based) of at most ``max_attempts`` comes after
    ``delay_s`` seconds; ``reason`` is the failed call's error in one line."""

    what: str
    attempt: int
    max_attempts: int
    delay_s: float
    reason: str

    def line(self, width: int = 200) -> str:
        reason = self.reason if len(self.reason) <= width else self.reason[:width - 1] + "…"
        return (f"{self.what}: retrying in {self.delay_s:.1f} s (attempt {self.attempt} of "
                f"{self.max_attempts}): {reason}")


RetryListener = Callable[[RetryNotice], object]
_LISTENERS: ContextVar[tuple[RetryListener, ...]] = ContextVar("tradebot_retry_listeners", default=())


@contextmanager
def reporting_retries(listener: RetryListener | None) -> Iterator[None]:
    """Within the block, every retry of :func:`call_with_retry` is told to ``listener``
    (before its wait); ``None`` changes nothing."""
    if listener is None:
        yield
        return
    token = _LISTENERS.set((*_LISTENERS.get(), listener))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


def _retry_after_s(error: BaseException) -> float | None:
    value = getattr(error, "retry_after_s", None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _one_line(error: BaseException, what: str) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    # the adapter's messages start with the same "<what>: " prefix: do not repeat it
    if text.startswith(what + ": "):
        text = text[len(what) + 2 :]
    return text


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], object] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[int, BaseException, float], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    retry_on: tuple[type[BaseException], ...] = (ExchangeUnavailable,),
) -> T:
    """Call ``fn()`` and return its result, retrying transient failures per ``policy``.

    ``what`` names the operation in the give-up message. ``on_retry(attempt, error,
    delay_s)`` is called before each wait (``attempt`` is the failed call's number).
    ``clock`` gives monotonic seconds (``sleep`` is expected to advance it).
    ``retry_on``: the error types that are retried (default: ``ExchangeUnavailable``);
    anything else propagates unchanged at once.
    """
    rng = rng or _RNG
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except retry_on as error:
            elapsed = clock() - start
            delay = policy.backoff_s(attempt, rng)
            retry_after = _retry_after_s(error)
            if retry_after is not None:
                delay = max(delay, retry_after)
            if attempt >= policy.max_attempts or elapsed + delay > policy.give_up_after_s:
                reason = ""
                if retry_after is not None and elapsed + delay > policy.give_up_after_s:
                    reason = f" (the server asked to wait {retry_after:g} s)"
                raise ExchangeUnavailable(
                    f"{what}: gave up after {attempt} attempt{'s' if attempt != 1 else ''} "
                    f"over {elapsed:.1f} s{reason}: {_one_line(error, what)}"
                ) from error
            log.debug("%s: attempt %d failed (%s); retrying in %.2f s", what, attempt, error, delay)
            if on_retry is not None:
                on_retry(attempt, error, delay)
            listeners = _LISTENERS.get()
            if listeners:
                notice = RetryNotice(what, attempt + 1, policy.max_attempts, delay, _one_line(error, what))
                for listener in listeners:
                    listener(notice)
            sleep(delay)
