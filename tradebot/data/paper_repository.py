"""Paper accounts in the store: state, closed trades, equity, and the account's ledger
(balances per asset, orders, fills, open position, risk events), written in one transaction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from tradebot.core.errors import UsageError
from tradebot.data.models import (
    PaperAccount,
    PaperBalance,
    PaperEquity,
    PaperFill,
    PaperOrder,
    PaperPosition,
    PaperRiskEvent,
    PaperTrade,
    utcnow,
)
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


@dataclass(frozen=True)
class OrderRow:
    """An order of the ledger; ``id`` is None until it is stored."""

    seq: int
    trade_entry_ms: int
    first_fill_ms: int
    last_fill_ms: int
    side: str
    order_type: str
    intent: str
    qty: float
    cost: float
    avg_price: float
    fee: float
    fills: int
    status: str
    exit_reason: str | None
    id: int | None = None


@dataclass(frozen=True)
class FillRow:
    """An execution; ``order_seq`` names its order (stored with the order's id)."""

    seq: int
    order_seq: int
    ts_ms: int
    side: str
    qty: float
    price: float
    fee: float
    maker: bool


@dataclass(frozen=True)
class PositionRow:
    symbol: str
    qty: float
    avg_entry_price: float
    entry_fee: float
    entry_ms: int
    mark_price: float
    mark_ms: int
    unrealized_pnl: float


@dataclass(frozen=True)
class RiskEventRow:
    ts_ms: int
    kind: str
    rule: str
    detail: str


@dataclass(frozen=True)
class LedgerBook:
    """What a run's ledger update starts from (read inside the run's transaction)."""

    last_order: OrderRow | None
    next_order_seq: int
    next_fill_seq: int
    position: PositionRow | None


@dataclass(frozen=True)
class LedgerUpdate:
    """A run's changes to the ledger: new and changed orders, new fills, the balances and
    position after the run (None: flat), new risk events (in time order)."""

    orders: tuple[OrderRow, ...] = ()
    fills: tuple[FillRow, ...] = ()
    balances: dict[str, float] = field(default_factory=dict)
    balances_ms: int | None = None
    position: PositionRow | None = None
    risk_events: tuple[RiskEventRow, ...] = ()


def _info(a: PaperAccount) -> AccountInfo:
    return AccountInfo(a.id, a.name, a.exchange, a.symbol, a.timeframe, a.strategy, dict(a.params),
                       dict(a.config), a.initial_capital, a.history_start_ms, a.last_bar_ms,
                       [float(x) for x in a.state], a.trades_count)


def _order(o: PaperOrder) -> OrderRow:
    return OrderRow(o.seq, o.trade_entry_ms, o.first_fill_ms, o.last_fill_ms, o.side, o.order_type,
                    o.intent, o.qty, o.cost, o.avg_price, o.fee, o.fills, o.status, o.exit_reason,
                    o.id)


def _position(p: PaperPosition) -> PositionRow:
    return PositionRow(p.symbol, p.qty, p.avg_entry_price, p.entry_fee, p.entry_ms, p.mark_price,
                       p.mark_ms, p.unrealized_pnl)


_ORDER_FIELDS = ("trade_entry_ms", "first_fill_ms", "last_fill_ms", "side", "order_type", "intent",
                 "qty", "cost", "avg_price", "fee", "fills", "status", "exit_reason")


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
               history_start_ms: int, last_bar_ms: int | None, state: list[float],
               balances: dict[str, float] | None = None) -> AccountInfo:
        row = PaperAccount(name=name, exchange=exchange, symbol=symbol, timeframe=timeframe,
                           strategy=strategy, params=jsonable(params), config=jsonable(config),
                           initial_capital=initial_capital, history_start_ms=history_start_ms,
                           last_bar_ms=last_bar_ms, state=list(state), trades_count=0)
        self.session.add(row)
        self.session.flush()
        if balances:
            self._write_balances(row.id, balances, None)
        return _info(row)

    # -- a run ---------------------------------------------------------------------------

    def book(self, account_id: int, symbol: str) -> LedgerBook:
        """The last order, the next order and fill numbers, and the open position."""
        last = self.session.scalars(select(PaperOrder).where(PaperOrder.account_id == account_id)
                                    .order_by(PaperOrder.seq.desc()).limit(1)).first()
        fill_seq = self.session.scalar(select(func.max(PaperFill.seq))
                                       .where(PaperFill.account_id == account_id))
        pos = self.session.scalars(select(PaperPosition).where(
            PaperPosition.account_id == account_id, PaperPosition.symbol == symbol)).first()
        return LedgerBook(_order(last) if last is not None else None,
                          last.seq + 1 if last is not None else 0,
                          fill_seq + 1 if fill_seq is not None else 0,
                          _position(pos) if pos is not None else None)

    def risk_marks(self, account_id: int, since_ms: int) -> list[tuple[int, str, str]]:
        """(ts_ms, kind, rule) of the daily limits and alerts recorded from ``since_ms`` on,
        plus the last ``alert``/``alert_cleared`` of each rule (whenever it was)."""
        q = (select(PaperRiskEvent.ts_ms, PaperRiskEvent.kind, PaperRiskEvent.rule)
             .where(PaperRiskEvent.account_id == account_id,
                    PaperRiskEvent.kind.in_(("limit_reached", "alert")),
                    PaperRiskEvent.ts_ms >= since_ms))
        marks = [(int(t), str(k), str(r)) for t, k, r in self.session.execute(q)]
        last = (select(PaperRiskEvent.rule, func.max(PaperRiskEvent.seq))
                .where(PaperRiskEvent.account_id == account_id,
                       PaperRiskEvent.kind.in_(("alert", "alert_cleared")))
                .group_by(PaperRiskEvent.rule))
        seqs = [int(s) for _, s in self.session.execute(last)]
        if seqs:
            q2 = select(PaperRiskEvent.ts_ms, PaperRiskEvent.kind, PaperRiskEvent.rule).where(
                PaperRiskEvent.account_id == account_id, PaperRiskEvent.seq.in_(seqs))
            marks += [(int(t), str(k), str(r)) for t, k, r in self.session.execute(q2)]
        return marks

    def peak_equity(self, account_id: int) -> float | None:
        value = self.session.scalar(select(func.max(PaperEquity.equity))
                                    .where(PaperEquity.account_id == account_id))
        return float(value) if value is not None else None

    def equity_before(self, account_id: int, ts_ms: int) -> float | None:
        """Equity at the last stored close before ``ts_ms``."""
        value = self.session.scalar(
            select(PaperEquity.equity).where(PaperEquity.account_id == account_id,
                                             PaperEquity.ts_ms < ts_ms)
            .order_by(PaperEquity.ts_ms.desc()).limit(1))
        return float(value) if value is not None else None

    def record_step(self, account: AccountInfo, *, last_bar_ms: int, state: list[float],
                    trades: list[dict[str, Any]], equity: list[dict[str, Any]],
                    ledger: LedgerUpdate | None = None) -> None:
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
        if ledger is not None:
            self._write_ledger(account, ledger)
        row.state = list(state)
        row.last_bar_ms = last_bar_ms
        row.trades_count = account.trades_count + len(trades)
        row.updated_at = utcnow()

    def _write_ledger(self, account: AccountInfo, ledger: LedgerUpdate) -> None:
        now = utcnow()
        ids: dict[int, int] = {}
        for o in ledger.orders:  # orders already stored: only the last one can change
            if o.id is not None:
                old = self.session.get(PaperOrder, o.id)
                if old is None or old.account_id != account.id or old.seq != o.seq:
                    raise UsageError(f"paper account {account.name!r}: order {o.seq} changed "
                                     "under this run")
                for k in _ORDER_FIELDS:
                    setattr(old, k, getattr(o, k))
                old.updated_at = now
                ids[o.seq] = old.id
        new = [o for o in ledger.orders if o.id is None]
        if new:
            self.session.execute(insert(PaperOrder), [
                {**{k: getattr(o, k) for k in _ORDER_FIELDS}, "account_id": account.id, "seq": o.seq,
                 "created_at": now, "updated_at": now} for o in new])
            q = select(PaperOrder.seq, PaperOrder.id).where(PaperOrder.account_id == account.id,
                                                            PaperOrder.seq >= min(o.seq for o in new))
            ids.update({int(seq): int(i) for seq, i in self.session.execute(q)})
        if ledger.fills:
            missing = {f.order_seq for f in ledger.fills} - ids.keys()
            if missing:
                raise ValueError(f"fills of orders {sorted(missing)} without the order")
            self.session.execute(insert(PaperFill), [
                {**{k: v for k, v in asdict(f).items() if k != "order_seq"},
                 "account_id": account.id, "order_id": ids[f.order_seq], "recorded_at": now}
                for f in ledger.fills])
        if ledger.balances:
            self._write_balances(account.id, ledger.balances, ledger.balances_ms)
        self.session.execute(delete(PaperPosition).where(PaperPosition.account_id == account.id,
                                                         PaperPosition.symbol == account.symbol))
        if ledger.position is not None:
            self.session.add(PaperPosition(account_id=account.id, updated_at=now,
                                           **asdict(ledger.position)))
        if ledger.risk_events:
            top = self.session.scalar(select(func.max(PaperRiskEvent.seq))
                                      .where(PaperRiskEvent.account_id == account.id))
            first = top + 1 if top is not None else 0
            self.session.execute(insert(PaperRiskEvent), [
                {**asdict(e), "account_id": account.id, "seq": first + i, "recorded_at": now}
                for i, e in enumerate(ledger.risk_events)])

    def _write_balances(self, account_id: int, balances: dict[str, float], as_of_ms: int | None) -> None:
        now = utcnow()
        have = {b.asset: b for b in self.session.scalars(
            select(PaperBalance).where(PaperBalance.account_id == account_id))}
        for asset, amount in balances.items():
            b = have.get(asset)
            if b is None:
                self.session.add(PaperBalance(account_id=account_id, asset=asset, amount=float(amount),
                                              as_of_ms=as_of_ms, updated_at=now))
            else:
                b.amount, b.as_of_ms, b.updated_at = float(amount), as_of_ms, now

    # -- reading ---------------------------------------------------------------------------

    def trades(self, account_id: int) -> list[dict[str, Any]]:
        q = select(PaperTrade).where(PaperTrade.account_id == account_id).order_by(PaperTrade.seq)
        cols = ("seq", "entry_ts_ms", "exit_ts_ms", "direction", "units", "entry_price",
                "exit_price", "entry_fee", "exit_fee", "pnl", "return_pct", "exit_reason")
        return [{c: getattr(t, c) for c in cols} for t in self.session.scalars(q)]

    def equity_since(self, account_id: int, ts_ms: int) -> list[tuple[int, float]]:
        """(ts, equity) of the stored closes at or after ``ts_ms``, in time order."""
        q = select(PaperEquity.ts_ms, PaperEquity.equity).where(
            PaperEquity.account_id == account_id, PaperEquity.ts_ms >= ts_ms).order_by(PaperEquity.ts_ms)
        return [(int(a), float(b)) for a, b in self.session.execute(q)]

    def exits_since(self, account_id: int, ts_ms: int) -> list[int]:
        """Exit times of the trades closed at or after ``ts_ms``."""
        q = select(PaperTrade.exit_ts_ms).where(PaperTrade.account_id == account_id,
                                                PaperTrade.exit_ts_ms >= ts_ms)
        return [int(t) for t in self.session.scalars(q)]

    def equity(self, account_id: int) -> list[tuple[int, float, float]]:
        q = select(PaperEquity.ts_ms, PaperEquity.equity, PaperEquity.position).where(
            PaperEquity.account_id == account_id).order_by(PaperEquity.ts_ms)
        return [(int(a), float(b), float(c)) for a, b, c in self.session.execute(q)]

    def balances(self, account_id: int) -> list[dict[str, Any]]:
        q = select(PaperBalance).where(PaperBalance.account_id == account_id).order_by(PaperBalance.id)
        return [{"asset": b.asset, "amount": b.amount, "as_of_ms": b.as_of_ms}
                for b in self.session.scalars(q)]

    def positions(self, account_id: int) -> list[dict[str, Any]]:
        q = select(PaperPosition).where(PaperPosition.account_id == account_id).order_by(
            PaperPosition.symbol)
        return [asdict(_position(p)) for p in self.session.scalars(q)]

    def orders(self, account_id: int, last: int | None = None) -> list[dict[str, Any]]:
        """Orders in order of placement (the ``last`` ones only, if given)."""
        q = select(PaperOrder).where(PaperOrder.account_id == account_id).order_by(PaperOrder.seq.desc())
        if last is not None:
            q = q.limit(last)
        rows = [{k: v for k, v in asdict(_order(o)).items() if k != "id"} for o in self.session.scalars(q)]
        return rows[::-1]

    def fills(self, account_id: int, last: int | None = None) -> list[dict[str, Any]]:
        """Fills in execution order with their order's number (the ``last`` ones, if given)."""
        q = (select(PaperFill, PaperOrder.seq, PaperOrder.intent, PaperOrder.order_type)
             .join(PaperOrder, PaperFill.order_id == PaperOrder.id)
             .where(PaperFill.account_id == account_id).order_by(PaperFill.seq.desc()))
        if last is not None:
            q = q.limit(last)
        rows = [{"seq": f.seq, "order_seq": seq, "ts_ms": f.ts_ms, "side": f.side, "qty": f.qty,
                 "price": f.price, "fee": f.fee, "maker": f.maker, "intent": intent,
                 "order_type": otype} for f, seq, intent, otype in self.session.execute(q)]
        return rows[::-1]

    def risk_events(self, account_id: int, *, last: int | None = None,
                    exclude_kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        q = select(PaperRiskEvent).where(PaperRiskEvent.account_id == account_id)
        if exclude_kinds:
            q = q.where(PaperRiskEvent.kind.not_in(exclude_kinds))
        q = q.order_by(PaperRiskEvent.seq.desc())
        if last is not None:
            q = q.limit(last)
        rows = [{"seq": e.seq, "ts_ms": e.ts_ms, "kind": e.kind, "rule": e.rule, "detail": e.detail}
                for e in self.session.scalars(q)]
        return rows[::-1]

    def risk_counts(self, account_id: int) -> dict[str, dict[str, int]]:
        """kind -> rule -> number of risk events."""
        q = (select(PaperRiskEvent.kind, PaperRiskEvent.rule, func.count())
             .where(PaperRiskEvent.account_id == account_id)
             .group_by(PaperRiskEvent.kind, PaperRiskEvent.rule))
        out: dict[str, dict[str, int]] = {}
        for kind, rule, n in self.session.execute(q):
            out.setdefault(str(kind), {})[str(rule)] = int(n)
        return out
