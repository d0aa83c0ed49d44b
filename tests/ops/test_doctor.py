"""``tradebot doctor``: a good home passes; a broken home (missing migration, corrupted cache
file, unreachable store, unreachable notifier) has each problem named and exits non-zero."""

from __future__ import annotations

from pathlib import Path

from tests.notify.conftest import free_port
from tests.ops.conftest import cache_market, write_config


def _lines(out: str) -> dict[str, str]:
    return {line.split()[1]: line for line in out.splitlines() if line[:4] in ("ok  ", "WARN", "FAIL", "skip")}


def test_doctor_on_a_good_home(home: Path, run) -> None:  # type: ignore[no-untyped-def]
    cache_market(home, 50)
    assert run("paper", "-a", "a1", "--source", "sim").code == 0
    res = run("doctor", "--offline")
    assert res.code == 0, res
    lines = _lines(res.out)
    for name in ("config", "store", "disk", "cache", "ta-lib", "kernels", "notify", "account"):
        assert name in lines, res
    assert lines["store"].startswith("ok") and "latest migration" in lines["store"]
    assert lines["cache"].startswith("ok") and "1 candle file(s)" in lines["cache"]
    assert lines["account"].startswith("ok") and "a1" in lines["account"]
    assert lines["clock"].startswith("skip")
    assert res.out.strip().endswith("healthy")
    quick = run("doctor", "--quick")
    assert quick.code == 0 and set(_lines(quick.out)) == {"config", "store", "disk"}, quick


def test_doctor_names_each_problem_of_a_broken_home(home: Path, run) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from tradebot.data.db import HEAD_REVISION, MIGRATIONS_DIR

    home.mkdir()
    engine = create_engine(f"sqlite:///{home / 'tradebot.db'}")
    with engine.begin() as conn:  # a store one migration short of the latest
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, f"{int(HEAD_REVISION) - 1:04d}")
    engine.dispose()
    cache_market(home, 50).write_bytes(b"PAR1 this is not a parquet file")
    write_config(home, f'[notify.channels.ops]\nurl = "json://127.0.0.1:{free_port()}/hook"\n')
    res = run("doctor", "--offline", "--send-test")
    assert res.code == 1, res
    lines = _lines(res.out)
    assert lines["store"].startswith("FAIL") and f"latest is {HEAD_REVISION}" in lines["store"] \
        and "tradebot db upgrade" in lines["store"], res
    assert lines["cache"].startswith("FAIL") and "TEST_USDT-1h.parquet" in lines["cache"], res
    assert lines["notify"].startswith("FAIL") and "test message failed" in lines["notify"], res
    assert "3 problem(s): store, cache, notify ops" in res.out


def test_doctor_an_unreachable_store_without_leaking_its_password(home: Path, run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRADEBOT_DATABASE_URL",
                       f"postgresql+psycopg://bot:Sup3rSecretPw@127.0.0.1:{free_port()}/tradebot")
    res = run("doctor", "--quick")
    assert res.code == 1, res
    assert _lines(res.out)["store"].startswith("FAIL") and "unreachable" in res.out
    assert "Sup3rSecretPw" not in res.output


def test_doctor_send_test_reaches_the_channel(home: Path, run, http_receiver) -> None:  # type: ignore[no-untyped-def]
    write_config(home, f'[notify.channels.ops]\nurl = "{http_receiver.url()}"\n')
    res = run("doctor", "--offline", "--send-test")
    assert res.code == 0, res
    assert len(http_receiver.requests) == 1
    assert http_receiver.requests[0].json()["title"] == "tradebot doctor"
