"""``tradebot optimize`` over a pair list, stored as a study.

One parameter set for all pairs (:func:`run_portfolio_study`): each parameter set the
searcher asks for is run as a portfolio backtest of the whole pair list (one wallet, the
``[portfolio]`` rules; :class:`~tradebot.services.portfolio_problem.PortfolioProblem`) and
scored from the metrics the portfolio report shows for it. The study is the one-market
optimizer's (:mod:`tradebot.services.optimize`): the same searchers, batches stored one
transaction each, walk-forward windows (over the union timeline of the pairs), ``--jobs``
and ``--cluster``, DSR and PBO, ``--resume`` (:func:`resume_portfolio_study`, reached
through ``resume_optimize``), ``tradebot report S<id>`` and ``--export-preset``. A
portfolio study is told apart by ``request.extra["pairs"]``.

Per pair (:func:`run_per_pair`, ``--per-pair``): each pair's parameters are searched on
that pair alone (a study per pair: the portfolio of that one pair, which trades as the
one-market backtest does), then the whole pair list runs as one portfolio backtest with
each pair's chosen parameters (``portfolio.pair_params``), stored as a run that
``tradebot report ID --rerun`` reproduces. Searching each pair alone keeps the search
N small searches instead of one search over N times the dimensions; its price is that a
pair's choice does not see the other pairs competing for cash and slots
(docs/decisions/0017, "Optimizing a pair list").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import StoreError, UsageError
from tradebot.core.pairs import PairList
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.services.optimize import NoticeFn, OptimizeRequest, ProgressFn, StoredStudy, StudyOutcome, _Plan
    from tradebot.services.portfolio_backtest import PortfolioOutcome


def is_portfolio_request(request: dict[str, Any]) -> bool:
    """A stored study's request is a pair list's (see the module docstring)."""
    return bool(((request or {}).get("extra") or {}).get("pairs"))


def _check(ctx: Context, r: OptimizeRequest) -> None:
    """The request's options, as the one-market planner checks them."""
    from tradebot.services.optimize import METHODS

    if r.method not in METHODS:
        raise UsageError(f"--method {r.method!r}: choose one of {', '.join(METHODS)}")
    for name, v, low in (("--trials", r.trials, 1), ("--batch-size", r.batch_size, 1),
                         ("--population", r.population, 2), ("--generations", r.generations, 1)):
        if v < low:
            raise UsageError(f"{name} {v}: must be >= {low}")
    for name, p in (("--cx-prob", r.cx_prob), ("--mut-prob", r.mut_prob)):
        if not 0 <= p <= 1:
            raise UsageError(f"{name} {p}: must be a probability in [0, 1]")
    info = ctx.registry.get(ctx.settings.strategy.name)
    if getattr(info.cls, "uses_model", False):
        raise UsageError(f"optimize does not tune strategy {info.name!r} (see tradebot optimize --symbol)")


def _plan(ctx: Context, pairs: PairList, request: OptimizeRequest, settings_seed: int) -> _Plan:
    """Everything checked, nothing stored: bad input fails here with one line."""
    from tradebot.optimize.objectives import parse_objectives
    from tradebot.optimize.space import build_space
    from tradebot.optimize.windows import Window, parse_span, walk_forward_windows
    from tradebot.services.backtest import engine_config
    from tradebot.services.optimize import _Plan, _searcher
    from tradebot.services.portfolio_backtest import SIM, check_rank, load_pairs, portfolio_config
    from tradebot.services.portfolio_problem import PortfolioProblem

    s = ctx.settings
    r = request
    _check(ctx, r)
    pcfg = portfolio_config(s, len(pairs.symbols))
    info = ctx.registry.get(s.strategy.name)
    space = build_space(info.cls, list(r.space))
    spec = parse_objectives(r.objectives, r.max_dd, r.min_trades, s.risk.daily_profit_target)
    check_rank(ctx.registry.create(s.strategy.name, dict(s.strategy.params)), pcfg.rank)
    candles = load_pairs(ctx, pairs, s.since_ms(), s.until_ms())
    sim = candles[0].source == SIM
    source = f"sim: built-in synthetic market (seed {s.seed})" if sim else "cache"
    problem = PortfolioProblem(candles, pairs.symbols, info.cls, engine_config(s), pcfg, space, spec,
                               s.market.timeframe, dict(s.strategy.params), candles[0].source)
    n = problem.aligned.n_bars
    tf = s.market.timeframe
    walk_forward = r.wf_train is not None or r.wf_test is not None
    if walk_forward:
        if r.wf_train is None or r.wf_test is None:
            raise UsageError("walk-forward needs both --wf-train and --wf-test")
        windows = walk_forward_windows(n, parse_span(r.wf_train, tf), parse_span(r.wf_test, tf),
                                       anchored=r.wf_anchored,
                                       step=parse_span(r.wf_step, tf) if r.wf_step else None)
    else:
        windows = [Window(0, 0, n, n, n)]
    seed = settings_seed if r.seed is None else r.seed
    plan = _Plan(r, seed, problem.candles, problem, windows, len(spec.names), source, walk_forward)
    _searcher(plan, 0)  # method options are checked before anything is stored
    return plan


