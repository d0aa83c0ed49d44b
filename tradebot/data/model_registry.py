"""The model registry: one row per trained model version, and its artifact on disk.

A model is ``NAME:VERSION`` (versions 1, 2, … per name). Its row holds everything needed to
know what it is and to reproduce it: the feature spec (and its hash), label, model and CV
settings, the market and the training data range with the dataset's sha256, the
out-of-sample CV scores and verdict, library versions, the seed, and the artifact's path
(relative to ``$TRADEBOT_HOME``) and sha256. Status: ``candidate`` when trained,
``champion`` after ``promote`` (at most one per name; the previous one is retired),
``retired``.

Artifacts are joblib pickles under ``$TRADEBOT_HOME/models/<name>/<version>.joblib``,
written atomically. Unpickling runs code, so :func:`load_artifact` reads the bytes,
checks their sha256 against the row and only then unpickles *those bytes* (never the file
a second time). Decision record: docs/decisions/0014-model-registry.md.

Like the other repositories, :class:`ModelRepository` never commits; the caller's
``Store.session()`` is the unit of work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tradebot.core.errors import UsageError
from tradebot.data.base import Base, UTCDateTime, utcnow

STATUSES = ("candidate", "champion", "retired")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ARTIFACT_SUFFIX = ".joblib"


class ModelNotFoundError(UsageError):
    """No such model (or version) in the registry."""


class ArtifactError(UsageError):
    """A model's artifact is missing or does not match its record; never unpickled."""


class MLModel(Base):
    __tablename__ = "ml_models"
    __table_args__ = (UniqueConstraint("name", "version"), Index(None, "name", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String)  # candidate | champion | retired
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    seed: Mapped[int] = mapped_column(BigInteger)
    spec_name: Mapped[str] = mapped_column(String)
    spec_sha256: Mapped[str] = mapped_column(String)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # canonical content (what the hash covers)
    columns: Mapped[list[str]] = mapped_column(JSON)
    label: Mapped[dict[str, Any]] = mapped_column(JSON)
    model: Mapped[dict[str, Any]] = mapped_column(JSON)
    cv: Mapped[dict[str, Any]] = mapped_column(JSON)
    exchange: Mapped[str] = mapped_column(String)
    symbol: Mapped[str] = mapped_column(String)
    timeframe: Mapped[str] = mapped_column(String)
    data_source: Mapped[str] = mapped_column(Text)
    data_start_ms: Mapped[int] = mapped_column(BigInteger)
    data_end_ms: Mapped[int] = mapped_column(BigInteger)
    data_rows: Mapped[int] = mapped_column(Integer)
    data_sha256: Mapped[str] = mapped_column(String)
    samples: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)  # folds, baselines, summary (out of sample)
    verdict: Mapped[str] = mapped_column(String)
    verdict_detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    libraries: Mapped[dict[str, str]] = mapped_column(JSON)
    code_version: Mapped[str] = mapped_column(String)
    artifact_path: Mapped[str] = mapped_column(Text)  # relative to TRADEBOT_HOME
    artifact_sha256: Mapped[str] = mapped_column(String)
    artifact_bytes: Mapped[int] = mapped_column(BigInteger)
    # migration 0009: configurations this training tried (Optuna trials with --tune), the
    # tuning's trials, and the champion/challenger comparison (None: not made)
    trials: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    tuning: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    challenge: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


def check_name(name: str) -> str:
    """A model name is a path component: letters, digits, ``_ . -`` (64 at most)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(f"model name {name!r} must be 1-64 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit")
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION`` (``v`` before the number allowed)."""
    name, sep, ver = ref.partition(":")
    check_name(name)
    if not sep:
        return name, None
    digits = ver[1:] if ver[:1] in ("v", "V") else ver
    if not digits.isdigit() or int(digits) < 1:
        raise UsageError(f"model version in {ref!r} must be a positive number (NAME:VERSION)")
    return name, int(digits)


def artifact_relpath(name: str, version: int) -> str:
    return f"models/{check_name(name)}/{int(version)}{ARTIFACT_SUFFIX}"


