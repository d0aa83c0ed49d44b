"""Reconciliation of a live account: the exchange's balances, open orders and positions
against the account's ledger (``live_fills``, ``live_orders``).

The exchange account may hold money that is not the bot's (other assets, more quote than
the account's capital). So the first reconciliation of an account records a **baseline**
per asset: what the exchange holds beyond the ledger (``live_baselines``). From then on the
exchange is expected to hold ``baseline + ledger`` of every asset the account trades (the
base and quote assets of its symbols and every fee currency of its fills), within the dust
tolerance (``live.dust``). A first reconciliation where the exchange holds *less* quote
than the account's capital is a ``capital`` difference and records no baseline.

Differences (:class:`Difference`, ``kind``):

* ``balance`` / ``position``: a quote or fee asset / a symbol's base asset differs from
  ``baseline + ledger`` beyond dust (a fill the ledger missed, a manual trade, a deposit
  or a withdrawal);
* ``capital``: at the first reconciliation the exchange holds less than the ledger;
* ``unknown_order``: an open order on one of the account's symbols that the ledger does not
  know (a manual order, another bot);
* ``missing_order``: the ledger has an acknowledged or partially filled order that the
  exchange no longer shows as open;
* ``order_state``: the exchange shows open an order the ledger holds as finished.

Any difference stops trading (the caller sends nothing) until it goes away or the user
takes the exchange's view (:func:`adopt_exchange_view`, ``tradebot live --reconcile
--adopt``): the baselines are set so that ``baseline + ledger`` equals the exchange now,
missing orders are closed in the ledger (``cancelled``, noted), and unknown orders are
left alone on the exchange and no longer reported. Every reconciliation is stored
(``live_reconciliations``); an adoption is a ``live_events`` row (the live run records a
difference as one when it stops).

Call it after the run has refreshed its open orders and their fills from the exchange:
an order the run has not looked at yet shows as a difference.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from tradebot.core.orders import OrderState
from tradebot.services.live_ledger import base_quote, ledger_balances, ledger_positions, record_event

if TYPE_CHECKING:
    from tradebot.core.live_config import DustSettings
    from tradebot.services.context import Context

__all__ = ["Difference", "ReconcileReport", "adopt_exchange_view", "last_reconciliation", "reconcile_account"]

S = OrderState
_OPEN_ON_EXCHANGE = (S.ACKNOWLEDGED, S.PARTIALLY_FILLED)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.10g}"


@dataclass(frozen=True)
class Difference:
    """One thing the exchange and the ledger disagree on (see the module docstring)."""

    kind: str
    subject: str
    expected: float | None = None
    exchange: float | None = None
    tolerance: float | None = None
    note: str = ""

    def line(self) -> str:
        if self.kind in ("balance", "position", "capital"):
            diff = (self.exchange or 0.0) - (self.expected or 0.0)
            text = (f"{self.kind} {self.subject}: ledger expects {_fmt(self.expected)}, exchange holds "
                    f"{_fmt(self.exchange)} ({diff:+.10g}, dust {_fmt(self.tolerance)})")
        else:
            text = f"{self.kind} {self.subject}"
        return f"{text}: {self.note}" if self.note else text


@dataclass(frozen=True)
class ReconcileReport:
    """A reconciliation of one account. ``assets``: per asset ``ledger``, ``baseline``,
    ``expected`` and ``exchange``; ``exchange_orders``: the open orders on the exchange;
    ``ledger_orders``: the client ids the ledger holds as open; ``first``: the baseline was
    recorded by this reconciliation."""

    account: str
    account_id: int
    ts_ms: int
    differences: list[Difference] = field(default_factory=list)
    assets: dict[str, dict[str, float]] = field(default_factory=dict)
    positions: dict[str, float] = field(default_factory=dict)
    exchange_orders: list[dict[str, Any]] = field(default_factory=list)
    ledger_orders: list[str] = field(default_factory=list)
    first: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "account_id": self.account_id, "ts_ms": self.ts_ms, "ok": self.ok,
                "first": self.first, "differences": [asdict(d) for d in self.differences],
                "assets": self.assets, "positions": self.positions, "exchange_orders": self.exchange_orders,
                "ledger_orders": self.ledger_orders}

    def render(self) -> str:
        """The report as plain text: the verdict, the differences, the assets and orders."""
        head = (f"reconciliation of {self.account}: OK" if self.ok else
                f"reconciliation of {self.account}: {len(self.differences)} difference"
                f"{'' if len(self.differences) == 1 else 's'} beyond dust: trading is STOPPED until they are "
                f"resolved or adopted (tradebot live --reconcile --adopt --account {self.account})")
        lines = [head]
        lines += [f"  ! {d.line()}" for d in self.differences]
        if self.first:
            lines.append("  (first reconciliation: the exchange's holdings beyond the ledger were recorded as the "
                         "baseline)")
        lines.append(f"  {'asset':<10} {'ledger':>16} {'baseline':>16} {'expected':>16} {'exchange':>16}")
        for asset, v in sorted(self.assets.items()):
            lines.append(f"  {asset:<10} {_fmt(v.get('ledger')):>16} {_fmt(v.get('baseline')):>16} "
                         f"{_fmt(v.get('expected')):>16} {_fmt(v.get('exchange')):>16}")
        if self.positions:
            lines.append("  positions (ledger): " + ", ".join(f"{s} {_fmt(u)}" for s, u in sorted(
                self.positions.items())))
        lines.append(f"  open orders: ledger {len(self.ledger_orders)}, exchange {len(self.exchange_orders)}")
        return "\n".join(lines)


def _tracked_assets(symbols: list[str], ledger: dict[str, float]) -> tuple[set[str], dict[str, str]]:
    """The assets an account trades and, for each base asset, its (first) symbol."""
    bases: dict[str, str] = {}
    assets = set(ledger)
    for sym in symbols:
        base, quote = base_quote(sym)
        bases.setdefault(base, sym)
        assets |= {base, quote}
    return assets, bases


def _ignored_orders(session: Any, account_id: int) -> set[str]:
    from sqlalchemy import select

    from tradebot.data.live_guard_models import LiveReconciliation

    out: set[str] = set()
    for report in session.scalars(select(LiveReconciliation.report).where(
            LiveReconciliation.account_id == int(account_id), LiveReconciliation.adopted.is_(True))):
        out |= set((report or {}).get("ignored_orders") or ())
    return out


def _order_key(o: Any) -> str:
    return str(o.client_order_id or f"id:{o.id}")


def reconcile_account(ctx: Context, session: Any, account_id: int, exchange: Any, *, dust: DustSettings,
                      now_ms: int | None = None) -> ReconcileReport:
    """Compare the exchange's balances and open orders with the ledger of ``account_id``
    (see the module docstring); store the report in ``session``'s transaction (and the
    first baseline). The caller records the ``reconcile_difference`` event and stops."""
    from sqlalchemy import select

    from tradebot.data.live_guard_models import LiveBaseline, LiveReconciliation
    from tradebot.data.live_models import LiveOrder
    from tradebot.data.portfolio_models import PortfolioAccount

    now = int(now_ms if now_ms is not None else time.time() * 1000)
    acct = session.get(PortfolioAccount, int(account_id))
    if acct is None:
        raise ValueError(f"no account with id {account_id}")
    symbols = list(acct.symbols)
    ledger = ledger_balances(session, account_id)
    assets, bases = _tracked_assets(symbols, ledger)
    held = {code: float(v.get("total") or 0.0) for code, v in exchange.fetch_balance().items()}
    base_rows = {r.asset: r for r in session.scalars(select(LiveBaseline).where(
        LiveBaseline.account_id == int(account_id)))}
    first = not base_rows
    diffs: list[Difference] = []
    table: dict[str, dict[str, float]] = {}
    new_baseline: dict[str, float] = {}
    if first:
        quotes = {base_quote(s)[1] for s in symbols}
        for asset in sorted(assets | {a for a, v in held.items() if v}):
            led, ex = ledger.get(asset, 0.0), held.get(asset, 0.0)
            new_baseline[asset] = ex - led
            table[asset] = {"ledger": led, "baseline": ex - led, "expected": ex, "exchange": ex}
            tol = dust.tolerance(asset, led)
            if asset in quotes and ex < led - tol:
                diffs.append(Difference("capital", asset, led, ex, tol,
                                        "the exchange holds less than the account's ledger (its capital)"))
    else:
        for asset in sorted(assets):
            led, ex = ledger.get(asset, 0.0), held.get(asset, 0.0)
            base = float(base_rows[asset].amount) if asset in base_rows else 0.0
            exp = base + led
            table[asset] = {"ledger": led, "baseline": base, "expected": exp, "exchange": ex}
            tol = dust.tolerance(asset, led)
            if abs(ex - exp) > tol:
                if asset in bases:
                    diffs.append(Difference("position", bases[asset], exp, ex, tol,
                                            f"{asset} on the exchange differs from the ledger's position"))
                else:
                    diffs.append(Difference("balance", asset, exp, ex, tol))
    # open orders
    rows = list(session.scalars(select(LiveOrder).where(LiveOrder.account_id == int(account_id))))
    by_cid = {r.client_order_id: r for r in rows}
    ignored = _ignored_orders(session, account_id)
    exch_orders = [o for sym in symbols for o in exchange.fetch_open_orders(sym)]
    open_keys = set()
    for o in exch_orders:
        key = _order_key(o)
        open_keys.add(key)
        desc = f"{o.side} {_fmt(o.amount)} {o.symbol} {o.type}" + ("" if o.price is None else f" at {_fmt(o.price)}")
        row = by_cid.get(key)
        if key in ignored:
            continue
        if row is None:
            diffs.append(Difference("unknown_order", key, note=f"open on the exchange, not in the ledger: {desc}"))
        elif OrderState(row.state) not in (*_OPEN_ON_EXCHANGE, S.SENT, S.UNKNOWN, S.INTENDED):
            diffs.append(Difference("order_state", key, note=f"the ledger says {row.state}, the exchange shows it "
                                                             f"open: {desc}"))
    ledger_open = [r for r in rows if OrderState(r.state) in _OPEN_ON_EXCHANGE]
    for r in ledger_open:
        if r.client_order_id not in open_keys:
            diffs.append(Difference("missing_order", r.client_order_id,
                                    note=f"the ledger holds it {r.state} ({r.side} {_fmt(r.amount)} {r.symbol}), "
                                         "the exchange does not show it open"))
    report = ReconcileReport(
        acct.name, int(account_id), now, diffs, table, ledger_positions(session, account_id),
        [{"client_order_id": o.client_order_id, "id": o.id, "symbol": o.symbol, "side": o.side, "type": o.type,
          "amount": o.amount, "price": o.price, "filled": o.filled} for o in exch_orders],
        [r.client_order_id for r in rows if OrderState(r.state) in (*_OPEN_ON_EXCHANGE, S.SENT, S.UNKNOWN)],
        first=first and not diffs)
    if report.first:
        for asset, amount in new_baseline.items():
            session.add(LiveBaseline(account_id=int(account_id), asset=asset, amount=amount, set_ms=now,
                                     source="first reconciliation"))
    session.add(LiveReconciliation(account_id=int(account_id), ts_ms=now, ok=report.ok, adopted=False,
                                   report=report.to_dict()))
    session.flush()
    return report


def adopt_exchange_view(ctx: Context, session: Any, account_id: int, report: ReconcileReport) -> None:
    """Take the exchange's view of ``report`` (see the module docstring), recorded as an
    ``adopt`` event and a stored, adopted reconciliation, in ``session``'s transaction."""
    from sqlalchemy import select

    from tradebot.data.live_guard_models import LiveBaseline, LiveReconciliation
    from tradebot.data.live_models import LiveOrder
    from tradebot.services.live_journal import record_from_row, row_values

    now = int(time.time() * 1000)
    rows = {r.asset: r for r in session.scalars(select(LiveBaseline).where(
        LiveBaseline.account_id == int(account_id)))}
    changed: dict[str, dict[str, float]] = {}
    for asset, v in report.assets.items():
        amount = float(v["exchange"]) - float(v["ledger"])
        row = rows.get(asset)
        if row is None:
            session.add(LiveBaseline(account_id=int(account_id), asset=asset, amount=amount, set_ms=now,
                                     source="adopt"))
        elif abs(float(row.amount) - amount) > 0:
            row.amount, row.set_ms, row.source = amount, now, "adopt"
        else:
            continue
        changed[asset] = {"baseline": amount, "exchange": float(v["exchange"]), "ledger": float(v["ledger"])}
    closed: list[str] = []
    ignored: list[str] = []
    for d in report.differences:
        if d.kind in ("unknown_order", "order_state"):
            ignored.append(d.subject)
        elif d.kind == "missing_order":
            row = session.scalars(select(LiveOrder).where(LiveOrder.account_id == int(account_id),
                                                          LiveOrder.client_order_id == d.subject)).first()
            if row is None:
                continue
            rec = record_from_row(row)
            if rec.can_move_to(S.CANCELLED):
                rec = rec.move(S.CANCELLED, now, "adopted: not open on the exchange at reconciliation",
                               reason="adopted: not open on the exchange at reconciliation")
                for k, v in row_values(rec).items():
                    setattr(row, k, v)
                closed.append(d.subject)
    detail = {"report_ts_ms": report.ts_ms, "differences": [d.line() for d in report.differences[:20]],
              "baselines": changed, "closed_orders": closed, "ignored_orders": ignored}
    session.add(LiveReconciliation(account_id=int(account_id), ts_ms=now, ok=report.ok, adopted=True,
                                   report={**report.to_dict(), "ignored_orders": ignored, "closed_orders": closed,
                                           "baselines": changed}))
    record_event(session, account_id, "adopt", detail)
    session.flush()


def last_reconciliation(session: Any, account_id: int) -> dict[str, Any] | None:
    """The stored report of the account's latest reconciliation, or None."""
    from sqlalchemy import select

    from tradebot.data.live_guard_models import LiveReconciliation

    row = session.scalars(select(LiveReconciliation).where(LiveReconciliation.account_id == int(account_id))
                          .order_by(LiveReconciliation.id.desc())).first()
    return None if row is None else dict(row.report)
