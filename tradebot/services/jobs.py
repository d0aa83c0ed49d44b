"""Background jobs of ``tradebot serve``: a backtest or an optimization, stored in the
``api_jobs`` table and run by a small thread pool inside the server.

A request is checked completely before its row is written (settings, strategy and
parameters, market), so a bad request stores nothing. The work is the CLI's own service
(:func:`~tradebot.services.backtest.run_backtest`, :func:`~tradebot.services.optimize.run_optimize`);
its progress lines are written to the job's row. A job the server was running when it
stopped is marked failed at the next start; queued jobs are queued again."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import TradebotError, UsageError

if TYPE_CHECKING:
    from tradebot.data.api_models import Job
    from tradebot.services.context import Context

KINDS = ("backtest", "optimize")
_MARKET = {"exchange": "market.exchange", "symbol": "market.symbol", "timeframe": "market.timeframe",
           "since": "backtest.since", "until": "backtest.until", "capital": "backtest.initial_capital",
           "slippage_bps": "slippage.bps"}
#: optimize request fields passed to OptimizeRequest as they are
_OPTIMIZE_FIELDS = ("method", "objectives", "space", "trials", "batch_size", "seed", "max_dd", "min_trades",
                    "wf_train", "wf_test", "wf_step", "wf_anchored")


class JobNotFoundError(UsageError):
    """No job has the requested id."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def scoped_context(ctx: Context, overrides: dict[str, Any]) -> Context:
    """A Context with the server's settings and ``overrides`` on top, sharing the server's
    store and cache. A strategy other than the configured one starts from no parameters."""
    from tradebot.core.config import load_settings, settings_to_dict
    from tradebot.services.context import Context

    base = settings_to_dict(ctx.settings, mask_secrets=False)
    if "strategy" in overrides and overrides["strategy"].get("name") not in (None, ctx.settings.strategy.name):
        base["strategy"] = {"name": overrides["strategy"]["name"], "params": {}}
    merged = _merge(base, overrides)
    merged["home"] = str(ctx.home)
    settings = load_settings(overrides=merged, env={})
    sub = Context(settings, ctx.strategy_path)
    sub.__dict__["store"] = ctx.store
    sub.__dict__["cache"] = ctx.cache
    return sub


def job_overrides(request: dict[str, Any]) -> dict[str, Any]:
    from tradebot.core.config import build_overrides

    flat: dict[str, Any] = {f"{_MARKET[k]}": request.get(k) for k in _MARKET}
    flat["fees.maker"] = flat["fees.taker"] = request.get("fee")
    out = build_overrides(flat)
    if request.get("strategy") is not None or request.get("params"):
        out["strategy"] = {k: v for k, v in (("name", request.get("strategy")),
                                             ("params", request.get("params") or {})) if v is not None}
    return out


def check_request(ctx: Context, kind: str, request: dict[str, Any]) -> Context:
    """Everything a job needs, checked before anything is stored; its Context."""
    from tradebot.services.market import resolve_market

    if kind not in KINDS:
        raise UsageError(f"unknown job kind {kind!r}: expected one of {', '.join(KINDS)}")
    sub = scoped_context(ctx, job_overrides(request))
    s = sub.settings
    sub.registry.create(s.strategy.name, dict(s.strategy.params))
    since, until = s.since_ms(), s.until_ms()
    if since is not None and until is not None and since >= until:
        raise UsageError(f"since {request.get('since')!r} is not before until {request.get('until')!r}")
    resolve_market(sub)
    if kind == "optimize":  # the service's own checks (space, objectives, windows) before storing
        from tradebot.services.optimize import _plan

        _plan(sub, _request_for(kind, request, sub), s.seed)
    return sub


def _request_for(kind: str, request: dict[str, Any], sub: Context) -> Any:
    from tradebot.services.optimize import OptimizeRequest

    o = sub.settings.optimize
    fields = {k: request[k] for k in _OPTIMIZE_FIELDS if request.get(k) is not None}
    fields.setdefault("method", o.method)
    fields.setdefault("objectives", o.objective)
    fields.setdefault("trials", o.trials)
    given = list(fields.get("space") or ())  # replaces the config's spec of the same name, as the CLI does
    names = {g.split("=", 1)[0].strip() for g in given}
    fields["space"] = tuple([c for c in o.space if c.split("=", 1)[0].strip() not in names] + given)
    return OptimizeRequest(**fields, extra={"sizing_mode": sub.settings.sizing.mode})


