"""A selector account (strategy ``agent:NAME``) is run by ``tradebot paper-select`` only: plain
``tradebot paper`` and a server bot on it refuse with one line naming ``paper-select`` (exit 2),
and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services.test_paper_selector import NEW, _one_line, _stored, cli, home, with_agent  # noqa: F401

NOW_ARGS = ["--source", "sim"]


def test_plain_paper_and_a_bot_refuse_a_selector_account(home: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    from tradebot.core.config import load_settings
    from tradebot.services.bots import create_bot, run_bot
    from tradebot.services.context import Context

    with_agent(home)
    code, out, err = cli(capsys, "paper-select", "--account", "s", "--agent", "ag", *NEW)
    assert code == 0, err
    db = home / "tradebot.db"
    before = _stored(db)
    assert before["windows"]
    code, out, err = cli(capsys, "paper", "--account", "s", *NOW_ARGS)
    _one_line(code, err, "run it with `tradebot paper-select --account s`")
    assert "agent 'ag'" in err
    assert _stored(db) == before
    ctx = Context(load_settings(overrides={"home": str(home)}, env={}))
    try:
        create_bot(ctx, "b", {"account": "s", "exchange": "sim", "symbol": "BTC/USDT", "timeframe": "1h",
                              "source": "sim"})
        got = run_bot(ctx, "b")
    finally:
        ctx.close()
    assert got["outcome"] == "failed" and "tradebot paper-select --account s" in got["error"], got
    assert _stored(db) == before
