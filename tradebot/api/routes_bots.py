"""Bot control (create, start, pause, stop, kill switch, run now) and background jobs."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tradebot.api.responses import SafeJSON
from tradebot.api.security import ReadToken, TradeToken, api_state
from tradebot.services.api_tokens import TokenInfo

router = APIRouter(prefix="/api", tags=["bots"])

Scalar = str | int | float | bool


class BotCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=64, description="Bot name (also its paper account unless `account` is given).")
    account: str | None = Field(None, max_length=64)
    strategy: str | None = Field(None, max_length=100)
    exchange: str | None = Field(None, max_length=50)
    symbol: str | None = Field(None, max_length=50)
    timeframe: str | None = Field(None, max_length=10)
    params: dict[str, Scalar] = Field(default_factory=dict)
    source: Literal["auto", "cache", "sim", "exchange"] = "auto"


def _wake(request: Request) -> None:
    sched = api_state(request).scheduler
    if sched is not None:
        sched.wake()


@router.get("/bots")
async def bots(request: Request, token: TokenInfo = ReadToken) -> SafeJSON:
    from tradebot.services.bots import list_bots

    return SafeJSON({"bots": [b.to_dict() for b in list_bots(api_state(request).ctx)]})


@router.post("/bots", status_code=201)
def create(request: Request, body: BotCreate, token: TokenInfo = TradeToken) -> SafeJSON:
    """Create a bot (stopped) from a config; nothing runs until it is started."""
    from tradebot.services.bots import create_bot

    cfg = body.model_dump(exclude={"name"}, exclude_none=True)
    return SafeJSON(create_bot(api_state(request).ctx, body.name, cfg).to_dict(), status_code=201)


@router.post("/bots/kill-switch")
def kill_switch(request: Request, token: TokenInfo = TradeToken) -> SafeJSON:
    """Kill every bot at once: none is run again until started explicitly."""
    from tradebot.services.bots import kill_all

    killed = kill_all(api_state(request).ctx)
    _wake(request)
    return SafeJSON({"killed": killed})


@router.get("/bots/{name}")
async def bot(request: Request, name: str, token: TokenInfo = ReadToken) -> SafeJSON:
    from tradebot.services.bots import get_bot

    return SafeJSON(get_bot(api_state(request).ctx, name).to_dict())


def _action(request: Request, name: str, action: str) -> SafeJSON:
    from tradebot.services.bots import set_status

    out = set_status(api_state(request).ctx, name, action)
    _wake(request)
    return SafeJSON(out.to_dict())


@router.post("/bots/{name}/start")
def start(request: Request, name: str, token: TokenInfo = TradeToken) -> SafeJSON:
    """Run the bot at each candle close (and once now)."""
    return _action(request, name, "start")


@router.post("/bots/{name}/pause")
def pause(request: Request, name: str, token: TokenInfo = TradeToken) -> SafeJSON:
    return _action(request, name, "pause")


@router.post("/bots/{name}/stop")
def stop(request: Request, name: str, token: TokenInfo = TradeToken) -> SafeJSON:
    return _action(request, name, "stop")


@router.post("/bots/{name}/kill")
def kill(request: Request, name: str, token: TokenInfo = TradeToken) -> SafeJSON:
    """The kill switch of one bot."""
    return _action(request, name, "kill")


@router.post("/bots/{name}/flatten")
def flatten(request: Request, name: str, token: TokenInfo = TradeToken) -> SafeJSON:
    """Close the bot's position: from now on it runs with an exit signal on every candle and no
    entry (the engine sells at the next candle's open, fees and slippage as any exit), and it
    stops once flat. Runs once now; ``run.flattened`` says whether the account is flat already."""
    from tradebot.services.bots import get_bot, run_bot, set_status

    ctx = api_state(request).ctx
    set_status(ctx, name, "flatten")
    out = run_bot(ctx, name)
    _wake(request)
    return SafeJSON({"run": out, "bot": get_bot(ctx, name).to_dict()})


@router.post("/bots/{name}/run")
def run_now(request: Request, name: str, token: TokenInfo = TradeToken) -> SafeJSON:
    """Advance the bot's account now (as ``tradebot paper``); ``busy`` when another process
    (cron, the scheduler) holds the account."""
    from tradebot.services.bots import run_bot

    return SafeJSON(run_bot(api_state(request).ctx, name))


# -- jobs -----------------------------------------------------------------------------------
class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["backtest", "optimize"]
    strategy: str | None = Field(None, max_length=100)
    exchange: str | None = Field(None, max_length=50)
    symbol: str | None = Field(None, max_length=50)
    timeframe: str | None = Field(None, max_length=10)
    since: str | None = Field(None, max_length=40)
    until: str | None = Field(None, max_length=40)
    params: dict[str, Scalar] = Field(default_factory=dict)
    capital: float | None = Field(None, gt=0)
    fee: float | None = Field(None, ge=0, lt=1)
    slippage_bps: float | None = Field(None, ge=0)
    method: Literal["grid", "random", "ga", "bayes"] | None = None
    objectives: str | None = Field(None, max_length=200)
    space: list[str] = Field(default_factory=list, max_length=50)
    trials: int | None = Field(None, ge=1, le=100_000)
    seed: int | None = None
    max_dd: float | None = None
    min_trades: int | None = Field(None, ge=0)
    wf_train: str | None = None
    wf_test: str | None = None
    wf_step: str | None = None
    wf_anchored: bool | None = None


@router.post("/jobs", status_code=202, tags=["jobs"])
def submit(request: Request, body: JobCreate, token: TokenInfo = TradeToken) -> SafeJSON:
    """Start a backtest or an optimization in the background; poll GET /api/jobs/{id}."""
    req: dict[str, Any] = body.model_dump(exclude={"kind"}, exclude_none=True)
    for key in ("params", "space"):
        if not req.get(key):
            req.pop(key, None)
    job = api_state(request).jobs.submit(body.kind, req, token.name)
    return SafeJSON(job, status_code=202)


@router.get("/jobs", tags=["jobs"])
async def jobs(request: Request, limit: int = Query(50, ge=1, le=1000), token: TokenInfo = ReadToken) -> SafeJSON:
    return SafeJSON({"jobs": api_state(request).jobs.list(limit)})


@router.get("/jobs/{job_id}", tags=["jobs"])
async def job(request: Request, job_id: int, token: TokenInfo = ReadToken) -> SafeJSON:
    """A job with its status, progress line, result (run or study id) or error."""
    return SafeJSON(api_state(request).jobs.get(job_id))
