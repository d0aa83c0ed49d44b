"""Which markets a portfolio run or account trades: the pair list, resolved and checked.

Precedence: ``--symbols`` > ``--pairs-file`` > ``[portfolio] pairs`` > ``[portfolio]
pairs_file`` > ``[portfolio.pairlist] method = "volume"`` (asks the exchange) > none (a
one-market run on ``[market] symbol``). The dynamic list works as freqtrade's
VolumePairList followed by its PriceFilter, SpreadFilter and AgeFilter: every ticker of
the exchange's markets quoted in ``quote``, sorted by 24 h quote volume (largest first,
ties by symbol), filtered, the first ``number`` kept. What was seen, kept and dropped (and
why) is returned in :attr:`PairList.details` and stored with the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tradebot.core.errors import UsageError
from tradebot.core.pairs import PairList, PairlistConfig, check_pairs, parse_symbols, quote_of, read_pairs_file
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.exchanges.ccxt_exchange import CcxtExchange

DAY_MS = 86_400_000


def portfolio_requested(ctx: Context, symbols: str | None = None, pairs_file: str | None = None) -> bool:
    """True when the command line or the settings name a pair list (a portfolio run)."""
    p = ctx.settings.portfolio
    return bool(symbols is not None or pairs_file is not None or p.pairs or p.pairs_file or p.dynamic)


def resolve_pairs(ctx: Context, symbols: str | None = None, pairs_file: str | None = None,
                  now_ms: int | None = None) -> PairList:
    """The pair list to trade (see the module docstring); a UsageError when it is empty,
    malformed or mixes quote currencies."""
    p = ctx.settings.portfolio
    if symbols is not None:
        return PairList(parse_symbols(symbols, "--symbols"), "command line")
    if pairs_file is not None:
        return PairList(read_pairs_file(pairs_file), f"file {pairs_file}")
    if p.pairs:
        return PairList(check_pairs(p.pairs, "[portfolio] pairs"), "config")
    if p.pairs_file:
        return PairList(read_pairs_file(p.pairs_file), f"file {p.pairs_file}")
    if p.dynamic:
        return dynamic_pairs(ctx, p.pairlist, now_ms)
    raise UsageError("no pair list: give --symbols A/QUOTE,B/QUOTE, --pairs-file FILE or "
                     "[portfolio] pairs in the config")


def dynamic_pairs(ctx: Context, cfg: PairlistConfig, now_ms: int | None = None) -> PairList:
    """Ask the configured exchange for its tickers and build the volume pair list."""
    import time

    from tradebot.exchanges.factory import exchange_from_settings

    exchange = ctx.settings.market.exchange
    if exchange.strip().lower() == "sim":
        raise UsageError("[portfolio.pairlist] method = \"volume\" needs a real exchange "
                         "(market.exchange is sim, which has no tickers)")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    ex = exchange_from_settings(ctx.settings, exchange)
    try:
        markets = {s for s, m in ex.load_markets().items() if m.active and m.quote == cfg.quote}
        tickers = fetch_tickers(ex)
        selected, dropped = volume_pairs(tickers, markets, cfg)
        if cfg.min_age_days is not None:
            aged = []
            for sym in selected:
                days = listed_days(ex, sym, cfg.min_age_days, now)
                if days < cfg.min_age_days:
                    dropped.append({"symbol": sym, "reason": f"age: {days} daily candles < {cfg.min_age_days}"})
                else:
                    aged.append(sym)
            selected = aged
    finally:
        ex.close()
    selected = selected[:cfg.number]
    if not selected:
        raise UsageError(f"[portfolio.pairlist]: no {exchange} market quoted in {cfg.quote} passed "
                         f"the filters ({len(tickers)} tickers, {len(dropped)} dropped); the pair list "
                         "is empty")
    details = {"exchange": exchange, "at_ms": now, "rule": cfg.model_dump(), "tickers": len(tickers),
               "dropped": dropped[:50]}
    return PairList(check_pairs(selected, "[portfolio.pairlist]"), "volume", details)


def fetch_tickers(ex: CcxtExchange) -> dict[str, dict[str, Any]]:
    """Every ticker the exchange serves (ccxt ``fetch_tickers``), by unified symbol, through
    the adapter's error translation and retries."""

    def convert(raw: Any) -> dict[str, dict[str, Any]]:
        if not isinstance(raw, Mapping):
            from tradebot.core.errors import ExchangeBadResponse

            raise ExchangeBadResponse(f"{ex.id} fetch_tickers: bad response: not a mapping")
        return {str(k): dict(v) for k, v in raw.items() if isinstance(v, Mapping)}

    return ex._call("fetch_tickers", lambda: ex.ccxt.fetch_tickers(), convert)


def _num(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if x == x else None


def volume_pairs(tickers: Mapping[str, Mapping[str, Any]], markets: set[str],
                 cfg: PairlistConfig) -> tuple[list[str], list[dict[str, Any]]]:
    """The markets of ``markets`` ranked by quote volume (largest first, ties by symbol) after
    the price and spread filters, and the dropped ones with their reason. Pure: no I/O."""
    rows: list[tuple[float, str]] = []
    dropped: list[dict[str, Any]] = []
    for sym, t in tickers.items():
        if sym not in markets or quote_of(sym) != cfg.quote:
            continue
        qv = _num(t.get("quoteVolume"))
        if qv is None:
            base_v, last = _num(t.get("baseVolume")), _num(t.get("last"))
            qv = base_v * last if base_v is not None and last is not None else None
        if qv is None or qv <= 0:
            dropped.append({"symbol": sym, "reason": "no quote volume"})
            continue
        last = _num(t.get("last"))
        if last is None or last <= 0:
            dropped.append({"symbol": sym, "reason": "no last price"})
            continue
        if cfg.min_price is not None and last < cfg.min_price:
            dropped.append({"symbol": sym, "reason": f"price {last:g} < {cfg.min_price:g}"})
            continue
        if cfg.max_price is not None and last > cfg.max_price:
            dropped.append({"symbol": sym, "reason": f"price {last:g} > {cfg.max_price:g}"})
            continue
        if cfg.max_spread_pct is not None:
            bid, ask = _num(t.get("bid")), _num(t.get("ask"))
            if bid is None or ask is None or ask <= 0:
                dropped.append({"symbol": sym, "reason": "no bid/ask for the spread filter"})
                continue
            spread = (ask - bid) / ask * 100.0
            if spread > cfg.max_spread_pct:
                dropped.append({"symbol": sym, "reason": f"spread {spread:.4g}% > {cfg.max_spread_pct:g}%"})
                continue
        rows.append((qv, sym))
    rows.sort(key=lambda r: (-r[0], r[1]))
    return [s for _, s in rows], dropped


def listed_days(ex: CcxtExchange, symbol: str, min_days: int, now_ms: int) -> int:
    """Daily candles the exchange has for ``symbol`` in the ``min_days`` days before now
    (as freqtrade's AgeFilter: a market younger than that has fewer)."""
    since = (now_ms // DAY_MS - min_days - 1) * DAY_MS
    rows = ex.fetch_ohlcv(symbol, "1d", since_ms=since, limit=min_days + 2)
    closed = rows[rows[:, 0] + DAY_MS <= now_ms] if len(rows) else rows
    return int(len(closed))
