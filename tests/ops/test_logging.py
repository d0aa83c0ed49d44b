"""Logging: no configured secret reaches a log file, the output or a stored row; rotation keeps
the configured number of files; JSON lines carry the run's and the account's id."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

from tests.ops.conftest import SECRETS, cache_market, paper_args, write_config


def _secret_config(receiver_url: str) -> str:
    hook = receiver_url.replace("json://", f"json://bot:{SECRETS['url_password']}@") + f"?token={SECRETS['url_token']}"
    return (f'[exchanges.binance]\napi_key = "{SECRETS["api_key"]}"\nsecret = "{SECRETS["secret"]}"\n'
            f'password = "{SECRETS["password"]}"\n'
            f'[notify.channels.ops]\nurl = "{hook}"\nevents = ["run_failed", "trade_closed"]\n'
            '[logging]\nlevel = "DEBUG"\n')


def test_no_secret_in_logs_output_or_store(home: Path, run, http_receiver) -> None:  # type: ignore[no-untyped-def]
    write_config(home, _secret_config(http_receiver.url()))
    data = cache_market(home)
    outputs = []
    for args in (paper_args(), ["doctor", "--offline", "--send-test"], ["config", "show"]):
        res = run("--log-level", "DEBUG", *args)
        assert res.code == 0, res
        outputs.append(res.output)
    data.write_bytes(b"corrupt")  # a failing run: error, traceback and alert are logged
    res = run("--log-level", "DEBUG", *paper_args())
    assert res.code == 2, res
    outputs.append(res.output)
    # a library that logs a secret verbatim (as HTTP clients log URLs) is scrubbed too
    logging.getLogger("urllib3.connectionpool").warning("GET /?key=%s&pw=%s", SECRETS["api_key"],
                                                        SECRETS["url_password"])
    logging.getLogger("tradebot.test").error("boom", exc_info=RuntimeError(f"secret {SECRETS['secret']} in an error"))
    assert len(http_receiver.requests) >= 2  # the doctor's test message and the failure alert
    logs = "".join(p.read_text() for p in (home / "logs").glob("tradebot.log*"))
    assert "paper a1: " in logs and "DataValidationError" in logs and "Traceback" in logs
    assert logs.count("***") >= 3  # the two library lines and the exception
    con = sqlite3.connect(home / "tradebot.db")
    stored = "\n".join(con.iterdump())
    con.close()
    assert "DataValidationError" in stored  # the error row is there ...
    for name, secret in SECRETS.items():
        for where, text in (("log files", logs), ("output", "".join(outputs)), ("store", stored)):
            assert secret not in text, f"{name} leaked into the {where}"


def test_rotation_keeps_the_configured_count(tmp_path: Path) -> None:
    from tradebot.core.config import load_settings
    from tradebot.core.logging_setup import setup_logging

    home = tmp_path / "h"
    cfg = write_config(home, "[logging]\nmax_bytes = 2048\nbackups = 3\n")
    setup_logging(settings=load_settings(cfg, env={"TRADEBOT_HOME": str(home)}))
    log = logging.getLogger("tradebot.rotation")
    for i in range(400):
        log.info("line %04d %s", i, "x" * 60)
    files = sorted(p.name for p in (home / "logs").iterdir())
    assert files == ["tradebot.log", "tradebot.log.1", "tradebot.log.2", "tradebot.log.3"]
    assert all((home / "logs" / f).stat().st_size <= 2048 for f in files)
    assert "line 0399" in (home / "logs" / "tradebot.log").read_text()


def test_json_lines_carry_run_and_account(home: Path, run) -> None:  # type: ignore[no-untyped-def]
    cache_market(home)
    res = run("--log-level", "INFO", "--log-json", *paper_args())
    assert res.code == 0, res
    records = [json.loads(line) for line in res.err.splitlines() if line.startswith("{")]
    ours = [r for r in records if r["msg"].startswith("paper a1:")]
    assert ours and all(r["account"] == "a1" and len(r["run"]) == 12 and r["command"] == "paper" for r in ours)
    file_records = [json.loads(line) for line in (home / "logs" / "tradebot.log").read_text().splitlines()]
    assert any(r["msg"].startswith("paper a1:") and r["run"] == ours[0]["run"] for r in file_records)
    # a second run gets its own id
    res = run("--log-level", "INFO", "--log-json", *paper_args())
    second = [json.loads(line) for line in res.err.splitlines() if line.startswith("{")]
    assert second and second[-1]["run"] != ours[0]["run"]


def test_a_library_logging_a_ctrl_c_stays_off_bare_stderr(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """SQLAlchemy's pool logs the KeyboardInterrupt it catches while closing a connection (then
    re-raises it); the command's one ``interrupted:`` line is all stderr shows, the file has it."""
    from tradebot.core.config import load_settings
    from tradebot.core.logging_setup import setup_logging

    home = tmp_path / "h"
    cfg = write_config(home, "")
    setup_logging(settings=load_settings(cfg, env={"TRADEBOT_HOME": str(home)}))
    pool = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        pool.error("Exception closing connection %r", "<sqlite3.Connection>", exc_info=True)
    pool.error("Exception closing connection %r", "<other>", exc_info=RuntimeError("disk I/O error"))
    err = capsys.readouterr().err
    assert "<sqlite3.Connection>" not in err and "KeyboardInterrupt" not in err
    assert "<other>" in err and "disk I/O error" in err  # any other error still shows
    logs = (home / "logs" / "tradebot.log").read_text()
    assert "<sqlite3.Connection>" in logs and "KeyboardInterrupt" in logs