def _fingerprint(plan: _Plan, symbols: tuple[str, ...]) -> str:
    from tradebot.services.portfolio_backtest import combined_sha256
    from tradebot.services.portfolio_problem import PortfolioProblem

    assert isinstance(plan.problem, PortfolioProblem)
    return combined_sha256(plan.problem.markets, symbols)


def run_portfolio_study(ctx: Context, pairs: PairList, request: OptimizeRequest, *, jobs: int = 1,
                        cluster: str | None = None, progress: ProgressFn | None = None,
                        notice: NoticeFn | None = None) -> StudyOutcome:
    """Validate, store a new portfolio study, search every window, summarize."""
    from tradebot.core.config import settings_to_dict
    from tradebot.data.study_repository import StudyRepository
    from tradebot.optimize.executors import make_executor
    from tradebot.services.optimize import _execute
    from tradebot.services.portfolio_backtest import SIM
    from tradebot.services.provenance import code_version

    s = ctx.settings
    request = replace(request, extra={**request.extra, "pairs": list(pairs.symbols),
                                      "pairlist": pairs.to_dict()})
    plan = _plan(ctx, pairs, request, s.seed)
    executor = make_executor(jobs, cluster)  # an unreachable cluster fails before storing
    try:
        resolved = settings_to_dict(s)
        resolved.pop("home", None)
        resolved.pop("database_url", None)
        resolved["portfolio"] = {**resolved.get("portfolio", {}), "pairs": list(pairs.symbols),
                                 "pairs_file": None}
        resolved["portfolio"]["pairlist"] = {**resolved["portfolio"].get("pairlist", {}), "method": "static"}
        if plan.candles.source == SIM:
            resolved["market"]["exchange"] = SIM
        req = request.to_dict()
        req["seed"] = plan.seed
        c = plan.candles
        with ctx.store.session() as session:
            study_id = StudyRepository(session).create(
                strategy_name=s.strategy.name, method=request.method, seed=plan.seed, request=req,
                space=plan.problem.space.to_dict(), config=resolved,
                exchange=SIM if c.source == SIM else s.market.exchange, symbol=",".join(pairs.symbols),
                timeframe=s.market.timeframe, data_source=plan.data_source,
                data_start_ms=int(c.timestamp[0]), data_end_ms=int(c.timestamp[-1]), data_rows=len(c),
                data_sha256=_fingerprint(plan, pairs.symbols), code_version=code_version())
        return _execute(ctx, study_id, plan, executor, progress, notice)
    finally:
        executor.close()


def resume_portfolio_study(stored: StoredStudy, *, jobs: int = 1, cluster: str | None = None,
                           progress: ProgressFn | None = None, notice: NoticeFn | None = None) -> StudyOutcome:
    """Continue a stored portfolio study (loaded by ``resume_optimize``) from its stored
    request, config, pairs and range."""
    from tradebot.services.optimize import continue_study

    pairs = PairList(tuple(stored.request.extra["pairs"]), f"study S{stored.study_id}")
    plan = _plan(stored.context, pairs, stored.request, stored.context.settings.seed)
    if _fingerprint(plan, pairs.symbols) != stored.data_sha256:
        raise StoreError(f"study S{stored.study_id}: the candles of its pairs changed since it started; "
                         "start a new study")
    return continue_study(stored, plan, jobs=jobs, cluster=cluster, progress=progress, notice=notice)


