"""Selection agents in the store: create one, load a version, save a new version.

An agent (table ``agents``) is a method, its parameters, the candidates it chooses among and
the context features it reads, by name and in order, and a seed. Its state is versioned
(``agent_states``): version 1 is the fresh agent; every later save (a walk-forward, a paper run)
adds version ``n + 1`` with the canonical JSON and its sha256, which is checked when the state
is read. ``save_agent_state`` takes a session so a paper run can save the agent inside the
run's own transaction (a run that is not stored leaves no agent version either).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import StoreError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tradebot.ml.agents import Agent
    from tradebot.services.context import Context

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class AgentInfo:
    id: int
    name: str
    method: str
    params: dict[str, Any]
    candidates: tuple[str, ...]
    features: tuple[str, ...]
    seed: int
    created_at: dt.datetime
    version: int  # the version loaded (or the latest)
    sha256: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "method": self.method, "params": self.params,
                "candidates": list(self.candidates), "features": list(self.features), "seed": self.seed,
                "created_at": self.created_at.isoformat(), "version": self.version, "sha256": self.sha256,
                "reason": self.reason}


def _names(kind: str, values: Sequence[str], *, at_least: int) -> tuple[str, ...]:
    if isinstance(values, str):
        raise UsageError(f"agent {kind}: expected a list of names, got the string {values!r}")
    names = tuple(values)
    for n in names:
        if not isinstance(n, str) or not n.strip():
            raise UsageError(f"agent {kind}: every name must be a non-empty string, got {n!r}")
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise UsageError(f"agent {kind}: {dup!r} is listed twice")
    if len(names) < at_least:
        raise UsageError(f"agent {kind}: needs at least {at_least}, got {len(names)} ({', '.join(names) or 'none'})")
    return names


def create_agent(ctx: Context, name: str, method: str, candidates: Sequence[str], features: Sequence[str],
                 seed: int, params: dict[str, Any] | None = None) -> AgentInfo:
    """Store a new agent and its fresh state as version 1. Nothing is stored on bad input.

    ``qlearn`` without ``state_features`` discretises the regime features ``er`` and ``z_48`` when
    ``features`` has them (the stored parameters say which). The agent's ``switch_cost`` is
    what ``params`` says (default 0); :func:`create_agent_from_specs` fills in the configured one."""
    from sqlalchemy import select

    from tradebot.data.agent_models import AgentRow, canonical_json
    from tradebot.ml.agents import make_agent

    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(f"agent name {name!r}: use 1-64 letters, digits, '_', '.' or '-' (starting with a "
                         f"letter or digit)")
    cands = _names("candidates", candidates, at_least=2)
    feats = _names("features", features, at_least=0)
    from tradebot.ml.agents.walkforward import default_params

    if not isinstance(params, dict | None):
        raise UsageError(f"agent {name}: parameters must be a table (name = value), got {params!r}")
    p = default_params(str(method), feats, params)
    try:
        canonical_json(p)
    except (TypeError, ValueError) as e:
        raise UsageError(f"agent {name}: parameters are not plain JSON ({e})") from e
    agent = make_agent(method, len(cands), len(feats), seed=seed, **p)
    with ctx.store.session() as session:
        if session.scalar(select(AgentRow.id).where(AgentRow.name == name)) is not None:
            raise UsageError(f"agent {name!r} already exists")
        row = AgentRow(name=name, method=method, params=p, candidates=list(cands), features=list(feats),
                       seed=seed)
        session.add(row)
        session.flush()
        save_agent_state(session, row.id, agent, "created")
        return _info(session, row, None)


def settings_switch_cost(ctx: Context) -> float:
    """Closing one candidate's position and opening another's under the configured costs:
    ``2 x (taker fee + fixed slippage)`` (ATR slippage is not known in advance and left out)."""
    s = ctx.settings
    slippage = s.slippage.bps / 10_000 if s.slippage.mode == "fixed" else 0.0
    return round(2.0 * (float(s.fees.taker) + float(slippage)), 12)


def save_agent_state(session: Session, agent_id: int, agent: Agent, reason: str) -> int:
    """Add the agent's current state as the next version of ``agent_id``; returns the version.

    Runs in the caller's session (transaction): nothing is committed here."""
    from sqlalchemy import func, select

    from tradebot.data.agent_models import AgentRow, AgentStateRow, canonical_json, state_sha256

    row = session.get(AgentRow, agent_id)
    if row is None:
        raise UsageError(f"no agent with id {agent_id}")
    state = agent.to_state()
    if state.get("method") != row.method or state.get("n_arms") != len(row.candidates) \
            or state.get("n_features") != len(row.features):
        raise UsageError(f"agent {row.name}: the state is a {state.get('method')} agent with "
                         f"{state.get('n_arms')} arms and {state.get('n_features')} features, the stored agent "
                         f"is {row.method} with {len(row.candidates)} and {len(row.features)}")
    text = canonical_json(state)
    latest = session.scalar(select(func.max(AgentStateRow.version)).where(AgentStateRow.agent_id == agent_id))
    version = int(latest or 0) + 1
    session.add(AgentStateRow(agent_id=agent_id, version=version, state=text, sha256=state_sha256(text),
                              reason=str(reason)))
    session.flush()
    return version


