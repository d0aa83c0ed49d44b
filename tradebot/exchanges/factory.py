"""Build an exchange adapter from the settings (credentials and base URL per exchange id).

``[exchanges.<id>]`` in the config, or ``TRADEBOT_EXCHANGES__<ID>__API_KEY`` and friends in
the environment, give ``api_key``, ``secret``, ``password`` (secrets: unwrapped only here,
handed straight to the adapter, never printed) and ``base_url`` (testnet, proxy, replay).
ccxt is imported only when an adapter is built, so importing this module stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tradebot.core.errors import ExchangeNotSupported

if TYPE_CHECKING:
    from tradebot.core.config import ExchangeCredentials, Settings
    from tradebot.exchanges.ccxt_exchange import CcxtExchange
    from tradebot.exchanges.retry import RetryPolicy

__all__ = ["SIM_ID", "exchange_from_settings"]

SIM_ID = "sim"


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None


def _credentials(settings: Settings, exchange_id: str) -> ExchangeCredentials | None:
    exchanges = settings.exchanges or {}
    if exchange_id in exchanges:
        return exchanges[exchange_id]
    for key, value in exchanges.items():  # environment keys arrive lower-cased; be lenient
        if key.lower() == exchange_id:
            return value
    return None


def exchange_from_settings(
    settings: Settings,
    exchange_id: str,
    *,
    market_type: str | None = None,
    rate_limit: bool | None = None,
    retry: RetryPolicy | None = None,
    timeout_ms: int | None = None,
) -> CcxtExchange:
    """The ccxt adapter for ``exchange_id`` with the credentials and base URL from
    ``settings.exchanges[exchange_id]`` (if any). ``market_type`` defaults to
    ``settings.market.market_type``. ``sim`` (the synthetic market) has nothing to fetch:
    :class:`ExchangeNotSupported`; so has an id ccxt does not know (with close names).
    """
    eid = str(exchange_id).strip().lower()
    if eid == SIM_ID:
        raise ExchangeNotSupported("sim is the built-in synthetic market; it has nothing to fetch")
    from tradebot.exchanges.ccxt_exchange import CcxtExchange
    from tradebot.exchanges.retry import RetryPolicy

    creds = _credentials(settings, eid)
    return CcxtExchange(
        eid,
        market_type=market_type or settings.market.market_type,
        base_url=(creds.base_url or None) if creds is not None else None,
        api_key=_secret(creds.api_key) if creds is not None else None,
        secret=_secret(creds.secret) if creds is not None else None,
        password=_secret(creds.password) if creds is not None else None,
        timeout_ms=timeout_ms if timeout_ms is not None else (
            creds.timeout_ms if creds is not None else 10_000),
        rate_limit=rate_limit if rate_limit is not None else (
            creds.rate_limit if creds is not None else True),
        retry=retry if retry is not None else RetryPolicy(),
    )
