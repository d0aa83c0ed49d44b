"""``tradebot paper-select``: a paper account traded by a stored agent that picks a candidate per
window and learns from the account's own results (the performance feedback loop, issue 14).

The account is an ordinary paper account (same tables, same step runner, same ledger, same
lock); what it trades is :func:`~tradebot.ml.select.record.spliced_signals` of its candidates
with the choices stored so far. Windows are fixed in time from the account's first bar:
window ``k`` is ``[start + k·W, start + (k+1)·W)`` (``W`` bars of the timeframe).

Each run processes the candles closed since the last one. At every window end the new candles
reach (its last bar closed):

1. the played arm's *realised* return is read from the account's own equity (the close before
   the window to its last close: switching costs, fees and the carried position included);
2. every other arm gets its *shadow* return, the engine's on the same candles — the candidate
   record's definition (:mod:`tradebot.ml.select.record`: one continuous run of each candidate,
   the window's mark-to-market equity ratio), each run carried to the next as its engine state
   (:mod:`tradebot.services.selector_shadow`: only the new candles are run);
3. the agent learns from all of them (``update(context of the window, arm, return)``), then
   chooses the next window's arm from the context at the window's last close;
4. the new agent state is saved as a new version (``save_agent_state`` in the run's session).

Bars are advanced window by window (the decision at a window's last close already follows the
next choice), then the whole run is advanced once more from the stored state for the ledger.
The account row, its ledger, the window rows and every agent state version of the run are
written in ONE transaction: a run killed at any instant leaves the account, its choices and the
agent exactly as before it, and the next run redoes it identically. The candidates are
re-resolved at every run (a study's best trial may have changed); each window row records
the candidates as they resolved when it was chosen. A switch is notified after the commit.

Decision record: docs/decisions/0026-selector-feedback.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import StoreError, UsageError
from tradebot.core.timeframes import timeframe_ms
from tradebot.services.context import Context
from tradebot.services.selector_context import Contexts
from tradebot.services.selector_shadow import Shadows

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tradebot.core.candles import Candles
    from tradebot.core.signals import Signals
    from tradebot.engine.config import EngineConfig
    from tradebot.ml.select.candidates import Candidate
    from tradebot.services.agents import AgentInfo


@dataclass(frozen=True)
class Switch:
    window: int
    ts_ms: int  # the window's first bar
    previous: str
    chosen: str


@dataclass(frozen=True)
class SelectorRunResult:
    account: str
    agent: str
    processed: int
    first_ms: int | None
    last_ms: int | None
    trades_closed: int
    fills: int
    equity: float
    position: float
    source: str
    windows_closed: int  # windows whose results the agent learnt from in this run
    arm: str  # the candidate followed now
    agent_version: int | None  # the agent state version saved by this run (None: nothing saved)
    switches: tuple[Switch, ...] = ()
    changed: tuple[str, ...] = ()  # candidates that resolved differently from the last choice


@dataclass(frozen=True)
class _Setup:
    """A run, checked before anything is written."""

    new: bool
    agent: str
    specs: tuple[str, ...]
    window_bars: int
    features: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    exchange: str
    symbol: str
    timeframe: str
    source: str  # cache, sim or exchange
    history_start_ms: int
    start_ms: int  # the first window's first bar
    row: dict[str, Any] | None  # PaperRepository.create's arguments (a new account)


def _store_exists(ctx: Context) -> bool:
    return ctx.settings.database_url is not None or (ctx.home / "tradebot.db").is_file()


def _binding(session: Session, account_id: int) -> Any:
    from sqlalchemy import select

    from tradebot.data.selector_paper_models import SelectorAccount

    return session.scalar(select(SelectorAccount).where(SelectorAccount.account_id == account_id))


def _windows(session: Session, account_id: int) -> list[Any]:
    from sqlalchemy import select

    from tradebot.data.selector_paper_models import SelectorWindow

    return list(session.scalars(select(SelectorWindow).where(SelectorWindow.account_id == account_id)
                                .order_by(SelectorWindow.window)))


def context_columns() -> tuple[str, ...]:
    """The context features an agent of a selector account may read (the candidate record's)."""
    from tradebot.ml.regime.features import feature_columns
    from tradebot.ml.regime.settings import RegimeSettings

    s = RegimeSettings()
    return (*feature_columns(s), *[f"p_{name}" for name in s.names])


def _resolve(ctx: Context, specs: Sequence[str], info: AgentInfo) -> tuple[Candidate, ...]:
    """The candidates, resolved now; one per arm of the agent, or a one-line error."""
    from tradebot.ml.select.candidates import resolve_candidates

    try:
        cands = resolve_candidates(ctx, list(specs))
    except UsageError as e:
        raise UsageError(f"agent {info.name!r}: its candidates no longer resolve: {e}") from e
    if len(cands) != len(info.candidates):
        raise UsageError(f"agent {info.name!r} chooses among {len(info.candidates)} candidates "
                         f"({', '.join(info.candidates)}); the candidate specs {list(specs)} resolve to "
                         f"{len(cands)} ({', '.join(c.name for c in cands)})")
    return cands


_TRIAL = re.compile(r"^(S\d+)#\d+ ")


def _arm_key(name: str) -> str:
    """What must stay the same for an arm: its name, or for a study's trial the study (its
    chosen trials may change between runs)."""
    m = _TRIAL.match(name)
    return m.group(1) if m else name


def _specs_of(info: AgentInfo) -> tuple[str, ...]:
    """The agent's candidate names as specs (a built-in's label, ``ml:NAME:VERSION``, ``flat``
    are specs; a study's trial is not: its spec must be given)."""
    trials = [n for n in info.candidates if _TRIAL.match(n)]
    if trials:
        raise UsageError(f"agent {info.name!r} chooses among study trials ({trials[0]}...): give the candidate "
                         "specs they came from (--candidate S<id>:top3 ... or [selector] candidates), in the "
                         "agent's order")
    return tuple(info.candidates)


def _check_features(info: AgentInfo) -> None:
    cols = context_columns()
    bad = [f for f in info.features if f not in cols]
    if bad:
        raise UsageError(f"agent {info.name!r} reads features {bad} that a selector account does not compute "
                         f"(known: {', '.join(cols)})")


def _warmup(ctx: Context, candidates: Sequence[Candidate]) -> int:
    from tradebot.ml.regime.settings import RegimeSettings

    bars = RegimeSettings().warmup_bars + 1
    for c in candidates:
        if c.strategy not in ("flat", "ml"):
            bars = max(bars, ctx.registry.create(c.strategy, dict(c.params)).warmup_bars)
    return max(bars, 1)


def _prepare(ctx: Context, account: str, agent: str | None, specs: Sequence[str] | None, window: str | None,
             source: str, since_ms: int | None, now: int) -> _Setup:
    """Every check of a run; reads only (a missing database is not created)."""
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.engine.step import new_state
    from tradebot.ml.select.record import parse_window
    from tradebot.services.agents import load_agent_in
    from tradebot.services.backtest import engine_config
    from tradebot.services.market import market_given
    from tradebot.services.paper import _source_for
    from tradebot.services.paper_events import assets

    acct = binding = None
    if _store_exists(ctx):
        with ctx.store.session() as session:
            acct = PaperRepository(session).get(account)
            binding = _binding(session, acct.id) if acct is not None else None
            if acct is not None and binding is None:
                raise UsageError(f"paper account {account!r} trades {acct.strategy}, not an agent's choices; "
                                 "run it with `tradebot paper` (or choose another --account name)")
            if binding is not None:
                from tradebot.data.agent_models import AgentRow

                agent_row = session.get(AgentRow, binding.agent_id)
                bound = agent_row.name if agent_row is not None else "?"
                if agent is not None and agent != bound:
                    raise UsageError(f"paper account {account!r} is fed by agent {bound!r}; --agent {agent} only "
                                     "applies to a new account (use another --account name)")
                agent = bound
            if agent is None:
                raise UsageError("--agent NAME: a new selector account needs the stored agent that chooses its "
                                 "candidates (`tradebot agent` makes one)")
            info, _ = load_agent_in(session, agent)
            if binding is None:
                from sqlalchemy import select

                from tradebot.data.selector_paper_models import SelectorAccount

                other = session.scalar(select(SelectorAccount.account_id).where(SelectorAccount.agent_id == info.id))
                if other is not None:
                    from tradebot.data.models import PaperAccount

                    owner = session.get(PaperAccount, other)
                    raise UsageError(f"agent {agent!r} already feeds paper account "
                                     f"{owner.name if owner else other!r}; an agent learns from one account")
    else:
        if agent is None:
            raise UsageError("--agent NAME: a new selector account needs the stored agent that chooses its "
                             "candidates (`tradebot agent` makes one)")
        raise UsageError(f"no agent named {agent!r} (there is no database yet in {ctx.home})")
    _check_features(info)
    if acct is not None and binding is not None:
        stored_specs = tuple(binding.candidates)
        if specs and tuple(specs) != stored_specs:
            raise UsageError(f"paper account {account!r} follows the candidates {list(stored_specs)}; --candidate "
                             "only applies to a new account (use another --account name)")
        if window is not None and parse_window(window, acct.timeframe) != binding.window_bars:
            raise UsageError(f"paper account {account!r} has windows of {binding.window_bars} bars; --window "
                             f"{window} only applies to a new account")
        start_ms = int(acct.config["selector"]["start_ms"])
        tf = timeframe_ms(acct.timeframe)
        if since_ms is not None and -(-since_ms // tf) * tf != start_ms:
            from tradebot.data.validation import format_ts

            raise UsageError(f"paper account {account!r} trades from {format_ts(start_ms)}; --since "
                             f"{format_ts(since_ms)} only applies to a new account (use another --account name)")
        cands = _resolve(ctx, stored_specs, info)
        used = _source_for(ctx, source, acct.exchange, acct.symbol, acct.timeframe, given=True,
                           recorded=acct.config.get("market_source", "legacy"))
        return _Setup(False, info.name, stored_specs, int(binding.window_bars), tuple(binding.features), cands,
                      acct.exchange, acct.symbol, acct.timeframe, used, acct.history_start_ms, start_ms, None)
    s = ctx.settings
    m = s.market
    chosen_specs = tuple(specs or s.selector.candidates or _specs_of(info))
    cands = _resolve(ctx, chosen_specs, info)
    if [_arm_key(c.name) for c in cands] != [_arm_key(n) for n in info.candidates]:
        raise UsageError(f"agent {info.name!r} chooses among {', '.join(info.candidates)}; the candidate specs "
                         f"{list(chosen_specs)} resolve to {', '.join(c.name for c in cands)} (give the agent's own "
                         "candidates, in its order)")
    bars = parse_window(window or s.selector.window, m.timeframe)
    used = _source_for(ctx, source, m.exchange, m.symbol, m.timeframe, given=market_given(s))
    tf = timeframe_ms(m.timeframe)
    last_closed = (now // tf) * tf - tf
    start = -(-since_ms // tf) * tf if since_ms is not None else last_closed
    history_start = start - _warmup(ctx, cands) * tf
    cfg = engine_config(s)
    params = {"agent": info.name, "window_bars": bars, "candidates": list(chosen_specs)}
    row = dict(name=account, exchange=m.exchange, symbol=m.symbol, timeframe=m.timeframe,
               strategy=f"agent:{info.name}", params=params,
               config={"engine": asdict(cfg), "market_source": used, "selector": {"start_ms": start}},
               initial_capital=cfg.initial_capital, history_start_ms=history_start,
               last_bar_ms=start - tf, state=new_state(cfg).tolist(),
               balances=dict(zip(assets(m.symbol)[::-1], (cfg.initial_capital, 0.0), strict=True)))
    return _Setup(True, info.name, chosen_specs, bars, tuple(info.features), cands, m.exchange, m.symbol,
                  m.timeframe, used, history_start, start, row)


#: Up to this many candidate-bars the intents are replayed in Python when numba is not loaded
#: (about 3 microseconds each: 0.3 s for 10 candidates x 100,000 bars), as the step runner
#: runs a few bars interpreted: loading numba costs about a second of CPU.
PY_INTENT_BARS = 1_000_000


def held_intents(signals: Sequence[Signals], allow_short: bool) -> np.ndarray:
    """:func:`tradebot.ml.select.record.intents` (what each candidate holds after each bar's
    decision), in Python when numba is not loaded and the history is short, else compiled."""
    import sys

    n = signals[0].entries.shape[0]
    if "numba" in sys.modules or n * len(signals) > PY_INTENT_BARS:
        from tradebot.ml.select.record import intents

        return intents(signals, allow_short)
    out = np.empty((len(signals), n), dtype=np.int8)
    for j, sig in enumerate(signals):
        shorts = allow_short and sig.short_entries.shape[0] == n and sig.short_exits.shape[0] == n
        entries, exits = sig.entries.tolist(), sig.exits.tolist()
        s_entries = sig.short_entries.tolist() if shorts else []
        s_exits = sig.short_exits.tolist() if shorts else []
        row = [0] * n
        st = 0
        for t in range(n):
            if st == 0:
                st = 1 if entries[t] else (-1 if shorts and s_entries[t] else 0)
            elif st == 1:
                st = 0 if exits[t] else 1
            else:
                st = 0 if s_exits[t] else -1
            row[t] = st
        out[j] = row
    return out


def spliced_from(held: np.ndarray, choices: np.ndarray, bounds: np.ndarray, allow_short: bool) -> Signals:
    """:func:`tradebot.ml.select.record.spliced_signals` from the candidates' intents (level
    signals: hold what the followed candidate holds)."""
    from tradebot.ml.select.record import follow, signals_from_who

    return signals_from_who(held, follow(choices, bounds, held.shape[1]), allow_short)


def _follow_bounds(ts: np.ndarray, starts: Sequence[int], tf: int, window_ms: int) -> np.ndarray:
    """Bounds for :func:`spliced_signals` so that bar ``t`` follows the choice of the window
    holding ``ts[t] + tf`` (the decision at a window's last close already follows the next
    choice; a missing last bar shifts nothing else)."""
    st = np.asarray(starts, dtype=np.int64)
    lo = np.searchsorted(ts, st - tf, side="left") + 1
    hi = np.searchsorted(ts, st + window_ms - tf, side="left") + 1
    return np.column_stack([lo, hi]).astype(np.int64)


def run_selector_paper(ctx: Context, account: str, *, agent: str | None = None,
                       candidates: Sequence[str] | None = None, window: str | None = None, source: str = "auto",
                       since_ms: int | None = None, now_ms: int | None = None, wait: bool = False) -> SelectorRunResult:
    """One cron run of a selector account (see the module docstring)."""
    from tradebot.data.validation import format_ts
    from tradebot.services.paper import SOURCES, account_lock, check_account_name, load_closed_candles

    check_account_name(account)
    if source not in SOURCES:
        raise UsageError(f"unknown --source {source!r}: expected one of {', '.join(SOURCES)}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if since_ms is not None and since_ms > now:
        raise UsageError(f"--since {format_ts(since_ms)} is in the future (now: {format_ts(now)})")
    _prepare(ctx, account, agent, candidates, window, source, since_ms, now)
    with account_lock(ctx.home, account, wait):
        setup = _prepare(ctx, account, agent, candidates, window, source, since_ms, now)
        candles, used = load_closed_candles(ctx, setup.exchange, setup.symbol, setup.timeframe,
                                            setup.history_start_ms, now, setup.source)
        try:
            return _run(ctx, account, setup, candles, used, now)
        except StoreError as e:
            if "locked" not in str(e):
                raise
            raise StoreError(f"{e} (another process holds a lock on it); paper account {account!r} "
                             "was not changed, run again later") from e


@dataclass
class _Win:
    """A window row in memory (a stored one, or one chosen by this run)."""

    window: int
    start_ms: int
    end_ms: int
    arm: int
    candidate: str
    previous_arm: int | None
    context: list[float]
    start_equity: float
    candidates: list[dict[str, Any]]
    chosen_version: int
    reward: float | None = None
    shadow: list[float] | None = None
    updated_version: int | None = None
    stored: bool = False  # already a row
    closed_now: bool = False  # closed by this run (its row is updated)

    @classmethod
    def of(cls, r: Any) -> _Win:
        return cls(int(r.window), int(r.start_ms), int(r.end_ms), int(r.arm), str(r.candidate),
                   None if r.previous_arm is None else int(r.previous_arm), list(r.context),
                   float(r.start_equity), list(r.candidates), int(r.chosen_version),
                   None if r.reward is None else float(r.reward), r.shadow,
                   None if r.updated_version is None else int(r.updated_version), stored=True)


def _run(ctx: Context, account: str, setup: _Setup, candles: Candles, used: str, now: int) -> SelectorRunResult:
    """Read, compute in memory, then write everything in one transaction."""
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.engine.config import EngineConfig
    from tradebot.engine.step import advance
    from tradebot.ml.select.candidates import candidate_signals
    from tradebot.services.agents import load_agent_in
    from tradebot.services.backtest import trade_rows
    from tradebot.services.paper import _ledger, _notify

    tf = timeframe_ms(setup.timeframe)
    ts = np.asarray(candles.timestamp, dtype=np.int64)
    n = len(candles)
    with ctx.store.session() as session:  # read
        acct = PaperRepository(session).get(account)
        rows = [_Win.of(r) for r in _windows(session, acct.id)] if acct is not None else []
        binding = _binding(session, acct.id) if acct is not None else None
        stored_shadow = binding.shadow_state if binding is not None else None
        mine = max((w.updated_version or w.chosen_version for w in rows), default=None)
        info, agent = load_agent_in(session, setup.agent, mine)  # the account's own line of states
    if acct is None:
        row = setup.row or {}
        cfg = EngineConfig(**row["config"]["engine"])
        last = int(row["last_bar_ms"])
        state0 = np.asarray(row["state"], dtype=np.float64)
        capital = float(row["initial_capital"])
        acct_id = None
    else:
        cfg = EngineConfig(**acct.config["engine"])
        last = acct.last_bar_ms if acct.last_bar_ms is not None else acct.history_start_ms - 1
        state0 = np.asarray(acct.state, dtype=np.float64)
        capital = acct.initial_capital
        acct_id = acct.id
    start_idx = int(np.searchsorted(ts, last, side="right"))
    if start_idx >= n and rows:
        units = float(state0[1])
        eq = float(state0[0] + units * candles.close[-1]) if n else float(state0[0])
        return SelectorRunResult(account, info.name, 0, None, None, 0, 0, eq, units, used, 0, rows[-1].candidate,
                                 None)
    signals = [candidate_signals(ctx, c, candles) for c in setup.candidates]

    def stored_equity_before(ms: int) -> float | None:
        if acct_id is None:
            return None
        with ctx.store.session() as s:
            return PaperRepository(s).equity_before(acct_id, ms)

    loop = _Loop(account, agent, setup.candidates, signals, Contexts(candles, setup.features), candles, cfg, tf,
                 setup.window_bars * tf, setup.start_ms, capital, stored_equity_before)
    loop.load(rows)
    loop.shadows = Shadows(candles, signals, setup.candidates, cfg, stored_shadow, start_idx)
    loop.run(start_idx, state0)
    open_start = int(np.searchsorted(ts, loop.rows[-1].start_ms, side="left")) if loop.rows else None
    shadow_state = loop.shadows.to_stored(open_start) if start_idx < n else None
    sig = loop.signals_now()
    res = advance(candles, sig, cfg, state0, start_idx) if start_idx < n else None  # the ledger's pass
    with ctx.store.session() as session:  # write: one transaction
        repo = PaperRepository(session)
        if acct is None:
            acct = repo.create(**(setup.row or {}))
            session.add(_binding_row(acct.id, info.id, setup))
            session.flush()
        if shadow_state is not None:
            bound = _binding(session, acct.id)
            if bound is None:
                raise UsageError(f"paper account {account!r} lost its agent binding while the run computed; "
                                 "nothing was stored")
            bound.shadow_state = shadow_state
        trades: list[dict[str, Any]] = []
        equity: list[dict[str, Any]] = []
        equity_before = 0.0
        ledger = None
        if res is not None:
            trades = trade_rows(res.trades, ts)
            equity = [{"ts_ms": int(ts[start_idx + i]), "equity": float(e), "position": float(p)}
                      for i, (e, p) in enumerate(zip(res.equity, res.position, strict=True))]
            prev_close = candles.close[start_idx - 1] if start_idx > 0 else candles.open[start_idx]
            equity_before = float(state0[0] + state0[1] * prev_close)
            ledger = _ledger(ctx, repo, acct, candles, start_idx, state0, res, cfg, equity_before)
            repo.record_step(acct, last_bar_ms=int(ts[-1]), state=res.state.tolist(), trades=trades,
                             equity=equity, ledger=ledger)
        saved = _write_windows(session, acct.id, info.id, loop)
    if ledger is not None:
        _notify(ctx, acct, trades, equity, equity_before, ledger)
    _notify_switches(ctx, account, setup.symbol, loop.switches)
    if res is None:
        units = float(state0[1])
        eq = float(state0[0] + units * candles.close[-1]) if n else float(state0[0])
        return SelectorRunResult(account, info.name, 0, None, None, 0, 0, eq, units, used, loop.closed,
                                 loop.current_name(), saved, tuple(loop.switches), tuple(loop.changed))
    return SelectorRunResult(account, info.name, n - start_idx, int(ts[start_idx]), int(ts[-1]), len(trades),
                             len(ledger.fills) if ledger is not None else 0, float(res.equity[-1]),
                             float(res.position[-1]), used, loop.closed, loop.current_name(), saved,
                             tuple(loop.switches), tuple(loop.changed))


def _binding_row(account_id: int, agent_id: int, setup: _Setup) -> Any:
    from tradebot.data.selector_paper_models import SelectorAccount

    return SelectorAccount(account_id=account_id, kind="agent", agent_id=agent_id, window_bars=setup.window_bars,
                           candidates=list(setup.specs), features=list(setup.features))


def _write_windows(session: Session, account_id: int, agent_id: int, loop: _Loop) -> int | None:
    """The run's agent states (in order, numbered after the agent's latest version) and its
    window rows, in the caller's transaction; returns the last version saved."""
    from sqlalchemy import func, select

    from tradebot.data.agent_models import AgentRow, AgentStateRow, canonical_json, state_sha256
    from tradebot.data.selector_paper_models import SelectorWindow

    if session.get(AgentRow, agent_id) is None:
        raise UsageError(f"agent id {agent_id} disappeared while the run computed; nothing was stored")
    latest = int(session.scalar(select(func.max(AgentStateRow.version))
                                .where(AgentStateRow.agent_id == agent_id)) or 0)
    numbers: dict[int, int] = {}
    for k, (state, reason) in enumerate(loop.states):
        version = latest + 1 + k
        numbers[k] = version
        text = canonical_json(state)
        session.add(AgentStateRow(agent_id=agent_id, version=version, state=text, sha256=state_sha256(text),
                                  reason=reason))
    stored = {int(r.window): r for r in _windows(session, account_id)}
    for w in loop.rows:
        if w.stored and not w.closed_now:
            continue
        chosen = numbers[w.chosen_version] if not w.stored else w.chosen_version
        updated = numbers[w.updated_version] if w.updated_version is not None and w.closed_now else None
        if w.stored:
            r = stored.get(w.window)
            if r is None or r.reward is not None:
                raise UsageError(f"paper account window {w.window} was changed by another run; nothing was stored")
            r.reward, r.shadow, r.updated_version = w.reward, w.shadow, updated
        else:
            session.add(SelectorWindow(account_id=account_id, window=w.window, start_ms=w.start_ms, end_ms=w.end_ms,
                                       arm=w.arm, candidate=w.candidate, previous_arm=w.previous_arm,
                                       context=w.context, start_equity=w.start_equity, candidates=w.candidates,
                                       chosen_version=chosen, reward=w.reward, shadow=w.shadow,
                                       updated_version=updated))
    session.flush()
    return numbers[len(loop.states) - 1] if loop.states else None


class _Loop:
    """The windows of one run in memory: advance, learn, choose, window after window. The
    agent states to save are kept in order (``states``); a new window's ``chosen_version``
    and a closed one's ``updated_version`` index them until they are written."""

    def __init__(self, account: str, agent: Any, cands: Sequence[Candidate], signals: list[Signals],
                 contexts: Contexts, candles: Candles, cfg: EngineConfig, tf: int, wms: int, start_ms: int,
                 capital: float, stored_equity_before: Any) -> None:
        self.account, self.agent = account, agent
        self.cands, self.signals, self.contexts, self.candles = cands, signals, contexts, candles
        self.cfg, self.tf, self.wms, self.start_ms, self.capital = cfg, tf, wms, start_ms, capital
        self.stored_equity_before = stored_equity_before
        self.ts = np.asarray(candles.timestamp, dtype=np.int64)
        self.rows: list[_Win] = []
        self.states: list[tuple[dict[str, Any], str]] = []
        self.closed = 0
        self.switches: list[Switch] = []
        self.changed: list[str] = []
        self.shadows: Shadows | None = None  # set by the caller before run()
        self._sig: Signals | None = None
        self._held: np.ndarray | None = None
        self._who: np.ndarray | None = None  # per bar, the arm whose decision it follows
        self._followed = 0  # rows already in ``_who``
        self._eq: dict[int, float] = {}  # this run's equity at each bar processed

    def load(self, rows: list[_Win]) -> None:
        self.rows = list(rows)
        if rows:
            now = [c.to_dict() for c in self.cands]
            for i, (a, b) in enumerate(zip(rows[-1].candidates, now, strict=False)):
                if a != b:
                    self.changed.append(f"arm {i}: {a.get('name')} -> {b['name']}")

    def current_name(self) -> str:
        return self.rows[-1].candidate if self.rows else ""

    def signals_now(self) -> Signals:
        """The spliced signals of the choices so far (``who`` is extended window by window)."""
        if self._sig is None:
            from tradebot.ml.select.record import follow, signals_from_who

            if self._held is None:
                self._held = held_intents(self.signals, self.cfg.allow_short)
            n = self._held.shape[1]
            new = self.rows[self._followed:]
            bounds = _follow_bounds(self.ts, [w.start_ms for w in new], self.tf, self.wms)
            part = follow(np.array([w.arm for w in new], dtype=np.int64), bounds, n)
            if self._who is None:
                self._who = part
            else:
                self._who = np.where(part >= 0, part, self._who)
            self._followed = len(self.rows)
            self._sig = signals_from_who(self._held, self._who, self.cfg.allow_short)
        return self._sig

    def _save(self, reason: str) -> int:
        self.states.append((self.agent.to_state(), reason))
        return len(self.states) - 1

    def _choose(self, window: int, bar: int, start_equity: float) -> None:
        x = self.contexts.at(bar)
        arm = int(self.agent.choose(x))
        previous = self.rows[-1].arm if self.rows else None
        learnt = f"window {window - 1} learnt, " if window else ""
        version = self._save(f"paper {self.account}: {learnt}window {window} chosen")
        c = self.cands[arm]
        s = self.start_ms + window * self.wms
        self.rows.append(_Win(window, s, s + self.wms, arm, c.name, previous, [float(v) for v in x],
                              float(start_equity), [d.to_dict() for d in self.cands], version))
        if previous is not None and previous != arm:
            self.switches.append(Switch(window, s, self.cands[previous].name, c.name))
        self._sig = None

    def _shadow(self, s: int, e: int) -> list[float]:
        assert self.shadows is not None
        return self.shadows.window_returns(s, e)

    def _equity_before(self, e: int, end_ms: int, fallback: float) -> float:
        """Equity at the last close before ``end_ms`` (bar ``e - 1``): this run's or the store's."""
        if e - 1 in self._eq:
            return self._eq[e - 1]
        v = self.stored_equity_before(end_ms)
        return fallback if v is None else float(v)

    def run(self, t: int, state: np.ndarray) -> None:
        from tradebot.engine.step import advance

        ts, tf, n = self.ts, self.tf, len(self.candles)
        if not self.rows:  # the first window, chosen at the close before it
            first = int(np.searchsorted(ts, self.start_ms, side="left"))
            self._choose(0, first - 1, self.capital)
        state = np.asarray(state, dtype=np.float64)
        while True:
            cur = self.rows[-1]
            a = min(int(np.searchsorted(ts, cur.end_ms - tf, side="left")), n)
            if a > t:  # the window's bars before its last one
                res = advance(self.candles.slice(0, a), _head(self.signals_now(), a), self.cfg, state, t)
                state = res.state
                self._eq.update({t + i: float(v) for i, v in enumerate(res.equity)})
                t = a
            if n == 0 or ts[-1] < cur.end_ms - tf:  # its last bar has not closed (or not arrived) yet
                return
            e = int(np.searchsorted(ts, cur.end_ms, side="left"))  # the next window's first bar
            if e > t:  # the window's last bar: its close, before the decision taken at it
                eq_last = float(advance(self.candles.slice(0, e), _head(self.signals_now(), e), self.cfg, state,
                                        t).equity[-1])
            else:
                eq_last = self._equity_before(e, cur.end_ms, cur.start_equity)
            s = int(np.searchsorted(ts, cur.start_ms, side="left"))
            reward = eq_last / cur.start_equity - 1.0
            shadow = self._shadow(s, e)
            x = np.asarray(cur.context, dtype=np.float64)
            for arm in range(len(self.cands)):
                self.agent.update(x, arm, reward if arm == cur.arm else shadow[arm])
            cur.reward, cur.shadow, cur.closed_now = float(reward), shadow, True
            self.closed += 1
            self._choose(cur.window + 1, e - 1, eq_last)
            cur.updated_version = len(self.states) - 1


def selector_report(ctx: Context, account: str) -> dict[str, Any] | None:
    """A selector account's agent, arm statistics and switching history (None for an account
    that is not fed by an agent); see :mod:`tradebot.analysis.arm_report`."""
    from tradebot.analysis.arm_report import arm_statistics, switch_history
    from tradebot.data.agent_models import AgentRow
    from tradebot.data.paper_repository import PaperRepository

    if not _store_exists(ctx):
        return None
    with ctx.store.session() as session:
        acct = PaperRepository(session).get(account)
        binding = _binding(session, acct.id) if acct is not None else None
        if acct is None or binding is None:
            return None
        agent = session.get(AgentRow, binding.agent_id)
        rows = [{"window": r.window, "start_ms": r.start_ms, "arm": r.arm, "previous_arm": r.previous_arm,
                 "reward": r.reward, "shadow": r.shadow, "candidate": r.candidate, "candidates": r.candidates,
                 "version": r.updated_version or r.chosen_version} for r in _windows(session, acct.id)]
    names = [str(c.get("name")) for c in rows[-1]["candidates"]] if rows else []
    return {"agent": agent.name if agent is not None else None, "method": agent.method if agent is not None else None,
            "agent_version": max((int(r["version"]) for r in rows), default=None),
            "window_bars": int(binding.window_bars), "candidates": list(binding.candidates),
            "features": list(binding.features), "windows": len(rows),
            "current": rows[-1]["candidate"] if rows else None,
            "arms": arm_statistics(names, rows), "switches": switch_history(rows, names)}


def _head(sig: Signals, n: int) -> Signals:
    """The signals of the first ``n`` bars."""
    from tradebot.core.signals import Signals

    return Signals(sig.entries[:n], sig.exits[:n], sig.short_entries[:n], sig.short_exits[:n])


def _notify_switches(ctx: Context, account: str, symbol: str, switches: Sequence[Switch]) -> None:
    """One notification per switch (after the run is stored; never raises)."""
    if not switches or not ctx.settings.notify.channels:
        return
    from tradebot.notify import build_notifier

    notifier = build_notifier(ctx.settings.notify)
    for sw in switches:
        notifier.send(switch_event(account, symbol, sw))


def switch_event(account: str, symbol: str, sw: Switch) -> Any:
    """The notifier's event for a switch (``selector_switched``)."""
    from tradebot.core.events import SelectorSwitched

    return SelectorSwitched(account, symbol, sw.window, sw.previous, sw.chosen, sw.ts_ms)