def load_agent_in(session: Session, name: str, version: int | None = None) -> tuple[AgentInfo, Agent]:
    """:func:`load_agent` inside the caller's session."""
    from sqlalchemy import select

    from tradebot.data.agent_models import AgentRow
    from tradebot.ml.agents import agent_from_state

    row = session.scalar(select(AgentRow).where(AgentRow.name == name))
    if row is None:
        raise UsageError(f"no agent named {name!r}")
    info = _info(session, row, version)
    state_row = _state_row(session, row.id, info.version)
    return info, agent_from_state(json.loads(state_row.state))


def load_agent(ctx: Context, name: str, version: int | None = None) -> tuple[AgentInfo, Agent]:
    """The stored agent ``name`` at ``version`` (default: the latest), its sha256 checked."""
    with ctx.store.session() as session:
        return load_agent_in(session, name, version)


def agent_versions(ctx: Context, name: str) -> list[dict[str, Any]]:
    """Every stored version of agent ``name``: version, sha256, reason, created."""
    from sqlalchemy import select

    from tradebot.data.agent_models import AgentRow, AgentStateRow

    with ctx.store.session() as session:
        row = session.scalar(select(AgentRow).where(AgentRow.name == name))
        if row is None:
            raise UsageError(f"no agent named {name!r}")
        rows = session.scalars(select(AgentStateRow).where(AgentStateRow.agent_id == row.id)
                               .order_by(AgentStateRow.version)).all()
        return [{"version": r.version, "sha256": r.sha256, "reason": r.reason,
                 "created_at": r.created_at.isoformat()} for r in rows]


def _state_row(session: Session, agent_id: int, version: int) -> Any:
    from sqlalchemy import select

    from tradebot.data.agent_models import AgentStateRow, state_sha256

    r = session.scalar(select(AgentStateRow).where(AgentStateRow.agent_id == agent_id,
                                                   AgentStateRow.version == version))
    if r is None:
        raise UsageError(f"agent id {agent_id} has no version {version}")
    if state_sha256(r.state) != r.sha256:
        raise StoreError(f"agent id {agent_id} version {version}: stored state does not match its sha256 "
                         f"{r.sha256[:12]} (edited or corrupted)")
    return r


def _info(session: Session, row: Any, version: int | None) -> AgentInfo:
    from sqlalchemy import func, select

    from tradebot.data.agent_models import AgentStateRow

    if version is None:
        v = session.scalar(select(func.max(AgentStateRow.version)).where(AgentStateRow.agent_id == row.id))
        if v is None:
            raise StoreError(f"agent {row.name!r} has no stored state")
        version = int(v)
    elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UsageError(f"agent {row.name}: version must be an integer >= 1, got {version!r}")
    state_row = _state_row(session, row.id, version)
    return AgentInfo(id=row.id, name=row.name, method=row.method, params=dict(row.params),
                     candidates=tuple(row.candidates), features=tuple(row.features), seed=int(row.seed),
                     created_at=row.created_at, version=version, sha256=state_row.sha256,
                     reason=state_row.reason)


def parse_agent_params(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings as agent parameters: each value read as JSON (``0.5``, ``true``,
    ``[7, 8]``), else kept as text; a malformed item is one line."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = str(item).partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {item!r}: expected NAME=VALUE")
        try:
            out[name.strip()] = json.loads(value)
        except ValueError:
            out[name.strip()] = value
    return out


def create_agent_from_specs(ctx: Context, name: str, method: str, specs: Sequence[str],
                            features: Sequence[str] | None, seed: int,
                            params: dict[str, Any] | None = None) -> AgentInfo:
    """:func:`create_agent` with candidates given as selector specs (resolved like ``tradebot
    select`` and ``paper-select`` do: ``flat`` first, duplicates dropped) and features defaulting
    to every context column a selector account computes; ``switch_cost`` defaults to
    :func:`settings_switch_cost` (stored with the parameters, so a paper account's agent charges
    what a backtest of the same candidates pays)."""
    from tradebot.ml.select.candidates import resolve_candidates
    from tradebot.services.paper_selector import context_columns

    cands = resolve_candidates(ctx, list(specs))
    known = context_columns()
    feats = tuple(features) if features else known
    bad = [f for f in feats if f not in known]
    if bad:
        raise UsageError(f"--feature {bad[0]!r}: not a context feature (known: {', '.join(known)})")
    p = dict(params or {})
    p.setdefault("switch_cost", settings_switch_cost(ctx))
    return create_agent(ctx, name, method, [c.name for c in cands], feats, seed, p)


def agent_summary(ctx: Context, name: str, version: int | None = None) -> dict[str, Any]:
    """The agent, its versions and, per candidate, how often it was learnt (bandits: updates;
    Q-learning: applied updates summed over states) and, at the version shown, the candidate
    held."""
    import numpy as np

    info, agent = load_agent(ctx, name, version)
    state = agent.to_state()
    if info.method == "qlearn":
        learnt = [int(v) for v in np.asarray(state["visits"]).sum(axis=(0, 1))]
        held = int(state["held"])
        held = held if held < len(info.candidates) else -1
    else:
        learnt = [int(v) for v in state["counts"]]
        held = int(state["held"])
    arms = [{"candidate": c, "updates": n, "held": i == held} for i, (c, n) in enumerate(zip(info.candidates, learnt,
                                                                                           strict=True))]
    return {**info.to_dict(), "arms": arms, "versions": agent_versions(ctx, name)}
