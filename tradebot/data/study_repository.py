"""Studies in the store: create, append whole batches of trials, windows, finish, read.

Like the other repositories it never commits; the caller's ``Store.session()`` is the
unit of work (one batch of trials per transaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tradebot.core.errors import RunNotFoundError
from tradebot.data.models import utcnow
from tradebot.data.repositories import jsonable
from tradebot.data.study_models import Study, StudyTrial, StudyWindow


@dataclass(frozen=True)
class StoredTrial:
    window: int
    number: int
    batch: int
    params: dict[str, Any]
    scores: list[float]  # -inf for infeasible
    metrics: dict[str, Any]
    error: str | None
    daily_returns: np.ndarray


def _blob(a: np.ndarray, dtype: str = "<f8") -> bytes:
    return np.ascontiguousarray(a, dtype=dtype).tobytes()


def unblob(b: bytes | None, dtype: str = "<f8") -> np.ndarray:
    return np.frombuffer(b or b"", dtype=dtype).copy()


class StudyRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def create(self, **fields: Any) -> int:
        study = Study(status="running", summary={}, **{k: jsonable(v) if isinstance(v, dict) else v
                                                       for k, v in fields.items()})
        self.s.add(study)
        self.s.flush()
        return study.id

    def get(self, study_id: int) -> Study:
        study = self.s.get(Study, study_id)
        if study is None:
            raise RunNotFoundError(f"no study S{study_id} in the store (see tradebot optimize --list)")
        return study

    def latest(self, limit: int = 50) -> list[Study]:
        return list(self.s.scalars(select(Study).order_by(Study.id.desc()).limit(limit)))

    def add_trials(self, study_id: int, window: int, batch: int, first_number: int,
                   params: Sequence[Mapping[str, Any]], scores: np.ndarray, metrics: Sequence[Mapping[str, Any]],
                   errors: Sequence[str | None], daily_returns: np.ndarray) -> None:
        for i, p in enumerate(params):
            self.s.add(StudyTrial(
                study_id=study_id, window=window, number=first_number + i, batch=batch,
                params=jsonable(dict(p)), scores=[float(v) if np.isfinite(v) else None for v in scores[i]],
                metrics=jsonable(dict(metrics[i])), error=errors[i], daily_returns=_blob(daily_returns[i])))
        self.touch(study_id)

    def trials(self, study_id: int, window: int | None = None) -> list[StoredTrial]:
        q = select(StudyTrial).where(StudyTrial.study_id == study_id)
        if window is not None:
            q = q.where(StudyTrial.window == window)
        rows = self.s.scalars(q.order_by(StudyTrial.window, StudyTrial.number))
        return [StoredTrial(r.window, r.number, r.batch, dict(r.params),
                            [-np.inf if v is None else float(v) for v in r.scores], dict(r.metrics), r.error,
                            unblob(r.daily_returns)) for r in rows]

    def count_trials(self, study_id: int) -> int:
        return int(self.s.scalar(select(func.count()).select_from(StudyTrial)
                                 .where(StudyTrial.study_id == study_id)) or 0)

    def save_window(self, study_id: int, window: int, **fields: Any) -> None:
        for key in ("oos_daily_returns",):
            if fields.get(key) is not None:
                fields[key] = _blob(fields[key])
        if fields.get("oos_daily_ms") is not None:
            fields["oos_daily_ms"] = _blob(fields["oos_daily_ms"], "<i8")
        for key in ("best_params", "is_metrics", "oos_metrics"):
            if fields.get(key) is not None:
                fields[key] = jsonable(fields[key])
        self.s.add(StudyWindow(study_id=study_id, window=window, **fields))
        self.touch(study_id)

    def windows(self, study_id: int) -> list[StudyWindow]:
        return list(self.s.scalars(select(StudyWindow).where(StudyWindow.study_id == study_id)
                                   .order_by(StudyWindow.window)))

    def finish(self, study_id: int, summary: Mapping[str, Any]) -> None:
        study = self.get(study_id)
        study.summary = jsonable(dict(summary))
        study.status = "done"
        study.updated_at = utcnow()

    def touch(self, study_id: int) -> None:
        study = self.s.get(Study, study_id)
        if study is not None:
            study.updated_at = utcnow()
