"""``tradebot report ... --html FILE``: one self-contained HTML page of a stored backtest run,
a study (``S<id>``) or a paper account, written atomically.

The page is drawn from the reports the terminal and ``--json`` print. A run's per-bar equity,
exposure and candles come from re-running it exactly as ``report ID --rerun`` does (nothing is
stored); when that is impossible (the cached data is gone, the strategy is missing) or does not
reproduce the stored numbers, the page draws the stored daily equity and says what is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradebot.core.errors import Interrupted, TradebotError, UsageError
from tradebot.services.context import Context

if TYPE_CHECKING:
    from tradebot.analysis.html_report import Extras
    from tradebot.core.candles import Candles
    from tradebot.data.paper_repository import AccountInfo

__all__ = ["HtmlReport", "check_html_target", "write_html_report"]

DAY_MS = 86_400_000


@dataclass(frozen=True)
class HtmlReport:
    path: Path
    size: int  # bytes written
    what: str  # "run 3", "study S2", "account demo"
    missing: list[str]


def check_html_target(path: Path) -> Path:
    """Refuse, before any work, a target that cannot become the report file."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--html {p}: is a directory; give a file name, e.g. {p / 'report.html'}")
    if p.exists() and not p.is_file():
        raise UsageError(f"--html {p}: exists and is not a regular file")
    anc = p.absolute().parent
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        raise UsageError(f"cannot write {p}: {anc} is not a directory")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {p}: permission denied ({anc})")
    return p


def write_html_report(ctx: Context, path: Path, *, run_id: str | None = None,
                      account: str | None = None) -> HtmlReport:
    """Render the report of ``run_id`` (a number or ``S<n>``) or of paper ``account`` to
    ``path``; nothing is written unless the whole page was built."""
    from tradebot.core.atomic import atomic_write_bytes

    target = check_html_target(path)
    if (run_id is None) == (account is None):
        raise UsageError("--html needs one report: a RUN_ID, a study S<n> or --account NAME")
    from tradebot.services import portfolio_html as pf  # pair lists: their own pages

    if account is not None:
        page, what, missing = pf.portfolio_account_html(ctx, account) or _account_html(ctx, account)
    elif run_id is not None and run_id[:1] in ("S", "s"):
        page, what, missing = _study_html(ctx, run_id)
    elif run_id is not None and run_id.isdigit():
        page, what, missing = (pf.portfolio_run_html(ctx, int(run_id)) if pf.is_portfolio_run(ctx, int(run_id))
                               else _run_html(ctx, int(run_id)))
    else:
        raise UsageError(f"run id {run_id!r}: expected a number (a backtest run) or S<n> (a study)")
    data = page.encode("utf-8")
    atomic_write_bytes(target, data)
    return HtmlReport(target, len(data), what, missing)


# -- a backtest run -------------------------------------------------------------------------
def _run_html(ctx: Context, run_no: int) -> tuple[str, str, list[str]]:
    from tradebot.analysis.html_report import Extras, RunSeries, run_page
    from tradebot.data.repositories import RunRepository
    from tradebot.services.backtest import rerun, stored_report

    rep = stored_report(ctx, run_no, include_trades=True)  # an unknown run stops here
    with ctx.store.session() as session:
        repo = RunRepository(session)
        run = repo.get(run_no)
        daily = repo.daily(run_no)
    stops = _stops(run.config.get("stops") or {})
    extras = Extras()
    series: RunSeries | None = None
    candles: Candles | None = None
    try:
        again = rerun(ctx, run_no)
    except Interrupted:
        raise
    except TradebotError as e:
        extras.missing.append(f"candles, per-bar equity and exposure are not drawn: the run's data could not "
                              f"be loaded again ({e}); equity is drawn per stored day")
    else:
        if again.differences:
            extras.missing.append("candles, per-bar equity and exposure are not drawn: re-running the run did "
                                  f"not reproduce it ({'; '.join(again.differences)}); equity is drawn per "
                                  "stored day")
        else:
            res = again.outcome.result
            candles = again.outcome.candles
            with np.errstate(divide="ignore", invalid="ignore"):
                held = np.abs(res.position * res.close)
                exposure = np.where(res.equity > 0, held / res.equity * 100.0, 0.0)
            series = RunSeries(res.timestamp, res.equity, exposure,
                               "per bar, re-run from the stored config and data range with identical numbers")
    if series is None and daily:
        ts = np.array([_day_ms(d["day"]) for d in daily], dtype=np.int64)
        series = RunSeries(ts, np.array([d["equity"] for d in daily], dtype=np.float64), None,
                           "per day, from the store")
    return run_page(rep, series, candles, stops, extras), f"run {run_no}", extras.missing


