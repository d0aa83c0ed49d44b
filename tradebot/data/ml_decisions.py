"""Which model made each decision of a paper account trading the ``ml`` strategy, and the
light forms of registry models (arrays that predict without importing scikit-learn).

One row per processed candle: the model (name, version and artifact sha256) that predicted
at its close, the probability it gave (None while the features were not settled) and the
signal that followed (1 enter, -1 exit, 0 neither). Written in the paper run's own
transaction, so a run that is not stored leaves no decisions either.

:class:`MLModelForm`: a registry model's predictions as plain arrays
(:mod:`tradebot.ml.linear_form`), stored beside its artifact as an ``.npz`` without pickles;
the row records the file's sha256 (checked before it is read, like the artifact's) and the
artifact sha256 it was derived from.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from tradebot.data import model_registry as _model_registry  # noqa: F401  (the table the foreign keys name)
from tradebot.data.models import Base, UTCDateTime, utcnow


class MLModelForm(Base):
    __tablename__ = "ml_model_forms"
    __table_args__ = (UniqueConstraint("model_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String)  # "linear"
    path: Mapped[str] = mapped_column(Text)  # relative to TRADEBOT_HOME
    sha256: Mapped[str] = mapped_column(String)
    artifact_sha256: Mapped[str] = mapped_column(String)  # the artifact it was derived from
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MLDecision(Base):
    __tablename__ = "ml_decisions"
    __table_args__ = (UniqueConstraint("account_id", "ts_ms"), Index(None, "model_name", "model_version"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.id", ondelete="CASCADE"))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    model_name: Mapped[str] = mapped_column(String)
    model_version: Mapped[int] = mapped_column(Integer)
    model_sha256: Mapped[str] = mapped_column(String)
    proba: Mapped[float | None] = mapped_column(Double, nullable=True)
    signal: Mapped[int] = mapped_column(SmallInteger)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Decision:
    ts_ms: int
    model_name: str
    model_version: int
    model_sha256: str
    proba: float | None
    signal: int

    def to_dict(self) -> dict[str, object]:
        return {"ts_ms": self.ts_ms, "model": f"{self.model_name}:{self.model_version}",
                "model_sha256": self.model_sha256, "proba": self.proba, "signal": self.signal}


def add_decisions(session: Session, account_id: int, decisions: Sequence[Decision]) -> None:
    """Store ``decisions`` (the caller's transaction; never commits)."""
    session.add_all(
        MLDecision(account_id=account_id, ts_ms=d.ts_ms, model_name=d.model_name, model_version=d.model_version,
                   model_sha256=d.model_sha256,
                   proba=None if d.proba is None or not math.isfinite(d.proba) else float(d.proba),
                   signal=int(d.signal))
        for d in decisions)
    session.flush()


def model_summary(session: Session, account_id: int) -> list[dict[str, object]]:
    """Per model version that decided for the account: candles, entry and exit signals, the
    first and last candle (oldest version first); empty for an account without a model."""
    from sqlalchemy import case, func

    d = MLDecision
    rows = session.execute(
        select(d.model_name, d.model_version, func.count(), func.sum(case((d.signal == 1, 1), else_=0)),
               func.sum(case((d.signal == -1, 1), else_=0)), func.min(d.ts_ms), func.max(d.ts_ms))
        .where(d.account_id == account_id).group_by(d.model_name, d.model_version)
        .order_by(func.min(d.ts_ms)))
    return [{"model": f"{name}:{version}", "decisions": int(n), "entry_signals": int(e or 0),
             "exit_signals": int(x or 0), "first_ms": int(first), "last_ms": int(last)}
            for name, version, n, e, x, first, last in rows]


def decisions(session: Session, account_id: int) -> list[Decision]:
    rows = session.scalars(select(MLDecision).where(MLDecision.account_id == account_id)
                           .order_by(MLDecision.ts_ms))
    return [Decision(r.ts_ms, r.model_name, r.model_version, r.model_sha256, r.proba, r.signal) for r in rows]
