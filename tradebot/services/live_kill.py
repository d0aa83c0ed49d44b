"""The kill switch of a live account: stop (cancel its open orders, optionally flatten),
resume, and the kill file.

:func:`stop_account` first commits the switch (``live_switches.stopped``), so from that
instant every run of the account refuses new entries, then — under the account's lock —
cancels the account's open orders on the exchange (orders the ledger does not know are
left alone and listed), records the fills of partly filled ones, and with ``flatten``
sells each position with a market order through the same write-ahead submit path as the
live run (:func:`tradebot.engine.orders.submit_or_adopt`). The flatten order's client id
is ``client_order_id(account, symbol, <time of the stop>, "flatten")``: running the same
stop again after a crash adopts the order instead of selling twice. A dry-run account's
orders are cancelled in its ledger and its flatten is simulated at the last price with the
account's taker fee.

:func:`enforce_kill`: a run that finds the kill file (``live.kill_file``) and no stopped
switch stops the account the same way (``by = "file"``, flattening when
``live.flatten_on_kill``); removing the file does not resume it, :func:`resume_account`
does (and refuses while the file is there).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import ExchangeAuthError, ExchangeError, OrderNotFound, UsageError
from tradebot.core.orders import OrderRecord, OrderState
from tradebot.services.live_guards import KillState, kill_state, notify_live
from tradebot.services.live_ledger import base_quote, ledger_balances, ledger_positions, open_orders, record_event

if TYPE_CHECKING:
    from tradebot.services.context import Context

__all__ = ["StopResult", "enforce_kill", "resume_account", "stop_account"]

S = OrderState
LOCK_WAIT_S = 60.0


def _now() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class StopResult:
    """What a stop did: the switch, the orders cancelled (client ids), the open orders left
    alone (not the account's), each flatten order and anything that failed."""

    account: str
    state: KillState
    cancelled: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    flattened: tuple[dict[str, Any], ...] = ()
    errors: tuple[str, ...] = ()
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = asdict(self.state)
        return out

    def summary(self) -> str:
        n = len(self.cancelled)
        text = (f"stopped by {self.state.by}: {self.state.reason or 'no reason given'}; {n} open order"
                f"{'' if n == 1 else 's'} cancelled")
        if self.flattened:
            text += "; flatten: " + ", ".join(
                f"{f['symbol']} {f.get('state') or 'not sent'}" for f in self.flattened)
        if self.left:
            text += f"; {len(self.left)} order(s) not the account's left open"
        if self.errors:
            text += f"; {len(self.errors)} error(s)"
        return text

    def render(self) -> str:
        lines = [f"live account {self.account}: STOPPED{' (dry run)' if self.dry_run else ''} — no new entries "
                 f"until `tradebot live resume --account {self.account}`",
                 f"  reason: {self.state.reason or '-'} (by {self.state.by})"]
        lines += [f"  cancelled {cid}" for cid in self.cancelled]
        lines += [f"  left open (not this account's): {cid}" for cid in self.left]
        for f in self.flattened:
            lines.append(f"  flatten {f['symbol']}: " + (f"sell {f['amount']:.10g} {f.get('state')} "
                                                         f"({f['client_order_id']})" if f.get("client_order_id")
                                                         else f"not sent: {f.get('reason')}"))
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


@dataclass
class _Acct:
    id: int
    name: str
    mode: str
    symbols: list[str]
    taker_fee: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    scope: str = ""  # the account's client-id scope (services.live_step.order_scope)
    exchange: str = ""
    testnet: bool = False  # created on the exchange's testnet


def _live_account(ctx: Context, account: str) -> _Acct:
    from sqlalchemy import select

    from tradebot.data.live_models import LiveEvent
    from tradebot.data.portfolio_models import PortfolioAccount
    from tradebot.services.live_step import order_scope

    if ctx.settings.database_url is None and not (ctx.home / "tradebot.db").is_file():
        raise UsageError(f"no live account named {account!r}")
    with ctx.store.session() as session:
        row = session.scalars(select(PortfolioAccount).where(PortfolioAccount.name == account)).first()
        if row is None:
            raise UsageError(f"no live account named {account!r}")
        mode = str(getattr(row, "mode", "paper") or "paper")
        if mode not in ("live", "dry-run"):
            raise UsageError(f"account {account!r} is a {mode} account, not a live one")
        fee = float(((row.config or {}).get("engine") or {}).get("taker_fee", 0.0) or 0.0)
        created = session.scalars(select(LiveEvent.detail).where(LiveEvent.account_id == row.id,
                                                                 LiveEvent.kind == "created")).first()
        return _Acct(int(row.id), row.name, mode, list(row.symbols), fee, scope=order_scope(row.config),
                     exchange=row.exchange, testnet=bool((created or {}).get("testnet")))


def _lock(ctx: Context, account: str) -> Any:
    """The account's lock, waiting up to :data:`LOCK_WAIT_S` for a running step to end."""
    from tradebot.services.paper import AccountBusy, account_lock

    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        cm = account_lock(ctx.home, account, False)
        try:
            cm.__enter__()
        except AccountBusy:
            if time.monotonic() > deadline:
                raise UsageError(f"live account {account!r} is busy (a run holds its lock for over "
                                 f"{LOCK_WAIT_S:.0f} s): the switch is set, so it sends no new entry; run the "
                                 "same stop again to cancel its orders") from None
            time.sleep(0.2)
            continue
        return cm


def _set_switch(ctx: Context, acct: _Acct, *, stopped: bool, reason: str | None, flatten: bool, by: str,
                now: int) -> KillState:
    from tradebot.data.live_guard_models import LiveSwitch

    with ctx.store.session() as session:
        row = session.get(LiveSwitch, acct.id)
        if row is None:
            row = LiveSwitch(account_id=acct.id, account=acct.name, stopped=stopped, reason=reason, flatten=flatten,
                             since_ms=now, by=by, updated_ms=now)
            session.add(row)
        elif stopped and row.stopped:  # stopped again: the first stop's time keeps the flatten id stable
            row.reason = reason or row.reason
            row.flatten = bool(row.flatten or flatten)
            row.updated_ms = now
        else:
            row.stopped, row.reason, row.flatten, row.by, row.since_ms, row.updated_ms = (
                stopped, reason, flatten, by, now, now)
        record_event(session, acct.id, "kill_switch", {"action": "stop" if stopped else "resume", "by": by,
                                                       "reason": reason, "flatten": flatten})
        session.flush()
        return KillState(bool(row.stopped), row.reason, bool(row.flatten), int(row.since_ms), row.by)


def _record_fills(ctx: Context, acct: _Acct, exchange: Any, records: list[OrderRecord]) -> None:
    """The trades of ``records`` (filled amounts the ledger lacks) into ``live_fills``."""
    from sqlalchemy import func, select

    from tradebot.data.live_models import LiveFill

    recs = [r for r in records if r.filled > 0]
    if not recs:
        return
    with ctx.store.session() as session:
        have = dict(session.execute(select(LiveFill.client_order_id, func.sum(LiveFill.amount)).where(
            LiveFill.account_id == acct.id).group_by(LiveFill.client_order_id)).all())
        known = set(session.scalars(select(LiveFill.trade_id).where(LiveFill.account_id == acct.id)))
    new: list[dict[str, Any]] = []
    for r in recs:
        if float(have.get(r.client_order_id) or 0.0) >= r.filled - 1e-12:
            continue
        if acct.mode != "live" or r.exchange_order_id is None:
            cur, fee = r.fees[0] if r.fees else (None, 0.0)
            new.append({"trade_id": f"dry-{r.client_order_id}", "client_order_id": r.client_order_id,
                        "symbol": r.symbol, "side": r.side, "price": float(r.average or 0.0), "amount": r.filled,
                        "fee_cost": float(fee), "fee_currency": cur, "ts_ms": r.updated_ms})
            continue
        for t in exchange.fetch_my_trades(r.symbol, order_id=r.exchange_order_id):
            new.append({"trade_id": str(t.id), "client_order_id": r.client_order_id, "symbol": r.symbol,
                        "side": t.side or r.side, "price": t.price, "amount": t.amount, "fee_cost": t.fee_cost,
                        "fee_currency": t.fee_currency, "ts_ms": t.timestamp_ms or r.updated_ms})
    with ctx.store.session() as session:
        for f in new:
            if f["trade_id"] in known:
                continue
            known.add(f["trade_id"])
            session.add(LiveFill(account_id=acct.id, **f))
            record_event(session, acct.id, "fill", dict(f))


def _cancel_open(ctx: Context, acct: _Acct, exchange: Any, now: int) -> tuple[list[str], list[str], list[str]]:
    from tradebot.engine.orders import adopt
    from tradebot.services.live_journal import StoreOrderJournal

    journal = StoreOrderJournal(ctx.store, acct.id)
    with ctx.store.session() as session:
        records = open_orders(session, acct.id)
    cancelled: list[str] = []
    errors: list[str] = []
    touched: list[OrderRecord] = []
    for rec in records:
        cid = rec.client_order_id
        if rec.state == S.INTENDED:
            journal.put(rec.move(S.REJECTED, now, "kill switch: not sent", reason="kill switch: not sent"))
            continue
        if acct.mode != "live" or exchange is None:
            journal.put(rec.move(S.CANCELLED, now, "kill switch (dry run)"))
            cancelled.append(cid)
            continue
        try:
            try:
                order = exchange.cancel_order(rec.exchange_order_id, rec.symbol,
                                              client_order_id=None if rec.exchange_order_id else cid)
            except OrderNotFound:  # no longer open (or never arrived): ask for its state
                order = exchange.fetch_order_by_client_id(cid, rec.symbol)
            if order is None:
                errors.append(f"{cid}: the exchange does not know it (state {rec.state.value}); the next run "
                              "settles it")
                continue
            new = adopt(rec, order, now, "kill switch: cancelled")
            journal.put(new)
            touched.append(new)
            if new.state == S.CANCELLED:
                cancelled.append(cid)
        except ExchangeAuthError:
            raise
        except ExchangeError as e:
            errors.append(f"{cid}: {type(e).__name__}: {e}")
    left: list[str] = []
    if acct.mode == "live" and exchange is not None:
        mine = {r.client_order_id for r in records}
        for sym in acct.symbols:
            try:
                for o in exchange.fetch_open_orders(sym):
                    key = o.client_order_id or f"id:{o.id}"
                    if key not in mine:
                        left.append(key)
            except ExchangeAuthError:
                raise
            except ExchangeError as e:
                errors.append(f"open orders of {sym}: {type(e).__name__}: {e}")
    _record_fills(ctx, acct, exchange, touched)
    return cancelled, left, errors


def _flatten(ctx: Context, acct: _Acct, exchange: Any, since: int, now: int) -> tuple[list[dict[str, Any]],
                                                                                       list[str]]:
    from tradebot.engine.orders import submit_or_adopt
    from tradebot.services.live_journal import StoreOrderJournal

    journal = StoreOrderJournal(ctx.store, acct.id)
    with ctx.store.session() as session:
        positions = ledger_positions(session, acct.id)
        held = ledger_balances(session, acct.id)  # the base asset after fees charged in it
    out: list[dict[str, Any]] = []
    errors: list[str] = []
    free: dict[str, dict[str, float]] = {}
    if acct.mode == "live":
        free = exchange.fetch_balance()
    for sym in acct.symbols:
        units = float(positions.get(sym, 0.0))
        if units <= 0:
            continue
        base = base_quote(sym)[0]
        amount = min(units, max(float(held.get(base, units)), 0.0))
        if acct.mode == "live":
            amount = min(amount, float(free.get(base, {}).get("free", 0.0)))
        if amount <= 0:  # the position is only the fees charged in the base asset
            continue
        try:
            last = float(exchange.fetch_ticker(sym).last or 0.0)
            rules = exchange.market_rules(sym)
        except ExchangeAuthError:
            raise
        except ExchangeError as e:
            errors.append(f"flatten {sym}: {type(e).__name__}: {e}")
            continue
        prepared = rules.prepare(Decimal(repr(amount)), None, reference_price=last or None)
        if not prepared.ok:
            out.append({"symbol": sym, "amount": amount, "reason": prepared.reason})
            continue
        rec = OrderRecord.intend(acct.name, sym, since, "flatten", "sell", "market", float(prepared.amount), None,
                                 now, scope=acct.scope)
        rec = journal.get(rec.client_order_id) or rec
        if acct.mode == "live":
            try:
                rec = submit_or_adopt(journal, exchange, rec, now,
                                      recv_window_ms=int(getattr(exchange, "recv_window_ms", 10_000))).record
            except ExchangeAuthError:
                raise
            except ExchangeError as e:
                errors.append(f"flatten {sym}: {type(e).__name__}: {e}")
                continue
        elif not rec.terminal and last > 0:
            if rec.state == S.INTENDED:
                rec = rec.move(S.SENT, now, "dry run: not sent", attempts=rec.attempts + 1, sent_ms=now)
                journal.put(rec)
            fee = rec.amount * last * acct.taker_fee
            rec = rec.move(S.FILLED, now, "dry run: simulated flatten at the last price", filled=rec.amount,
                           average=last, fees=((base_quote(sym)[1], fee),) if fee else ())
            journal.put(rec)
        _record_fills(ctx, acct, exchange, [rec])
        out.append({"symbol": sym, "amount": rec.amount, "client_order_id": rec.client_order_id,
                    "state": rec.state.value, "average": rec.average, "reason": rec.reason})
    return out, errors


def stop_account(ctx: Context, account: str, exchange: Any, *, flatten: bool = False, reason: str | None = None,
                 by: str = "command", now_ms: int | None = None, locked: bool = False) -> StopResult:
    """Stop ``account`` (see the module docstring). ``exchange``: the account's adapter (with
    keys for a real account; a dry run's may be used for last prices only). ``locked``: the
    caller holds the account's lock already."""
    acct = _live_account(ctx, account)
    now = int(now_ms) if now_ms is not None else _now()
    state = _set_switch(ctx, acct, stopped=True, reason=reason, flatten=flatten, by=by, now=now)
    lock = None if locked else _lock(ctx, account)
    try:
        cancelled, left, errors = _cancel_open(ctx, acct, exchange, now)
        flat: list[dict[str, Any]] = []
        if flatten:
            flat, more = _flatten(ctx, acct, exchange, int(state.since_ms or now), now)
            errors += more
    except ExchangeAuthError as e:  # keys or clock: not transient; the switch holds all the same
        msg = (f"live account {account!r} is stopped (no new entries), but its orders were not cancelled: "
               f"{e}")
        with ctx.store.session() as session:
            record_event(session, acct.id, "error", {"error": type(e).__name__, "message": msg[:500]})
        notify_live(ctx, account, "error", {"summary": msg[:300]})
        raise type(e)(msg) from None
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)
    result = StopResult(account, state, tuple(cancelled), tuple(left), tuple(flat), tuple(errors),
                        acct.mode != "live")
    with ctx.store.session() as session:
        record_event(session, acct.id, "kill_switch", {"action": "stopped", "cancelled": list(cancelled),
                                                       "left": list(left), "flattened": list(flat),
                                                       "errors": list(errors)})
    notify_live(ctx, account, "kill_switch", {"summary": result.summary()})
    return result


