"""The performance feedback loop (services/paper_selector.py): a paper account traded by a stored
agent's choice per window, learning from its realised and shadow returns.

In-process, on the deterministic sim market with a controlled clock: any chunking of runs gives
one uninterrupted run's ledger, windows and agent state; every stored choice and state is what
a fresh agent replayed from the stored contexts and returns gives; the rewards are the account's
own equity and the candidates' engine runs; switches reach a local webhook; bad input is one
line, exit 2, nothing stored."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.data.test_postgres import pg_server, pg_url  # noqa: F401  (the fixtures)
from tests.notify.conftest import http_receiver  # noqa: F401  (the fixture)
from tests.services.conftest import ledger_snapshot
from tradebot.cli.app import main
from tradebot.core.config import load_settings
from tradebot.services.context import Context

DAY = 86_400_000
HOUR = 3_600_000
SINCE = 1_704_067_200_000  # 2024-01-01
MARKET = {"exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1h"}
CANDIDATES = ["flat", "rsi", "macd"]
FEATURES = ["adx", "vol_pct", "z_12"]


def make_ctx(home: Path, **extra: Any) -> Context:
    return Context(load_settings(overrides={"home": str(home), "market": dict(MARKET), **extra}, env={}))


def with_agent(home: Path, name: str = "ag", method: str = "thompson", features: list[str] | None = None,
               candidates: list[str] | None = None) -> None:
    from tradebot.services.agents import create_agent

    ctx = make_ctx(home)
    try:
        create_agent(ctx, name, method, candidates or CANDIDATES, FEATURES if features is None else features,
                     seed=7)
    finally:
        ctx.close()


def run(home: Path, now_ms: int, account: str = "sel", **kw: Any) -> Any:
    from tradebot.services.paper_selector import run_selector_paper

    ctx = make_ctx(home, **kw.pop("settings", {}))
    try:
        return run_selector_paper(ctx, account, agent=kw.pop("agent", "ag"), window=kw.pop("window", "1d"),
                                  source="sim", since_ms=SINCE, now_ms=now_ms, **kw)
    finally:
        ctx.close()


def windows(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT window, start_ms, end_ms, arm, candidate, previous_arm, context, start_equity, "
                            "candidates, chosen_version, reward, shadow, updated_version "
                            "FROM selector_paper_windows ORDER BY window").fetchall()
    finally:
        conn.close()


def agent_states(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT version, sha256, reason, state FROM agent_states ORDER BY version").fetchall()
    finally:
        conn.close()


def test_chunked_runs_equal_one_run_and_the_agent_learns_what_the_account_earned(tmp_path: Path) -> None:
    chunked, whole = tmp_path / "chunked", tmp_path / "whole"
    for home in (chunked, whole):
        with_agent(home)
    end = SINCE + 12 * DAY + 5 * HOUR
    stops = [SINCE + 2 * HOUR, SINCE + DAY, SINCE + DAY + HOUR, SINCE + 4 * DAY + 23 * HOUR, SINCE + 5 * DAY,
             SINCE + 5 * DAY, end]
    results = [run(chunked, t) for t in stops]
    one = run(whole, end)
    assert results[-3].processed == 1 and results[-2].processed == 0  # one new candle; then up to date
    assert sum(r.processed for r in results) == one.processed == 12 * 24 + 5
    assert sum(r.windows_closed for r in results) == one.windows_closed == 12
    assert ledger_snapshot(chunked / "tradebot.db") == ledger_snapshot(whole / "tradebot.db")
    assert windows(chunked / "tradebot.db") == windows(whole / "tradebot.db")
    states = agent_states(chunked / "tradebot.db")
    other = agent_states(whole / "tradebot.db")
    assert [(v, s, st) for v, s, _r, st in states] == [(v, s, st) for v, s, _r, st in other]
    assert states[-1][1] == hashlib.sha256(states[-1][3].encode()).hexdigest()
    assert [r.arm for r in results][-1] == one.arm

    rows = windows(whole / "tradebot.db")
    assert [r[0] for r in rows] == list(range(13))  # 12 closed windows and the open one
    assert all(r[2] - r[1] == DAY and r[1] == SINCE + r[0] * DAY for r in rows)
    assert all(r[10] is not None for r in rows[:-1]) and rows[-1][10] is None and rows[-1][12] is None

    # the realised reward is the account's own equity over the window; the others' the engine's
    conn = sqlite3.connect(whole / "tradebot.db")
    eq = dict(conn.execute("SELECT ts_ms, equity FROM paper_equity").fetchall())
    conn.close()
    for r in rows[:-1]:
        last = eq[r[2] - HOUR]
        assert r[10] == pytest.approx(last / r[7] - 1.0, rel=1e-12, abs=1e-15)
        assert rows[r[0] + 1][7] == last  # the next window starts from that equity
    _check_shadow(rows)

    # a fresh agent fed the stored contexts and returns makes every stored choice and ends in the
    # stored state (realised return for the played arm, shadow returns for the others)
    from tradebot.data.agent_models import canonical_json
    from tradebot.ml.agents import agent_from_state

    agent = agent_from_state(json.loads(states[0][3]))  # version 1: the agent as created
    by_version = {v: st for v, _s, _r, st in states}
    for r in rows:
        x = np.asarray(json.loads(r[6]))
        assert agent.choose(x) == r[3]
        assert canonical_json(agent.to_state()) == by_version[r[9]]
        if r[10] is not None:
            shadow = json.loads(r[11])
            for arm in range(3):
                agent.update(x, arm, r[10] if arm == r[3] else shadow[arm])
    assert canonical_json(agent.to_state()) == states[-1][3]
    switches = sum(1 for r in rows if r[5] is not None and r[5] != r[3])
    assert switches == len(one.switches) and switches > 0
    assert [json.loads(r[8])[1]["name"] for r in rows] == ["rsi"] * len(rows)


def _check_shadow(rows: list[tuple[Any, ...]]) -> None:
    """Every arm's shadow return is its own continuous engine run's mark-to-market window return."""
    from tradebot.engine.backtest import run_signals
    from tradebot.exchanges.sim import sim_candles
    from tradebot.ml.select.candidates import Candidate, candidate_signals
    from tradebot.services.backtest import engine_config

    with_settings = load_settings(overrides={"market": dict(MARKET)}, env={})
    cfg = engine_config(with_settings)
    ctx = Context(with_settings)
    try:
        first = json.loads(rows[0][8])
        cands = [Candidate.from_dict(d) for d in first]
        hist = _history_start()
        candles = sim_candles("BTC/USDT", "1h", since_ms=hist, until_ms=rows[-1][1], seed=with_settings.seed)
        ts = candles.timestamp
        for c_i, c in enumerate(cands):
            equity = run_signals(candles, candidate_signals(ctx, c, candles), cfg).equity
            for r in rows[:-1]:
                s, e = int(np.searchsorted(ts, r[1])), int(np.searchsorted(ts, r[2]))
                assert json.loads(r[11])[c_i] == pytest.approx(equity[e - 1] / equity[s - 1] - 1.0, rel=1e-9,
                                                               abs=1e-12)
    finally:
        ctx.close()


def _history_start() -> int:
    from tradebot.ml.regime.settings import RegimeSettings

    return SINCE - (RegimeSettings().warmup_bars + 1) * HOUR  # rsi and macd warm up faster


def test_a_switch_reaches_a_local_webhook(tmp_path: Path, http_receiver: Any) -> None:  # noqa: F811
    home = tmp_path / "home"
    with_agent(home)
    notify = {"notify": {"channels": {"hook": {"url": http_receiver.url(), "events": ["selector_switched"]}}}}
    res = run(home, SINCE + 8 * DAY, settings=notify)
    assert res.switches, res
    bodies = [r.json() for r in http_receiver.requests]
    assert len(bodies) == len(res.switches)  # one message per switch, nothing else on this channel
    for body, sw in zip(bodies, res.switches, strict=True):
        text = json.dumps(body)
        assert "sel" in text and f"now following {sw.chosen}" in text
        assert f"window {sw.window}: switched from {sw.previous} to {sw.chosen}" in text
    assert run(home, SINCE + 8 * DAY, settings=notify).processed == 0
    assert len(http_receiver.requests) == len(bodies)  # a repeated run sends nothing again


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os

    for key in list(os.environ):
        if key.startswith("TRADEBOT_"):
            monkeypatch.delenv(key)
    h = tmp_path / "home"
    monkeypatch.setenv("TRADEBOT_HOME", str(h))
    monkeypatch.setenv("COLUMNS", "200")
    return h


NEW = ["--exchange", "sim", "--symbol", "BTC/USDT", "--timeframe", "1h", "--source", "sim", "--window", "1d",
       "--since", "2026-11-20"]


def _one_line(code: int, err: str, needle: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err


def _stored(db: Path) -> dict[str, Any]:
    if not db.exists():
        return {}
    return {**ledger_snapshot(db), "windows": windows(db), "states": [s[:2] for s in agent_states(db)]}


def test_bad_input_is_one_line_exit_2_and_stores_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = home / "tradebot.db"
    code, _, err = cli(capsys, "paper-select", "--account", "s", "--agent", "nope", *NEW)
    _one_line(code, err, "no agent named 'nope'")
    assert not db.exists()  # nothing created to look
    with_agent(home)
    with_agent(home, "blind", features=["nope"])
    before = _stored(db)
    for args, needle in [
        (["--agent", "nope"], "no agent named 'nope'"),
        ([], "--agent NAME: a new selector account needs"),
        (["--agent", "blind"], "reads features ['nope']"),
        (["--agent", "ag", "--candidate", "rsi", "--candidate", "macd", "--candidate", "bollinger"],
         "chooses among 3 candidates"),
        (["--agent", "ag", "--candidate", "rsi", "--candidate", "nosuch"], "its candidates no longer resolve"),
        (["--agent", "ag", "--candidate", "rsi", "--candidate", "bollinger"], "give the agent's own candidates"),
        (["--agent", "ag", "--window", "1"], "a window needs at least 2 bars"),
        (["--agent", "ag", "--window", "90m"], "not a whole number of 1h bars"),
    ]:
        code, _, err = cli(capsys, "paper-select", "--account", "s", *(a for a in NEW if a != "--window"
                                                                       and a != "1d"), *args,
                           *([] if "--window" in args else ["--window", "1d"]))
        _one_line(code, err, needle)
        assert _stored(db) == before, args
    code, out, err = cli(capsys, "paper-select", "--account", "s", "--agent", "ag", *NEW)
    assert code == 0, err
    assert "agent ag:" in out and "following" in out
    stored = _stored(db)
    for args, needle in [
        (["--account", "t", "--agent", "ag", *NEW], "agent 'ag' already feeds paper account 's'"),
        (["--account", "s", "--agent", "blind"], "is fed by agent 'ag'; --agent blind only applies"),
        (["--account", "s", "--window", "2d"], "has windows of 24 bars"),
        (["--account", "s", "--candidate", "rsi"], "follows the candidates"),
        (["--account", "s", "--since", "2026-11-21"], "--since 2026-11-21T00:00:00Z only applies"),
    ]:
        code, _, err = cli(capsys, "paper-select", *args)
        _one_line(code, err, needle)
        assert _stored(db) == stored, args
    code, _, err = cli(capsys, "paper", "--account", "plain", "--exchange", "sim", "--symbol", "BTC/USDT",
                       "--timeframe", "1h", "--strategy", "rsi", "--source", "sim")
    assert code == 0, err
    stored = _stored(db)
    code, _, err = cli(capsys, "paper-select", "--account", "plain", "--agent", "blind")
    _one_line(code, err, "paper account 'plain' trades rsi, not an agent's choices")
    assert _stored(db) == stored


def test_a_study_candidate_that_changes_is_recorded_and_one_that_disappears_refuses(tmp_path: Path) -> None:
    from tradebot.services.optimize import OptimizeRequest, run_optimize

    home = tmp_path / "home"
    ctx = make_ctx(home, strategy={"name": "rsi"}, backtest={"since": "2024-01-01", "until": "2024-02-01"})
    try:
        sid = run_optimize(ctx, OptimizeRequest(space=("period=7,14", "lower=25,30"))).study_id
    finally:
        ctx.close()
    with_agent(home, candidates=["flat", "macd", f"S{sid}"])
    specs = ["macd", f"S{sid}"]
    first = run(home, SINCE + 3 * DAY, candidates=specs)
    assert first.windows_closed == 3 and not first.changed
    conn = sqlite3.connect(home / "tradebot.db")
    summary = json.loads(conn.execute("SELECT summary FROM studies WHERE id = ?", (sid,)).fetchone()[0])
    old = dict(summary["chosen"]["params"])
    new = {**old, "period": 21 if old.get("period") != 21 else 9}
    summary["chosen"]["params"] = new
    conn.execute("UPDATE studies SET summary = ? WHERE id = ?", (json.dumps(summary), sid))
    conn.commit()
    conn.close()
    second = run(home, SINCE + 5 * DAY)
    assert second.windows_closed == 2
    assert len(second.changed) == 1 and second.changed[0].startswith("arm 2: ")
    rows = windows(home / "tradebot.db")
    assert json.loads(rows[3][8])[2]["params"]["period"] == old["period"]  # as resolved when chosen
    assert json.loads(rows[4][8])[2]["params"]["period"] == new["period"]
    before = _stored(home / "tradebot.db")
    conn = sqlite3.connect(home / "tradebot.db")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("DELETE FROM studies WHERE id = ?", (sid,))
    conn.commit()
    conn.close()
    from tradebot.core.errors import UsageError

    with pytest.raises(UsageError, match=f"its candidates no longer resolve: --candidate 'S{sid}'"):
        run(home, SINCE + 7 * DAY)
    assert _stored(home / "tradebot.db") == before


def test_report_account_shows_arm_statistics_and_switches(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tradebot.analysis.arm_report import arm_statistics

    with_agent(home)
    res = run(home, SINCE + 9 * DAY + 3 * HOUR)
    code, out, err = cli(capsys, "report", "--account", "sel", "--json")
    assert code == 0, err
    sel = json.loads(out)["selector"]
    rows = windows(home / "tradebot.db")
    assert sel["agent"] == "ag" and sel["windows"] == len(rows) == 10 and sel["window_bars"] == 24
    arms = sel["arms"]
    assert [a["name"] for a in arms] == ["flat", "rsi", "macd"]
    assert sum(a["plays"] for a in arms) == 10 and sum(a["closed"] for a in arms) == 9
    for a in arms:
        mine = [r[10] for r in rows if r[3] == a["arm"] and r[10] is not None]
        assert a["closed"] == len(mine)
        assert a["mean_reward"] == (pytest.approx(sum(mine) / len(mine)) if mine else None)
        shadow = [json.loads(r[11])[a["arm"]] for r in rows if r[10] is not None]
        assert a["shadow_mean"] == pytest.approx(sum(shadow) / len(shadow))
    assert arms[0]["shadow_mean"] == 0.0  # flat never earns or pays
    assert [(s["window"], s["to"]) for s in sel["switches"]] == [(sw.window, sw.chosen) for sw in res.switches]
    assert sel["current"] == res.arm and sel["agent_version"] == res.agent_version
    assert arm_statistics(["x"], []) == [{"arm": 0, "name": "x", "plays": 0, "closed": 0, "mean_reward": None,
                                          "total_reward": 0.0, "shadow_mean": None, "last_chosen_window": None,
                                          "last_chosen_ms": None}]
    code, out, err = cli(capsys, "report", "--account", "sel")
    assert code == 0, err
    assert "Agent ag (thompson" in out and "Arms" in out and "Shadow mean %" in out
    assert f"Switches ({len(res.switches)}" in out


@pytest.mark.parametrize("allow_short", [False, True])
def test_the_python_intents_and_splice_equal_the_compiled_ones(allow_short: bool,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A step without numba loaded replays the intents in Python: the same signals bit for bit."""
    import sys

    from tradebot.core.signals import Signals
    from tradebot.ml.select.record import intents, spliced_signals
    from tradebot.services import paper_selector as ps

    rng = np.random.default_rng(3)
    n = 3000
    sigs = [Signals(*(rng.random(n) < p for p in (0.03, 0.03, 0.02, 0.02))) for _ in range(5)]
    sigs.append(Signals(rng.random(n) < 0.05, rng.random(n) < 0.05))  # long only
    bounds = np.array([[s, s + 250] for s in range(300, n - 250, 250)], dtype=np.int64)
    choices = rng.integers(0, len(sigs), bounds.shape[0])
    compiled = intents(sigs, allow_short)  # numba loaded here, before it is hidden below
    want = spliced_signals(sigs, choices, bounds, allow_short)
    monkeypatch.delitem(sys.modules, "numba", raising=False)  # the Python path
    held = ps.held_intents(sigs, allow_short)
    assert "numba" not in sys.modules
    monkeypatch.undo()
    assert np.array_equal(held, compiled)
    got = ps.spliced_from(held, choices, bounds, allow_short)
    for a, b in zip((got.entries, got.exits, got.short_entries, got.short_exits),
                    (want.entries, want.exits, want.short_entries, want.short_exits), strict=True):
        assert np.array_equal(a, b)
    assert got.entries.any() and got.exits.any()