def job_dict(row: Job) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "status": row.status, "request": row.request,
            "progress": row.progress, "result": row.result, "error": row.error, "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
            "started_at": None if row.started_at is None else row.started_at.isoformat(),
            "finished_at": None if row.finished_at is None else row.finished_at.isoformat()}


class JobRunner:
    """The server's worker pool (``workers`` threads; the engine's kernels run without the GIL)."""

    def __init__(self, ctx: Context, workers: int = 1) -> None:
        self.ctx = ctx
        self.workers = max(1, workers)
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def _submit(self, job_id: int) -> None:
        """Queue a job; the worker threads start with the first one. They are daemon threads:
        stopping the server does not wait for a long optimization (the job is marked failed at
        the next start, its unfinished transaction rolled back)."""
        if not self._threads:
            for k in range(self.workers):
                t = threading.Thread(target=self._worker, name=f"tradebot-job-{k}", daemon=True)
                t.start()
                self._threads.append(t)
        self._queue.put(job_id)

    def _worker(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._run(job_id)
            except Exception:  # the store went away: the job stays as it was, the worker goes on
                pass

    def recover(self) -> None:
        """After a restart: jobs that were running failed with the server; queued ones run now."""
        from sqlalchemy import select

        from tradebot.data.api_models import Job
        from tradebot.services.api_tokens import write_session

        with write_session(self.ctx.store) as session:
            queued = []
            for row in session.scalars(select(Job).where(Job.status.in_(("queued", "running")))):
                if row.status == "running":
                    row.status, row.finished_at = "failed", _now()
                    row.error = "the server stopped while the job ran; submit it again"
                else:
                    queued.append(row.id)
        for job_id in queued:
            self._submit(job_id)

    def submit(self, kind: str, request: dict[str, Any], created_by: str | None) -> dict[str, Any]:
        from tradebot.data.api_models import Job

        check_request(self.ctx, kind, request)
        with self.ctx.store.session() as session:
            row = Job(kind=kind, status="queued", request=request, created_by=created_by, created_at=_now())
            session.add(row)
            session.flush()
            out = job_dict(row)
        self._submit(out["id"])
        return out

    def get(self, job_id: int) -> dict[str, Any]:
        from tradebot.data.api_models import Job

        with self.ctx.store.session() as session:
            row = session.get(Job, job_id)
            if row is None:
                raise JobNotFoundError(f"no job with id {job_id}")
            return job_dict(row)

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from tradebot.data.api_models import Job

        with self.ctx.store.session() as session:
            return [job_dict(r) for r in session.scalars(select(Job).order_by(Job.id.desc()).limit(limit))]

    def shutdown(self) -> None:
        """Ask the workers to stop once they reach the end of the queue; the process exit ends
        them at once (daemon threads). What was queued or running is recovered at the next start."""
        for _ in self._threads:
            self._queue.put(None)

    def _update(self, job_id: int, **fields: Any) -> None:
        from tradebot.data.api_models import Job
        from tradebot.services.api_tokens import write_session

        with write_session(self.ctx.store) as session:
            row = session.get(Job, job_id)
            if row is not None:
                for k, v in fields.items():
                    setattr(row, k, v)

    def _run(self, job_id: int) -> None:
        job = self.get(job_id)
        self._update(job_id, status="running", started_at=_now(), progress="starting")
        try:
            result = self._work(job_id, job["kind"], job["request"])
        except TradebotError as e:
            self._update(job_id, status="failed", finished_at=_now(), error=str(e))
        except Exception as e:  # a bug: the job fails with one line, the server goes on
            self._update(job_id, status="failed", finished_at=_now(),
                         error=f"internal error: {type(e).__name__}: {e}")
        else:
            self._update(job_id, status="done", finished_at=_now(), result=result, progress="done")

    def _work(self, job_id: int, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        sub = check_request(self.ctx, kind, request)
        if kind == "backtest":
            from tradebot.services.backtest import run_backtest

            outcome = run_backtest(sub, save=True, progress=lambda msg: self._update(job_id, progress=msg))
            m = outcome.metrics.to_dict()
            return {"run_id": outcome.run_id,
                    "metrics": {k: v for k, v in m.items() if isinstance(v, int | float | str | None)}}
        from tradebot.services.optimize import run_optimize

        def progress(p: Any) -> None:
            self._update(job_id, progress=f"window {p.window}/{p.windows}: {p.done}/{p.budget} evaluations, "
                                          f"best {p.objective} {p.best}")

        study = run_optimize(sub, _request_for(kind, request, sub), jobs=1, progress=progress)
        return {"study_id": study.study_id, "evaluated": study.evaluated}