def resume_account(ctx: Context, account: str, *, now_ms: int | None = None) -> KillState:
    """Clear the switch of ``account``; refused while its kill file exists."""
    acct = _live_account(ctx, account)
    path = ctx.settings.live.kill_path(ctx.home, account)
    if path is not None and path.exists():
        raise UsageError(f"the kill file {path} exists: remove it before resuming live account {account!r}")
    now = int(now_ms) if now_ms is not None else _now()
    state = _set_switch(ctx, acct, stopped=False, reason=None, flatten=False, by="command", now=now)
    notify_live(ctx, account, "kill_switch", {"summary": "resumed: new entries allowed again"})
    return state


def enforce_kill(ctx: Context, account: str, exchange: Any, *, locked: bool = False) -> KillState:
    """The account's kill state for a run about to trade; a kill file that no stop has
    handled yet stops the account now (:func:`stop_account`, ``by = "file"``). ``locked``:
    the caller holds the account's lock already (a live run)."""
    from tradebot.data.live_guard_models import LiveSwitch

    acct = _live_account(ctx, account)
    with ctx.store.session() as session:
        state = kill_state(ctx, session, acct.id)
        row = session.get(LiveSwitch, acct.id)
        handled = row is not None and bool(row.stopped)
    if state.stopped and not handled:
        result = stop_account(ctx, account, exchange, flatten=state.flatten, reason=state.reason, by="file",
                              locked=locked)
        return result.state
    return state
