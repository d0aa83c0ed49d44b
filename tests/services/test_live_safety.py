"""Safety: without each of the three switches no order reaches the exchange.

Real orders need API keys (environment or a 0600 secrets file), ``live.enabled = true`` and,
on an account's first run, the typed symbol on a terminal or ``--yes-i-understand-real-money``.
Each case is the real CLI in a child process with an empty ``HOME`` (no config, no secrets
file of the user) against the replay exchange, at a candle close where the strategy buys;
what reached the exchange is read from the server's request log. The positive controls
(all three switches, by flag and by typed confirmation on a pseudo-terminal) show that the
same step does send an order, so every "nothing sent" below can fail.

(Wrong signatures, clock skew and secrets in outputs are tested with the guards:
tests/services/test_live_guards.py and the credentials tests.)
"""

from __future__ import annotations

import os
import pty
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradebot.testing.live_harness import KEY, SECRET, LiveHarness, tradebot_command, walk

BAR = 60  # the strategy buys at this bar's close (the first step of a new account)
ARGS = ["live", "--exchange", "binance", "--symbol", "BTC/USDT", "-t", "1m", "--strategy", "rsi",
        "-p", "period=2", "-p", "lower=45", "-p", "upper=55"]
YES = "--yes-i-understand-real-money"


@pytest.fixture(scope="module")
def h() -> Iterator[LiveHarness]:
    with LiveHarness([walk("BTC/USDT", 90, seed=21)], balances={"USDT": 1_000_000.0}) as harness:
        harness.close_bar(BAR)
        yield harness


@pytest.fixture
def home(tmp_path: Path, h: LiveHarness) -> Path:
    h.server.clear_request_log()
    d = tmp_path / "home"
    d.mkdir()
    return d


def signed(h: LiveHarness) -> list[str]:
    """Endpoints of the requests that carried an API key."""
    return [r.endpoint for r in h.request_log if r.api_key]


def orders(h: LiveHarness) -> list[str]:
    return [r.params.get("newClientOrderId", "") for r in h.order_requests()]


def one_error_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("error: "), text
    return lines[0]


def test_all_three_switches_send_the_order(h: LiveHarness, home: Path) -> None:
    r = h.run([*ARGS, "--account", "real", YES], h.env(home))
    assert r.code == 0, r.text
    assert "LIVE" in r.out and "DRY RUN" not in r.out
    sent = orders(h)
    assert len(sent) == 1 and sent[0].startswith("tb-"), h.request_log
    assert len(h.accepted_orders()) == 1


def test_without_keys_nothing_is_sent(h: LiveHarness, home: Path) -> None:
    r = h.run([*ARGS, "--account", "nokeys", YES], h.env(home, keys=False))
    assert r.code == 2, r.text
    line = one_error_line(r.err)
    assert "TRADEBOT_EXCHANGES__BINANCE__API_KEY" in line
    assert orders(h) == [] and signed(h) == []
    assert not (home / "tradebot.db").exists() or "nokeys" not in _accounts(home)


def test_keys_in_a_secrets_file_readable_by_others_are_refused(h: LiveHarness, home: Path) -> None:
    secrets = home / "secrets.toml"
    secrets.write_text(f'[exchanges.binance]\napi_key = "{KEY}"\nsecret = "{SECRET}"\n')
    secrets.chmod(0o644)
    r = h.run([*ARGS, "--account", "loosefile", YES],
              h.env(home, keys=False, extra={"TRADEBOT_SECRETS_FILE": str(secrets)}))
    assert r.code == 2, r.text
    line = one_error_line(r.err)
    assert "secrets.toml" in line and KEY not in r.text and SECRET not in r.text
    assert orders(h) == [] and signed(h) == []


def test_without_live_enabled_it_is_a_dry_run_that_sends_nothing(h: LiveHarness, home: Path) -> None:
    r = h.run([*ARGS, "--account", "dry", YES], h.env(home, enabled=False))
    assert r.code == 0, r.text
    assert "DRY RUN" in r.out
    assert "simulated" in r.out  # the step did decide an order: it was simulated, not sent
    assert orders(h) == [] and signed(h) == []


def test_without_confirmation_nothing_is_sent(h: LiveHarness, home: Path) -> None:
    """No flag and no terminal to type on (cron): refused before anything is stored."""
    r = h.run([*ARGS, "--account", "unconfirmed"], h.env(home))
    assert r.code == 2, r.text
    line = one_error_line(r.err)
    assert "--yes-i-understand-real-money" in line and "BTC/USDT" in line
    assert orders(h) == []
    assert "unconfirmed" not in _accounts(home)


def _on_a_terminal(h: LiveHarness, home: Path, account: str, typed: str) -> tuple[int, str]:
    """Run without the flag on a pseudo-terminal and type ``typed`` at the prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(tradebot_command() + [*ARGS, "--account", account], env=h.env(home),
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 120
    typed_yet = False
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        if not typed_yet and b"Type BTC/USDT" in out:
            os.write(master, typed.encode() + b"\r")
            typed_yet = True
    code = proc.wait(timeout=60)
    os.close(master)
    return code, out.decode(errors="replace")


def test_a_wrong_typed_confirmation_sends_nothing(h: LiveHarness, home: Path) -> None:
    code, text = _on_a_terminal(h, home, "typo", "ETH/USDT")
    assert "REAL MONEY" in text
    assert code == 2, text
    assert orders(h) == []
    assert "typo" not in _accounts(home)


def test_the_typed_symbol_confirms(h: LiveHarness, home: Path) -> None:
    code, text = _on_a_terminal(h, home, "typed", "BTC/USDT")
    assert code == 0, text
    assert len(orders(h)) == 1 and len(h.accepted_orders()) == 1


def _accounts(home: Path) -> set[str]:
    import sqlite3

    db = home / "tradebot.db"
    if not db.exists():
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {row[0] for row in con.execute("SELECT name FROM portfolio_accounts")}
    except sqlite3.Error:
        return set()
    finally:
        con.close()
