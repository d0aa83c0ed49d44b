"""Read routes over stored work: version, runs, studies, models, strategies, market data."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from tradebot.api.responses import SafeJSON
from tradebot.api.security import ReadToken, TradeToken, api_state
from tradebot.services.api_tokens import TokenInfo

router = APIRouter(prefix="/api", tags=["runs"])


def _ctx(request: Request) -> Any:
    return api_state(request).ctx


@router.get("/version")
async def version(token: TokenInfo = ReadToken) -> SafeJSON:
    """The code version and database revision the server runs."""
    from tradebot.data.db import HEAD_REVISION
    from tradebot.services.provenance import code_version

    return SafeJSON({"version": code_version(), "database_revision": HEAD_REVISION})


# -- runs ---------------------------------------------------------------------------------
@router.get("/runs")
async def runs(request: Request, limit: int = Query(50, ge=1, le=1000), strategy: str | None = None,
         symbol: str | None = None, timeframe: str | None = None, exchange: str | None = None,
         token: TokenInfo = ReadToken) -> SafeJSON:
    """Stored backtest runs, newest first (``tradebot report --list``), optionally filtered."""
    from tradebot.data.repositories import RunRepository
    from tradebot.services.backtest import list_runs

    ctx = _ctx(request)
    wanted = {k: v for k, v in (("strategy", strategy), ("symbol", symbol), ("timeframe", timeframe),
                                ("exchange", exchange)) if v is not None}
    if wanted:  # filter every run, then keep the newest ``limit``
        with ctx.store.session() as session:
            total = RunRepository(session).count()
        rows = [r for r in list_runs(ctx, limit=max(total, 1)) if all(r.get(k) == v for k, v in wanted.items())]
    else:
        rows = list_runs(ctx, limit=limit)
    return SafeJSON({"runs": rows[:limit]})


@router.get("/runs/{run_id}")
async def run(request: Request, run_id: int, token: TokenInfo = ReadToken) -> SafeJSON:
    """The report of a stored run (``tradebot report RUN_ID --json``)."""
    return SafeJSON(_stored_report(_ctx(request), run_id))


_REPORTS: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()


def _stored_report(ctx: Any, run_id: int) -> dict[str, Any]:
    """A stored run's report; kept in memory while the run exists (a stored run never changes,
    and its report's intervals take tens of milliseconds to compute)."""
    from sqlalchemy import select

    from tradebot.core.errors import RunNotFoundError
    from tradebot.data.models import BacktestRun
    from tradebot.services.backtest import stored_report

    key = (str(ctx.store.url), run_id)
    with _BAR_LOCK:
        rep = _REPORTS.get(key)
    if rep is not None:
        with ctx.store.session() as session:
            if session.scalar(select(BacktestRun.id).where(BacktestRun.id == run_id)) is None:
                raise RunNotFoundError(f"no stored run with id {run_id}")
        return rep
    rep = stored_report(ctx, run_id)
    with _BAR_LOCK:
        _REPORTS[key] = rep
        while len(_REPORTS) > 256:
            _REPORTS.popitem(last=False)
    return rep


@router.get("/runs/{run_id}/trades")
def run_trades(request: Request, run_id: int, token: TokenInfo = ReadToken) -> SafeJSON:
    """Every trade of a stored run."""
    from tradebot.services.backtest import stored_report

    rep = stored_report(_ctx(request), run_id, include_trades=True)
    return SafeJSON({"run_id": run_id, "trades": rep.get("trades", [])})


@router.get("/runs/{run_id}/equity")
async def run_equity(request: Request, run_id: int, max_points: int = Query(4000, ge=10, le=100_000),
               resolution: Literal["day", "bar"] = "day", token: TokenInfo = ReadToken) -> SafeJSON:
    """A stored run's equity curve, downsampled above ``max_points`` (each bucket's lowest and
    highest point, first and last kept: peaks, troughs and the final value are exact).

    ``day``: end-of-day equity as stored. ``bar``: equity at every bar, from re-running the run
    from its stored config and data range (as ``tradebot report --html`` draws it); refused
    with 409 when the re-run does not reproduce the stored numbers. The first ``bar`` request
    of a run pays for the re-run; later ones are served from memory."""
    from tradebot.data.repositories import RunRepository

    ctx = _ctx(request)
    if resolution == "bar":  # a re-run the first time: in a worker thread, not the event loop
        from starlette.concurrency import run_in_threadpool

        return SafeJSON(await run_in_threadpool(_bar_equity, ctx, run_id, max_points))
    with ctx.store.session() as session:
        daily = RunRepository(session).daily(run_id)
    ts = [_day_ms(d["day"]) for d in daily]
    eq = [float(d["equity"]) for d in daily]
    return SafeJSON(_line(run_id, ts, eq, max_points, "per day"))


_BAR_CACHE: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
_BAR_LOCK = threading.Lock()


def _bar_equity(ctx: Any, run_id: int, max_points: int) -> dict[str, Any]:
    from tradebot.api.problems import ApiError
    from tradebot.services.backtest import rerun

    key = (str(ctx.store.url), run_id, max_points)
    with _BAR_LOCK:
        if key in _BAR_CACHE:
            _BAR_CACHE.move_to_end(key)
            return _BAR_CACHE[key]
    again = rerun(ctx, run_id)
    if again.differences:
        raise ApiError(409, f"run {run_id}: re-running it did not reproduce it ({'; '.join(again.differences)}); "
                            "only resolution=day is available")
    res = again.outcome.result
    out = _line(run_id, res.timestamp, res.equity, max_points, "per bar")
    with _BAR_LOCK:
        _BAR_CACHE[key] = out
        while len(_BAR_CACHE) > 32:
            _BAR_CACHE.popitem(last=False)
    return out


