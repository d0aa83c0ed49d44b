"""``tradebot optimize``: search a strategy's parameters, honestly.

A study is validated completely (space, objectives, windows, cluster) before anything is
stored; then, window by window, a searcher asks for batches of parameter sets, an
executor evaluates them, and each batch is stored in one transaction before the searcher
is told the scores. Resuming replays the stored batches through a fresh searcher with the
same seed (checking it asks for the same sets) and evaluates only what is missing, so an
interrupted study ends exactly as an uninterrupted one, whatever the number of workers.

Ctrl-C (SIGINT) while a study runs stops it at the next batch boundary: the batch being
evaluated is finished and stored, then :class:`~tradebot.core.errors.Interrupted` says
how many trials are stored and how to resume. A second Ctrl-C stops at once (the batch
in flight is lost, everything before it is stored) with the same kind of message.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import Interrupted, StoreError, UsageError, caused_by_interrupt
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.core.candles import Candles
    from tradebot.optimize.evaluate import Problem, Trials
    from tradebot.optimize.executors import Executor
    from tradebot.optimize.search import Searcher
    from tradebot.optimize.windows import Window

METHODS = ("grid", "random", "ga", "bayes")


@dataclass(frozen=True)
class Progress:
    """After every stored (or replayed) batch."""

    window: int
    windows: int
    done: int  # evaluations in this window so far
    budget: int
    best: float | None  # best first-objective score so far in this window
    study_id: int = 0
    stored: int = 0  # trials of the study in the store (every window)
    windows_done: int = 0  # windows finished (chosen parameters and out-of-sample stored)
    objective: str = ""  # the first objective's name (what ``best`` is)


ProgressFn = Callable[[Progress], None]
#: notice(text): one-line messages while a study runs (started, stopping after this batch).
NoticeFn = Callable[[str], None]


@dataclass(frozen=True)
class OptimizeRequest:
    """What to search and how (everything a resume needs is stored from this)."""

    method: str = "grid"
    objectives: str = "sharpe"
    space: tuple[str, ...] = ()
    trials: int = 100
    batch_size: int = 16
    population: int = 40
    generations: int = 25
    cx_prob: float = 0.7
    mut_prob: float = 0.2
    elite: int = 2
    tournament: int = 3
    seed: int | None = None  # None: the settings' seed
    max_dd: float | None = None
    min_trades: int = 0
    wf_train: str | None = None
    wf_test: str | None = None
    wf_step: str | None = None
    wf_anchored: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["space"] = list(self.space)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OptimizeRequest:
        d = dict(d)
        d["space"] = tuple(d.get("space") or ())
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class StudyOutcome:
    study_id: int
    summary: dict[str, Any]
    evaluated: int  # evaluations run by this call (0 when everything was stored)
    replayed: int  # stored evaluations replayed on resume


@dataclass
class _Plan:
    """A validated study, ready to run."""

    request: OptimizeRequest
    seed: int
    candles: Candles
    problem: Problem
    windows: list[Window]
    n_objectives: int
    data_source: str
    walk_forward: bool
    model_ref: str | None = None  # the ml strategy: the model version its probabilities came from


def _searcher(plan: _Plan, window: int) -> Searcher:
    from tradebot.optimize.search import make_searcher

    r = plan.request
    seed = int(np.random.SeedSequence([plan.seed, window]).generate_state(1)[0])
    return make_searcher(r.method, plan.problem.space, plan.n_objectives, seed, trials=r.trials,
                         batch_size=r.batch_size, population=r.population, generations=r.generations,
                         cx_prob=r.cx_prob, mut_prob=r.mut_prob, elite=r.elite, tournament=r.tournament)


def _plan(ctx: Context, request: OptimizeRequest, settings_seed: int) -> _Plan:
    """Everything checked, nothing stored: bad input fails here with one line."""
    from tradebot.optimize.evaluate import Problem
    from tradebot.optimize.objectives import parse_objectives
    from tradebot.optimize.space import build_space
    from tradebot.optimize.windows import Window, parse_span, walk_forward_windows
    from tradebot.services.backtest import _data_source_label, engine_config, load_market

    s = ctx.settings
    r = request
    if r.method not in METHODS:
        raise UsageError(f"--method {r.method!r}: choose one of {', '.join(METHODS)}")
    for name, v, low in (("--trials", r.trials, 1), ("--batch-size", r.batch_size, 1),
                         ("--population", r.population, 2), ("--generations", r.generations, 1)):
        if v < low:
            raise UsageError(f"{name} {v}: must be >= {low}")
    for name, p in (("--cx-prob", r.cx_prob), ("--mut-prob", r.mut_prob)):
        if not 0 <= p <= 1:
            raise UsageError(f"{name} {p}: must be a probability in [0, 1]")
    info = ctx.registry.get(s.strategy.name)
    ml = getattr(info.cls, "uses_model", False)  # the ml strategy: walk-forward probabilities (services/ml_optimize)
    specs, space_cls = list(r.space), info.cls
    if ml:
        from tradebot.services.ml_optimize import ml_space

        space_cls, specs = ml_space(ctx, info.cls, specs, dict(s.strategy.params))
    space = build_space(space_cls, specs)
    spec = parse_objectives(r.objectives, r.max_dd, r.min_trades, s.risk.daily_profit_target)
    candles = load_market(ctx, s.since_ms(), s.until_ms())
    n = len(candles)
    tf = s.market.timeframe
    base_params, inputs, first = dict(s.strategy.params), None, 0
    if ml:  # computed once; the windows cover only the bars with out-of-sample probabilities
        from tradebot.services.ml_optimize import ml_inputs

        inputs = ml_inputs(ctx, info.cls, base_params, candles)
        base_params, first, n = inputs.params, inputs.first, n - inputs.first
    walk_forward = r.wf_train is not None or r.wf_test is not None
    if walk_forward:
        if r.wf_train is None or r.wf_test is None:
            raise UsageError("walk-forward needs both --wf-train and --wf-test")
        train = parse_span(r.wf_train, tf)
        test = parse_span(r.wf_test, tf)
        step = parse_span(r.wf_step, tf) if r.wf_step else None
        windows = walk_forward_windows(n, train, test, anchored=r.wf_anchored, step=step)
    else:
        windows = [Window(0, 0, n, n, n)]
    problem = Problem(candles, info.cls, engine_config(s), space, spec, tf, base_params=base_params)
    if inputs is not None:
        from tradebot.services.ml_optimize import shift_windows

        windows = shift_windows(windows, first)
        problem.add_indicators({inputs.key: inputs.indicators})
    seed = settings_seed if r.seed is None else r.seed
    plan = _Plan(r, seed, candles, problem, windows, len(spec.names),
                 _data_source_label(candles, s.seed), walk_forward,
                 None if inputs is None else inputs.model_ref)
    _searcher(plan, 0)  # method options are checked before anything is stored
    return plan


def _best_index(scores: np.ndarray) -> int:
    """The chosen trial: the best first objective on the Pareto front (ties: first asked)."""
    from tradebot.optimize.pareto import pareto_front

    if scores.shape[1] > 1:
        front = pareto_front(scores)
        if front.size:
            first = scores[front, 0]
            return int(front[int(np.argmax(first))])
    return int(np.argmax(scores[:, 0]))


def _metrics_dict(trials: Trials, i: int) -> dict[str, Any]:
    from tradebot.optimize.objectives import METRICS

    return {name: (float(v) if np.isfinite(v) else None) for name, v in zip(METRICS, trials.metrics[i], strict=True)}


@dataclass
class _Tally:
    """What a run of a study did so far (for progress and the interrupt message)."""

    study_id: int
    stored_at_start: int = 0  # trials in the store when this call began
    evaluated: int = 0  # evaluations run by this call
    replayed: int = 0  # stored evaluations replayed
    windows_done: int = 0
    stop_requested: bool = False  # Ctrl-C: stop at the next batch boundary


def _run_window(ctx: Context, study_id: int, plan: _Plan, w: int, executor: Executor,
                progress: ProgressFn | None, counts: _Tally) -> None:
    """Search window ``w`` (replaying what is stored), then store its choice and OOS score."""
    from tradebot.data.study_repository import StudyRepository
    from tradebot.optimize.evaluate import Trials
    from tradebot.optimize.objectives import METRICS

    win = plan.windows[w]
    with ctx.store.session() as session:
        repo = StudyRepository(session)
        stored = repo.trials(study_id, w)
        done_window = any(x.window == w for x in repo.windows(study_id))
    searcher = _searcher(plan, w)
    params_all: list[dict[str, Any]] = []
    scores_all: list[np.ndarray] = []
    rets_all: list[np.ndarray] = []
    metrics_all: list[np.ndarray] = []
    batch_no = 0
    best: float | None = None
    while True:
        batch = searcher.ask()
        if not batch:
            break
        lo = len(params_all)
        if lo + len(batch) <= len(stored):
            old = stored[lo:lo + len(batch)]
            if [o.params for o in old] != [_jsonish(p) for p in batch]:
                raise StoreError(f"study S{study_id}: the stored trials of window {w} differ from a replay "
                                 "with the same seed (code or data changed); start a new study")
            sc = np.array([o.scores for o in old], dtype=np.float64)
            params_all += [dict(p) for p in batch]
            scores_all.append(sc)
            rets_all += [o.daily_returns for o in old]
            metrics_all.append(np.array([[np.nan if o.metrics.get(k) is None else o.metrics[k]
                                          for k in METRICS] for o in old]))
            counts.replayed += len(batch)
        else:
            if lo < len(stored):
                raise StoreError(f"study S{study_id}: window {w} holds a partial batch; the store is inconsistent")
            t = executor.evaluate(plan.problem, batch, (win.is_start, win.is_stop))
            with ctx.store.session() as session:
                StudyRepository(session).add_trials(
                    study_id, w, batch_no, lo, t.params, t.scores,
                    [_metrics_dict(t, i) for i in range(len(batch))], t.errors, t.daily_returns)
            params_all += t.params
            scores_all.append(t.scores)
            rets_all += list(t.daily_returns)
            metrics_all.append(t.metrics)
            counts.evaluated += len(batch)
            sc = t.scores
        searcher.tell(batch, sc)
        batch_no += 1
        top = float(np.max(sc[:, 0])) if sc.size else -np.inf
        if np.isfinite(top) and (best is None or top > best):
            best = top
        if progress is not None:
            progress(Progress(w, len(plan.windows), len(params_all), max(searcher.budget, len(params_all)), best,
                              study_id, counts.stored_at_start + counts.evaluated,
                              counts.windows_done, plan.request.objectives.split(",")[0].strip()))
        if counts.stop_requested:
            raise _StopRequested
    if done_window or not params_all:
        counts.windows_done += 1
        return
    scores = np.concatenate(scores_all)
    metrics = np.concatenate(metrics_all)
    i = _best_index(scores)
    if not np.isfinite(scores[i]).all():
        raise UsageError(f"window {w}: no parameter set gave a defined objective "
                         f"({plan.request.objectives}); widen the space, lower --min-trades or pick another objective")
    is_trials = Trials([params_all[i]], metrics[i:i + 1], scores[i:i + 1], rets_all[i][None, :], [None])
    oos_metrics = oos_rets = oos_ms = None
    c = plan.candles
    if win.oos_stop > win.oos_start:
        o = executor.evaluate(plan.problem, [params_all[i]], (win.oos_start, win.oos_stop))
        oos_metrics = _metrics_dict(o, 0)
        oos_rets = o.daily_returns[0]
        from tradebot.optimize.objectives import daily_last_index

        oos_ms = c.timestamp[daily_last_index(c.timestamp, win.oos_start, win.oos_stop)]
    with ctx.store.session() as session:
        StudyRepository(session).save_window(
            study_id, w, is_start_ms=int(c.timestamp[win.is_start]), is_end_ms=int(c.timestamp[win.is_stop - 1]),
            oos_start_ms=int(c.timestamp[win.oos_start]) if oos_metrics is not None else None,
            oos_end_ms=int(c.timestamp[win.oos_stop - 1]) if oos_metrics is not None else None,
            best_number=i, best_params=params_all[i], is_metrics=_metrics_dict(is_trials, 0),
            oos_metrics=oos_metrics, oos_daily_returns=oos_rets, oos_daily_ms=oos_ms)
    counts.windows_done += 1


def _jsonish(p: dict[str, Any]) -> dict[str, Any]:
    from tradebot.data.repositories import jsonable

    return dict(jsonable(dict(p)))


def run_optimize(ctx: Context, request: OptimizeRequest, *, jobs: int = 1, cluster: str | None = None,
                 progress: ProgressFn | None = None, notice: NoticeFn | None = None) -> StudyOutcome:
    """Validate, store a new study, search every window, summarize."""
    from tradebot.core.config import settings_to_dict
    from tradebot.data.study_repository import StudyRepository
    from tradebot.optimize.executors import make_executor
    from tradebot.services.provenance import candles_sha256, code_version

    s = ctx.settings
    plan = _plan(ctx, request, s.seed)
    executor = make_executor(jobs, cluster)  # an unreachable cluster fails before storing
    try:
        resolved = settings_to_dict(s)
        resolved.pop("home", None)
        resolved.pop("database_url", None)
        c = plan.candles
        if c.source == "sim":  # a resume asks for the sim market by name (services/market.py)
            resolved["market"]["exchange"] = "sim"
        if plan.model_ref is not None:  # a resume uses the same model version
            resolved["strategy"]["params"] = {**resolved["strategy"].get("params", {}), "model": plan.model_ref}
        req = request.to_dict()
        req["seed"] = plan.seed
        with ctx.store.session() as session:
            study_id = StudyRepository(session).create(
                strategy_name=s.strategy.name, method=request.method, seed=plan.seed, request=req,
                space=plan.problem.space.to_dict(), config=resolved, exchange=s.market.exchange,
                symbol=s.market.symbol, timeframe=s.market.timeframe, data_source=plan.data_source,
                data_start_ms=int(c.timestamp[0]), data_end_ms=int(c.timestamp[-1]), data_rows=len(c),
                data_sha256=candles_sha256(c), code_version=code_version())
        return _execute(ctx, study_id, plan, executor, progress, notice)
    finally:
        executor.close()


@dataclass(frozen=True)
class StoredStudy:
    """What a resume needs of a stored study: its request, the context it ran in (the stored
    config over this home and database, the data range pinned), and its data checksum."""

    study_id: int
    request: OptimizeRequest
    context: Context
    data_sha256: str
    status: str


def stored_study(ctx: Context, study_id: int) -> StoredStudy:
    """Load study ``study_id`` and rebuild the settings it ran with (its stored config, the
    data range it used, this home and database; no exchange keys, no environment)."""
    from tradebot.core.config import load_settings
    from tradebot.data.study_repository import StudyRepository
    from tradebot.services.backtest import _iso

    with ctx.store.session() as session:
        study = StudyRepository(session).get(study_id)
        overrides = dict(study.config)
        request = OptimizeRequest.from_dict(study.request)
        sha, status = study.data_sha256, study.status
        start_ms, end_ms = study.data_start_ms, study.data_end_ms
    overrides["home"] = str(ctx.home)
    if ctx.settings.database_url is not None:
        overrides["database_url"] = ctx.settings.database_url
    overrides.pop("exchanges", None)
    overrides["backtest"] = dict(overrides.get("backtest") or {})
    overrides["backtest"]["since"] = _iso(start_ms)
    overrides["backtest"]["until"] = _iso(end_ms + 1)
    settings = load_settings(overrides=overrides, env={})
    sub = Context(settings, ctx.strategy_path)
    sub.__dict__["store"] = ctx.store
    return StoredStudy(study_id, request, sub, sha, status)


def continue_study(stored: StoredStudy, plan: _Plan, *, jobs: int, cluster: str | None,
                   progress: ProgressFn | None, notice: NoticeFn | None) -> StudyOutcome:
    """Evaluate what a stored study still lacks (nothing when it is done)."""
    from tradebot.data.study_repository import StudyRepository
    from tradebot.optimize.executors import make_executor

    ctx = stored.context
    if stored.status == "done":
        with ctx.store.session() as session:
            summary = dict(StudyRepository(session).get(stored.study_id).summary)
        return StudyOutcome(stored.study_id, summary, 0, 0)
    executor = make_executor(jobs, cluster)
    try:
        return _execute(ctx, stored.study_id, plan, executor, progress, notice)
    finally:
        executor.close()


def resume_optimize(ctx: Context, study_id: int, *, jobs: int = 1, cluster: str | None = None,
                    progress: ProgressFn | None = None, notice: NoticeFn | None = None) -> StudyOutcome:
    """Continue a stored study from its stored request, config and data range."""
    from tradebot.services.portfolio_optimize import is_portfolio_request, resume_portfolio_study
    from tradebot.services.provenance import candles_sha256

    stored = stored_study(ctx, study_id)
    if is_portfolio_request(stored.request.to_dict()):  # a pair list's study (services/portfolio_optimize.py)
        return resume_portfolio_study(stored, jobs=jobs, cluster=cluster, progress=progress, notice=notice)
    plan = _plan(stored.context, stored.request, stored.context.settings.seed)
    if candles_sha256(plan.candles) != stored.data_sha256:
        raise StoreError(f"study S{study_id}: the candles of its data range changed since it started; "
                         "start a new study")
    return continue_study(stored, plan, jobs=jobs, cluster=cluster, progress=progress, notice=notice)


class _StopRequested(Exception):
    """Raised at a batch boundary after a Ctrl-C asked the study to stop."""


@contextmanager
def _stop_on_sigint(tally: _Tally, notice: NoticeFn | None) -> Iterator[None]:
    """While the study runs, the first SIGINT asks it to stop at the next batch boundary
    (nothing is raised inside numba or a database write); a second one stops at once.

    Only in the main thread, and only when SIGINT is not ignored (a background job)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if tally.stop_requested:  # the second Ctrl-C: stop now
            signal.signal(signal.SIGINT, previous)
            if callable(previous):
                previous(signum, frame)
            raise KeyboardInterrupt
        tally.stop_requested = True
        if notice is not None:
            notice(f"study S{tally.study_id}: stopping after the current batch is stored "
                   "(Ctrl-C again to stop at once)")

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _kept(ctx: Context, tally: _Tally, windows: int) -> str:
    """What an interrupted study keeps, read back from the store, and how to go on."""
    from sqlalchemy import func, select

    from tradebot.data.study_models import StudyTrial, StudyWindow

    sid = tally.study_id
    try:
        with ctx.store.session() as session:
            trials = int(session.scalar(select(func.count()).select_from(StudyTrial)
                                        .where(StudyTrial.study_id == sid)) or 0)
            batches = len(session.execute(select(StudyTrial.window, StudyTrial.batch)
                                          .where(StudyTrial.study_id == sid).distinct()).all())
            done = int(session.scalar(select(func.count()).select_from(StudyWindow)
                                      .where(StudyWindow.study_id == sid)) or 0)
    except Exception:  # the store cannot be read now: what this process knows
        trials, batches, done = tally.stored_at_start + tally.evaluated, None, tally.windows_done
    resume = f"`tradebot optimize --resume S{sid}` continues it"
    if not trials:
        return f"study S{sid} is stored without trials yet; {resume}"
    in_batches = "" if batches is None else f" in {batches:,} batch{'es' if batches != 1 else ''}"
    win = f", {done} of {windows} windows finished" if windows > 1 else ""
    return f"study S{sid}: {trials:,} trial{'s' if trials != 1 else ''}{in_batches} stored{win}; {resume}"