def test_a_busy_account_is_skipped_or_waited_for(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import threading
    import time

    from tradebot.services.paper import account_lock

    with_agent(home)
    home.mkdir(parents=True, exist_ok=True)
    with account_lock(home, "s", wait=False):
        code, out, err = cli(capsys, "paper-select", "--account", "s", "--agent", "ag", *NEW)
        assert code == 0 and "paper account 's' is being run by another process; exiting" in out, err
    assert not _stored(home / "tradebot.db")["paper_accounts"]
    held = threading.Event()

    def hold() -> None:
        with account_lock(home, "s", wait=False):
            held.set()
            time.sleep(1.0)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    code, out, err = cli(capsys, "paper-select", "--account", "s", "--agent", "ag", *NEW, "--wait")
    t.join()
    assert code == 0 and "window(s) learnt" in out, err
    assert _stored(home / "tradebot.db")["paper_accounts"][0][0] == "s"


@pytest.mark.postgres
def test_on_postgresql_the_same_choices_and_agent_state_as_on_sqlite(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    from tradebot.services.agents import load_agent
    from tradebot.services.paper_selector import selector_report

    url = pg_url
    pg, lite = tmp_path / "pg", tmp_path / "lite"
    from tradebot.services.agents import create_agent

    for home, extra in ((pg, {"database_url": url}), (lite, {})):
        ctx = make_ctx(home, **extra)
        try:
            create_agent(ctx, "ag", "thompson", CANDIDATES, FEATURES, seed=7)
        finally:
            ctx.close()
    for t in (SINCE + DAY + 3 * HOUR, SINCE + 4 * DAY):
        run(pg, t, settings={"database_url": url})
    run(lite, SINCE + 4 * DAY)
    got = {}
    for home, extra in ((pg, {"database_url": url}), (lite, {})):
        ctx = make_ctx(home, **extra)
        try:
            rep = selector_report(ctx, "sel")
            info, _ = load_agent(ctx, "ag")
            got[home.name] = (rep, info.sha256, info.version)
        finally:
            ctx.close()
    assert got["pg"] == got["lite"] and got["pg"][0]["windows"] == 5
