"""Chaos: a real-money live account on the replay exchange with 20 % injected faults,
killed with SIGKILL at random instants inside its steps, restarted until the history is
done — against one uninterrupted run over the same history and fault schedule.

A two-market real-money account (keys in the environment, ``live.enabled``,
``--yes-i-understand-real-money``) steps over a replayed 1-minute history: the exchange's
clock is put at a bar's close and the account is run until a run ends cleanly with no
intent pending (an order whose fate is unknown waits for the exchange's receive window,
then is looked up or sent again); then the next bar. In the chaos run every run is a
``tradebot live`` child process, and seeded kills land at a random instant after the child
took the account's lock (so inside the step: loading, deciding, writing the intent,
sending, storing the answer, taking the fills), at least 30 of them. The uninterrupted
run is the same command run in this process (same code path, no process start-up to pay
for). Faults (same rate, kinds and seed in both runs; 20 % of all requests): 429 and 418
with Retry-After, 5xx, timeouts, resets, lost answers to carried-out requests and answers
sent after the client gave up — and, whatever the draw gives the order requests, the
first order's answer is lost, the second's comes too late and the third is carried out
after the client's timeout.

Asserted: the exchange never accepted a second order for one client id (its request log
and its order book), and the end state — the exchange's balances, orders and trades, the
ledger's orders and fills, the account's engine state, trades and equity — equals the
uninterrupted run's.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tradebot.testing.live_harness import CliRun, LiveHarness, ledger_snapshot, walk

pytestmark = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")

BARS = 90  # the history the exchange holds
FIRST = 60  # the account is created at this bar's close; the bars before are its warm-up
LAST = 74  # the last bar stepped over (15 steps)
KILLS = 30
SEED = 15
ACCOUNT = "chaos"
ARGS = ["live", "--account", ACCOUNT, "--exchange", "binance", "--symbols", "BTC/USDT,ETH/USDT", "-t", "1m",
        "--strategy", "rsi", "-p", "period=2", "-p", "lower=45", "-p", "upper=55",
        "--yes-i-understand-real-money", "--json"]
FORCED = {1: "lost_answer", 2: "late_answer", 3: "slow"}
RECV_WINDOW_MS = 3000  # live.recv_window_ms: an unanswered order may be sent again 3 s + 5 s grace after
WINDOW_S = RECV_WINDOW_MS / 1000 + 5.2  # ... (ccxt's default 10 s would make the test wait 15 s a time)
EXTRA = {"TRADEBOT_LIVE__RECV_WINDOW_MS": str(RECV_WINDOW_MS)}


def harness() -> LiveHarness:
    return LiveHarness([walk("BTC/USDT", BARS, seed=1), walk("ETH/USDT", BARS, price=2_000.0, seed=2)],
                       fault_rate=0.2, seed=SEED, order_faults=FORCED)


def _pending_until(db: Path) -> float:
    """Wall time (s) after which every order of unknown fate can be sent again."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT max(sent_ms) FROM live_orders WHERE state IN ('sent', 'unknown')").fetchone()
    finally:
        con.close()
    return (rows[0] or 0) / 1000 + WINDOW_S


def drive(h: LiveHarness, home: Path, run: Any, kills: int = 0) -> dict[str, Any]:
    """Step the account over bars FIRST..LAST with ``run(kill_after_s) -> CliRun``; with
    ``kills``: at least that many runs are killed at random instants inside their steps
    (holding the account's lock; a kill that lands as the process is leaving does not count)."""
    rng = random.Random(SEED)
    landed = in_step = runs = pending_reruns = missed = 0
    reach = 0.6  # kill delays after the lock are drawn from [0, reach] s; adapted to the step's length
    bars = list(range(FIRST, LAST + 1))
    for k, bar in enumerate(bars):
        h.close_bar(bar)
        looked = False
        last = k == len(bars) - 1
        while True:
            want = kills - in_step
            # the last bar is run again until enough kills landed inside steps (a step that has
            # nothing new to process still loads, reconciles, takes fills and stores)
            kill = want > 0 and (last or rng.random() < min(0.95, max(0.5, want / max(len(bars) - k, 1))))
            r = run(rng.uniform(0.0, reach) if kill else None)
            runs += 1
            assert runs < 40 * max(len(bars), kills), "the kills do not land inside the steps"
            if r.killed:
                landed += 1
                in_step += r.in_step
                reach = min(reach * 1.1, 5.0)
                continue
            if kill:  # the step ended before the kill: aim earlier
                missed += 1
                reach = max(reach * 0.7, 0.05)
            assert r.code == 0, f"bar {bar}: exit {r.code}:\n{r.out}\n{r.err}"
            if last and kills - in_step > 0:
                continue
            if json.loads(r.out)["pending"] == 0:
                break
            pending_reruns += 1  # an order's fate is unknown: look again soon, send again after the window
            time.sleep(1.0 if not looked else max(_pending_until(home / "tradebot.db") - time.time(), 0.2))
            looked = True
    return {"landed": landed, "in_step": in_step, "runs": runs, "pending_reruns": pending_reruns,
            "missed": missed}


