"""The model registry on SQLite: round trip, champion/retired, migration from 0004, artifacts."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tradebot.core.errors import StoreError, UsageError
from tradebot.data.db import HEAD_REVISION, MIGRATIONS_DIR, current_revision, open_store
from tradebot.data.model_registry import (
    ArtifactError,
    ModelNotFoundError,
    ModelRepository,
    artifact_relpath,
    check_name,
    dump_artifact,
    load_artifact,
    parse_ref,
    record_dict,
    sha256_bytes,
    verify_artifact,
    write_artifact,
)


def _fields(name: str, data: bytes, version: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "version": version, "seed": 7, "spec_name": "minimal", "spec_sha256": "ab" * 32,
        "spec": {"format": 1, "features": []}, "columns": ["ret_1"], "label": {"method": "forward", "horizon": 4},
        "model": {"model": "logreg"}, "cv": {"scheme": "purged", "folds": 3},
        "exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1h", "data_source": "cache: x",
        "data_start_ms": 0, "data_end_ms": 3_600_000, "data_rows": 2, "data_sha256": "cd" * 32, "samples": 1,
        "scores": {"summary": {"model": {"auc": 0.5, "return": 0.0, "daily_sharpe": None}}},
        "verdict": "no evidence of edge", "verdict_detail": {"reasons": ["x"]},
        "libraries": {"numpy": "2"}, "code_version": "0+g0", "artifact_path": artifact_relpath(name, version),
        "artifact_sha256": sha256_bytes(data), "artifact_bytes": len(data), **extra,
    }


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tradebot.db'}"


def test_round_trip_versions_promote_retire(url: str, tmp_path: Path) -> None:
    data = dump_artifact({"coef": [1.0, 2.0]})
    with open_store(url) as store:
        with store.session() as s:
            repo = ModelRepository(s)
            assert repo.next_version("m") == 1
            for v in (1, 2):
                write_artifact(tmp_path, artifact_relpath("m", v), data)
                repo.add(_fields("m", data, repo.next_version("m")))
            assert repo.next_version("m") == 3
        with store.session() as s:
            repo = ModelRepository(s)
            rec = record_dict(repo.get("m", 1))
            assert rec["status"] == "candidate" and rec["label"] == {"method": "forward", "horizon": 4}
            assert rec["created_at"].endswith("+00:00")
            assert repo.get("m").version == 2  # no champion: the newest
            new, old = repo.promote("m", 1)
            assert (new.status, old) == ("champion", None)
        with store.session() as s:
            repo = ModelRepository(s)
            assert repo.get("m").version == 1  # the champion
            new, old = repo.promote("m", 2)
            assert old is not None and (old.version, old.status) == (1, "retired")
        with store.session() as s:
            repo = ModelRepository(s)
            assert [(r.version, r.status) for r in repo.versions("m")] == [(1, "retired"), (2, "champion")]
            assert repo.retire("m", 2).status == "retired"
            assert repo.champion("m") is None
            with pytest.raises(ModelNotFoundError, match="no model m:9"):
                repo.get("m", 9)
            with pytest.raises(ModelNotFoundError, match="no model other"):
                repo.get("other")
        with pytest.raises(StoreError, match="UNIQUE"), store.session() as s:
            ModelRepository(s).add(_fields("m", data, 2))  # (name, version) is unique
        with store.session() as s:
            row = ModelRepository(s).get("m", 2)
            assert load_artifact(tmp_path, row) == {"coef": [1.0, 2.0]}


class _Bomb:
    """Unpickling this object would record that it ran."""

    ran: list[str] = []

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Bomb.ran.append, ("unpickled",))


def test_tampered_artifact_is_refused_before_unpickling(url: str, tmp_path: Path) -> None:
    data = dump_artifact([1, 2, 3])
    with open_store(url) as store:
        with store.session() as s:
            write_artifact(tmp_path, artifact_relpath("m", 1), data)
            ModelRepository(s).add(_fields("m", data, 1))
        path = tmp_path / artifact_relpath("m", 1)
        path.write_bytes(pickle.dumps(_Bomb()))  # a payload that runs code when unpickled
        with store.session() as s:
            row = ModelRepository(s).get("m", 1)
            with pytest.raises(ArtifactError, match=r"m:1: artifact .* has sha256 .* its record says .* refusing"):
                load_artifact(tmp_path, row)
            assert _Bomb.ran == []
            path.unlink()
            with pytest.raises(ArtifactError, match="cannot read its artifact"):
                verify_artifact(tmp_path, row)


def test_write_artifact_is_atomic_and_never_overwrites(tmp_path: Path) -> None:
    rel = artifact_relpath("m", 1)
    write_artifact(tmp_path, rel, b"one")
    with pytest.raises(UsageError, match="already exists"):
        write_artifact(tmp_path, rel, b"two")
    assert (tmp_path / rel).read_bytes() == b"one"
    assert [p.name for p in (tmp_path / "models" / "m").iterdir()] == ["1.joblib"]  # no temp files left


def test_equal_models_dump_to_equal_bytes() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).standard_normal((200, 3))
    y = (X[:, 0] > 0).astype(int)
    a = dump_artifact(LogisticRegression().fit(X, y))
    b = dump_artifact(LogisticRegression().fit(X, y))
    assert a == b


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "-x", "a b", "x" * 65])
def test_names_are_path_safe(bad: str) -> None:
    with pytest.raises(UsageError, match="model name"):
        check_name(bad)


def test_parse_ref() -> None:
    assert parse_ref("m") == ("m", None)
    assert parse_ref("m:3") == ("m", 3)
    assert parse_ref("m:v3") == ("m", 3)
    with pytest.raises(UsageError, match="positive number"):
        parse_ref("m:x")
    with pytest.raises(UsageError, match="positive number"):
        parse_ref("m:0")


def test_migration_0005_applies_on_a_database_at_0004(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO strategies (name, version, description, parameter_schema) "
                             "VALUES ('rsi', '1', 'd', '{}')")
    engine.dispose()
    assert current_revision(url) == "0004"
    with open_store(url) as store:
        assert HEAD_REVISION >= "0005"
        assert current_revision(url) == HEAD_REVISION
        names = set(sa.inspect(store.engine).get_table_names())
        assert "ml_models" in names
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT name FROM strategies").scalar() == "rsi"
        indexes = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("ml_models")}
        assert "ix_ml_models_name_status" in indexes
