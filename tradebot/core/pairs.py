"""Pair lists: the markets one wallet trades, and the portfolio rules in the settings.

A pair list is static (``[portfolio] pairs`` in the config, ``--symbols A,B`` or
``--pairs-file FILE`` on the command line) or dynamic (``[portfolio.pairlist] method =
"volume"``: the top ``number`` markets by 24 h quote volume from the exchange's tickers,
then filtered by price, spread and age, as freqtrade's VolumePairList and its filters).
Whatever the source, the list that was used is a :class:`PairList`, stored with the run.

Rules every list must meet (checked by :func:`check_pairs`, one-line ``UsageError``):
not empty, each pair ``BASE/QUOTE``, no pair twice, one quote currency for all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from tradebot.core.errors import UsageError

_SYMBOL = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(:[A-Za-z0-9._-]+)?$")

STAKE_MODES = ("equal", "fixed", "fraction")
RANK_RULES = ("signal", "score", "order")


# --------------------------------------------------------------------------- settings


class PairlistConfig(BaseModel):
    """A dynamic pair list (``[portfolio.pairlist]``); ``method = "static"`` uses ``pairs``.

    ``volume``: the ``number`` markets with the largest 24 h quote volume among the
    exchange's markets quoted in ``quote``, then dropped when the last price is outside
    [``min_price``, ``max_price``], the bid/ask spread is above ``max_spread_pct`` % of
    the ask, or the market has fewer than ``min_age_days`` daily candles.
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["static", "volume"] = "static"
    number: Annotated[int, Field(ge=1, le=1000)] = 10
    quote: str = Field("USDT", min_length=1)
    min_price: Annotated[float, Field(ge=0)] | None = None
    max_price: Annotated[float, Field(gt=0)] | None = None
    max_spread_pct: Annotated[float, Field(gt=0, le=100)] | None = None
    min_age_days: Annotated[int, Field(ge=1, le=100_000)] | None = None


class PortfolioSettings(BaseModel):
    """``[portfolio]``: the pair list and the rules of the shared wallet.

    ``max_open_positions``: positions open at once over all pairs (None: one per pair);
    ``stake``: ``equal`` (equity / free slots), ``fixed:AMOUNT`` (quote per position) or
    ``fraction:F`` (of equity per position); ``rank``: which entries go first when cash
    or slots run short (``signal`` strength, the strategy's ``score``, or pair ``order``).
    """

    model_config = ConfigDict(extra="forbid")

    pairs: list[str] = Field(default_factory=list)
    pairs_file: str | None = None
    max_open_positions: Annotated[int, Field(ge=1, le=10_000)] | None = None
    stake: str = "equal"
    rank: Literal["signal", "score", "order"] = "order"
    pairlist: PairlistConfig = Field(default_factory=PairlistConfig)  # type: ignore[arg-type]
    #: per-pair strategy parameters (``optimize --per-pair``): pair -> params over ``[strategy.params]``
    pair_params: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("pairs", mode="before")
    @classmethod
    def _pairs_text(cls, value: Any) -> Any:
        if isinstance(value, str):  # TRADEBOT_PORTFOLIO__PAIRS=BTC/USDT,ETH/USDT
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("pairs")
    @classmethod
    def _check_pairs(cls, value: list[str]) -> list[str]:
        for p in value:
            if not _SYMBOL.match(p):
                raise PydanticCustomError("symbol", "invalid symbol {value}: expected BASE/QUOTE, "
                                          "e.g. BTC/USDT", {"value": repr(p)})
        return value

    @field_validator("stake")
    @classmethod
    def _check_stake(cls, value: str) -> str:
        try:
            parse_stake(value)
        except UsageError as e:
            raise PydanticCustomError("stake", "{message}", {"message": str(e)}) from None
        return value

    @property
    def dynamic(self) -> bool:
        return self.pairlist.method != "static"