def _in_process(h: LiveHarness, home: Path, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> Any:
    from tradebot.cli.app import main

    for key, value in h.env(home, extra=EXTRA).items():
        if key.startswith("TRADEBOT_"):
            monkeypatch.setenv(key, value)

    def run(kill_after_s: float | None) -> CliRun:
        assert kill_after_s is None
        t0 = time.perf_counter()
        try:
            main(ARGS)
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return CliRun(code, out.out, out.err, time.perf_counter() - t0)

    return run


def _children(h: LiveHarness, home: Path) -> Any:
    env = h.env(home, extra=EXTRA)
    lock = home / "locks" / f"paper-{ACCOUNT}.lock"

    def run(kill_after_s: float | None) -> CliRun:
        return h.run(ARGS, env, kill_after_s=kill_after_s, lock=lock, timeout_s=300)

    return run


def _end_state(h: LiveHarness, home: Path, stats: dict[str, Any]) -> dict[str, Any]:
    return {"exchange": h.exchange_state(), "ledger": ledger_snapshot(home / "tradebot.db"), "stats": stats,
            "faults": h.fault_counts(), "order_faults": h.order_faults(), "accepted": len(h.accepted_orders()),
            "duplicates": h.duplicates()}


def test_sigkill_and_faults_never_duplicate_an_order_and_end_as_one_uninterrupted_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    homes = {name: tmp_path / name for name in ("ref", "chaos")}
    for home in homes.values():
        home.mkdir()
    with harness() as h:
        ref = _end_state(h, homes["ref"], drive(h, homes["ref"], _in_process(h, homes["ref"], monkeypatch, capsys)))
    monkeypatch.undo()
    with harness() as h:
        chaos = _end_state(h, homes["chaos"], drive(h, homes["chaos"], _children(h, homes["chaos"]), kills=KILLS))
    print(json.dumps({name: {k: s[k] for k in ("stats", "faults", "order_faults", "accepted")}
                      for name, s in (("uninterrupted", ref), ("chaos", chaos))}))
    st = chaos["stats"]
    assert st["in_step"] >= KILLS, st
    # never a second accepted order for one client id (request log and order book)
    assert ref["duplicates"] == {} and chaos["duplicates"] == {}
    # the history did trade, and the faults did hit the order requests
    assert ref["accepted"] >= 10, ref["accepted"]
    for s in (ref, chaos):
        assert {"lost_answer", "late_answer", "slow"} <= set(s["order_faults"]), s["order_faults"]
        assert sum(s["faults"].values()) >= 10, s["faults"]
    # the end state is the uninterrupted run's: exchange, ledger, engine (the exchange numbers orders
    # and trades as they arrive: two orders of one bar may arrive in the other order, so ids are
    # compared through the client ids they belong to)
    for name, s in (("uninterrupted", ref), ("chaos", chaos)):
        _check_ids(name, s)
    assert canonical(chaos) == canonical(ref)
    assert len(ref["ledger"]["fills"]) == len(ref["exchange"]["trades"]) == ref["accepted"]


def _check_ids(name: str, s: dict[str, Any]) -> None:
    """The ledger's exchange order ids and trade ids are the exchange's, for the same client ids."""
    by_cid = {o["client_order_id"]: str(o["order_id"]) for o in s["exchange"]["orders"]}
    cid_of_order = {str(o["order_id"]): o["client_order_id"] for o in s["exchange"]["orders"]}
    assert {o[1]: o[12] for o in s["ledger"]["orders"]} == by_cid, name
    trades = {str(t["trade_id"]): cid_of_order[str(t["order_id"])] for t in s["exchange"]["trades"]}
    assert {f[1]: f[2] for f in s["ledger"]["fills"]} == trades, name


def canonical(s: dict[str, Any]) -> dict[str, Any]:
    """The end state without the ids the exchange assigns in arrival order, and with each
    client id written as the intent it names (symbol, bar, intent): the two runs' accounts
    live in two stores, so each has its own client-id scope (a random token stored with the
    account) and the same intent has another id in each."""
    ex = s["exchange"]
    intent = {o[1]: f"{o[2]}|{o[3]}|{o[4]}" for o in s["ledger"]["orders"]}

    def named(cid: str) -> str:
        return intent.get(cid, cid)  # an order the ledger does not know keeps its id (and differs)

    cid_of_order = {o["order_id"]: named(o["client_order_id"]) for o in ex["orders"]}
    orders = sorted(({**{k: v for k, v in o.items() if k != "order_id"},
                      "client_order_id": named(o["client_order_id"])} for o in ex["orders"]),
                    key=lambda o: o["client_order_id"])
    trades = sorted(({**{k: v for k, v in t.items() if k not in ("trade_id", "order_id")},
                      "client_order_id": cid_of_order[t["order_id"]]} for t in ex["trades"]),
                    key=lambda t: (t["time"], t["client_order_id"]))
    ledger = dict(s["ledger"])
    ledger["orders"] = sorted((o[0], named(o[1]), *o[2:12], *o[13:]) for o in ledger["orders"])  # no exchange id
    ledger["fills"] = sorted((f[0], named(f[2]), *f[3:]) for f in ledger["fills"])  # without trade_id
    return {"balances": ex["balances"], "orders": orders, "trades": trades, "ledger": ledger}
