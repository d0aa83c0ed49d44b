"""The live guard commands' service side: open a live account's exchange, and run the
reconciliation view, the stop and the resume for ``tradebot live stop|resume|reconcile``.

The exchange adapter is the live run's (:func:`tradebot.services.live._exchange`): keys
(environment or 0600 file) for a real account, none for a dry run, the testnet when the
account was created on it, ``--testnet`` or ``live.testnet``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import UsageError

if TYPE_CHECKING:
    from tradebot.services.context import Context
    from tradebot.services.live_kill import StopResult
    from tradebot.services.live_reconcile import ReconcileReport

__all__ = ["account_exchange", "reconcile_view", "resume", "stop"]

log = logging.getLogger("tradebot.live")


def _account_row(ctx: Context, account: str) -> tuple[int, str, str, bool]:
    """(id, mode, exchange id, created on the testnet) of the live account ``account``."""
    from tradebot.services.live_kill import _live_account

    acct = _live_account(ctx, account)
    return acct.id, acct.mode, acct.exchange, acct.testnet


def account_exchange(ctx: Context, account: str, *, testnet: bool = False) -> tuple[int, str, Any]:
    """(account id, mode, adapter) of the live account ``account``; missing keys for a real
    account are a :class:`~tradebot.core.errors.ConfigError` (nothing is sent)."""
    from tradebot.services.live import _exchange

    acct_id, mode, exchange_id, created_testnet = _account_row(ctx, account)
    testnet = bool(testnet or created_testnet or ctx.settings.live.testnet)
    return acct_id, mode, _exchange(ctx, exchange_id, mode, testnet)


def reconcile_view(ctx: Context, account: str, *, adopt: bool = False, testnet: bool = False) -> ReconcileReport:
    """Reconcile ``account`` now (stored), without trading; with ``adopt`` take the
    exchange's view of what differs (an ``adopt`` event)."""
    from tradebot.services.live_reconcile import adopt_exchange_view, reconcile_account

    acct_id, mode, ex = account_exchange(ctx, account, testnet=testnet)
    try:
        if mode != "live":
            raise UsageError(f"live account {account!r} is a dry run: it has no exchange account to reconcile")
        with ctx.store.session() as session:
            report = reconcile_account(ctx, session, acct_id, ex, dust=ctx.settings.live.dust)
            if adopt and not report.ok:
                adopt_exchange_view(ctx, session, acct_id, report)
        log.info("live %s: reconciliation %s%s", account, "ok" if report.ok else
                 f"{len(report.differences)} difference(s): " + "; ".join(d.line() for d in report.differences[:5]),
                 " (adopted)" if adopt and not report.ok else "")
        return report
    finally:
        ex.close()


def stop(ctx: Context, account: str, *, flatten: bool = False, reason: str | None = None,
         testnet: bool = False) -> StopResult:
    from tradebot.services.live_kill import stop_account

    _acct_id, _mode, ex = account_exchange(ctx, account, testnet=testnet)
    try:
        result = stop_account(ctx, account, ex, flatten=flatten, reason=reason or "tradebot live stop", by="command")
    finally:
        ex.close()
    log.info("live %s: %s", account, result.summary())
    return result


def resume(ctx: Context, account: str) -> Any:
    from tradebot.services.live_kill import resume_account

    state = resume_account(ctx, account)
    log.info("live %s: resumed", account)
    return state