def parse_stake(text: str) -> tuple[str, float]:
    """``equal`` -> ("equal", 0), ``fixed:100`` -> ("fixed", 100.0), ``fraction:0.1`` ->
    ("fraction", 0.1); anything else is a UsageError naming the value."""
    mode, sep, raw = str(text).strip().partition(":")
    mode = mode.strip().lower()
    if mode == "equal" and not sep:
        return "equal", 0.0
    if mode in ("fixed", "fraction") and sep:
        try:
            amount = float(raw)
        except ValueError:
            amount = float("nan")
        if amount == amount and amount > 0 and amount != float("inf") and (mode == "fixed" or amount <= 1):
            return mode, amount
        limit = "a positive amount" if mode == "fixed" else "a fraction in (0, 1]"
        raise UsageError(f"stake {text!r}: {mode}: needs {limit}")
    raise UsageError(f"stake {text!r}: expected equal, fixed:AMOUNT (quote per position) or "
                     "fraction:F (of equity per position)")


# --------------------------------------------------------------------------- pair lists


@dataclass(frozen=True)
class PairList:
    """The markets one run or account trades, in ranking order, and where they came from
    (``source``: ``command line``, ``file PATH``, ``config`` or ``volume``); ``details``
    records a dynamic list's inputs (tickers seen, pairs dropped and why)."""

    symbols: tuple[str, ...]
    source: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def quote(self) -> str:
        return quote_of(self.symbols[0])

    def to_dict(self) -> dict[str, Any]:
        return {"symbols": list(self.symbols), "source": self.source, **self.details}


def quote_of(symbol: str) -> str:
    """The quote currency of ``BASE/QUOTE`` (``BASE/QUOTE:SETTLE`` for derivatives)."""
    return symbol.partition("/")[2].partition(":")[0]


def base_of(symbol: str) -> str:
    return symbol.partition("/")[0]


def parse_symbols(text: str, what: str = "--symbols") -> tuple[str, ...]:
    """``"BTC/USDT, ETH/USDT"`` -> ("BTC/USDT", "ETH/USDT"), each checked (see check_pairs)."""
    return check_pairs([p.strip() for p in str(text).split(",") if p.strip()], what)


def read_pairs_file(path: Path | str) -> tuple[str, ...]:
    """A pairs file: a JSON list (freqtrade's ``pairs.json``) or text with one pair per line
    or comma separated (``#`` starts a comment)."""
    p = Path(path).expanduser()
    what = f"--pairs-file {p}"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{what}: cannot read it ({e.__class__.__name__}: {e})") from None
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as e:
            raise UsageError(f"{what}: invalid JSON at line {e.lineno}: {e.msg}") from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise UsageError(f"{what}: expected a JSON list of pair strings")
        pairs = [i.strip() for i in items]
    else:
        pairs = []
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            pairs.extend(x.strip() for x in line.split(",") if x.strip())
    return check_pairs(pairs, what)


def check_pairs(pairs: list[str] | tuple[str, ...], what: str = "pair list") -> tuple[str, ...]:
    """The pairs as a tuple if they form a valid list, else a one-line UsageError: an empty
    list, a malformed pair, a pair given twice, or more than one quote currency."""
    if not pairs:
        raise UsageError(f"{what}: the pair list is empty (give at least one BASE/QUOTE pair)")
    seen: set[str] = set()
    for p in pairs:
        if not _SYMBOL.match(p):
            raise UsageError(f"{what}: invalid symbol {p!r}: expected BASE/QUOTE, e.g. BTC/USDT")
        if p in seen:
            raise UsageError(f"{what}: {p} is listed twice")
        seen.add(p)
    quotes: dict[str, list[str]] = {}
    for p in pairs:
        quotes.setdefault(quote_of(p), []).append(p)
    if len(quotes) > 1:
        parts = "; ".join(f"{q}: {', '.join(ps)}" for q, ps in quotes.items())
        raise UsageError(f"{what}: mixed quote currencies ({parts}); one wallet trades pairs of "
                         "one quote currency")
    return tuple(pairs)
