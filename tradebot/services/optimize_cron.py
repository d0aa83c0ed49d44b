"""``tradebot optimize ... --if-older AGE``: re-tuning from cron, like ``train --if-older``.

A study's *key* is what makes two studies the same search: strategy, market (exchange,
symbol, timeframe), method and the search space as built (so ``period=7,14`` and
``period=7, 14`` are one key). With ``--if-older``:

* an exclusive ``flock`` on ``$TRADEBOT_HOME/locks/study-<sha>.lock`` (the key's hash) is
  held from before the age check until the study is stored, so two crons never run the
  same study at once; the kernel releases it when the process dies. A second run finds it
  busy and says so (exit 0 under cron), or waits with ``--wait``;
* the newest *finished* study with the same key decides: younger than ``AGE`` → nothing
  runs (one line naming it); older, or none → a new study runs as without the option.
  An interrupted study (status ``running``) does not count: its resume stays
  ``--resume S<id>``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradebot.core.errors import TradebotError, UsageError
from tradebot.services.context import Context, ensure_home
from tradebot.services.optimize import NoticeFn, OptimizeRequest, ProgressFn, StudyOutcome


class StudyBusy(TradebotError):
    """Another process runs a study with the same key (holds its lock)."""


@dataclass(frozen=True)
class StudyKey:
    strategy: str
    exchange: str
    symbol: str
    timeframe: str
    method: str
    space: dict[str, Any]

    def digest(self) -> str:
        text = json.dumps({"strategy": self.strategy, "exchange": self.exchange, "symbol": self.symbol,
                           "timeframe": self.timeframe, "method": self.method, "space": self.space},
                          sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def label(self) -> str:
        return f"{self.strategy} on {self.exchange} {self.symbol} {self.timeframe}, {self.method} search"


@dataclass(frozen=True)
class CronOutcome:
    """Either a study run (``outcome``) or the reason nothing ran (``skipped``, ``study_id``
    of the young study, or ``None`` when another process holds the key's lock)."""

    outcome: StudyOutcome | None = None
    skipped: str | None = None
    study_id: int | None = None


def study_key(ctx: Context, request: OptimizeRequest) -> StudyKey:
    """The key of the study ``request`` would run (the space built as ``optimize`` builds it;
    bad specs fail here with their usual one-line error, before any write)."""
    from tradebot.optimize.space import build_space

    s = ctx.settings
    if request.method not in _methods():
        raise UsageError(f"--method {request.method!r}: choose one of {', '.join(_methods())}")
    info = ctx.registry.get(s.strategy.name)
    specs, cls = list(request.space), info.cls
    if getattr(info.cls, "uses_model", False):
        from tradebot.services.ml_optimize import ml_space

        cls, specs = ml_space(ctx, info.cls, specs, dict(s.strategy.params))
    space = json.loads(json.dumps(build_space(cls, specs).to_dict(), default=str))
    m = s.market
    return StudyKey(s.strategy.name, m.exchange, m.symbol, m.timeframe, request.method, space)


def _methods() -> tuple[str, ...]:
    from tradebot.services.optimize import METHODS

    return METHODS


def lock_path(home: Path, key: StudyKey) -> Path:
    return home / "locks" / f"study-{key.digest()}.lock"


@contextmanager
def study_lock(home: Path, key: StudyKey, wait: bool) -> Iterator[None]:
    lock_dir = ensure_home(home) / "locks"
    lock_dir.mkdir(exist_ok=True)
    fd = os.open(lock_path(home, key), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise StudyBusy(f"a study of {key.label()} is being run by another process (lock "
                            f"{lock_path(home, key)})") from None
        yield
    finally:
        os.close(fd)


def newest_done(ctx: Context, key: StudyKey) -> tuple[int, float] | None:
    """``(study id, age in seconds)`` of the newest finished study with this key."""
    from sqlalchemy import select

    from tradebot.data.study_models import Study

    if ctx.settings.database_url is None and not (ctx.home / "tradebot.db").is_file():
        return None  # nothing stored yet (and no database created to look)
    with ctx.store.session() as session:
        rows = session.execute(
            select(Study.id, Study.updated_at, Study.space).where(
                Study.status == "done", Study.strategy_name == key.strategy, Study.exchange == key.exchange,
                Study.symbol == key.symbol, Study.timeframe == key.timeframe, Study.method == key.method,
            ).order_by(Study.updated_at.desc(), Study.id.desc())).all()
    want = json.dumps(key.space, sort_keys=True)
    now = dt.datetime.now(dt.UTC)
    for sid, finished, space in rows:
        if json.dumps(space, sort_keys=True, default=str) == want:
            when = finished if finished.tzinfo is not None else finished.replace(tzinfo=dt.UTC)
            return int(sid), max((now - when).total_seconds(), 0.0)
    return None


def run_if_older(ctx: Context, request: OptimizeRequest, if_older: float, *, wait: bool = False,
                 jobs: int = 1, cluster: str | None = None, progress: ProgressFn | None = None,
                 notice: NoticeFn | None = None) -> CronOutcome:
    """Run the study unless a finished one with the same key is younger than ``if_older``
    seconds; one study per key at a time (``wait``: wait for the other run instead)."""
    from tradebot.ml.retrain import age_text
    from tradebot.services.optimize import run_optimize

    if isinstance(if_older, bool) or not if_older > 0:
        raise UsageError(f"--if-older must be a positive age, got {if_older!r}")
    key = study_key(ctx, request)
    try:
        with study_lock(ctx.home, key, wait):
            young = newest_done(ctx, key)
            if young is not None and young[1] < if_older:
                sid, age = young
                return CronOutcome(skipped=(f"study S{sid} ({key.label()}) finished {age_text(age)} ago, younger "
                                            f"than --if-older {age_text(if_older)}: not re-run"), study_id=sid)
            return CronOutcome(run_optimize(ctx, request, jobs=jobs, cluster=cluster, progress=progress,
                                            notice=notice))
    except StudyBusy as e:
        return CronOutcome(skipped=f"{e}: not re-run")
