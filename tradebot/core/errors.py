"""One error hierarchy for the whole project.

Every error a user can cause or meet carries an ``exit_code`` (2 for usage and
configuration, 1 for runtime failures) and a one-line message that names the file,
field or value at fault. Vendor exceptions are translated at the adapter
(``raise ExchangeUnavailable(...) from e``).
"""

from __future__ import annotations


class TradebotError(Exception):
    """Base of every error tradebot raises on purpose."""

    exit_code = 1


class UsageError(TradebotError):
    """The user asked for something impossible (bad option, bad value)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file, preset or environment variable is invalid."""


class ParameterError(UsageError):
    """A strategy parameter is unknown, of the wrong type or out of range."""


class UnknownStrategyError(UsageError):
    """No strategy is registered under the requested name."""


class StrategyLoadError(UsageError):
    """A user strategy file or entry point could not be loaded."""


class DataValidationError(UsageError):
    """Candle data failed validation (file, row and rule are in the message)."""


class DataNotFoundError(TradebotError):
    """Requested market data is not in the cache."""


class StoreError(TradebotError):
    """The database could not be opened, migrated or written."""


class RunNotFoundError(UsageError):
    """No stored run has the requested id."""


class ExchangeError(TradebotError):
    """An exchange refused or failed a request."""


class ClusterUnavailable(TradebotError):
    """A Dask scheduler given with ``--cluster`` cannot be reached (a runtime failure)."""


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached (network, maintenance, rate limit)."""


class ExchangeRateLimited(ExchangeUnavailable):
    """The exchange asked us to slow down (HTTP 429/418, DDoS protection)."""


class ExchangeBadResponse(ExchangeUnavailable):
    """The exchange answered with something that is not a valid response (HTML, garbage)."""


class ExchangeAuthError(ExchangeError):
    """The exchange refused our credentials or permissions."""

    exit_code = 2


class ExchangeNotSupported(UsageError):
    """Unknown exchange id, symbol or timeframe, or an operation the exchange lacks."""


class InsufficientFunds(ExchangeError):
    """The account cannot pay for the order."""


class InvalidOrder(ExchangeError):
    """The exchange rejected the order's parameters."""


class OrderNotFound(ExchangeError):
    """The exchange does not know the order."""


class Interrupted(TradebotError):
    """The user interrupted the command (Ctrl-C, SIGINT). The message says what was kept
    and how to go on; the exit code is 130 (128 + SIGINT), as a shell reports an interrupt."""

    exit_code = 130


def caused_by_interrupt(error: BaseException) -> bool:
    """True when ``error`` is, or was raised while handling or because of, a
    KeyboardInterrupt: numba's dispatcher turns an interrupt inside a compiled call into
    ``SystemError(... returned a result with an exception set)`` with the interrupt as its
    context."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        if isinstance(e, (KeyboardInterrupt, Interrupted)):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


# --- live trading (orders on a real exchange) -------------------------------------------

AuthenticationFailed = ExchangeAuthError  # the name the live-trading code uses


class ClockSkew(ExchangeAuthError):
    """The exchange refused a signed request because our clock is outside its receive window
    (binance -1021). Not transient: retrying with the same clock fails the same way."""


class OrderRejected(InvalidOrder):
    """The exchange refused a new order (filters, precision, duplicate client id, state);
    nothing was placed."""


class DuplicateClientOrderId(OrderRejected):
    """An open order with this client order id already exists (binance -2010 "Duplicate order
    sent."): the intent was already sent; adopt that order instead."""


class OrderStateError(TradebotError):
    """An order state transition that the live order state machine does not allow."""
