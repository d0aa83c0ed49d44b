"""``tradebot agent create|show``: a stored agent, its candidates resolved like paper-select's,
its versions; bad input is one line, exit 2, nothing stored."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import snapshot

Run = Callable[..., Any]
CANDS = ["--candidate", "rsi", "--candidate", "macd"]


def test_create_and_show(run: Run, home: Path) -> None:
    res = run("agent", "create", "sel", "--method", "linucb", *CANDS, "--seed", "3", "-p", "alpha=0.5",
              "-p", "scale=false", "--json")
    assert res.code == 0, res
    info = res.json()
    assert info["version"] == 1 and info["reason"] == "created"
    assert info["candidates"][0] == "flat" and len(info["candidates"]) == 3  # flat first, like paper-select
    assert info["params"] == {"alpha": 0.5, "scale": False, "switch_cost": 0.002}
    assert "er" in info["features"] and "p_range" in info["features"]

    shown = run("agent", "show", "sel", "--json")
    assert shown.code == 0, shown
    rep = shown.json()
    assert [a["updates"] for a in rep["arms"]] == [0, 0, 0]
    assert [v["version"] for v in rep["versions"]] == [1]
    text = run("agent", "show", "sel")
    assert text.code == 0, text
    assert "agent sel (linucb, seed 3, alpha=0.5, scale=False, switch_cost=0.002); version 1" in text.out
    assert "State versions" in text.out and "created" in text.out

    q = run("agent", "create", "q", "-m", "qlearn", *CANDS, "-f", "er", "-f", "z_48", "-f", "adx")
    assert q.code == 0, q
    assert "agent q (qlearn, seed 0) stored as version 1: 3 candidates (flat, rsi, macd), 3 features" in q.out
    conn = sqlite3.connect(home / "tradebot.db")
    params = conn.execute("SELECT params FROM agents WHERE name = 'q'").fetchone()[0]
    conn.close()
    assert json.loads(params) == {"state_features": [0, 1], "switch_cost": 0.002}  # er and z_48, by name


@pytest.mark.parametrize(("args", "message"), [
    (["-m", "ppo", *CANDS], "unknown agent method 'ppo'"),
    (["-m", "linucb", "--candidate", "nosuch", "--candidate", "rsi"], "nosuch"),
    (["-m", "linucb", "--candidate", "S999", "--candidate", "rsi"], "999"),
    (["-m", "linucb", *CANDS, "-f", "nope"], "--feature 'nope': not a context feature"),
    (["-m", "linucb", *CANDS, "-p", "alpah=1"], "unknown parameter 'alpah'"),
    (["-m", "linucb", *CANDS, "-p", "alpha"], "--param 'alpha': expected NAME=VALUE"),
    (["-m", "thompson", *CANDS, "--seed", "-1"], "seed must be an integer >= 0, got -1"),
])
def test_bad_input_one_line_exit_2_nothing_stored(run: Run, home: Path, args: list[str], message: str) -> None:
    before = snapshot(home) if home.exists() else {}
    res = run("agent", "create", "a", *args)
    assert res.code == 2, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], res
    if (home / "tradebot.db").exists():
        conn = sqlite3.connect(home / "tradebot.db")
        assert conn.execute("SELECT count(*) FROM agents").fetchone()[0] == 0
        conn.close()
    else:
        assert (snapshot(home) if home.exists() else {}) == before


def test_show_unknown_agent_and_version(run: Run) -> None:
    assert run("agent", "create", "a", "-m", "thompson", *CANDS).code == 0
    res = run("agent", "show", "b")
    assert res.code == 2 and "no agent named 'b'" in res.err
    res = run("agent", "show", "a", "--version", "4")
    assert res.code == 2 and "has no version 4" in res.err
    res = run("agent", "create", "a", "-m", "thompson", *CANDS)
    assert res.code == 2 and "agent 'a' already exists" in res.err


def test_show_lists_the_last_versions(run: Run) -> None:
    from tradebot.core.config import load_settings
    from tradebot.services.agents import load_agent_in, save_agent_state
    from tradebot.services.context import Context

    assert run("agent", "create", "a", "-m", "qlearn", *CANDS).code == 0
    ctx = Context(load_settings())  # TRADEBOT_HOME of the test
    try:
        for i in range(12):
            with ctx.store.session() as session:
                info, agent = load_agent_in(session, "a")
                save_agent_state(session, info.id, agent, f"step {i}")
    finally:
        ctx.close()
    res = run("agent", "show", "a")
    assert res.code == 0, res
    assert "State versions (the last 10 of 13; --json lists all)" in res.out
    import re

    reasons = re.findall(r"│ (step \d+|created) +│", res.out)
    assert reasons == [f"step {i}" for i in range(2, 12)], reasons
    assert len(run("agent", "show", "a", "--json").json()["versions"]) == 13
