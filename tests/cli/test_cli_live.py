"""``tradebot live`` through the real CLI (in-process) against the replay exchange: the
DRY RUN / LIVE summary, ``--json``, and bad input — one ``error:`` line, exit 2, nothing
stored and no order sent; secrets in no output."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tradebot.testing.live_harness import KEY, SECRET, LiveHarness, walk

from .conftest import Result

ARGS = ("live", "--account", "acct", "--strategy", "rsi", "-p", "period=3", "-p", "lower=35", "-p", "upper=65",
        "--exchange", "binance", "-t", "1m")


@pytest.fixture
def h(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveHarness]:
    with LiveHarness([walk("BTC/USDT", 120)]) as harness:
        for k, v in harness.env(home, keys=False, enabled=False).items():
            if k.startswith("TRADEBOT_") and k != "TRADEBOT_HOME":
                monkeypatch.setenv(k, v)
        monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__TIMEOUT_MS", "2000")
        yield harness


def real(monkeypatch: pytest.MonkeyPatch, *, keys: bool = True) -> None:
    monkeypatch.setenv("TRADEBOT_LIVE__ENABLED", "true")
    monkeypatch.setenv("TRADEBOT_LIVE__MAX_PRICE_DEVIATION_PCT", "50")
    if keys:
        monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__API_KEY", KEY)
        monkeypatch.setenv("TRADEBOT_EXCHANGES__BINANCE__SECRET", SECRET)


def accounts(home: Path) -> list[tuple[object, ...]]:
    db = home / "tradebot.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT name, mode FROM portfolio_accounts").fetchall()
    finally:
        conn.close()


def one_error_line(res: Result, *expect: str) -> str:
    assert res.code == 2 and "Traceback" not in res.output, res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res
    for e in expect:
        assert e in lines[0], (e, res)
    return lines[0]


def test_dry_run_summary(h: LiveHarness, home: Path, run: Callable[..., Result]) -> None:
    outs = []
    for i in range(55, 70):
        h.close_bar(i)
        res = run(*ARGS, "--symbol", "BTC/USDT")
        assert res.code == 0, res
        outs.append(res.out)
    assert all(o.startswith("DRY RUN acct: BTC/USDT; 1 bar(s) processed") for o in outs)
    assert any("1 simulated" in o and "buy" in o for o in outs)  # an order was simulated
    assert not [r for r in h.request_log if r.endpoint == "order_new"]
    assert accounts(home) == [("acct", "dry-run")]


def test_live_json_and_secrets_in_no_output(h: LiveHarness, home: Path, run: Callable[..., Result],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real(monkeypatch)
    results = []
    for i in range(55, 70):
        h.close_bar(i)
        res = run(*ARGS, "--symbol", "BTC/USDT", "--yes-i-understand-real-money", "--json")
        assert res.code == 0, res
        results.append(res)
    data = [r.json() for r in results]
    assert {d["mode"] for d in data} == {"live"}
    sent = [o for d in data for o in d["orders"] if o["action"] == "sent"]
    assert sent and {r.params["newClientOrderId"] for r in h.order_requests()} == {o["client_order_id"] for o in sent}
    text = "".join(r.output for r in results) + run("config", "show").out
    logs = "".join(p.read_text(errors="replace") for p in home.rglob("*.log"))
    for secret in (KEY, SECRET):
        assert secret not in text and secret not in logs
    conn = sqlite3.connect(home / "tradebot.db")
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert KEY not in dump and SECRET not in dump
    shown = run("live", "--reconcile", "--account", "acct")
    assert shown.code == 0 and "reconciliation of acct" in shown.out, shown
    assert KEY not in shown.output


def test_bad_input_one_line_exit_2_nothing_stored_nothing_sent(h: LiveHarness, home: Path,
                                                               run: Callable[..., Result],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    h.close_bar(60)
    real(monkeypatch, keys=False)
    one_error_line(run(*ARGS, "--symbol", "BTC/USDT", "--yes-i-understand-real-money"),
                   "no API keys for binance", "TRADEBOT_EXCHANGES__BINANCE__API_KEY")
    real(monkeypatch)
    one_error_line(run(*ARGS, "--symbol", "BTC/USDT"),  # stdin is no terminal: no typed confirmation
                   "would trade real money", "--yes-i-understand-real-money")
    one_error_line(run(*ARGS, "--symbol", "NOPE/USDT", "--yes-i-understand-real-money"),
                   "unknown spot symbol 'NOPE/USDT'")
    one_error_line(run("live", "--symbol", "BTC/USDT"), "needs --account")
    assert accounts(home) == []
    assert not [r for r in h.request_log if r.endpoint == "order_new"]
    # an account that exists keeps its strategy and symbol
    assert run(*ARGS, "--symbol", "BTC/USDT", "--yes-i-understand-real-money").code == 0
    h.close_bar(61)
    changed = list(ARGS)
    changed[changed.index("rsi")] = "macd"
    one_error_line(run(*changed, "--symbol", "BTC/USDT"), "--strategy macd only applies to a new account")
    one_error_line(run(*ARGS, "--symbol", "ETH/USDT"), "trades BTC/USDT")
    assert accounts(home) == [("acct", "live")]
    assert not [r for r in h.request_log if r.endpoint == "order_new"]
    out = json.dumps(accounts(home))
    assert KEY not in out


def test_testnet_uses_the_sandbox_and_its_own_cache(h: LiveHarness, home: Path, run: Callable[..., Result],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real(monkeypatch)
    h.close_bar(60)
    res = run(*ARGS, "--symbol", "BTC/USDT", "--testnet", "--yes-i-understand-real-money")
    assert res.code == 0 and res.out.startswith("LIVE (TESTNET) acct: BTC/USDT"), res
    cached = {p.name for p in (home / "data").iterdir()}
    assert "binance-testnet" in cached and "binance" not in cached  # testnet candles never mix with the real ones


def test_loop_stays_up_and_ctrl_c_exits_130(tmp_path: Path) -> None:
    import signal
    import subprocess

    from tradebot.testing.live_harness import tradebot_command

    with LiveHarness([walk("BTC/USDT", 120)]) as harness:
        harness.close_bar(60)
        env = harness.env(tmp_path / "loop", enabled=False)
        (tmp_path / "loop").mkdir()
        proc = subprocess.Popen([*tradebot_command(), *ARGS, "--symbol", "BTC/USDT", "--loop"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = proc.stdout.readline()  # the first step's summary: it is up, sleeping to the next close
            assert first.startswith("DRY RUN acct: BTC/USDT"), first
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1].startswith("interrupted: live stopped; every order sent is in the store")


def test_keys_from_a_0600_secrets_file_trade_and_never_show(h: LiveHarness, home: Path,
                                                                         run: Callable[..., Result],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    real(monkeypatch, keys=False)
    secrets = home.parent / "secrets.toml"
    secrets.write_text(f'[exchanges.binance]\napi_key = "{KEY}"\nsecret = "{SECRET}"\n')
    os.chmod(secrets, 0o600)
    monkeypatch.setenv("TRADEBOT_SECRETS_FILE", str(secrets))
    outputs = []
    for i in range(55, 66):
        h.close_bar(i)
        res = run("--log-level", "DEBUG", *ARGS, "--symbol", "BTC/USDT", "--yes-i-understand-real-money")
        assert res.code == 0, res
        outputs.append(res.output)
    assert h.order_requests()  # the keys from the file signed real orders
    logs = "".join(p.read_text(errors="replace") for p in home.rglob("*.log"))
    assert "account=acct command=live" in logs  # the runs logged (at --log-level DEBUG)
    for secret in (KEY, SECRET):
        assert secret not in "".join(outputs) and secret not in logs