def _execute(ctx: Context, study_id: int, plan: _Plan, executor: Executor,
             progress: ProgressFn | None, notice: NoticeFn | None = None) -> StudyOutcome:
    from tradebot.data.study_repository import StudyRepository
    from tradebot.services.study_report import summarize

    tally = _Tally(study_id)
    try:
        with _stop_on_sigint(tally, notice):
            with ctx.store.session() as session:
                tally.stored_at_start = StudyRepository(session).count_trials(study_id)
            if notice is not None:
                n = len(plan.windows)
                budget = _searcher(plan, 0).budget
                size = f"up to {budget:,}" if plan.request.method == "ga" else f"{budget:,}"
                notice(f"study S{study_id}: {plan.request.method} search, {size} trials"
                       + (f" in each of {n} windows" if n > 1 else "")
                       + (f" ({tally.stored_at_start:,} stored before)" if tally.stored_at_start else ""))
            for w in range(len(plan.windows)):
                _run_window(ctx, study_id, plan, w, executor, progress, tally)
                if tally.stop_requested and w + 1 < len(plan.windows):
                    raise _StopRequested
            with ctx.store.session() as session:
                repo = StudyRepository(session)
                summary = summarize(repo, study_id, plan.walk_forward, plan.problem.base_config.initial_capital)
                repo.finish(study_id, summary)
    except _StopRequested:
        raise Interrupted(_kept(ctx, tally, len(plan.windows))) from None
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt) or caused_by_interrupt(e) or tally.stop_requested:
            raise Interrupted(_kept(ctx, tally, len(plan.windows))) from e
        raise
    return StudyOutcome(study_id, summary, tally.evaluated, tally.replayed)
