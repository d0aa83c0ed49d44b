"""Paper accounts in the store: state, closed trades and equity, written in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tradebot.core.errors import UsageError
from tradebot.data.models import PaperAccount, PaperEquity, PaperTrade, utcnow
from tradebot.data.repositories import jsonable


@dataclass(frozen=True)
class AccountInfo:
    id: int
    name: str
    exchange: str
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any]
    config: dict[str, Any]
    initial_capital: float
    history_start_ms: int
    last_bar_ms: int | None
    state: list[float]
    trades_count: int


def _info(a: PaperAccount) -> AccountInfo:
    return AccountInfo(a.id, a.name, a.exchange, a.symbol, a.timeframe, a.strategy, dict(a.params),
                       dict(a.config), a.initial_capital, a.history_start_ms, a.last_bar_ms,
                       [float(x) for x in a.state], a.trades_count)


class PaperRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> AccountInfo | None:
        row = self.session.scalars(select(PaperAccount).where(PaperAccount.name == name)).first()
        return _info(row) if row is not None else None

    def all(self) -> list[AccountInfo]:
        return [_info(a) for a in self.session.scalars(select(PaperAccount).order_by(PaperAccount.name))]

    def create(self, *, name: str, exchange: str, symbol: str, timeframe: str, strategy: str,
               params: dict[str, Any], config: dict[str, Any], initial_capital: float,
               history_start_ms: int, last_bar_ms: int | None, state: list[float]) -> AccountInfo:
        row = PaperAccount(name=name, exchange=exchange, symbol=symbol, timeframe=timeframe,
                           strategy=strategy, params=jsonable(params), config=jsonable(config),
                           initial_capital=initial_capital, history_start_ms=history_start_ms,
                           last_bar_ms=last_bar_ms, state=list(state), trades_count=0)
        self.session.add(row)
        self.session.flush()
        return _info(row)

    def record_step(self, account: AccountInfo, *, last_bar_ms: int, state: list[float],
                    trades: list[dict[str, Any]], equity: list[dict[str, Any]]) -> None:
        """Store one run's results; refuses to go backwards (a concurrent or repeated run)."""
        row = self.session.get(PaperAccount, account.id, with_for_update=True)
        if row is None:
            raise UsageError(f"paper account {account.name!r} disappeared")
        if row.last_bar_ms != account.last_bar_ms:
            raise UsageError(f"paper account {account.name!r} was advanced by another run")
        if trades:
            rows = [{**t, "account_id": account.id, "seq": account.trades_count + i}
                    for i, t in enumerate(trades)]
            self.session.execute(insert(PaperTrade), rows)
        if equity:
            self.session.execute(insert(PaperEquity), [{**e, "account_id": account.id} for e in equity])
        row.state = list(state)
        row.last_bar_ms = last_bar_ms
        row.trades_count = account.trades_count + len(trades)
        row.updated_at = utcnow()

    def trades(self, account_id: int) -> list[dict[str, Any]]:
        q = select(PaperTrade).where(PaperTrade.account_id == account_id).order_by(PaperTrade.seq)
        cols = ("seq", "entry_ts_ms", "exit_ts_ms", "direction", "units", "entry_price",
                "exit_price", "entry_fee", "exit_fee", "pnl", "return_pct", "exit_reason")
        return [{c: getattr(t, c) for c in cols} for t in self.session.scalars(q)]

    def equity(self, account_id: int) -> list[tuple[int, float, float]]:
        q = select(PaperEquity.ts_ms, PaperEquity.equity, PaperEquity.position).where(
            PaperEquity.account_id == account_id).order_by(PaperEquity.ts_ms)
        return [(int(a), float(b), float(c)) for a, b, c in self.session.execute(q)]
