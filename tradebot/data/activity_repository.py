"""The paper accounts' activity as one stream: orders (the signals the strategy acted on), fills
and risk events, each table read after a cursor (its last primary key seen), so a reader that
polls sees every new row exactly once and in the order it was stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradebot.data.models import PaperAccount, PaperFill, PaperOrder, PaperRiskEvent


@dataclass(frozen=True)
class ActivityCursor:
    """The last row id seen of each table (0: none)."""

    order: int = 0
    fill: int = 0
    risk: int = 0

    def token(self) -> str:
        return f"{self.order}-{self.fill}-{self.risk}"

    @classmethod
    def parse(cls, token: str | None) -> ActivityCursor | None:
        """The cursor an SSE ``Last-Event-ID`` names; None when absent or not one of ours."""
        parts = (token or "").strip().split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            return None
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))


class ActivityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def head(self) -> ActivityCursor:
        """The cursor at the newest rows (nothing after it yet)."""
        def top(col: Any) -> int:
            return int(self.session.scalar(select(func.coalesce(func.max(col), 0))) or 0)
        return ActivityCursor(top(PaperOrder.id), top(PaperFill.id), top(PaperRiskEvent.id))

    def orders_after(self, after: int, limit: int) -> list[dict[str, Any]]:
        q = (select(PaperOrder, PaperAccount.name, PaperAccount.symbol)
             .join(PaperAccount, PaperOrder.account_id == PaperAccount.id)
             .where(PaperOrder.id > after).order_by(PaperOrder.id).limit(limit))
        return [{"id": o.id, "account": name, "symbol": symbol, "ts_ms": o.first_fill_ms, "seq": o.seq,
                 "side": o.side, "order_type": o.order_type, "intent": o.intent, "qty": o.qty,
                 "avg_price": o.avg_price, "status": o.status, "exit_reason": o.exit_reason}
                for o, name, symbol in self.session.execute(q)]

    def fills_after(self, after: int, limit: int) -> list[dict[str, Any]]:
        q = (select(PaperFill, PaperAccount.name, PaperAccount.symbol, PaperOrder.intent)
             .join(PaperAccount, PaperFill.account_id == PaperAccount.id)
             .join(PaperOrder, PaperFill.order_id == PaperOrder.id)
             .where(PaperFill.id > after).order_by(PaperFill.id).limit(limit))
        return [{"id": f.id, "account": name, "symbol": symbol, "ts_ms": f.ts_ms, "seq": f.seq,
                 "side": f.side, "qty": f.qty, "price": f.price, "fee": f.fee, "maker": f.maker,
                 "intent": intent}
                for f, name, symbol, intent in self.session.execute(q)]

    def risk_after(self, after: int, limit: int) -> list[dict[str, Any]]:
        q = (select(PaperRiskEvent, PaperAccount.name)
             .join(PaperAccount, PaperRiskEvent.account_id == PaperAccount.id)
             .where(PaperRiskEvent.id > after).order_by(PaperRiskEvent.id).limit(limit))
        return [{"id": e.id, "account": name, "ts_ms": e.ts_ms, "seq": e.seq, "kind": e.kind,
                 "rule": e.rule, "detail": e.detail}
                for e, name in self.session.execute(q)]
