"""One step of a live account: from the engine's state to order intents, and from the
exchange's answers to the ledger.

The engine decides; this module only translates. After the portfolio loop has advanced
over the closed bars, each market's order that the engine left pending for the next open
is filled *by the engine itself* on one extra bar whose prices are the last close
(:func:`engine_targets`): the units the engine would hold after that open are the
account's **target**. What the account holds is its ledger (``live_fills``) plus what its
open orders will still buy or sell. :func:`plan_intents` compares the two per market:

* the engine holds a position and the account is flat (dust aside): **buy** the target;
* the engine is flat and the account holds more than dust: **sell** what it holds (never
  more than its balance of the base asset after fees);
* otherwise nothing (the engine's and the exchange's amounts differ by fill prices and
  fees, which is reported, not traded).

An intent's client id is ``client_order_id(account, symbol, decision bar, side)`` scoped
by the account's ``order_scope`` (a random token stored in its config at creation, so an
account of the same name in another store gets other ids): the same bars give the same
ids in every process, so a run that died after sending finds the
order on the exchange and adopts it. The engine's state keeps the *simulated* book
(fills at the next open with the configured fees); the exchange's fills, prices and fees
live in the ledger and are reported next to the engine's price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np

from tradebot.core.market_rules import MarketRules
from tradebot.core.orders import OrderRecord, OrderState
from tradebot.core.signals import Signals

__all__ = ["Intent", "engine_targets", "plan_intents", "prepare_intent"]

S = OrderState
_EPS = 1e-12


@dataclass(frozen=True)
class Intent:
    """An order the account should place: the record (state ``intended``) and the engine's
    view of it (``signal_close``: the decision bar's close, the engine's simulated price)."""

    record: OrderRecord
    market: int
    signal_close: float
    entry: bool  # True: opens a position (refused by a kill switch); False: reduces one


def _extended(aligned: Any, signals: Sequence[Signals], scores: np.ndarray | None) -> tuple[Any, list[Signals],
                                                                                          np.ndarray | None]:
    """``aligned`` plus one bar after its last, priced flat at each market's last real
    close (markets that never had a candle stay absent); signals padded with no signal."""
    from tradebot.analysis.portfolio_report import forward_fill
    from tradebot.engine.portfolio import AlignedMarkets

    n = aligned.n_bars
    step = int(aligned.timestamp[-1] - aligned.timestamp[-2]) if n > 1 else 60_000
    last = forward_fill(aligned.close)[:, -1]
    present_next = ~np.isnan(last)
    vol_last = np.array([aligned.volume[m, aligned.present[m]][-1] if aligned.present[m].any() else np.nan
                         for m in range(aligned.n_markets)])

    def grow(a: np.ndarray, col: np.ndarray) -> np.ndarray:
        return np.asfortranarray(np.concatenate([a, col[:, None]], axis=1))

    price = np.where(present_next, last, np.nan)
    ext = AlignedMarkets(np.append(aligned.timestamp, aligned.timestamp[-1] + step),
                         grow(aligned.present, present_next), grow(aligned.open, price), grow(aligned.high, price),
                         grow(aligned.low, price), grow(aligned.close, price),
                         grow(aligned.volume, np.where(present_next, vol_last, np.nan)),
                         aligned.symbols, aligned.timeframe)
    padded = []
    for m, sig in enumerate(signals):
        own = int(aligned.present[m].sum())

        def pad(a: np.ndarray, m: int = m, own: int = own) -> np.ndarray:
            a = np.asarray(a, dtype=np.bool_)
            if a.size == 0:
                return a
            if a.shape[0] == n:  # on the union timeline
                return np.append(a, False)
            if a.shape[0] == own and present_next[m]:
                return np.append(a, False)
            return a

        padded.append(Signals(pad(sig.entries), pad(sig.exits), pad(sig.short_entries), pad(sig.short_exits)))
    sc = None if scores is None else np.concatenate([scores, scores[:, -1:]], axis=1)
    return ext, padded, sc


def engine_targets(aligned: Any, signals: Sequence[Signals], config: Any, portfolio: Any, state: np.ndarray,
                   scores: np.ndarray | None = None) -> np.ndarray:
    """Units per market the engine holds once the orders pending in ``state`` (the state
    after the last bar of ``aligned``) fill at the next open, priced at the last close.
    ``state`` is not modified."""
    from tradebot.engine.portfolio import advance_portfolio

    ext, padded, sc = _extended(aligned, signals, scores)
    res = advance_portfolio(ext, padded, config, portfolio, np.array(state, dtype=np.float64), aligned.n_bars, sc)
    return np.asarray(res.position[-1], dtype=np.float64)


def _dust(rules: MarketRules, units: float, price: float) -> bool:
    """True when ``units`` cannot be traded on this market (below its step, minimum amount
    or minimum notional at ``price``)."""
    if units <= _EPS:
        return True
    return not rules.prepare(abs(units), None, reference_price=price).ok


def order_scope(config: dict[str, Any] | None) -> str:
    """The account's client-id scope (``""`` for an account stored without one)."""
    return str((config or {}).get("order_scope") or "")


def plan_intents(account: str, symbols: Sequence[str], bar_ms: int, targets: np.ndarray,
                 closes: Sequence[float] | np.ndarray, held: dict[str, float], committed: dict[str, float],
                 base_free: dict[str, float], rules: dict[str, MarketRules], now_ms: int, *,
                 scope: str = "") -> list[Intent]:
    """The intents that bring the account to the engine's targets (see the module
    docstring). ``held``: units per symbol the account holds (its fills net of fees charged
    in the base asset); ``committed``: signed units still to
    come from open orders; ``base_free``: the ledger's balance of each symbol's base asset
    (after fees); ``closes``: the decision bar's close per market."""
    out = []
    for m, sym in enumerate(symbols):
        price = float(closes[m])
        if not np.isfinite(price) or price <= 0:
            continue
        target = float(targets[m])
        have = float(held.get(sym, 0.0)) + float(committed.get(sym, 0.0))
        flat = _dust(rules[sym], have, price)
        if target > _EPS and flat:
            side, amount, entry = "buy", target - max(have, 0.0), True
        elif target <= _EPS and not flat:
            side, entry = "sell", False
            amount = min(have, float(base_free.get(sym, have)))
            if amount <= _EPS:
                continue
        else:
            continue
        if amount <= _EPS:
            continue
        rec = OrderRecord.intend(account, sym, bar_ms, side, side, "market", amount, None, now_ms, scope=scope)
        out.append(Intent(rec, m, price, entry))
    return out


def prepare_intent(intent: Intent, rules: MarketRules, reference_price: float) -> tuple[OrderRecord, str | None]:
    """The intent rounded onto the market's grid (amount down to the lot step), and the
    reason it cannot be sent (None: it can)."""
    prepared = rules.prepare(Decimal(repr(intent.record.amount)), None, reference_price=reference_price)
    amount = float(prepared.amount)
    rec = intent.record
    if amount > 0:
        rec = replace(rec, amount=amount)
    return rec, prepared.reason