def _stops(cfg: dict[str, Any]) -> dict[str, float | None]:
    return {k: cfg.get(k) for k in ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct")}


def _day_ms(day: Any) -> int:
    import datetime as dt

    d = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    return (d - dt.date(1970, 1, 1)).days * DAY_MS


# -- a study --------------------------------------------------------------------------------
def _study_html(ctx: Context, text: str) -> tuple[str, str, list[str]]:
    from tradebot.analysis.html_study import study_page
    from tradebot.services.study_report import parse_study_id, study_report

    sid = parse_study_id(text)
    rep = study_report(ctx, sid)
    return study_page(rep), f"study S{sid}", []


# -- a paper account ------------------------------------------------------------------------
def _account_html(ctx: Context, name: str) -> tuple[str, str, list[str]]:
    from tradebot.analysis.html_report import AccountSeries, Extras, account_page
    from tradebot.data.paper_repository import PaperRepository
    from tradebot.services.paper import account_report

    rep = account_report(ctx, name)  # an unknown account stops here
    with ctx.store.session() as session:
        repo = PaperRepository(session)
        acct = repo.get(name)
        rows = repo.equity(acct.id) if acct is not None else []
    if acct is None:  # removed between the two reads
        raise UsageError(f"no paper account named {name!r}")
    series = AccountSeries(np.array([r[0] for r in rows], dtype=np.int64),
                           np.array([r[1] for r in rows], dtype=np.float64),
                           np.array([r[2] for r in rows], dtype=np.float64))
    extras = Extras()
    candles = _account_candles(ctx, acct, extras)
    stops = _stops((acct.config or {}).get("engine") or {})
    return account_page(rep, series, candles, stops, extras), f"account {name}", extras.missing


def _account_candles(ctx: Context, acct: AccountInfo, extras: Extras) -> Candles | None:
    """The account's candles from where it read them (the cache or the sim market); never a
    download."""
    from tradebot.core.timeframes import timeframe_ms
    from tradebot.services.paper import load_closed_candles

    if acct.last_bar_ms is None or acct.last_bar_ms < acct.history_start_ms:
        extras.missing.append("candles are not drawn: the account has processed no candle yet")
        return None
    recorded = (acct.config or {}).get("market_source")
    source = "sim" if recorded == "sim" else "cache"
    if recorded not in ("sim", "cache", "exchange") and not ctx.cache.exists(acct.exchange, acct.symbol,
                                                                                acct.timeframe):
        source = "sim"  # an account from before sources were recorded, as its runs chose
    tf = timeframe_ms(acct.timeframe)
    try:
        candles, _ = load_closed_candles(ctx, acct.exchange, acct.symbol, acct.timeframe,
                                         acct.history_start_ms, acct.last_bar_ms + tf, source)
    except Interrupted:
        raise
    except TradebotError as e:
        extras.missing.append(f"candles are not drawn ({e}); trades are drawn as markers only")
        return None
    if not len(candles):
        extras.missing.append("candles are not drawn: none found for the account's range")
        return None
    if source == "sim":
        extras.notes.append(f"candles: the built-in synthetic market (seed {ctx.settings.seed}), not real prices")
    return candles
