"""The body of one ``tradebot live`` run, under the account's lock (see
:mod:`tradebot.services.live` for the order of things and the rules).

Transactions: the engine's step (state, trades, equity, last bar) is one transaction,
committed before any order of the step is sent: the intents are a function of that state
and of the ledger, with ids from the decision bar, so a run that dies anywhere after it
computes the same intents again and adopts what was sent. Each order record is committed
before the request it announces (:class:`~tradebot.services.live_journal.StoreOrderJournal`);
the fills of a run are one transaction each time they are taken.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import ExchangeError, StoreError, UsageError
from tradebot.core.orders import OrderRecord, OrderState
from tradebot.core.timeframes import timeframe_ms
from tradebot.services.context import Context
from tradebot.services.live import (
    DRY,
    LIVE,
    LiveResult,
    LiveStopped,
    OrderLine,
    last_closes,
    order_line,
)
from tradebot.services.live_journal import StoreOrderJournal

if TYPE_CHECKING:
    from tradebot.core.market_rules import MarketRules
    from tradebot.exchanges.ccxt_exchange import CcxtExchange
    from tradebot.services.live_step import Intent
    from tradebot.services.paper_portfolio import _Account

__all__ = ["LiveRun"]

S = OrderState
log = logging.getLogger(__name__)
_DAY_MS = 86_400_000


def _wall_ms() -> int:
    return int(time.time() * 1000)


class LiveRun:
    """One run of a live account (``run()``); counts what it did for the result."""

    def __init__(self, ctx: Context, acct: _Account, mode: str, testnet: bool, ex: CcxtExchange,
                 rules: dict[str, MarketRules], now_ms: int, created: bool = False) -> None:
        assert acct.id is not None
        self.ctx, self.acct, self.mode, self.testnet, self.ex, self.rules = ctx, acct, mode, testnet, ex, rules
        self.account_id = int(acct.id)
        self.now = int(now_ms)
        self.created = created
        self.journal = StoreOrderJournal(ctx.store, self.account_id)
        from tradebot.services import live_guards

        self.guards = live_guards
        self.lines: list[OrderLine] = []
        self.counts = {"sent": 0, "adopted": 0, "pending": 0, "rejected": 0, "fills": 0}
        self.cache_id = acct.exchange + ("-testnet" if testnet else "")

    # ------------------------------------------------------------------ events, notifications

    def event(self, kind: str, detail: dict[str, Any], *, notify: bool = True) -> None:
        from tradebot.services.live_ledger import record_event

        with self.ctx.store.session() as session:
            record_event(session, self.account_id, kind, detail)
        if notify:
            self.notify(kind, detail)

    def notify(self, kind: str, detail: dict[str, Any]) -> None:
        if kind not in self.guards.LIVE_KINDS:  # adopt, created: stored, not notified
            return
        try:
            self.guards.notify_live(self.ctx, self.acct.name, kind, detail)
        except Exception as e:  # noqa: BLE001 - a notification never stops trading
            log.warning("live %s: notification %s failed: %s", self.acct.name, kind, type(e).__name__)

    # ------------------------------------------------------------------ the run

    def run(self) -> LiveResult:
        stopped = self._kill_switch()
        if self.mode == LIVE:  # the first one records the baselines (and checks the capital is there)
            self._look_up_open()  # our own orders first: what a crash left unanswered is adopted
            self._sync_fills()
            self._reconcile()
        aligned, signals, strategy, scores = self._market()
        processed: tuple[int, int | None, int | None] = (0, None, None)
        equity = cash = None
        state = None
        if aligned is not None:
            processed, state, equity, cash = self._advance(aligned, signals, scores)
        # orders of earlier runs: this bar's are sent or looked up; an older bar's that never
        # reached the exchange are superseded (never sent late, after the market moved on)
        self._refresh_open(self.acct.last_bar_ms)
        self._sync_fills()
        if aligned is not None and state is not None:
            self._orders(aligned, signals, scores, state, stopped)
            self._sync_fills()
        if equity is None:
            equity, cash = self._last_equity()
        c = self.counts
        return LiveResult(self.acct.name, self.mode, self.testnet, self.acct.symbols, processed[0], processed[1],
                          processed[2], len(self.lines), c["sent"], c["adopted"], c["pending"], c["rejected"],
                          c["fills"], float(equity), float(cash if cash is not None else equity), tuple(self.lines),
                          stopped)

    def _kill_switch(self) -> str | None:
        if self.mode == LIVE:
            # a kill file no stop has handled yet stops the account now (cancels, maybe flattens)
            kill = self.guards.enforce_kill(self.ctx, self.acct.name, self.ex, locked=True)
        else:
            with self.ctx.store.session() as session:
                kill = self.guards.kill_state(self.ctx, session, self.account_id)
        return (kill.reason or "kill switch") if kill.stopped else None

    def _look_up_open(self) -> None:
        """Ask the exchange for each open order of earlier runs and adopt what it has
        (nothing is sent here), so reconciliation compares settled books."""
        from tradebot.engine.orders import adopt
        from tradebot.services.live_ledger import open_orders

        with self.ctx.store.session() as session:
            records = open_orders(session, self.account_id)
        for rec in records:
            if rec.state == S.INTENDED:
                continue
            found = self.ex.fetch_order_by_client_id(rec.client_order_id, rec.symbol)
            if found is None:
                continue
            moved = adopt(rec, found, _wall_ms(), f"adopted the exchange's order {found.id}")
            if moved is not rec:
                self.journal.put(moved)
                self.counts["adopted"] += 1
                self.lines.append(order_line(None, moved, "adopted"))
                self.event("adopt", {"client_order_id": rec.client_order_id, "state": moved.state.value})

    def _reconcile(self) -> None:
        with self.ctx.store.session() as session:
            report = self.guards.reconcile_account(self.ctx, session, self.account_id, self.ex,
                                                   dust=self.ctx.settings.live.dust)
        if report.ok:
            return
        text = report.render()
        diffs = list(getattr(report, "differences", []))
        self.event("reconcile_difference", {"differences": [str(d) for d in diffs]})
        raise LiveStopped(f"live account {self.acct.name!r}: reconciliation found {len(diffs)} difference(s) "
                          f"beyond dust; trading stopped (tradebot live --reconcile shows them)\n{text}")

    # ------------------------------------------------------------------ orders of earlier runs

    def _refresh_open(self, current_bar: int | None) -> None:
        """Bring each open order forward: current ones through submit_or_adopt, ones of an
        older bar that never reached the exchange are superseded (never sent late)."""
        from tradebot.services.live_ledger import open_orders

        with self.ctx.store.session() as session:
            records = open_orders(session, self.account_id)
        for rec in records:
            stale = current_bar is not None and rec.bar_ms < current_bar and rec.state in (S.INTENDED, S.SENT,
                                                                                           S.UNKNOWN)
            if stale:
                self._supersede(rec)
                continue
            if rec.state == S.INTENDED and rec.side == "buy":  # an entry never sent (spot: buys open)
                stopped = self._kill_switch_now()
                if stopped is not None:
                    self._refuse(None, rec, f"kill switch: {stopped}", killed=True)
                    continue
            self._submit(None, rec)

    def _supersede(self, rec: OrderRecord) -> None:
        from tradebot.engine.orders import adopt

        now = _wall_ms()
        if self.mode == LIVE:
            found = self.ex.fetch_order_by_client_id(rec.client_order_id, rec.symbol)
            if found is not None:
                moved = adopt(rec, found, now, f"adopted the exchange's order {found.id}")
                self.journal.put(moved)
                self.counts["adopted"] += 1
                self.lines.append(order_line(None, moved, "adopted"))
                self.event("adopt", {"client_order_id": rec.client_order_id, "state": moved.state.value})
                return
            sent = rec.sent_ms if rec.sent_ms is not None else rec.updated_ms
            if rec.state != S.INTENDED and now - sent < self.ex.recv_window_ms + 5_000:
                self.counts["pending"] += 1
                self.lines.append(order_line(None, rec, "pending"))
                return
        moved = rec.move(S.REJECTED, now, "superseded", reason="not placed before a newer bar; superseded")
        self.journal.put(moved)

    # ------------------------------------------------------------------ candles and the engine

    def _market(self) -> tuple[Any, list[Any], Any, np.ndarray | None]:
        from tradebot.data.downloader import Downloader
        from tradebot.engine.portfolio import PortfolioConfig, align
        from tradebot.services.paper import _closed
        from tradebot.services.portfolio_backtest import strategy_scores

        a = self.acct
        tf = timeframe_ms(a.timeframe)
        candles = []
        for sym in a.symbols:
            Downloader(self.ex, self.ctx.cache, self.cache_id).fetch(sym, a.timeframe, since_ms=a.history_start_ms)
            c = self.ctx.cache.load(self.cache_id, sym, a.timeframe).between(a.history_start_ms, None)
            candles.append(_closed(c, self.now, tf))
        if not any(len(c) for c in candles):
            return None, [], None, None
        aligned = align(candles, a.symbols)
        strategy = self.ctx.registry.create(a.strategy, a.params)
        signals = [strategy.signals_for(c) for c in candles]
        pcfg = PortfolioConfig(**a.config["portfolio"])
        return aligned, signals, strategy, strategy_scores(strategy, aligned, pcfg.rank)

    def _advance(self, aligned: Any, signals: list[Any], scores: np.ndarray | None) -> tuple[
            tuple[int, int | None, int | None], np.ndarray, float | None, float | None]:
        from tradebot.engine.config import EngineConfig
        from tradebot.engine.portfolio import PortfolioConfig, advance_portfolio
        from tradebot.services.paper_portfolio import _rows

        a = self.acct
        last = a.last_bar_ms if a.last_bar_ms is not None else a.history_start_ms - 1
        start = int(np.searchsorted(aligned.timestamp, last, side="right"))
        state = np.asarray(a.state, dtype=np.float64)
        if start >= aligned.n_bars:
            return (0, None, None), state, None, None
        cfg = EngineConfig(**a.config["engine"])
        pcfg = PortfolioConfig(**a.config["portfolio"])
        res = advance_portfolio(aligned, signals, cfg, pcfg, state, start, scores)
        trades, equity = _rows(aligned, start, res)
        self._store_step(res.state.tolist(), int(aligned.timestamp[-1]), trades, equity)
        ts = aligned.timestamp
        return ((aligned.n_bars - start, int(ts[start]), int(ts[-1])), res.state,
                float(res.equity[-1]), float(res.cash[-1]))

    def _store_step(self, state: list[float], last_bar: int, trades: list[dict[str, Any]],
                    equity: list[dict[str, Any]]) -> None:
        """One transaction: the trades and equity of the new bars, the state and last bar;
        refused when another run moved the account meanwhile."""
        from sqlalchemy import insert

        from tradebot.data.base import utcnow
        from tradebot.data.portfolio_models import PortfolioAccount, PortfolioAccountEquity, PortfolioAccountTrade

        a = self.acct
        try:
            with self.ctx.store.session() as session:
                row = session.get(PortfolioAccount, a.id, with_for_update=True)
                if row is None or row.last_bar_ms != a.last_bar_ms:
                    raise UsageError(f"live account {a.name!r} was advanced by another run")
                if trades:
                    session.execute(insert(PortfolioAccountTrade), [
                        {**t, "account_id": row.id, "seq": a.trades_count + i} for i, t in enumerate(trades)])
                if equity:
                    session.execute(insert(PortfolioAccountEquity), [{**e, "account_id": row.id} for e in equity])
                row.state = state
                row.last_bar_ms = last_bar
                row.trades_count = a.trades_count + len(trades)
                row.updated_at = utcnow()
        except StoreError as e:
            if "locked" not in str(e):
                raise
            raise StoreError(f"{e} (another process holds a lock on it); live account {a.name!r} was not "
                             "changed, run again later") from e
        from dataclasses import replace

        self.acct = replace(a, state=state, last_bar_ms=last_bar, trades_count=a.trades_count + len(trades))

    def _last_equity(self) -> tuple[float, float]:
        from sqlalchemy import select

        from tradebot.data.portfolio_models import PortfolioAccountEquity

        with self.ctx.store.session() as session:
            last = session.execute(select(PortfolioAccountEquity.equity, PortfolioAccountEquity.cash)
                                   .where(PortfolioAccountEquity.account_id == self.account_id)
                                   .order_by(PortfolioAccountEquity.ts_ms.desc()).limit(1)).first()
        if last is None:
            return self.acct.initial_capital, self.acct.initial_capital
        return float(last[0]), float(last[1])

    # ------------------------------------------------------------------ this step's orders

    def _orders(self, aligned: Any, signals: list[Any], scores: np.ndarray | None, state: np.ndarray,
                stopped: str | None) -> None:
        from tradebot.engine.config import EngineConfig
        from tradebot.engine.portfolio import PortfolioConfig
        from tradebot.services.live_ledger import base_quote, ledger_balances, ledger_positions, open_orders
        from tradebot.services.live_step import engine_targets, order_scope, plan_intents

        a = self.acct
        cfg = EngineConfig(**a.config["engine"])
        pcfg = PortfolioConfig(**a.config["portfolio"])
        targets = engine_targets(aligned, signals, cfg, pcfg, state, scores)
        with self.ctx.store.session() as session:
            held = ledger_positions(session, self.account_id)
            balances = ledger_balances(session, self.account_id)
            pending = open_orders(session, self.account_id)
        committed: dict[str, float] = {}
        for rec in pending:
            left = max(rec.amount - rec.filled, 0.0)
            committed[rec.symbol] = committed.get(rec.symbol, 0.0) + (left if rec.side == "buy" else -left)
        # what the account holds of each base asset: its fills net of the fees charged in it
        base_free = {s: balances.get(base_quote(s)[0], 0.0) for s in a.symbols}
        holding = {s: min(held.get(s, 0.0), base_free[s]) for s in a.symbols}
        bar = int(aligned.timestamp[-1])
        intents = plan_intents(a.name, a.symbols, bar, targets, last_closes(aligned), holding, committed, base_free,
                               self.rules, _wall_ms(), scope=order_scope(a.config))
        for intent in intents:
            self._one(intent, len(pending), stopped)

    def _one(self, intent: Intent, n_open: int, stopped: str | None) -> None:
        from tradebot.services.live_step import prepare_intent

        cid = intent.record.client_order_id
        stored = self.journal.get(cid)
        if stored is not None:  # decided before (a re-run of the same bar)
            if intent.entry and stored.state == S.INTENDED and stopped is None:
                stopped = self._kill_switch_now()  # never sent: a stop since then refuses it
            if stopped is None or not intent.entry or stored.state != S.INTENDED:
                self._submit(intent, intent.record)
                return
            self._refuse(intent, stored, f"kill switch: {stopped}", killed=True)
            return
        last_price = self._last_price(intent)
        rec, reason = prepare_intent(intent, self.rules[intent.record.symbol], last_price)
        killed = reason is None and stopped is not None and intent.entry
        if killed:
            reason = f"kill switch: {stopped}"
        if reason is None:
            reason = self._guard(rec, last_price, intent.signal_close, n_open)
        if reason is None and intent.entry:
            # the kill state again right before the send: a `tradebot live stop` issued while
            # this run was between its start and here holds for this entry already
            now_stopped = self._kill_switch_now()
            if now_stopped is not None:
                reason, killed = f"kill switch: {now_stopped}", True
        if reason is not None:
            self._refuse(intent, rec, reason, killed=killed)
            return
        self._submit(intent, rec, last_price)

    def _refuse(self, intent: Intent | None, rec: OrderRecord, reason: str, *, killed: bool) -> None:
        rejected = rec.move(S.REJECTED, _wall_ms(), "refused before sending", reason=reason)
        self.journal.put(rejected)
        self.counts["rejected"] += 1
        self.lines.append(order_line(intent, rejected, "rejected"))
        # stored every time; not notified per candle while a kill switch (notified once) holds
        self.event("reject", {"client_order_id": rec.client_order_id, "symbol": rec.symbol, "side": rec.side,
                              "amount": rec.amount, "reason": reason}, notify=not killed)

    def _kill_switch_now(self) -> str | None:
        """The kill state read again (the switch row and the kill file; no cancelling here:
        the next run enforces a new kill file)."""
        with self.ctx.store.session() as session:
            kill = self.guards.kill_state(self.ctx, session, self.account_id)
        return (kill.reason or "kill switch") if kill.stopped else None

    def _guard(self, rec: OrderRecord, last_price: float, signal_close: float, n_open: int) -> str | None:
        from tradebot.services.live_ledger import traded_notional

        day = (_wall_ms() // _DAY_MS) * _DAY_MS
        with self.ctx.store.session() as session:
            traded = traded_notional(session, self.account_id, day)
        result = self.guards.check_intent(self.ctx.settings.live, rec, last_price=last_price,
                                          signal_close=signal_close, open_orders=n_open, traded_today=traded)
        return None if result is None else str(result)

    def _last_price(self, intent: Intent) -> float:
        try:
            last = self.ex.fetch_ticker(intent.record.symbol).last
        except ExchangeError:
            last = None
        return float(last) if last is not None and last > 0 else float(intent.signal_close)

    def _submit(self, intent: Intent | None, rec: OrderRecord, price: float | None = None) -> None:
        if self.mode == DRY:
            self._simulate(intent, rec, price)
            return
        from tradebot.engine.orders import submit_or_adopt

        try:
            result = submit_or_adopt(self.journal, self.ex, rec, _wall_ms(), recv_window_ms=self.ex.recv_window_ms)
        except ExchangeError as e:
            self.event("error", {"client_order_id": rec.client_order_id, "error": type(e).__name__,
                                 "message": str(e)[:300]})
            raise
        action = result.action
        if action in ("sent", "adopted", "pending", "rejected"):
            self.counts[action] += 1
        if action == "rejected":  # the exchange refused it: its rules may have changed since cached
            self.ex.forget_cached_markets()
        self.lines.append(order_line(intent, result.record, action))
        kind = {"sent": "order_sent", "adopted": "adopt", "rejected": "reject"}.get(action)
        if kind is not None:
            r = result.record
            self.event(kind, {"client_order_id": r.client_order_id, "symbol": r.symbol, "side": r.side,
                              "amount": r.amount, "state": r.state.value, "exchange_order_id": r.exchange_order_id,
                              "reason": r.reason})

    def _simulate(self, intent: Intent | None, rec: OrderRecord, price: float | None) -> None:
        """A dry run's order: filled at once at the last price, the configured taker fee
        charged in the quote asset; nothing is sent."""
        from tradebot.services.live_ledger import base_quote

        stored = self.journal.get(rec.client_order_id)
        rec = stored if stored is not None else rec
        if rec.terminal:
            self.lines.append(order_line(intent, rec, "done"))
            return
        now = _wall_ms()
        px = float(price if price is not None else (intent.signal_close if intent is not None else rec.price or 0))
        if px <= 0:
            return
        fee_rate = float(self.acct.config["engine"].get("taker_fee", 0.0))
        if rec.state == S.INTENDED:
            rec = rec.move(S.SENT, now, "dry run: not sent", attempts=rec.attempts + 1, sent_ms=now)
            self.journal.put(rec)
        fee = rec.amount * px * fee_rate
        rec = rec.move(S.FILLED, now, "dry run: simulated fill at the last price", filled=rec.amount, average=px,
                       fees=((base_quote(rec.symbol)[1], fee),) if fee else ())
        self.journal.put(rec)
        self.counts["sent"] += 1
        self.lines.append(order_line(intent, rec, "simulated"))
        self.event("order_sent", {"client_order_id": rec.client_order_id, "symbol": rec.symbol, "side": rec.side,
                                  "amount": rec.amount, "state": rec.state.value, "dry_run": True})

    # ------------------------------------------------------------------ fills

    def _sync_fills(self) -> None:
        """Every order with a filled amount the ledger does not have yet: its trades
        (``fetch_my_trades`` of the order; a dry run's one simulated trade) into
        ``live_fills``, each once (unique trade id per account)."""
        from sqlalchemy import func, select

        from tradebot.data.live_models import LiveFill, LiveOrder
        from tradebot.services.live_journal import record_from_row

        with self.ctx.store.session() as session:
            have = dict(session.execute(select(LiveFill.client_order_id, func.sum(LiveFill.amount))
                                        .where(LiveFill.account_id == self.account_id)
                                        .group_by(LiveFill.client_order_id)).all())
            rows = [record_from_row(r) for r in session.scalars(select(LiveOrder).where(
                LiveOrder.account_id == self.account_id, LiveOrder.filled > 0))]
        need = [r for r in rows if float(have.get(r.client_order_id) or 0.0) < r.filled - 1e-12]
        if not need:
            return
        new: list[dict[str, Any]] = []
        for r in need:
            if self.mode == LIVE and r.exchange_order_id is None:
                continue  # not adopted yet: its fills are taken once the exchange has named it
            if self.mode == DRY:
                fee_cur, fee = (r.fees[0] if r.fees else (None, 0.0))
                new.append({"trade_id": f"dry-{r.client_order_id}", "client_order_id": r.client_order_id,
                            "symbol": r.symbol, "side": r.side, "price": float(r.average or 0.0),
                            "amount": r.filled, "fee_cost": float(fee), "fee_currency": fee_cur,
                            "ts_ms": r.updated_ms})
                continue
            for t in self.ex.fetch_my_trades(r.symbol, order_id=r.exchange_order_id):
                new.append({"trade_id": str(t.id), "client_order_id": r.client_order_id, "symbol": r.symbol,
                            "side": t.side or r.side, "price": t.price, "amount": t.amount, "fee_cost": t.fee_cost,
                            "fee_currency": t.fee_currency, "ts_ms": t.timestamp_ms})
        self._store_fills(new)

    def _store_fills(self, new: list[dict[str, Any]]) -> None:
        from sqlalchemy import select

        from tradebot.data.live_models import LiveFill
        from tradebot.services.live_ledger import record_event

        added = []
        with self.ctx.store.session() as session:
            known = set(session.scalars(select(LiveFill.trade_id).where(
                LiveFill.account_id == self.account_id, LiveFill.trade_id.in_([f["trade_id"] for f in new]))))
            for f in new:
                if f["trade_id"] in known:
                    continue
                known.add(f["trade_id"])
                session.add(LiveFill(account_id=self.account_id, **f))
                record_event(session, self.account_id, "fill", dict(f))
                added.append(f)
        self.counts["fills"] += len(added)
        for f in added:
            self.notify("fill", f)
