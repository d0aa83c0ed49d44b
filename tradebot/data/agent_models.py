"""Selection agents and their versioned states (migration 0013).

:class:`AgentRow` (table ``agents``): a named agent — its method (``thompson``, ``linucb``,
``qlearn``), parameters, the candidates it chooses among and the context features it reads (both
by name, in order), its seed and creation time.

:class:`AgentStateRow` (table ``agent_states``): one version of an agent's state — the JSON
document of ``Agent.to_state()``, the sha256 of its canonical JSON (sorted keys, compact
separators), why it was saved (``created``, ``walk-forward``, ``paper run 12``...) and when.
Versions count 1, 2, 3... per agent; ``(agent_id, version)`` is unique, so two writers that
both try to save version ``n`` cannot both succeed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tradebot.data.base import Base, UTCDateTime, utcnow


class AgentRow(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    method: Mapped[str] = mapped_column(String)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    candidates: Mapped[list[str]] = mapped_column(JSON)
    features: Mapped[list[str]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AgentStateRow(Base):
    __tablename__ = "agent_states"
    __table_args__ = (UniqueConstraint("agent_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(Text)  # the canonical JSON text itself (exact floats)
    sha256: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(String)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def canonical_json(state: dict[str, Any]) -> str:
    """The state as canonical JSON: sorted keys, compact, no NaN (floats round-trip exactly)."""
    return json.dumps(state, sort_keys=True, separators=(",", ":"), allow_nan=False)


def state_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