@dataclass(frozen=True)
class PerPairOutcome:
    studies: dict[str, StudyOutcome]  # pair -> its study
    pair_params: dict[str, dict[str, Any]]  # pair -> chosen strategy parameters
    backtest: PortfolioOutcome  # the pair list with each pair's parameters (stored)

    @property
    def evaluated(self) -> int:
        return sum(o.evaluated for o in self.studies.values())


def run_per_pair(ctx: Context, pairs: PairList, request: OptimizeRequest, *, jobs: int = 1,
                 cluster: str | None = None, progress: ProgressFn | None = None,
                 notice: NoticeFn | None = None, on_study: Callable[[str, int], None] | None = None
                 ) -> PerPairOutcome:
    """A study per pair on that pair alone, then the pair list's portfolio backtest with each
    pair's chosen parameters, stored as a run (see the module docstring)."""
    from tradebot.optimize.space import build_space
    from tradebot.services.data import check_store_target
    from tradebot.services.portfolio_backtest import check_pairs_cached, run_portfolio_backtest

    s = ctx.settings
    if len(pairs.symbols) < 2:
        raise UsageError("--per-pair needs a pair list of two or more pairs (--symbols A,B)")
    space = build_space(ctx.registry.get(s.strategy.name).cls, list(request.space))
    _, engine = space.split({n: None for n in (*space.names, *space.fixed)})
    if engine:
        raise UsageError(f"--per-pair: --space {sorted(engine)[0]} is an account setting, not a strategy "
                         "parameter; per-pair searches tune strategy parameters only")
    if s.portfolio.pair_params:
        raise UsageError("--per-pair: the settings already hold portfolio.pair_params; remove them first")
    check_store_target(ctx)
    check_pairs_cached(ctx, pairs)
    # every pair's plan is checked (options, space, data) before the first study is stored
    for sym in pairs.symbols:
        _plan(ctx, PairList((sym,), pairs.source), request, s.seed)
    studies: dict[str, StudyOutcome] = {}
    chosen: dict[str, dict[str, Any]] = {}
    for sym in pairs.symbols:
        one = PairList((sym,), pairs.source)
        outcome = run_portfolio_study(ctx, one, request, jobs=jobs, cluster=cluster, progress=progress,
                                      notice=notice)
        studies[sym] = outcome
        if on_study is not None:
            on_study(sym, outcome.study_id)
        params = (outcome.summary.get("chosen") or {}).get("params")
        if not params:
            raise UsageError(f"--per-pair: study S{outcome.study_id} ({sym}) chose no parameters")
        chosen[sym] = dict(params)
    settings = s.model_copy(update={"portfolio": s.portfolio.model_copy(update={"pair_params": chosen})})
    sub = Context(settings, ctx.strategy_path)
    sub.__dict__["store"] = ctx.store
    backtest = run_portfolio_backtest(sub, pairs, save=True)
    return PerPairOutcome(studies, chosen, backtest)


def export_pair_preset(ctx: Context, pp: PerPairOutcome, name: str) -> Path:
    """``--per-pair --export-preset NAME``: the strategy, its fixed parameters and each pair's
    chosen parameters (``[portfolio.pair_params]``) as ``$TRADEBOT_HOME/presets/NAME.toml``;
    ``backtest --symbols ... --preset NAME`` then trades what the stored run traded."""
    from tradebot.core.atomic import atomic_write_bytes
    from tradebot.services.study_report import _toml, check_preset_name

    check_preset_name(name)
    s = ctx.settings
    ids = ", ".join(f"S{o.study_id}" for o in pp.studies.values())
    lines = [f"# exported from the per-pair studies {ids} and run {pp.backtest.run_id} ({s.strategy.name})", "",
             "[strategy]", f"name = {_toml(s.strategy.name)}", "", "[strategy.params]"]
    lines += [f"{k} = {_toml(v)}" for k, v in s.strategy.params.items()]
    lines += ["", "[portfolio.pair_params]"]
    for sym, params in pp.pair_params.items():
        inner = ", ".join(f"{k} = {_toml(v)}" for k, v in params.items())
        lines.append(f"{_toml(sym)} = {{ {inner} }}")
    path = ctx.home / "presets" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path
