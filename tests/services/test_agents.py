"""Agents in a real SQLite store: create, save versions, load any version, bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.ml.agents.records import planted_record
from tradebot.core.config import load_settings
from tradebot.core.errors import StoreError, UsageError
from tradebot.services.agents import agent_versions, create_agent, load_agent, load_agent_in, save_agent_state
from tradebot.services.context import Context

CANDS = ("trend", "reversion", "flat")
FEATS = ("er", "vol", "junk")


@pytest.fixture
def ctx(tmp_path: Path):
    c = Context(load_settings(overrides={"home": str(tmp_path / "home")}, env={}))
    yield c
    c.close()


def _db(ctx: Context) -> Path:
    return Path(ctx.settings.home) / "tradebot.db"


def _count(ctx: Context, table: str) -> int:
    conn = sqlite3.connect(_db(ctx))
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("method", ["thompson", "linucb", "qlearn"])
def test_store_round_trip_and_versions(ctx: Context, method: str) -> None:
    rec = planted_record(3, n_windows=40)
    info = create_agent(ctx, "sel-1", method, CANDS, FEATS, seed=7, params={"epsilon": 0.1})
    assert (info.version, info.reason, info.candidates, info.features) == (1, "created", CANDS, FEATS)
    assert _db(ctx).is_file()

    # run 20 windows, saving after each in its own transaction, as a paper account would
    _, agent = load_agent(ctx, "sel-1")
    for w in range(20):
        with ctx.store.session() as session:
            info_w, agent = load_agent_in(session, "sel-1")
            arm = agent.choose(rec.context[w])
            for a in range(3):
                agent.update(rec.context[w], a, float(rec.returns[w, a]))
            version = save_agent_state(session, info_w.id, agent, f"window {w}")
        assert version == w + 2
        assert isinstance(arm, int)

    versions = agent_versions(ctx, "sel-1")
    assert [v["version"] for v in versions] == list(range(1, 22))
    assert versions[5]["reason"] == "window 4"

    # the stored latest continues exactly like an agent that never left memory
    latest_info, latest = load_agent(ctx, "sel-1")
    assert latest_info.version == 21
    assert json.dumps(latest.to_state(), sort_keys=True) == json.dumps(agent.to_state(), sort_keys=True)
    assert [latest.choose(rec.context[w]) for w in range(20, 40)] == [agent.choose(rec.context[w])
                                                                      for w in range(20, 40)]
    # an older version is the agent as it was then
    v1_info, v1 = load_agent(ctx, "sel-1", version=1)
    assert v1_info.version == 1
    assert v1.to_state()["rng"] == json.loads(json.dumps(v1.to_state()["rng"]))
    assert v1.to_state() != latest.to_state()


def test_a_rolled_back_transaction_leaves_no_version(ctx: Context) -> None:
    info = create_agent(ctx, "a", "linucb", CANDS, FEATS, seed=1)
    with pytest.raises(RuntimeError), ctx.store.session() as session:
        _, agent = load_agent_in(session, "a")
        agent.update(np.zeros(3), 0, 0.01)
        save_agent_state(session, info.id, agent, "paper run 1")
        raise RuntimeError("the paper run failed")
    assert [v["version"] for v in agent_versions(ctx, "a")] == [1]


def test_unique_agent_and_version(ctx: Context) -> None:
    import sqlalchemy as sa

    info = create_agent(ctx, "a", "qlearn", CANDS, FEATS, seed=1)
    with pytest.raises(StoreError, match="UNIQUE"), ctx.store.session() as session:
        session.execute(sa.text("INSERT INTO agent_states (agent_id, version, state, sha256, reason, created_at) "
                                "VALUES (:a, 1, '{}', 'x', 'dup', '2026-01-01 00:00:00')"), {"a": info.id})


def test_tampered_state_is_refused(ctx: Context) -> None:
    create_agent(ctx, "a", "linucb", CANDS, FEATS, seed=1)
    conn = sqlite3.connect(_db(ctx))
    conn.execute("UPDATE agent_states SET state = replace(state, '\"seed\":1', '\"seed\":2')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="does not match its sha256"):
        load_agent(ctx, "a")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "dqn"}, "unknown agent method 'dqn'"),
    ({"candidates": ("trend",)}, "agent candidates: needs at least 2, got 1 (trend)"),
    ({"candidates": ("trend", "trend")}, "'trend' is listed twice"),
    ({"name": "bad name!"}, "agent name 'bad name!'"),
    ({"params": {"alpah": 1}}, "unknown parameter 'alpah'"),
    ({"params": {"state_features": [7]}, "method": "qlearn"}, "feature index in [0, 3), got 7"),
    ({"seed": -3}, "seed must be an integer >= 0, got -3"),
])
def test_bad_input_stores_nothing(ctx: Context, kwargs: dict, message: str) -> None:
    args = {"name": "a", "method": "linucb", "candidates": CANDS, "features": FEATS, "seed": 1, "params": None}
    args.update(kwargs)
    with pytest.raises(UsageError) as e:
        create_agent(ctx, **args)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    if _db(ctx).exists():
        assert _count(ctx, "agents") == 0
        assert _count(ctx, "agent_states") == 0


def test_lookup_errors(ctx: Context) -> None:
    info = create_agent(ctx, "a", "linucb", CANDS, FEATS, seed=1)
    with pytest.raises(UsageError, match="agent 'a' already exists"):
        create_agent(ctx, "a", "thompson", CANDS, FEATS, seed=2)
    with pytest.raises(UsageError, match="no agent named 'b'"):
        load_agent(ctx, "b")
    with pytest.raises(UsageError, match="has no version 5"):
        load_agent(ctx, "a", version=5)
    other = create_agent(ctx, "q", "qlearn", CANDS, FEATS, seed=1)
    _, qagent = load_agent(ctx, "q")
    with pytest.raises(UsageError, match="the state is a qlearn agent"), ctx.store.session() as session:
        save_agent_state(session, info.id, qagent, "wrong agent")
    assert [v["version"] for v in agent_versions(ctx, "a")] == [1]
    assert other.method == "qlearn"


def test_qlearn_state_features_resolved_from_names(ctx: Context) -> None:
    info = create_agent(ctx, "q", "qlearn", CANDS, ("adx", "z_48", "er"), seed=1)
    assert info.params == {"state_features": [2, 1]}
    _, agent = load_agent(ctx, "q")
    assert agent.to_state()["params"]["state_features"] == [2, 1]


def test_switch_cost_from_the_settings(tmp_path: Path) -> None:
    from tradebot.services.agents import create_agent_from_specs, settings_switch_cost

    c = Context(load_settings(overrides={"home": str(tmp_path / "h"), "fees": {"taker": 0.0005},
                                         "slippage": {"mode": "fixed", "bps": 5}}, env={}))
    try:
        assert settings_switch_cost(c) == pytest.approx(0.002)  # 2 x (0.05 % + 0.05 %)
        info = create_agent_from_specs(c, "s", "linucb", ["rsi", "macd"], ["er"], seed=0)
        assert info.params == {"switch_cost": 0.002}
        assert info.candidates == ("flat", "rsi", "macd")
        given = create_agent_from_specs(c, "t", "linucb", ["rsi", "macd"], None, seed=0,
                                        params={"switch_cost": 0.0})
        assert given.params == {"switch_cost": 0.0}
        _, agent = load_agent(c, "s")
        assert agent.to_state()["params"]["switch_cost"] == 0.002
    finally:
        c.close()