def record_dict(row: MLModel) -> dict[str, Any]:
    """The row as plain JSON-able data (``created_at`` as ISO 8601 UTC)."""
    out: dict[str, Any] = {}
    for col in MLModel.__table__.columns:
        value = getattr(row, col.key)
        out[col.key] = value.isoformat() if isinstance(value, dt.datetime) else value
    return out


class ModelRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def next_version(self, name: str) -> int:
        top = self.s.scalar(select(func.max(MLModel.version)).where(MLModel.name == name))
        return int(top or 0) + 1

    def add(self, fields: Mapping[str, Any]) -> MLModel:
        row = MLModel(**{"status": "candidate", **fields})
        if row.status not in STATUSES:
            raise UsageError(f"model status must be one of {', '.join(STATUSES)}, got {row.status!r}")
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, name: str, version: int | None = None) -> MLModel:
        """``name:version``; without a version the champion, else the newest version."""
        if version is not None:
            row = self.s.scalar(select(MLModel).where(MLModel.name == name, MLModel.version == version))
        else:
            row = self.champion(name) or self.s.scalar(
                select(MLModel).where(MLModel.name == name).order_by(MLModel.version.desc()).limit(1))
        if row is None:
            what = f"{name}:{version}" if version is not None else name
            known = self.names()
            hint = f" (models: {', '.join(known[:5])})" if known else " (none trained yet: `tradebot train`)"
            raise ModelNotFoundError(f"no model {what} in the registry{hint}")
        return row

    def champion(self, name: str) -> MLModel | None:
        return self.s.scalar(select(MLModel).where(MLModel.name == name, MLModel.status == "champion"))

    def names(self) -> list[str]:
        return list(self.s.scalars(select(MLModel.name).distinct().order_by(MLModel.name)))

    def versions(self, name: str | None = None) -> list[MLModel]:
        q = select(MLModel)
        if name is not None:
            q = q.where(MLModel.name == name)
        return list(self.s.scalars(q.order_by(MLModel.name, MLModel.version)))

    def promote(self, name: str, version: int) -> tuple[MLModel, MLModel | None]:
        """Make ``name:version`` the champion; the previous champion is retired."""
        row = self.get(name, version)
        if row.status == "champion":
            return row, None
        old = self.champion(name)
        if old is not None:
            old.status = "retired"
            self.s.flush()  # one champion at a time, also mid-transaction
        row.status = "champion"
        self.s.flush()
        return row, old

    def retire(self, name: str, version: int) -> MLModel:
        row = self.get(name, version)
        row.status = "retired"
        self.s.flush()
        return row


# ------------------------------------------------------------------ artifacts


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump_artifact(obj: Any) -> bytes:
    """The artifact's bytes (joblib pickle, uncompressed: byte-identical for equal models)."""
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getvalue()


def write_artifact(home: Path, relpath: str, data: bytes) -> Path:
    """Write ``data`` atomically to ``home/relpath``; refuses to replace an existing file."""
    from tradebot.core.atomic import atomic_write_bytes

    path = home / relpath
    if path.exists():
        raise UsageError(f"model artifact {path} already exists; refusing to overwrite it")
    atomic_write_bytes(path, data)
    return path


def verify_artifact(home: Path, row: MLModel) -> bytes:
    """The artifact's bytes, after checking them against the record (nothing unpickled)."""
    path = home / row.artifact_path
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"model {row.name}:{row.version}: cannot read its artifact {path} "
                            f"({e.strerror or e})") from None
    digest = sha256_bytes(data)
    if digest != row.artifact_sha256:
        raise ArtifactError(f"model {row.name}:{row.version}: artifact {path} has sha256 {digest[:12]}…, "
                            f"its record says {row.artifact_sha256[:12]}…; refusing to load it "
                            "(tampered or corrupt: retrain, or retire this version)")
    return data


def load_artifact(home: Path, row: MLModel) -> Any:
    """The unpickled model, only after its bytes match the record's sha256."""
    import joblib

    data = verify_artifact(home, row)
    return joblib.load(io.BytesIO(data))