def _line(what: Any, ts: Any, values: Any, max_points: int, resolution: str) -> dict[str, Any]:
    """A line (timestamps, values: sequences or arrays) downsampled to about ``max_points``."""
    import numpy as np

    from tradebot.analysis.html_downsample import line_indices

    t = np.asarray(ts, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    idx = line_indices(v, max_points) if v.size else np.arange(0)
    return {"id": what, "resolution": resolution, "points": int(t.size), "returned": int(idx.size),
            "ts_ms": t[idx].tolist(), "equity": v[idx].tolist()}


def _day_ms(day: Any) -> int:
    import datetime as dt

    d = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    return (d - dt.date(1970, 1, 1)).days * 86_400_000


@router.post("/runs/{run_id}/rerun")
def rerun(request: Request, run_id: int, token: TokenInfo = TradeToken) -> SafeJSON:
    """Run a stored backtest again from its stored config and data range and compare
    (``tradebot report RUN_ID --rerun``); nothing new is stored."""
    from tradebot.services.backtest import rerun as svc

    out = svc(_ctx(request), run_id)
    return SafeJSON({"run_id": run_id, "identical": not out.differences, "differences": out.differences,
                     "summary": out.outcome.report.get("summary")})


# -- studies, models, strategies ------------------------------------------------------------
@router.get("/studies", tags=["studies"])
async def studies(request: Request, limit: int = Query(50, ge=1, le=1000), token: TokenInfo = ReadToken) -> SafeJSON:
    """Stored optimization studies (``tradebot optimize --list``)."""
    from tradebot.services.study_report import list_studies

    return SafeJSON({"studies": list_studies(_ctx(request), limit)})


@router.get("/studies/{study_id}", tags=["studies"])
def study(request: Request, study_id: str, token: TokenInfo = ReadToken) -> SafeJSON:
    """A study's report (``tradebot report S<n> --json``); ``study_id``: ``S3`` or ``3``."""
    from tradebot.services.study_report import parse_study_id, study_report

    return SafeJSON(study_report(_ctx(request), parse_study_id(study_id)))


@router.get("/models", tags=["models"])
async def models(request: Request, name: str | None = None, token: TokenInfo = ReadToken) -> SafeJSON:
    """Model registry versions (``tradebot models list``)."""
    from tradebot.services.train import list_models

    return SafeJSON({"models": list_models(_ctx(request), name)})


@router.get("/models/{ref}", tags=["models"])
def model(request: Request, ref: str, token: TokenInfo = ReadToken) -> SafeJSON:
    """One model version, ``NAME`` or ``NAME:VERSION`` (``tradebot models show``)."""
    from tradebot.services.train import show_model

    return SafeJSON(show_model(_ctx(request), ref))


@router.get("/strategies", tags=["strategies"])
async def strategies(request: Request, token: TokenInfo = ReadToken) -> SafeJSON:
    """Every registered strategy (``tradebot strategies list``)."""
    infos = _ctx(request).registry.all().values()
    return SafeJSON({"strategies": [{"name": i.name, "version": i.version, "origin": i.origin,
                                     "description": i.description} for i in infos]})


@router.get("/strategies/{name}", tags=["strategies"])
async def strategy(request: Request, name: str, token: TokenInfo = ReadToken) -> SafeJSON:
    """A strategy with its parameter schema (``tradebot strategies show``)."""
    import inspect

    from tradebot.api.problems import ApiError
    from tradebot.core.errors import UnknownStrategyError

    try:
        info = _ctx(request).registry.get(name)
    except UnknownStrategyError as e:
        raise ApiError(404, str(e)) from e
    return SafeJSON({"name": info.name, "version": info.version, "origin": info.origin,
                     "description": info.description, "doc": inspect.getdoc(info.cls),
                     "parameters": info.cls.parameter_schema()})


# -- market data ----------------------------------------------------------------------------
@router.get("/market/datasets", tags=["market"])
def datasets(request: Request, token: TokenInfo = ReadToken) -> SafeJSON:
    """Cached candle datasets (``tradebot data list``)."""
    from dataclasses import asdict

    from tradebot.services.data import list_datasets

    rows = [asdict(r) for r in list_datasets(_ctx(request))]
    for r in rows:
        r.pop("path", None)  # where the server keeps its files is not the client's business
    return SafeJSON({"datasets": rows})


@router.get("/market/candles", tags=["market"])
def candles(request: Request, exchange: str, symbol: str, timeframe: str, since: str | None = None,
            until: str | None = None, limit: int = Query(5000, ge=1, le=100_000),
            token: TokenInfo = ReadToken) -> SafeJSON:
    """Cached candles of one market in ``[since, until)`` (the last ``limit`` of them)."""
    from tradebot.core.config import parse_date_ms
    from tradebot.services.market import MarketNotCachedError, not_cached_message

    ctx = _ctx(request)
    since_ms = parse_date_ms(since) if since else None
    until_ms = parse_date_ms(until) if until else None
    if not ctx.cache.exists(exchange, symbol, timeframe):
        raise MarketNotCachedError(not_cached_message(ctx, exchange, symbol, timeframe))
    c = ctx.cache.load(exchange, symbol, timeframe).between(since_ms, until_ms)
    c = c.slice(max(0, len(c) - limit), len(c))
    return SafeJSON({"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "rows": len(c),
                     "columns": ["ts_ms", "open", "high", "low", "close", "volume"],
                     "candles": list(zip(c.timestamp.tolist(), c.open.tolist(), c.high.tolist(), c.low.tolist(),
                                         c.close.tolist(), c.volume.tolist(), strict=True))})
