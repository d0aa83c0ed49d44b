"""Helpers of the live guard tests: the replay exchange (binance dialect, keys checked),
an unmodified-ccxt adapter on it, a context on a real SQLite file and live accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tradebot.core.config import load_settings
from tradebot.exchanges.ccxt_exchange import CcxtExchange
from tradebot.exchanges.retry import RetryPolicy
from tradebot.services.context import Context
from tradebot.testing.live_harness import walk
from tradebot.testing.replay_exchange import ReplayExchange, ReplayMarket

#: Test credentials (never real ones); the secret tests grep everything for them.
KEY, SECRET = "guard-key-R3VhcmRLZXlWYWx1ZQ", "guard-secret-U2VjcmV0R3VhcmRWYWx1ZQ"
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
SYMBOL = "BTC/USDT"


def start_exchange(n: int = 300, at: int = 250, balances: dict[str, float] | None = None) -> ReplayExchange:
    candles = walk(SYMBOL, n)
    rx = ReplayExchange([ReplayMarket(SYMBOL, candles)], api_keys={KEY: SECRET},
                        now_ms=int(candles.timestamp[at]) + 30_000, balances=balances)
    rx.start()
    return rx


def adapter(rx: ReplayExchange, secret: str = SECRET, **kw: Any) -> CcxtExchange:
    return CcxtExchange("binance", base_url=rx.url, api_key=KEY, secret=secret, rate_limit=False, retry=FAST,
                        timeout_ms=kw.pop("timeout_ms", 3000), **kw)


def make_ctx(home: Path, **live: Any) -> Context:
    return Context(load_settings(overrides={"home": str(home), "live": live}, env={}))


def make_account(ctx: Context, name: str = "acct", mode: str = "live", capital: float = 1000.0,
                 symbols: tuple[str, ...] = (SYMBOL,)) -> int:
    from tradebot.data.portfolio_models import PortfolioAccount

    with ctx.store.session() as s:
        row = PortfolioAccount(name=name, exchange="binance", timeframe="1m", symbols=list(symbols), strategy="rsi",
                               params={}, config={"engine": {"taker_fee": 0.001}}, initial_capital=capital,
                               history_start_ms=0, last_bar_ms=None, state=[], trades_count=0, mode=mode)
        s.add(row)
        s.flush()
        return int(row.id)


def last_price(rx: ReplayExchange) -> float:
    return float(rx.market(SYMBOL).series.last_price(rx.now_ms))


def buy_through_account(ctx: Context, acct_id: int, ex: CcxtExchange, amount: float, name: str = "acct",
                        bar_ms: int = 60_000, intent: str = "buy") -> Any:
    """A market buy sent the way a live run sends it (write-ahead journal, submit_or_adopt)
    and its fills in the ledger: the account holds a position on both sides."""
    from tradebot.core.orders import OrderRecord
    from tradebot.data.live_models import LiveFill
    from tradebot.engine.orders import submit_or_adopt
    from tradebot.services.live_journal import StoreOrderJournal

    journal = StoreOrderJournal(ctx.store, acct_id)
    rec = OrderRecord.intend(name, SYMBOL, bar_ms, intent, "buy", "market", amount, None, 1)
    result = submit_or_adopt(journal, ex, rec, 2, recv_window_ms=ex.recv_window_ms).record
    with ctx.store.session() as s:
        for t in ex.fetch_my_trades(SYMBOL, order_id=result.exchange_order_id):
            s.add(LiveFill(account_id=acct_id, trade_id=str(t.id), client_order_id=rec.client_order_id, symbol=SYMBOL,
                           side=t.side, price=t.price, amount=t.amount, fee_cost=t.fee_cost,
                           fee_currency=t.fee_currency, ts_ms=t.timestamp_ms or 0))
    return result


def limit_through_account(ctx: Context, acct_id: int, ex: CcxtExchange, amount: float, price: float,
                          name: str = "acct", bar_ms: int = 120_000, side: str = "buy") -> Any:
    """A resting limit order sent the way a live run sends it (stays open)."""
    from tradebot.core.orders import OrderRecord
    from tradebot.engine.orders import submit_or_adopt
    from tradebot.services.live_journal import StoreOrderJournal

    rec = OrderRecord.intend(name, SYMBOL, bar_ms, f"limit-{side}", side, "limit", amount, price, 1)
    return submit_or_adopt(StoreOrderJournal(ctx.store, acct_id), ex, rec, 2,
                           recv_window_ms=ex.recv_window_ms).record
